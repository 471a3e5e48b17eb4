"""`python -m ai_service.main`: the service a NOC runs (the same as `nocai serve`; see ``ai_service.api.server``).

Migrations are applied before serving, the triage workers run inside the process (NOCAI_WORKERS), and SIGTERM or
SIGINT stop everything it started. Exit code 0 after a clean stop; the CLI's codes when it cannot start.
"""

from __future__ import annotations

import sys

from ai_service.api.server import serve
from ai_service.cli.console import report_error
from ai_service.config import get_settings
from ai_service.errors import NocaiError


def main() -> int:
    try:
        serve(get_settings())
    except NocaiError as exc:
        return report_error(exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
