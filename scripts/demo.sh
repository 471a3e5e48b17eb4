#!/usr/bin/env bash
# The main job on the embedded default: no server to install, no API key.
# Installs nocai into .venv, starts the embedded PostgreSQL + pgvector under NOCAI_DATA_DIR, runs the migration
# guide's fresh install and verification, loads the sample knowledge base, pipes a real Alertmanager payload into
# `nocai triage -` (a sourced triage and resolution plan, stored in PostgreSQL), then runs the service with sample
# alerts sent through its webhooks and prints the console's URL and a token: it serves until Ctrl-C, which stops
# everything it started. `bash scripts/demo.sh --exit-after-triage` exits once the alerts are triaged.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
python scripts/db/init_db.py
python scripts/db/run_migration.py
python scripts/db/verify_db.py > /dev/null && echo "verification passed (python scripts/db/verify_db.py)"
nocai kb load-sample
nocai triage - < ai_service/alerts/samples/am_postgres_connections.json
exec nocai demo "$@"
