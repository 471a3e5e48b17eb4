#!/usr/bin/env bash
# The whole test suite: format check, lint, type check, schema check, then every test against a real (embedded)
# PostgreSQL with a coverage floor. Arguments go to pytest (a partial run skips the coverage floor).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff format --check .
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/nocai db build-schema --check
if [ "$#" -eq 0 ]; then
    exec .venv/bin/pytest --cov=ai_service --cov=db --cov-report=term:skip-covered --cov-fail-under="$(cat .coverage-floor)"
fi
exec .venv/bin/pytest "$@"
