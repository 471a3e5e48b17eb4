"""`nocai demo` as a new user runs it: the service on a database holding the sample knowledge base, the sample
alerts sent through the webhooks and triaged into all three bands, a console token printed with the URL; it
exits after the triage with --exit-after-triage, or serves until Ctrl-C, and revokes its tokens either way."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.conftest import PgServer
from tests.support.cli import NOCAI
from tests.support.waiting import free_port


@pytest.fixture
def demo_env(pg_server: PgServer, nocai_env: dict[str, str]) -> Iterator[dict[str, str]]:
    name = pg_server.create_database(template=pg_server.sample_kb_template())
    url = pg_server.url(name)
    yield {**nocai_env, "DATABASE_URL": url, "NOCAI_PORT": str(free_port()), "NOCAI_WORKERS": "1"}
    pg_server.drop_database(name)


def _active_demo_tokens(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM api_tokens WHERE name LIKE 'demo-%%' AND revoked_at IS NULL"
        ).fetchone()
    return int(row[0]) if row else 0


def test_the_demo_triages_the_samples_into_all_three_bands_and_exits(demo_env: dict[str, str]) -> None:
    done = subprocess.run(
        [*NOCAI, "demo", "--exit-after-triage"],
        env=demo_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "sent 8 sample webhooks to POST /api/v1/alerts: 8 incidents" in out
    bands = re.findall(r"^│ (AUTO|PROPOSE|REVIEW)\s", out, flags=re.MULTILINE)
    assert len(bands) == 8 and set(bands) == {"AUTO", "PROPOSE", "REVIEW"}, out
    assert "Traceback" not in done.stderr
    assert _active_demo_tokens(demo_env["DATABASE_URL"]) == 0


def test_the_demo_serves_the_console_until_ctrl_c(demo_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [*NOCAI, "demo"],
        env=demo_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 600
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Serving until Ctrl-C"):
                break
        text = "".join(lines)
        assert "Serving until Ctrl-C" in text, text
        url = re.search(r"The console: (http://\S+/)", text)
        token = re.search(r"^\s+(nocai_\S+)\s*$", text, flags=re.MULTILINE)
        assert url and token, text
        # The printed token signs in to the printed console, and the queue lists the sample incidents.
        queue = httpx.get(url.group(1), headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=30)
        assert queue.status_code == 200 and "Pod is crash looping" in queue.text
        assert _active_demo_tokens(demo_env["DATABASE_URL"]) == 2
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) in (0, 130)  # a clean stop, or the shell's convention for Ctrl-C
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert _active_demo_tokens(demo_env["DATABASE_URL"]) == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(url.group(1), timeout=5)
