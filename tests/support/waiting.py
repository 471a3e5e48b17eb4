"""What tests that start processes on loopback need: a free port, and polling until something holds."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    explain: Callable[[], str] = lambda: "",
    every: float = 0.1,
) -> T:
    """Poll ``check`` every ``every`` seconds until it returns something truthy; fail (saying ``what`` and
    ``explain()``) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:g}s\n{explain()}".rstrip())
        time.sleep(every)
