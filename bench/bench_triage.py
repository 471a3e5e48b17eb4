"""End-to-end triage at scale: an Alertmanager payload in -> ``triage_results`` and ``resolution_outputs`` committed,
on a knowledge base of 100k runbook steps + 100k incident signatures, one process, no LLM.

Run from the repository root::

    .venv/bin/python bench/bench_triage.py [--steps 100000] [--signatures 100000] [--alerts 300]
    .venv/bin/python bench/bench_triage.py --steps 10000 --signatures 10000 --alerts 100   # ~1 min

The knowledge base is the one of ``bench_retrieval.py`` (same generator, same throwaway embedded PostgreSQL,
same loading: synthetic but clustered texts and vectors, HNSW and BM25 statistics built as in production), plus
each signature's ``resolution_refs``: two or three steps of a runbook of its own topic, so plans are built from
signature history first, as for a team with ticket history.

Each alert is an Alertmanager v4 webhook payload (alertname, service, severity, instance; summary and description
written like the runbook texts of one topic). What is timed per alert is everything the service's worker will do:
parse the payload, record the incident (dedup), build the query, embed it with the real MiniLM model (its cost is
paid; the vector used is the alert topic's synthetic one, as the stored vectors are synthetic), hybrid retrieval
over the three corpora, triage, resolution plan, policy decision, and the transaction that stores both rows and
updates the incident and the signatures' match counts. Abstention is turned off (the synthetic texts are word
salad the shipped rule rejects, and a no-match builds no plan), so every alert takes the whole path.

Printed: p50 / p95 / p99 / mean milliseconds per alert, alerts per second one after another (1000 / mean ms),
where the time goes (intake, embedding, search, judgement + store), the baseline (``retrieval.service.search``
alone on the same alerts, with triage's options) and the ratio to it, and sanity figures: rows written, plans
with steps, and the share of plans whose first step comes from a runbook of the alert's own topic.

Two modes are measured at the embedded server's default ``shared_buffers`` (``NOCAI_EMBEDDED_SHARED_BUFFERS``,
512MB): the statements one after another on one connection, and the signature search on a pooled connection
beside the others (``search(..., pool=...)``, as the service's workers will). They are interleaved alert by alert
(each with its own alerts), and so are their baselines, so that the comparisons hold although this machine's
speed drifts by 10-15 % from one run to the next. With ``--shared-buffers`` the server is then restarted with that
setting and the pooled mode measured again.

Targets reported against (not asserted): p50 <= 25 ms, p99 <= 80 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import psycopg

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "bench"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_retrieval as kb  # noqa: E402

TARGET_P50_MS = 25.0
TARGET_P99_MS = 80.0
SEVERITIES = ("critical", "warning", "warning", "info")


@dataclass
class Run:
    label: str
    total_ms: list[float] = field(default_factory=list)
    intake_ms: list[float] = field(default_factory=list)
    embed_ms: list[float] = field(default_factory=list)
    triage_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)  # baseline: retrieval.service.search alone
    rows: dict[str, int] = field(default_factory=dict)
    # counts of measured alerts: with a plan, whose first step comes from signature history / the alert's topic
    with_steps: int = 0
    signature_first: int = 0
    on_topic: int = 0

    def share(self, count: int) -> float:
        return count / max(len(self.total_ms), 1)

    bands: dict[str, int] = field(default_factory=dict)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


class TimedEmbedder(kb.TopicVectorEmbedder):
    """``bench_retrieval``'s embedder (the real model pays its cost, the synthetic topic vector is returned), timing
    each query embedding so the run can say how much of an alert it was."""

    def __init__(self, real: Any, vectors: dict[str, np.ndarray]) -> None:
        super().__init__(real, vectors)
        self.spent_ms: list[float] = []

    def embed_query(self, text: str) -> np.ndarray:
        started = time.perf_counter()
        vector = super().embed_query(text)
        self.spent_ms.append((time.perf_counter() - started) * 1000)
        return vector


def alertmanager_payload(index: int, query: kb.Query, topic: kb.Topic, rng: np.random.Generator) -> dict[str, Any]:
    words = query.text.split(" on ")[0]
    return {
        "version": "4",
        "status": "firing",
        "receiver": "nocai",
        "groupKey": f'{{}}:{{alertname="{topic.alert}"}}',
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": topic.alert,
                    "service": query.home_service,
                    "component": topic.component,
                    "namespace": topic.namespace,
                    "severity": SEVERITIES[int(rng.integers(0, len(SEVERITIES)))],
                    "instance": f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}:9100",
                },
                "annotations": {
                    "summary": f"{words} on {query.home_service}",
                    "description": f"{words} detected on instance 10.0.{index % 256}.7:9100 for 5m (value 93.5).",
                },
                "startsAt": "2026-11-24T03:12:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": f"{index:016x}",
            }
        ],
    }


def link_signatures_to_steps(corpus: kb.Corpus, rng: np.random.Generator) -> None:
    """Give each signature the steps its past tickets were resolved with (2-3 steps of a same-topic runbook),
    as a ``resolution_refs`` column loaded with the rest (an UPDATE after loading would re-insert 100k rows into
    two HNSW indexes)."""
    by_topic: dict[int, list[int]] = {}
    for i, topic in enumerate(corpus.runbook_topics):
        by_topic.setdefault(int(topic), []).append(i)
    steps_of: dict[str, list[str]] = {}
    for step in corpus.steps:
        steps_of.setdefault(str(step[1]), []).append(str(step[0]))
    linked = []
    for i, signature in enumerate(corpus.signatures):
        runbooks = by_topic.get(int(corpus.signature_topics[i]), [])
        refs: list[str] = []
        if runbooks:
            runbook_id = str(corpus.runbooks[runbooks[int(rng.integers(0, len(runbooks)))]][0])
            refs = steps_of.get(runbook_id, [])[: int(rng.integers(2, 4))]
        linked.append((*signature, refs))
    corpus.signatures = linked
    if "resolution_refs" not in kb.SIGNATURE_COLUMNS:
        kb.SIGNATURE_COLUMNS = [*kb.SIGNATURE_COLUMNS, "resolution_refs"]
        kb.SIGNATURE_TYPES = [*kb.SIGNATURE_TYPES, "text[]"]


def triage_one(
    conn: psycopg.Connection,
    embedder: TimedEmbedder,
    payload: dict[str, Any],
    topic: int,
    policy: Any,
    pool: Any,
    never_abstain: Any,
    runbook_topic: dict[str, int],
    run: Run | None,
) -> None:
    """One alert end to end (parse, intake, ``triage_incident``), recorded into ``run`` unless it is None."""
    from ai_service.alerts.adapters import parse_alerts
    from ai_service.alerts.service import receive_alert
    from ai_service.incidents.service import triage_incident

    embedder.spent_ms.clear()
    started = time.perf_counter()
    (alert,) = parse_alerts(payload, format="alertmanager")
    intake = receive_alert(conn, alert)
    intake_done = time.perf_counter()
    assert intake.incident_id is not None and intake.action == "created", intake
    outcome = triage_incident(
        conn, cast(Any, embedder), alert, intake.incident_id, policy=policy, calibration=never_abstain, pool=pool
    )
    finished = time.perf_counter()
    if run is None:
        return
    run.total_ms.append((finished - started) * 1000)
    run.intake_ms.append((intake_done - started) * 1000)
    run.embed_ms.append(sum(embedder.spent_ms))
    run.triage_ms.append((finished - intake_done) * 1000)
    run.bands[outcome.decision.band] = run.bands.get(outcome.decision.band, 0) + 1
    recommendations = outcome.plan.recommendations
    if recommendations:
        run.with_steps += 1
        first = recommendations[0]
        run.signature_first += first.provenance.get("source") == "signature"
        run.on_topic += runbook_topic.get(first.runbook_id) == topic


def search_one(conn: psycopg.Connection, embedder: TimedEmbedder, text: str, pool: Any, run: Run | None) -> None:
    """The baseline: ``retrieval.service.search`` alone, with triage's options."""
    from ai_service.incidents.service import TRIAGE_SEARCH
    from ai_service.retrieval import service

    started = time.perf_counter()
    service.search(conn, cast(Any, embedder), text, TRIAGE_SEARCH, pool=pool)
    if run is not None:
        run.search_ms.append((time.perf_counter() - started) * 1000)


def measure(
    conn: psycopg.Connection,
    modes: list[tuple[str, Any]],
    embedder: TimedEmbedder,
    corpus: kb.Corpus,
    batches: dict[str, tuple[list[dict[str, Any]], list[int], list[str]]],
    policy: Any,
) -> list[Run]:
    """Measure ``modes`` (label, pool or None) interleaved alert by alert, then their baselines the same way.

    Interleaving makes the comparison between modes, and the ratio to the baseline, immune to the machine's drift
    over a run (on this 2-core VM consecutive runs differ by 10-15 %); each mode keeps its own alerts, so every
    one is a new incident. The order of the modes alternates from one alert to the next.
    """
    from dataclasses import replace

    from ai_service.retrieval.service import load_calibration

    # The synthetic texts are word salad that the shipped abstention rule rightly rejects; a no-match triage builds
    # no plan, so abstention is turned off here to time the whole path (search, vote, plan, policy, store).
    never_abstain = replace(load_calibration(), threshold=0.0)
    runbook_topic = {str(rb[0]): int(t) for rb, t in zip(corpus.runbooks, corpus.runbook_topics, strict=True)}
    runs = {label: Run(label) for label, _ in modes}
    labels = " and ".join(label for label, _ in modes)
    print(f"[{labels}] warm-up ...", flush=True)
    for label, pool in modes:
        payloads, topics_of, texts = batches[f"{label}:warmup"]
        for payload, topic, text in zip(payloads, topics_of, texts, strict=True):
            triage_one(conn, embedder, payload, topic, policy, pool, never_abstain, runbook_topic, None)
            search_one(conn, embedder, text, pool, None)
    before = {t: _count(conn, t) for t in ("incidents", "triage_results", "resolution_outputs")}
    count = len(batches[modes[0][0]][0])
    print(f"[{labels}] triaging {count} alerts each end to end, interleaved ...", flush=True)
    for i in range(count):
        for label, pool in modes if i % 2 == 0 else modes[::-1]:
            payloads, topics_of, _ = batches[label]
            triage_one(
                conn, embedder, payloads[i], topics_of[i], policy, pool, never_abstain, runbook_topic, runs[label]
            )
    rows = {t: _count(conn, t) - before[t] for t in before}
    print(f"[{labels}] baseline: retrieval.service.search alone on the same alerts, interleaved ...", flush=True)
    for i in range(count):
        for label, pool in modes if i % 2 == 0 else modes[::-1]:
            search_one(conn, embedder, batches[label][2][i], pool, runs[label])
    for run in runs.values():
        run.rows = rows  # written by the whole interleaved measurement (all its modes)
    return list(runs.values())


def _count(conn: psycopg.Connection, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def render(runs: list[Run], meta: dict[str, Any]) -> str:
    lines = [
        f"# nocai end-to-end triage benchmark — {meta['started']}",
        "",
        f"machine: {meta['cpus']} CPUs ({meta['processor']}), {meta['platform']}, Python {meta['python']}, "
        f"PostgreSQL {meta['server_version']}, pgvector {meta['pgvector']}",
        f"knowledge base: {meta['steps']} steps in {meta['runbooks']} runbooks, {meta['signatures']} signatures "
        f"(loaded in {meta['load_s']:.0f} s); {meta['alerts']} measured alerts after {meta['warmup']} warm-up",
        "",
    ]
    for run in runs:
        t = run.total_ms
        p50, p99 = _pct(t, 50), _pct(t, 99)
        verdict = "meets" if p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS else "misses"
        lines += [
            f"## {run.label}",
            "",
            "| measure | p50 ms | p95 ms | p99 ms | mean ms |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(
                f"| {name} | {_pct(v, 50):.1f} | {_pct(v, 95):.1f} | {_pct(v, 99):.1f} | {np.mean(v):.1f} |"
                for name, v in (
                    ("**alert in -> both rows committed**", t),
                    ("  parse + intake (dedup, incident row)", run.intake_ms),
                    ("  query embedding (MiniLM, CPU)", run.embed_ms),
                    ("  triage_incident (embedding, search, judgement, store)", run.triage_ms),
                    ("baseline: retrieval.service.search alone", run.search_ms),
                )
            ),
            "",
            f"- end to end {verdict} the target (p50 <= {TARGET_P50_MS:.0f} ms, p99 <= {TARGET_P99_MS:.0f} ms); "
            f"p50 ratio to search alone: {p50 / _pct(run.search_ms, 50):.2f}x",
            f"- sustained on one process: **{1000 / np.mean(t):.1f} alerts/s** (back to back: 1000 / mean ms)",
            f"- rows written by the measurement (all its modes): {run.rows}; plans with steps "
            f"{run.share(run.with_steps):.0%}, first step from signature history {run.share(run.signature_first):.0%}, "
            f"first step from a runbook of the alert's topic {run.share(run.on_topic):.0%}; bands {run.bands}",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--steps", type=int, default=100_000, help="runbook steps, ~10 per runbook (default 100000)")
    parser.add_argument("--signatures", type=int, default=100_000, help="incident signatures (default 100000)")
    parser.add_argument("--alerts", type=int, default=300, help="measured alerts (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up alerts (default 30)")
    parser.add_argument("--topics", type=int, default=200, help="topics (default 200)")
    parser.add_argument(
        "--shared-buffers", default="1GB", help="restart with this shared_buffers and run again ('' to skip)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--seed", type=int, default=20261124, help="random seed")
    args = parser.parse_args(argv)

    from ai_service.alerts.adapters import parse_alerts
    from ai_service.config import Settings
    from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
    from ai_service.policy.service import load_policy
    from ai_service.retrieval.query_text import build_query
    from db import migrate
    from db.connection import connect, create_pool

    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    topics = kb.make_topics(args.topics, rng)
    centres = kb._normalise(rng.standard_normal((args.topics, kb.DIM)).astype(np.float32))
    print(f"generating {args.steps} steps and {args.signatures} signatures ...", flush=True)
    corpus = kb.make_corpus(args.steps, args.signatures, topics, centres, rng)
    default_buffers = Settings.model_fields["embedded_shared_buffers"].default
    labels = [
        f"shared_buffers={default_buffers} (default), sequential",
        f"shared_buffers={default_buffers} (default), signatures on a pooled connection",
    ]
    if args.shared_buffers:
        labels.append(f"shared_buffers={args.shared_buffers}, signatures on a pooled connection")
    batches: dict[str, tuple[list[dict[str, Any]], list[int], list[str]]] = {}
    vectors: dict[str, np.ndarray] = {}
    counter = 0
    for label in labels:
        for suffix, count in ((":warmup", args.warmup), ("", args.alerts)):
            queries = kb.make_queries(count, topics, centres, rng, tag=f" {label}{suffix}")
            payloads, topic_ids, texts = [], [], []
            for query in queries:
                payload = alertmanager_payload(counter, query, topics[query.topic], rng)
                counter += 1
                text = build_query(parse_alerts(payload, format="alertmanager")[0]).text
                vectors[text] = query.vector
                payloads.append(payload)
                topic_ids.append(query.topic)
                texts.append(text)
            batches[label + suffix] = (payloads, topic_ids, texts)

    link_signatures_to_steps(corpus, rng)
    report = kb.LoadReport()
    with kb.throwaway_server() as server:
        migrate.migrate(server.url, lock_timeout=30)
        with connect(server.url, autocommit=True) as conn:
            kb.load(conn, corpus, report)
            show = lambda name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]  # noqa: E731
            meta = {
                "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                "cpus": os.cpu_count(),
                "processor": kb._cpu_model(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "server_version": show("server_version"),
                "pgvector": str(
                    conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]  # type: ignore[index]
                ),
                "steps": args.steps,
                "runbooks": len(corpus.runbooks),
                "signatures": args.signatures,
                "alerts": args.alerts,
                "warmup": args.warmup,
                "load_s": time.perf_counter() - started,
            }
        real = LocalMiniLMEmbedder(query_cache_size=0)
        real.load()
        embedder = TimedEmbedder(real, vectors)
        policy = load_policy()
        runs: list[Run] = []
        print(f"restarting the server with shared_buffers={default_buffers} ...", flush=True)
        server.restart({"shared_buffers": default_buffers})
        phases = [labels[:2], labels[2:]]
        for phase in phases:
            if not phase:
                continue
            if "(default)" not in phase[0]:
                print(f"restarting the server with shared_buffers={args.shared_buffers} ...", flush=True)
                server.restart({"shared_buffers": args.shared_buffers})
            with (
                connect(server.url, autocommit=True) as conn,
                create_pool(url=server.url, min_size=2, max_size=4) as pool,
            ):
                modes = [(label, pool if "pooled" in label else None) for label in phase]
                runs += measure(conn, modes, embedder, corpus, batches, policy)
    text = render(runs, meta)
    print()
    print(text)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "meta": meta,
                    "runs": [
                        {
                            "label": r.label,
                            "p50_ms": _pct(r.total_ms, 50),
                            "p95_ms": _pct(r.total_ms, 95),
                            "p99_ms": _pct(r.total_ms, 99),
                            "alerts_per_s": 1000 / float(np.mean(r.total_ms)),
                            "search_p50_ms": _pct(r.search_ms, 50),
                            "rows": r.rows,
                            "alerts": len(r.total_ms),
                            "plans_with_steps": r.share(r.with_steps),
                            "first_step_on_topic": r.share(r.on_topic),
                        }
                        for r in runs
                    ],
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
