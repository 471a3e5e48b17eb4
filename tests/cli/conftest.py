"""Fixtures of the CLI tests: ``nocai`` run in-process on a real database, its output captured.

* ``cli`` — a :class:`Cli` on a fresh clone of the sample knowledge base (``sample_kb_url``); ``cli(*argv,
  stdin=b"...")`` runs ``nocai`` as the user would (through :func:`ai_service.cli.app.run`, the console script's
  body) and returns its exit code, stdout and stderr. An exception escaping ``run`` fails the test: that is
  the traceback a user would have seen.
* ``cli_on(url)`` — the same on any database (a fresh, never initialised one, say).

Output goes to a pipe here, so the console is 200 columns wide (see ``ai_service.cli.console``).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from ai_service.cli.app import run
from ai_service.config import get_settings


@dataclass
class Result:
    code: int
    out: str
    err: str

    def describe(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    url: str
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def __call__(self, *argv: str, stdin: bytes = b"") -> Result:
        self.monkeypatch.setenv("DATABASE_URL", self.url)
        get_settings.cache_clear()
        self.monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8"))
        self.capsys.readouterr()  # drop anything printed before
        try:
            code = run(list(argv))
        finally:
            get_settings.cache_clear()
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()


CliOn = Callable[[str], Cli]


@pytest.fixture
def cli_on(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Iterator[CliOn]:
    yield lambda url: Cli(url, monkeypatch, capsys)
    get_settings.cache_clear()


@pytest.fixture
def cli(cli_on: CliOn, sample_kb_url: str) -> Cli:
    return cli_on(sample_kb_url)
