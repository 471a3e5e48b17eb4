"""Benchmark of nocai's embedders: speed, and retrieval quality on public alert → runbook data.

Run from the repository root::

    .venv/bin/python bench/bench_embedders.py [--eval-dir PATH] [--repeat N]

It prints the machine and date, then

* texts/s of each available embedder on a fixed synthetic corpus of NOC texts (the local MiniLM always;
  ``wordllama`` when it is installed, loaded offline from the weights its package ships);
* for each embedder and for a plain TF-IDF baseline computed in the same run: top-1, top-5 and MRR@10 of
  ranking the Prometheus-operator runbooks for each alert of ``alerts.jsonl`` (alert text = summary +
  description, never the alert name or runbook fields), and each embedder's ratio to the baseline.

The evaluation data (``../shared/eval/prometheus`` beside the repository by default) is only read: none of
its text is copied into the repository or printed. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ai_service.knowledge.embeddings import LocalMiniLMEmbedder  # noqa: E402

DEFAULT_EVAL_DIR = REPO_ROOT.parent / "shared" / "eval" / "prometheus"


# --- the fixed speed corpus ------------------------------------------------------------------------------

_HOSTS = ["web-01", "db-primary", "worker-7", "edge-lb-2", "kafka-3", "ingest-12", "cache-5", "gpu-node-1"]
_SERVICES = ["checkout", "payments-api", "search", "auth", "billing-worker", "ingress-nginx", "postgres"]
_SHORT = [
    "Disk usage on {host} is above {pct}% on /var",
    "Pod {svc} in namespace prod is crash looping",
    "High p99 latency on {svc}: {ms} ms over the last 10 minutes",
    "TLS certificate for {svc}.example.com expires in {days} days",
    "Node {host} is not ready",
    "Error rate of {svc} is {pct}% (threshold 5%)",
    "Replication lag on {host} is {ms} ms",
    "Memory pressure on {host}: {pct}% used, pods are being evicted",
    "{svc} has fewer ready replicas than desired for 15 minutes",
    "Target {host}:9100 is down",
]
_SENTENCES = [
    "The service started returning 5xx responses shortly after the last deployment.",
    "Check the recent changes to the configuration and roll back if the errors correlate with them.",
    "The filesystem is filling up because log rotation stopped after the cron job was removed.",
    "Connections to the database are exhausted; the pool size was lowered in the last release.",
    "The kubelet reports PLEG is not healthy and containers take minutes to start.",
    "Upstream DNS resolution intermittently times out from the affected nodes.",
    "Restarting the pod only helps for a few minutes before the memory grows again.",
    "The certificate was renewed but the ingress controller did not reload it.",
    "Traffic shifted to the secondary region while the primary load balancer was drained.",
    "Compaction is falling behind and the write-ahead log keeps growing on the primary.",
]


def speed_corpus(size: int = 300, seed: int = 20240601) -> list[str]:
    """Deterministic NOC-like texts: ~60% alert lines, ~30% short notes, ~10% long runbook passages."""
    rng = random.Random(seed)

    def alert() -> str:
        return rng.choice(_SHORT).format(
            host=rng.choice(_HOSTS),
            svc=rng.choice(_SERVICES),
            pct=rng.randint(80, 99),
            ms=rng.randint(200, 9000),
            days=rng.randint(1, 14),
        )

    texts: list[str] = []
    for _ in range(size):
        roll = rng.random()
        if roll < 0.6:
            texts.append(alert())
        elif roll < 0.9:
            texts.append(" ".join([alert() + ".", *rng.sample(_SENTENCES, rng.randint(2, 4))]))
        else:
            texts.append(" ".join([alert() + ".", *(rng.choice(_SENTENCES) for _ in range(rng.randint(12, 24)))]))
    return texts


# --- embedders under test --------------------------------------------------------------------------------


@dataclass
class Candidate:
    name: str
    dimension: int
    embed: Callable[[Sequence[str]], np.ndarray]
    load_seconds: float


def load_candidates() -> tuple[list[Candidate], list[str]]:
    """The embedders that can run here, and a skip message for each that cannot."""
    candidates: list[Candidate] = []
    skipped: list[str] = []

    started = time.perf_counter()
    local = LocalMiniLMEmbedder()
    local.load()
    candidates.append(Candidate(local.model_name, local.dimension, local.embed, time.perf_counter() - started))

    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError:
        skipped.append("wordllama: skipped, not installed (optional: pip install wordllama)")
    else:
        try:
            started = time.perf_counter()
            model = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
            seconds = time.perf_counter() - started
        except Exception as exc:  # any load failure just means "not measurable here"
            skipped.append(f"wordllama: skipped, could not load its bundled weights offline ({exc})")
        else:

            def embed_wordllama(texts: Sequence[str]) -> np.ndarray:
                return np.asarray(model.embed(list(texts), norm=True), dtype=np.float32)

            dimension = int(embed_wordllama(["probe"]).shape[1])
            candidates.append(Candidate(f"wordllama-l2_supercat-{dimension}", dimension, embed_wordllama, seconds))
    return candidates, skipped


def measure_speed(candidate: Candidate, corpus: list[str], repeat: int) -> float:
    """Best texts/s of ``repeat`` runs over the corpus, after a warm-up run on a few texts."""
    candidate.embed(corpus[:16])
    best = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        candidate.embed(corpus)
        best = max(best, len(corpus) / (time.perf_counter() - started))
    return best


# --- the retrieval task ----------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A(?:---\s*\n.*?\n---|\+\+\+\s*\n.*?\n\+\+\+)\s*(?:\n|\Z)", re.DOTALL)


def strip_front_matter(text: str) -> str:
    return _FRONT_MATTER.sub("", text.lstrip("\ufeff"), count=1)


@dataclass
class EvalData:
    doc_ids: list[str]  # runbook paths relative to runbooks/
    doc_texts: list[str]
    queries: list[str]
    relevant: list[set[int]]  # per query, indexes into doc_ids
    skipped_alerts: int


def load_eval(eval_dir: Path) -> EvalData:
    runbooks_dir = eval_dir / "runbooks"
    pages = sorted(p for p in (runbooks_dir / "content" / "runbooks").rglob("*.md") if p.name != "_index.md")
    doc_ids = [p.relative_to(runbooks_dir).as_posix() for p in pages]
    doc_texts = [strip_front_matter(p.read_text(encoding="utf-8")) for p in pages]
    position = {doc_id: i for i, doc_id in enumerate(doc_ids)}

    queries: list[str] = []
    relevant: list[set[int]] = []
    skipped = 0
    with (eval_dir / "alerts.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            alert = json.loads(line)
            text = f"{alert.get('summary') or ''} {alert.get('description') or ''}".strip()
            targets = alert.get("runbook")
            targets = [targets] if isinstance(targets, str) else list(targets or [])
            wanted = {position[t] for t in targets if t in position}
            if not text or not wanted:
                skipped += 1
                continue
            queries.append(text)
            relevant.append(wanted)
    return EvalData(doc_ids, doc_texts, queries, relevant, skipped)


@dataclass
class Quality:
    top1: float
    top5: float
    mrr10: float


def score_rankings(similarity: np.ndarray, relevant: list[set[int]]) -> Quality:
    """top-1 / top-5 hit rates and MRR@10 of ranking documents (columns) for each query (row)."""
    order = np.argsort(-similarity, axis=1, kind="stable")
    top1 = top5 = mrr = 0.0
    for row, wanted in enumerate(relevant):
        ranks = [rank for rank, doc in enumerate(order[row, :10], start=1) if int(doc) in wanted]
        first = ranks[0] if ranks else None
        top1 += first == 1
        top5 += first is not None and first <= 5
        mrr += 1.0 / first if first is not None else 0.0
    n = len(relevant)
    return Quality(top1 / n, top5 / n, mrr / n)


class TfidfBaseline:
    """Plain TF-IDF: lower-cased alphanumeric tokens, sublinear tf, smoothed idf, cosine similarity."""

    _TOKEN = re.compile(r"[a-z0-9]+")

    def __init__(self, documents: Sequence[str]) -> None:
        tokenised = [self._TOKEN.findall(doc.lower()) for doc in documents]
        self.vocabulary = {term: i for i, term in enumerate(sorted({t for doc in tokenised for t in doc}))}
        df = np.zeros(len(self.vocabulary))
        for doc in tokenised:
            for term in set(doc):
                df[self.vocabulary[term]] += 1
        self.idf = np.log((1 + len(documents)) / (1 + df)) + 1.0
        self.documents = self._vectors(tokenised)

    def _vectors(self, tokenised: list[list[str]]) -> np.ndarray:
        matrix = np.zeros((len(tokenised), len(self.vocabulary)))
        for row, doc in enumerate(tokenised):
            for term in doc:
                column = self.vocabulary.get(term)
                if column is not None:
                    matrix[row, column] += 1
        matrix = np.where(matrix > 0, 1.0 + np.log(np.maximum(matrix, 1.0)), 0.0) * self.idf
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.maximum(norms, 1e-12)

    def similarity(self, queries: Sequence[str]) -> np.ndarray:
        return self._vectors([self._TOKEN.findall(q.lower()) for q in queries]) @ self.documents.T


# --- report ----------------------------------------------------------------------------------------------


def machine_line() -> str:
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 0
    import onnxruntime

    return (
        f"machine: {os.cpu_count()} CPUs ({available} available to this process), {platform.platform()}, "
        f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}, "
        f"onnxruntime {onnxruntime.__version__}"
    )


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline > 0 else "n/a"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR, help="the prometheus eval directory")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per embedder (best is reported)")
    args = parser.parse_args(argv)

    print(f"nocai embedder benchmark, {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    print(machine_line())

    candidates, skipped = load_candidates()
    corpus = speed_corpus()
    mean_chars = sum(map(len, corpus)) / len(corpus)
    print(f"\nspeed: {len(corpus)} fixed synthetic NOC texts (mean {mean_chars:.0f} chars), best of {args.repeat}")
    print(f"  {'embedder':<28} {'dim':>5} {'load s':>8} {'texts/s':>10}")
    for candidate in candidates:
        speed = measure_speed(candidate, corpus, args.repeat)
        print(f"  {candidate.name:<28} {candidate.dimension:>5} {candidate.load_seconds:>8.2f} {speed:>10.1f}")
    for message in skipped:
        print(f"  {message}")

    eval_dir = args.eval_dir.resolve()
    if not (eval_dir / "alerts.jsonl").is_file() or not (eval_dir / "runbooks" / "content" / "runbooks").is_dir():
        print(
            f"\nretrieval quality: skipped, no evaluation data at {eval_dir} "
            "(expected alerts.jsonl and runbooks/content/runbooks/ there; pass --eval-dir)"
        )
        return 0
    data = load_eval(eval_dir)
    print(
        f"\nretrieval: {len(data.queries)} alerts (summary + description) ranked against "
        f"{len(data.doc_ids)} runbooks (whole file, front matter stripped)"
        + (f"; {data.skipped_alerts} alerts skipped (no text or runbook not found)" if data.skipped_alerts else "")
    )
    baseline = score_rankings(TfidfBaseline(data.doc_texts).similarity(data.queries), data.relevant)
    print(f"  {'method':<28} {'top-1':>6} {'top-5':>6} {'MRR@10':>7}   {'vs TF-IDF (top-1 / top-5 / MRR@10)'}")
    print(f"  {'tf-idf (numpy baseline)':<28} {baseline.top1:>6.3f} {baseline.top5:>6.3f} {baseline.mrr10:>7.3f}")
    for candidate in candidates:
        started = time.perf_counter()
        docs = candidate.embed(data.doc_texts)
        queries = candidate.embed(data.queries)
        seconds = time.perf_counter() - started
        quality = score_rankings(queries @ docs.T, data.relevant)
        ratios = " / ".join(
            ratio(a, b)
            for a, b in (
                (quality.top1, baseline.top1),
                (quality.top5, baseline.top5),
                (quality.mrr10, baseline.mrr10),
            )
        )
        print(
            f"  {candidate.name:<28} {quality.top1:>6.3f} {quality.top5:>6.3f} {quality.mrr10:>7.3f}   {ratios}"
            f"   (embedded in {seconds:.1f}s)"
        )
    for message in skipped:
        print(f"  {message}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
