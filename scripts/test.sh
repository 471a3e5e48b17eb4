#!/usr/bin/env bash
# The whole test suite: formatter check, linter, then every test against a real (embedded) PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/nocai db build-schema --check
exec .venv/bin/pytest "$@"
