"""Benchmark of incident clustering: the threshold sweep that chose DEFAULT_THRESHOLD, and the time it takes.

Run from the repository root::

    .venv/bin/python bench/bench_clustering.py [--eval-dir PATH] [--sizes 300,3000,10000] [--seeds 3]

It prints the machine and date, then

* the threshold sweep on the sample incidents (``ai_service/knowledge/sample/incidents.csv``) and on the same
  generator run with other seeds: adjusted Rand index, homogeneity and completeness against the generator's
  (topic, cause) labels, and against "observable" labels in which monitoring tickets that only carry a topic-wide
  alert (their text cannot tell the cause) form one group per topic; plus topic purity (homogeneity against the
  topic alone, noise being a topic);
* the same sweep on an independent corpus - the ~1,150 alert rules of awesome-prometheus-alerts, clustered on
  summary + description and compared with their ``service`` label (``../shared/eval`` beside the repository by
  default; skipped, saying so, when absent). Its text is only read, never copied or printed;
* trivial baselines measured in the same run (one cluster per ServiceNow subcategory; one per normalised short
  description; for the alert corpus, one per first word of the summary);
* incremental growth on the sample (first half by opening date, then the second half) against a one-shot run;
* the time to embed and to cluster 300 / 3,000 / 10,000 incidents, made by resampling the sample with
  perturbations (word drops, swapped application names, typos), and how far block-wise clustering (the
  default above 8,192 incidents) departs from clustering everything at once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import random
import re
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from ai_service.knowledge.clustering import (  # noqa: E402
    DEFAULT_BLOCK_SIZE,
    DEFAULT_THRESHOLD,
    ClusteringScores,
    ExistingSignature,
    assign_to_signatures,
    cluster_incidents,
    cluster_labels,
    describe_clusters,
    incident_text,
    score_clustering,
)
from ai_service.knowledge.embeddings import LocalMiniLMEmbedder  # noqa: E402
from ai_service.knowledge.incidents import IncidentRecord, parse_timestamp, read_incident_file  # noqa: E402
from ai_service.retrieval.query_text import normalize_text  # noqa: E402

SAMPLE_CSV = REPO_ROOT / "ai_service" / "knowledge" / "sample" / "incidents.csv"
GENERATOR = REPO_ROOT / "scripts" / "dev" / "generate_sample_incidents.py"
DEFAULT_EVAL_DIR = REPO_ROOT.parent / "shared" / "eval"
#: Thresholds whose mean ARI is within this of the best are "on the plateau" (indistinguishable on this data).
PLATEAU = 0.01
T = TypeVar("T")
THRESHOLDS = [round(0.40 + 0.025 * step, 3) for step in range(17)]  # 0.400 .. 0.800


# --- ground truth from the generator ---------------------------------------------------------------------


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_sample_incidents", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Labelled:
    name: str
    records: list[IncidentRecord]
    strict: list[tuple[str, str]]  # (topic, cause)
    observable: list[tuple[str, str]]  # (topic, cause), topic-wide monitoring tickets as (topic, "shared alert")
    topic: list[str]


def generated_rows(generator: ModuleType, seed: int) -> list[dict[str, object]]:
    """The generator's rows for ``seed``, each with its topic, cause and whether its text is a topic-wide alert."""

    class Tracing(generator.Generator):  # type: ignore[name-defined,misc]
        def incident(self, topic: object, pattern: object) -> dict[str, object]:
            state = self.rng.getstate()
            monitored = self.rng.random() < pattern.monitored  # type: ignore[attr-defined]
            self.rng.setstate(state)  # the generator draws the same number itself first
            row = super().incident(topic, pattern)
            row["_pattern"] = pattern.key  # type: ignore[attr-defined]
            row["_shared_alert"] = monitored and not pattern.alerts  # type: ignore[attr-defined]
            return row

    return Tracing(generator.Runbooks(generator.RUNBOOK_DIR), seed=seed).incidents()


def record_of(row: dict[str, object]) -> IncidentRecord:
    values = {key: value for key, value in row.items() if not key.startswith("_") and value != ""}
    for key in ("opened_at", "resolved_at"):
        if key in values:
            values[key] = parse_timestamp(str(values[key]))
    return IncidentRecord.model_validate(values)


def labelled(name: str, rows: list[dict[str, object]], records: list[IncidentRecord] | None = None) -> Labelled:
    records = records if records is not None else [record_of(row) for row in rows]
    by_number = {str(row["number"]): row for row in rows}
    strict, observable, topic = [], [], []
    for record in records:
        row = by_number[record.number]
        pair = (str(row["_topic"]), str(row["_pattern"]))
        strict.append(pair)
        observable.append((pair[0], "shared alert") if row["_shared_alert"] else pair)
        topic.append(pair[0])
    return Labelled(name, records, strict, observable, topic)


# --- output helpers --------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.release()}, {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def fmt(scores: ClusteringScores) -> str:
    return f"{scores.clusters:5d} {scores.ari:6.3f} {scores.homogeneity:6.3f} {scores.completeness:6.3f}"


def labels_for(embeddings: np.ndarray, threshold: float) -> list[int]:
    return cluster_labels(cluster_incidents(embeddings, threshold=threshold), len(embeddings))


def grouped(keys: Sequence[str]) -> list[int]:
    numbering: dict[str, int] = {}
    return [numbering.setdefault(key, len(numbering)) for key in keys]


# --- the sweeps ------------------------------------------------------------------------------------------


def sweep_sample(sets: list[Labelled], embedded: list[np.ndarray]) -> None:
    print("\n## Threshold sweep: sample incidents (generator ground truth)")
    print(f"datasets: {', '.join(f'{s.name} ({len(s.records)})' for s in sets)}; values are means over datasets")
    print("            ---- (topic, cause) ----   ---- observable ----   topic")
    print("threshold  clusters   ARI    hom    com     ARI    hom    com    purity")
    means: dict[float, float] = {}
    for threshold in THRESHOLDS:
        rows = []
        for data, vectors in zip(sets, embedded, strict=True):
            predicted = labels_for(vectors, threshold)
            rows.append(
                (
                    score_clustering(data.strict, predicted),
                    score_clustering(data.observable, predicted),
                    score_clustering(data.topic, predicted).homogeneity,
                )
            )
        strict = [row[0] for row in rows]
        observable = [row[1] for row in rows]
        means[threshold] = float(np.mean([s.ari for s in strict]))
        print(
            f"  {threshold:.3f}   {np.mean([s.clusters for s in strict]):7.1f} "
            f"{means[threshold]:6.3f} {np.mean([s.homogeneity for s in strict]):6.3f} "
            f"{np.mean([s.completeness for s in strict]):6.3f}  {np.mean([s.ari for s in observable]):6.3f} "
            f"{np.mean([s.homogeneity for s in observable]):6.3f} {np.mean([s.completeness for s in observable]):6.3f}"
            f"  {np.mean([row[2] for row in rows]):6.3f}"
        )
    best = max(means, key=lambda threshold: (means[threshold], -threshold))
    plateau = [threshold for threshold in THRESHOLDS if means[threshold] >= means[best] - PLATEAU]
    spread = np.std([score_clustering(d.strict, labels_for(v, best)).ari for d, v in zip(sets, embedded, strict=True)])
    rule = plateau[-1]  # over-merging costs more than over-splitting: the purest threshold on the plateau
    on = plateau[0] <= DEFAULT_THRESHOLD <= plateau[-1]
    print(
        f"\nbest mean (topic, cause) ARI {means[best]:.3f} at {best:.3f} (std over datasets {spread:.3f}); "
        f"plateau (within {PLATEAU}): {plateau[0]:.3f}-{plateau[-1]:.3f}; rule 'highest threshold on the plateau' "
        f"-> {rule:.3f}; DEFAULT_THRESHOLD = {DEFAULT_THRESHOLD} ({'on' if on else 'OFF'} the plateau)"
    )
    first = sets[0]
    print(f"\nbaselines on {first.name} (clusters, ARI, hom, com against (topic, cause); topic purity):")
    for name, keys in (
        ("one cluster per subcategory", [f"{r.category}/{r.subcategory}" for r in first.records]),
        ("one per normalised short description", [normalize_text(r.short_description) for r in first.records]),
    ):
        predicted = grouped(keys)
        purity = score_clustering(first.topic, predicted).homogeneity
        print(f"  {name:38s} {fmt(score_clustering(first.strict, predicted))}   purity {purity:.3f}")
    chosen = labels_for(embedded[0], DEFAULT_THRESHOLD)
    purity = score_clustering(first.topic, chosen).homogeneity
    print(
        f"  {'clustering at DEFAULT_THRESHOLD':38s} {fmt(score_clustering(first.strict, chosen))}   purity {purity:.3f}"
    )
    noise_check(first, chosen)


def noise_check(data: Labelled, predicted: list[int]) -> None:
    """How many noise tickets sit in clusters whose majority is a runbook topic."""
    majority: dict[int, str] = {}
    for cluster in set(predicted):
        topics = [t for t, p in zip(data.topic, predicted, strict=True) if p == cluster]
        majority[cluster] = max(sorted(set(topics)), key=topics.count)
    noise = [i for i, topic in enumerate(data.topic) if topic.startswith("unrelated")]
    merged = sum(1 for i in noise if not majority[predicted[i]].startswith("unrelated"))
    print(f"  noise tickets in topic-majority clusters: {merged} of {len(noise)}")


def sweep_alerts(eval_dir: Path, embedder: LocalMiniLMEmbedder) -> None:
    path = eval_dir / "awesome-prometheus-alerts" / "alerts.jsonl"
    print("\n## Threshold sweep: awesome-prometheus-alerts (summary + description vs the service label)")
    if not path.is_file():
        print(f"skipped: {path} is absent (the shared evaluation data sits beside the repository)")
        return
    rules = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [
        IncidentRecord(
            number=str(i),
            short_description=rule.get("summary") or rule["name"],
            description=rule.get("description") or "",
        )
        for i, rule in enumerate(rules)
    ]
    services = [str(rule["service"]) for rule in rules]
    vectors = embedder.embed([incident_text(record) for record in records])
    print(f"{len(rules)} rules, {len(set(services))} services")
    print("threshold  clusters   ARI    hom    com")
    for threshold in THRESHOLDS:
        scores = score_clustering(services, labels_for(vectors, threshold))
        print(f"  {threshold:.3f}   {fmt(scores)}   (hom {scores.homogeneity:.4f})")
    first_word = grouped([(normalize_text(r.short_description).split() or [""])[0].lower() for r in records])
    print(f"baseline: one cluster per first word of the summary: {fmt(score_clustering(services, first_word))}")


# --- incremental growth ----------------------------------------------------------------------------------


def incremental(data: Labelled, vectors: np.ndarray) -> None:
    print("\n## Incremental growth on the sample: first half by opening date, then the second half")
    order = sorted(range(len(data.records)), key=lambda i: (data.records[i].opened_at, data.records[i].number))
    first, second = order[: len(order) // 2], order[len(order) // 2 :]
    numbers = [r.number for r in data.records]
    start = cluster_incidents(vectors[first])
    existing = [
        ExistingSignature(
            signature_id=f"S{k}",
            centroid=c.centroid,
            size=c.size,
            cohesion=c.cohesion,
            incident_numbers=frozenset(numbers[first[m]] for m in c.members),
        )
        for k, c in enumerate(start)
    ]
    feed = first[:20] + second  # 20 re-fed incidents must be skipped
    began = time.perf_counter()
    result = assign_to_signatures(vectors[feed], [numbers[i] for i in feed], existing)
    took = time.perf_counter() - began
    labels = [-1] * len(numbers)
    for k, c in enumerate(start):
        for m in c.members:
            labels[first[m]] = k
    for growth in result.grown:
        for m in growth.added:
            labels[feed[m]] = int(growth.signature_id[1:])
    for k, c in enumerate(result.new_clusters):
        for m in c.members:
            labels[feed[m]] = len(start) + k
    one_shot = labels_for(vectors, DEFAULT_THRESHOLD)
    print(
        f"after half: {len(start)} signatures; second half: {sum(len(g.added) for g in result.grown)} incidents "
        f"joined {len(result.grown)} signatures, {len(result.new_clusters)} new, {len(result.skipped)} re-fed "
        f"skipped ({took * 1000:.0f} ms)"
    )
    print(
        f"total {len(start) + len(result.new_clusters)} signatures vs {len(set(one_shot))} one-shot; "
        f"ARI incremental vs one-shot {score_clustering(one_shot, labels).ari:.3f}; "
        f"vs (topic, cause): incremental {score_clustering(data.strict, labels).ari:.3f}, "
        f"one-shot {score_clustering(data.strict, one_shot).ari:.3f}"
    )


# --- timing ----------------------------------------------------------------------------------------------

_TYPO = re.compile(r"\b[a-z]{6,}\b")


def perturbed(record: IncidentRecord, rng: random.Random, apps: Sequence[str]) -> str:
    """A variant of the record's text: another application name, a dropped word, sometimes a typo."""
    words = incident_text(record).split()
    if len(words) > 4:
        del words[rng.randrange(len(words))]
    text = " ".join(words)
    text = re.sub(r"\b(?:" + "|".join(map(re.escape, apps)) + r")\b", lambda _: rng.choice(apps), text)
    if rng.random() < 0.3 and (typo := list(_TYPO.finditer(text))):
        match = rng.choice(typo)
        word = match.group(0)
        i = rng.randrange(1, len(word) - 2)
        text = text[: match.start()] + word[:i] + word[i + 1] + word[i] + word[i + 2 :] + text[match.end() :]
    return text + f" ({rng.choice(('ops', 'noc', 'sre', 'dc1', 'dc2'))})"


def timed(function: Callable[[], T]) -> tuple[float, T]:
    began = time.perf_counter()
    value = function()
    return time.perf_counter() - began, value


def timings(records: list[IncidentRecord], embedder: LocalMiniLMEmbedder, sizes: list[int]) -> None:
    print("\n## Time to cluster (synthetic scale-up of the sample: resampled with perturbations)")
    rng = random.Random(7)
    apps = ("orders-api", "payments-api", "checkout-web", "inventory-svc", "auth-service", "cart-service")
    largest = max(sizes)
    picks = [rng.randrange(len(records)) for _ in range(largest)]
    texts = [perturbed(records[i], rng, apps) for i in picks]
    seconds, vectors = timed(partial(embedder.embed, texts))
    print(f"embedding {largest} texts: {seconds:.1f} s ({largest / seconds:.0f} texts/s)")
    print("incidents   cluster (s)   describe (s)   clusters   peak RSS (MB)")
    for size in sizes:
        subset = vectors[:size]
        cluster_seconds, clusters = timed(partial(cluster_incidents, subset))
        chosen = [records[i] for i in picks[:size]]
        describe_seconds, _ = timed(partial(describe_clusters, chosen, clusters, texts=texts[:size]))
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{size:9d}   {cluster_seconds:11.2f}   {describe_seconds:12.2f}   {len(clusters):8d}   {peak:13.0f}")
    if largest > 4096:
        exact_seconds, exact = timed(partial(cluster_incidents, vectors, block_size=largest))
        exact_labels = cluster_labels(exact, largest)
        parts = [f"{largest} all at once: {exact_seconds:.2f} s"]
        for block in sorted({DEFAULT_BLOCK_SIZE, 4096}, reverse=True):
            if block < largest:
                seconds, blocked = timed(partial(cluster_incidents, vectors, block_size=block))
                agreement = score_clustering(exact_labels, cluster_labels(blocked, largest)).ari
                parts.append(f"blocks of {block}: {seconds:.2f} s, ARI vs all at once {agreement:.3f}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print("; ".join(parts) + f"; peak RSS now {peak:.0f} MB")


# --- main ------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL_DIR)
    parser.add_argument("--sizes", default="300,3000,10000")
    parser.add_argument("--seeds", type=int, default=3, help="generator runs in the sweep (the sample is the first)")
    args = parser.parse_args()
    print("# Incident clustering benchmark")
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {machine()}")
    embedder = LocalMiniLMEmbedder()
    print(f"model: {embedder.model_name}; DEFAULT_THRESHOLD = {DEFAULT_THRESHOLD}")

    generator = load_generator()
    sample = read_incident_file(SAMPLE_CSV).records
    sets = [labelled("sample", generated_rows(generator, generator.SEED), sample)]
    for extra in range(1, args.seeds):
        sets.append(labelled(f"seed {extra}", generated_rows(generator, generator.SEED + extra)))
    embedded = [embedder.embed([incident_text(record) for record in data.records]) for data in sets]
    sweep_sample(sets, embedded)
    sweep_alerts(args.eval_dir, embedder)
    incremental(sets[0], embedded[0])
    timings(sample, embedder, [int(size) for size in args.sizes.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
