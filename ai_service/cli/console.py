"""Shared console output for the CLI: one rich console, and the one place errors become exit codes."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.markup import escape

from ai_service.errors import NocaiError

# Tables are not cut to 80 columns when the output goes to a file or a pipe.
_WIDTH = None if sys.stdout.isatty() else 200

console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)


def report_error(exc: NocaiError) -> int:
    """Print a NocaiError as `error: ...` / `  fix: ...` on stderr and return its exit code."""
    err_console.print(f"[bold red]error:[/] {escape(exc.message)}", markup=True, highlight=False)
    if exc.hint:
        err_console.print(f"  [bold]fix:[/] {escape(exc.hint)}", markup=True, highlight=False)
    return exc.exit_code


def fail(exc: NocaiError) -> None:
    sys.exit(report_error(exc))
