"""The service under webhook load: acknowledgement latency, sustained intake, and worker triage throughput.

Run from the repository root (a throwaway embedded PostgreSQL with the sample knowledge base is made for it)::

    .venv/bin/python bench/bench_service.py                       # ~3 min: rates 100..400/s, 1 and 2 workers
    .venv/bin/python bench/bench_service.py --rates 50 --seconds 3 --drain-alerts 20 --workers 1   # a smoke run

What runs: ``python -m ai_service.main`` in a subprocess on a loopback port, on the embedded default, with the
sample knowledge base; a load generator in this process (asyncio streams over keep-alive connections, a new one
opened whenever none is idle; open loop: requests are sent on a fixed schedule whatever the answers, so a slow
service cannot slow the load down and hide its own latency). Each request is a real Alertmanager webhook with one
new alert (a sample payload with a unique instance), authenticated with an ingest token.

1. **Acknowledgement**, per target rate: the achieved rate, p50 / p99 latency of the ``202`` (from the
   scheduled send time), and errors; the workers triage what arrives meanwhile, as in production — once with
   the workers inside the service process (the default), once with NOCAI_WORKERS=0 and ``nocai worker`` in a
   process of its own beside it at a lower CPU priority (``nice -n 10``). The baseline,
   measured in the same run at the same rate, is ``GET /api/v1/health/live`` (no database, no work): the ratio
   says what recording an alert costs above serving any request.
2. **Triage throughput**, per worker count (1 and 2): a burst of alerts is acknowledged, then the time until the
   queue is drained gives alerts triaged per second, and the queue delay (acknowledged → triage started) its
   p50 / p99.

Targets reported against (never asserted): >= 200 alerts/s acknowledged with p99 <= 150 ms and no error.
Traffic goes to 127.0.0.1 only; every phase is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "ai_service" / "alerts" / "samples"
TARGET_RATE = 200.0
TARGET_P99_MS = 150.0


@dataclass
class LoadResult:
    label: str
    target_rate: float
    sent: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def achieved_rate(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "target_rate": self.target_rate,
            "sent": self.sent,
            "ok": len(self.latencies_ms),
            "achieved_rate": round(self.achieved_rate, 1),
            "p50_ms": round(self.pct(50), 2),
            "p99_ms": round(self.pct(99), 2),
            "errors": self.errors,
        }


@dataclass
class DrainResult:
    workers: int
    alerts: int
    seconds: float
    delays_ms: list[float]
    triaged: int

    def as_json(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "alerts": self.alerts,
            "triaged": self.triaged,
            "seconds": round(self.seconds, 2),
            "alerts_per_second": round(self.triaged / self.seconds, 2) if self.seconds else None,
            "queue_delay_p50_ms": round(float(np.percentile(self.delays_ms, 50)), 1) if self.delays_ms else None,
            "queue_delay_p99_ms": round(float(np.percentile(self.delays_ms, 99)), 1) if self.delays_ms else None,
        }


def machine_line() -> str:
    memory = ""
    try:
        total_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f", {total_kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d}, {os.cpu_count()} CPUs{memory}, {platform.machine()} "
        f"{platform.system()}, Python {platform.python_version()}"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def nocai(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ai_service.cli.app", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"nocai {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


class Service:
    """``python -m ai_service.main`` in a subprocess, started and stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], workers: int, *, separate_workers: bool = False) -> None:
        """``separate_workers``: the service runs no worker (NOCAI_WORKERS=0) and ``nocai worker --count
        workers`` runs beside it in its own process at a lower CPU priority (``nice -n 10``), as docs/scaling.md
        suggests for a small machine."""
        self.port = free_port()
        inside = 0 if separate_workers else workers
        self.env = {**env, "NOCAI_PORT": str(self.port), "NOCAI_WORKERS": str(inside), "NOCAI_LOG_LEVEL": "warning"}
        self.separate = workers if separate_workers else 0
        self.process: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Service:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ai_service.main"],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the service exited at start")
            try:
                if httpx.get(f"{self.url}/api/v1/health/ready", timeout=2).status_code == 200:
                    if self.separate:
                        self.worker = subprocess.Popen(
                            [
                                "nice",
                                "-n",
                                "10",
                                sys.executable,
                                "-m",
                                "ai_service.cli.app",
                                "worker",
                                "--count",
                                str(self.separate),
                            ],
                            env=self.env,
                            cwd=REPO,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the service did not become ready within 120 s")

    def __exit__(self, *_: object) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.worker.kill()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Payloads:
    """Real sample Alertmanager payloads, one alert each, made unique by their instance label."""

    def __init__(self) -> None:
        self.templates = []
        for path in sorted(SAMPLES.glob("am_*.json")):
            data = json.loads(path.read_text())
            if data.get("status") == "firing" and data.get("alerts"):
                data["alerts"] = data["alerts"][:1]
                self.templates.append(data)
        self.count = 0

    def next(self) -> bytes:
        self.count += 1
        payload = copy.deepcopy(self.templates[self.count % len(self.templates)])
        alert = payload["alerts"][0]
        alert.pop("fingerprint", None)  # computed from the labels, which are unique below
        alert["labels"]["instance"] = f"bench-{os.getpid()}-{self.count}:9100"
        return json.dumps(payload).encode()


class _Connection:
    """One keep-alive HTTP/1.1 connection: a request written in one piece, the response read by its length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection(host, port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed by the server")
        status = int(status_line.split()[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length:
            await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def _raw_request(method: str, url: str, token: str, body: bytes | None) -> bytes:
    parsed = httpx.URL(url)
    head = [
        f"{method} {parsed.raw_path.decode()} HTTP/1.1",
        f"Host: {parsed.host}:{parsed.port}",
        f"Authorization: Bearer {token}",
    ]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")


async def load(
    url: str, token: str, rate: float, seconds: float, body: Any, label: str, *, method: str = "POST"
) -> LoadResult:
    """Send ``rate`` requests per second for ``seconds`` on a fixed schedule (open loop).

    The generator has to be much cheaper than what it measures on the same two cores: requests are encoded before
    the clock starts and go out over a pool of keep-alive connections with raw asyncio streams (a new connection
    per request, or an HTTP client library's per-request work, cost more CPU than the service's own answer). A
    request that finds no idle connection opens one, so a slow service is met with more concurrency, never with
    a slower schedule.
    """
    total = max(1, int(rate * seconds))
    result = LoadResult(label=label, target_rate=rate, sent=total, seconds=seconds)
    requests = [_raw_request(method, url, token, body() if body is not None else None) for _ in range(total)]
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    idle: list[_Connection] = []
    opened: list[_Connection] = []
    started = time.perf_counter()

    async def one(index: int) -> None:
        due = started + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        connection = idle.pop() if idle else None
        try:
            if connection is not None:
                try:
                    status = await asyncio.wait_for(connection.request(requests[index]), timeout=30)
                except (ConnectionError, asyncio.IncompleteReadError):
                    # The service closed a connection that sat idle past its keep-alive timeout: send on a new one.
                    connection.close()
                    connection = None
            if connection is None:
                connection = await _Connection.open(host, port)
                opened.append(connection)
                status = await asyncio.wait_for(connection.request(requests[index]), timeout=30)
        except (TimeoutError, OSError, ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
            result.errors[type(exc).__name__] = result.errors.get(type(exc).__name__, 0) + 1
            if connection is not None:
                connection.close()
            return
        idle.append(connection)
        if status in (200, 202):
            result.latencies_ms.append((time.perf_counter() - due) * 1000)
        else:
            result.errors[str(status)] = result.errors.get(str(status), 0) + 1

    await asyncio.gather(*(one(i) for i in range(total)))
    result.seconds = max(seconds, time.perf_counter() - started)
    for connection in opened:
        connection.close()
    return result


def queue_counts(db_url: str) -> dict[str, int]:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT status, count(*) FROM work_items GROUP BY status").fetchall()
    return {status: count for status, count in rows}


def drain(service: Service, db_url: str, token: str, payloads: Payloads, alerts: int, workers: int) -> DrainResult:
    """Acknowledge ``alerts`` at once, then wait for the workers to triage all of them."""
    with psycopg.connect(db_url) as conn:
        start_id = conn.execute("SELECT coalesce(max(id), 0) FROM work_items").fetchone()[0]  # type: ignore[index]
    asyncio.run(load(f"{service.url}/api/v1/alerts", token, 200.0, alerts / 200.0, payloads.next, "burst"))
    started = time.perf_counter()
    deadline = started + 600
    while time.perf_counter() < deadline:
        with psycopg.connect(db_url) as conn:
            waiting = conn.execute(
                "SELECT count(*) FROM work_items WHERE id > %s AND status IN ('queued', 'running')", (start_id,)
            ).fetchone()[0]  # type: ignore[index]
        if waiting == 0:
            break
        time.sleep(0.2)
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM started_at - enqueued_at) * 1000, enqueued_at, finished_at"
            " FROM work_items WHERE id > %s AND status = 'done'",
            (start_id,),
        ).fetchall()
    if not rows:
        return DrainResult(workers, alerts, 0.0, [], 0)
    first = min(r[1] for r in rows)
    last = max(r[2] for r in rows)
    return DrainResult(workers, alerts, (last - first).total_seconds(), [float(r[0]) for r in rows], len(rows))


#: Where the workers run during the acknowledgement test: threads of the service process (the default), or a
#: ``nocai worker`` process beside it at a lower CPU priority.
LAYOUTS = ("workers inside the service", "separate worker process")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[100, 200, 300, 400], help="Target alerts/s.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Seconds per rate.")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Worker counts for the drain test.")
    parser.add_argument("--drain-alerts", type=int, default=300, help="Alerts per drain test.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this JSON file.")
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="nocai-bench-service-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCAI_") and k != "DATABASE_URL"}
    env.update({"NOCAI_DATA_DIR": str(workdir / "data"), "NOCAI_LOG_FORMAT": "json", "PYTHONPATH": str(REPO)})
    figures: dict[str, Any] = {"machine": machine_line(), "intake": [], "baseline": [], "drain": []}
    print(f"bench_service: {figures['machine']}")
    try:
        nocai(env, "db", "start")  # one server for the whole run, shared by the service and this process
        nocai(env, "db", "init")
        nocai(env, "kb", "load-sample")
        token = nocai(env, "tokens", "create", "--role", "admin", "--name", "bench").strip().splitlines()[-1]
        db_url = nocai(env, "db", "url").strip()
        payloads = Payloads()

        for layout in LAYOUTS:
            separate = layout == "separate worker process"
            print(f"  {max(args.workers)} workers, {layout}:")
            with Service(env, workers=max(args.workers), separate_workers=separate) as service:
                for rate in args.rates:
                    base = asyncio.run(
                        load(
                            f"{service.url}/api/v1/health/live",
                            token,
                            rate,
                            args.seconds,
                            None,
                            "baseline",
                            method="GET",
                        )
                    )
                    intake = asyncio.run(
                        load(f"{service.url}/api/v1/alerts", token, rate, args.seconds, payloads.next, "ack")
                    )
                    figures["baseline"].append({**base.as_json(), "layout": layout})
                    figures["intake"].append({**intake.as_json(), "layout": layout})
                    ratio = intake.pct(50) / base.pct(50) if base.latencies_ms and intake.latencies_ms else float("nan")
                    print(
                        f"  {rate:5.0f}/s target: acknowledged {intake.achieved_rate:6.1f}/s, "
                        f"p50 {intake.pct(50):6.1f} ms, p99 {intake.pct(99):6.1f} ms, "
                        f"errors {sum(intake.errors.values())}"
                        f" | baseline (health/live) p50 {base.pct(50):5.1f} ms, p99 {base.pct(99):5.1f} ms"
                        f" | p50 ratio {ratio:4.1f}x"
                    )
                    deadline = time.monotonic() + 600
                    while queue_counts(db_url).get("queued", 0) and time.monotonic() < deadline:
                        time.sleep(0.5)  # let the workers catch up before the next rate
        for workers in args.workers:
            with Service(env, workers=workers) as service:
                result = drain(service, db_url, token, payloads, args.drain_alerts, workers)
            figures["drain"].append(result.as_json())
            summary = result.as_json()
            print(
                f"  drain with {workers} worker(s): {summary['triaged']}/{args.drain_alerts} triaged in "
                f"{summary['seconds']} s = {summary['alerts_per_second']} alerts/s; queue delay p50 "
                f"{summary['queue_delay_p50_ms']} ms, p99 {summary['queue_delay_p99_ms']} ms"
            )
        counts = queue_counts(db_url)
        figures["queue"] = counts
        print(f"  queue at the end: {counts}")
        for layout in LAYOUTS:
            best = [i for i in figures["intake"] if i["target_rate"] >= TARGET_RATE and i["layout"] == layout]
            if best:
                at = best[0]
                met = at["achieved_rate"] >= TARGET_RATE * 0.98 and at["p99_ms"] <= TARGET_P99_MS and not at["errors"]
                print(
                    f"  target (>= {TARGET_RATE:.0f}/s, p99 <= {TARGET_P99_MS:.0f} ms, no error) at "
                    f"{at['target_rate']:.0f}/s, {layout}: {'met' if met else 'NOT met'}"
                )
    finally:
        subprocess.run(
            [sys.executable, "-m", "ai_service.cli.app", "db", "stop"],
            env=env,
            cwd=REPO,
            capture_output=True,
            timeout=120,
        )
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
