"""Fresh install: apply db/schema.sql and record its migrations.

Thin entry point kept at the path the migration guide names; the work is done by `nocai db init`.
Extra arguments are passed on (e.g. `--help`).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ai_service.cli.app import run

if __name__ == "__main__":
    sys.exit(run(["db", "init", *sys.argv[1:]]))
