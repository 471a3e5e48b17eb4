#!/usr/bin/env bash
# The main job on the embedded default: no server to install, no API key.
# Installs nocai into .venv, starts the embedded PostgreSQL + pgvector under NOCAI_DATA_DIR, and runs the
# migration guide end to end: fresh install, migrate (nothing left to do), verify.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"
python scripts/db/init_db.py
python scripts/db/run_migration.py
python scripts/db/verify_db.py
nocai db status
