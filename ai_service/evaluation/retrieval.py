"""`nocai eval retrieval`: measure retrieval on labelled alerts, leg by leg, with an honest abstention figure.

Input (the format of the public prometheus-operator set): a folder of runbooks; a JSON Lines file of alerts with
``id``, ``alertname``, ``summary``, ``description`` and ``runbook`` (a path relative to the runbooks folder, or
a list of acceptable paths); optionally a file of alerts that have no runbook. The runbooks are ingested into a
scratch database that is dropped afterwards.

Each alert is queried with its summary and description only — never its alertname or runbook URL — normalised
as production alerts are. One SQL statement per alert returns both legs and the fusion, so full-text only,
vector only and hybrid are measured side by side on the same candidates.

Abstention is learned, not set: a logistic rule over the best hit's evidence (``calibration.py``), fitted on
answerable alerts (label 1), unanswerable ones and leave-one-out negatives (the same answerable alerts with
their runbook excluded, label 0), with its threshold set to keep the out-of-fold estimate of false abstention
at 4 %, under the 5 % budget. The reported rates come from 5-fold cross-validation **grouped by alertname**, so no alert
name is ever both trained and tested on, repeated with five fold assignments and averaged; an alert's
``abstained`` is the majority of its five held-out decisions.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from ai_service.alerts.adapters import parse_alerts
from ai_service.errors import InputError
from ai_service.knowledge import store as knowledge_store
from ai_service.knowledge.embeddings import Embedder
from ai_service.retrieval import calibration as calib
from ai_service.retrieval import store
from ai_service.retrieval.query_text import build_query
from ai_service.retrieval.service import FEATURE_ROWS, abstention_features

LEGS = ("fulltext", "vector", "hybrid")
LEG_FEATURES = {
    "fulltext": ("coverage", "title", "unexplained", "fts_lead"),
    "vector": ("vec", "title", "vec_lead"),
    "hybrid": calib.FEATURES,
}
FOLDS = 5
#: Cross-validation is repeated with this many fold assignments and the rates averaged: with a few dozen
#: unanswerable alerts, one assignment moves the abstention rate by several points.
REPEATS = 5


@dataclass
class LabelledAlert:
    id: str
    alertname: str
    text: str
    gold: frozenset[str]  # acceptable runbook paths (empty: no runbook)


@dataclass
class LegFigures:
    top1: float = 0.0
    top5: float = 0.0
    mrr: float = 0.0
    abstain_rate: float | None = None
    false_abstain_rate: float | None = None


@dataclass
class RetrievalEvaluation:
    legs: dict[str, LegFigures]
    alerts: list[dict[str, Any]]
    answerable: int
    unanswerable: int
    calibration: calib.Calibration
    unresolved_gold: list[str] = field(default_factory=list)
    #: alertname -> the hybrid abstention rule fitted without it (first repetition): what ``nocai eval triage``
    #: abstains with, so that its figures are out-of-sample too.
    held_out_rules: dict[str, calib.Calibration] = field(default_factory=dict)
    #: Share of the out-of-domain alerts (meaningless or other domains' text) the fitted rule abstains on; they
    #: take no part in fitting it. None when no such set was given.
    out_of_domain_abstain_rate: float | None = None
    out_of_domain: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "legs": {name: vars(figures) for name, figures in self.legs.items()},
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            "out_of_domain": self.out_of_domain,
            "out_of_domain_abstain_rate": self.out_of_domain_abstain_rate,
            "calibration": self.calibration.__dict__,
            "alerts": self.alerts,
        }


def read_alerts(path: Path, *, answerable: bool) -> list[LabelledAlert]:
    """Alerts of an evaluation file; a malformed line is an error naming file and line."""
    alerts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            summary, description = row.get("summary") or "", row.get("description") or ""
            gold = row.get("runbook")
            golds = frozenset([gold] if isinstance(gold, str) else (gold or []))
            if answerable and not golds:
                raise ValueError("has no 'runbook'")
            payload = {
                "alert_id": str(row["id"]),
                "title": summary or description[:120] or str(row["id"]),
                "description": description,
                "labels": {k: v for k, v in (row.get("labels") or {}).items() if k != "alertname"},
            }
            alert = parse_alerts(payload, format="generic")[0]
            text = build_query(alert, include_alertname=False).text
            alerts.append(LabelledAlert(str(row["id"]), str(row.get("alertname") or row["id"]), text, golds))
        except (KeyError, ValueError, TypeError) as exc:
            raise InputError(
                f"{path}:{number}: not an evaluation alert ({exc})",
                hint="each line needs id, summary/description and (for answerable alerts) runbook",
            ) from exc
    return alerts


def _rankings(rows: list[store.FusedRow]) -> dict[str, list[store.FusedRow]]:
    return {
        "hybrid": rows,
        "vector": sorted((r for r in rows if r.vec_rank), key=lambda r: r.vec_rank or 0),
        "fulltext": sorted((r for r in rows if r.fts_rank), key=lambda r: r.fts_rank or 0),
    }


def evaluate(
    conn: psycopg.Connection,
    embedder: Embedder,
    runbooks_dir: Path,
    answerable: Sequence[LabelledAlert],
    unanswerable: Sequence[LabelledAlert],
    *,
    k: int = 10,
    seed: int = 0,
    abstention_legs: Sequence[str] = LEGS,
    repeats: int = REPEATS,
    progress: Callable[[str, int, int], None] | None = None,
    out_of_domain: Sequence[LabelledAlert] = (),
) -> RetrievalEvaluation:
    """Run the evaluation on ``conn`` (a database holding exactly the runbooks of ``runbooks_dir``).

    ``out_of_domain`` alerts (nothing in any knowledge base should match them) are put to the rule fitted on all
    the other data, with the floor measured for ``embedder``'s model: the share it abstains on is reported.

    Abstention is cross-validated for ``abstention_legs`` over ``repeats`` fold assignments (the others keep no
    abstention figures); a caller that needs only the held-out hybrid rules asks for ``("hybrid",)`` and 1.
    """
    root = runbooks_dir.resolve()
    paths = {
        rid: Path(src).resolve().relative_to(root).as_posix()
        for rid, src in knowledge_store.runbook_source_paths(conn).items()
        if Path(src).resolve().is_relative_to(root)
    }
    ids_by_path = {p: rid for rid, p in paths.items()}
    unresolved = sorted({g for a in answerable for g in a.gold if g not in ids_by_path})

    figures = {leg: LegFigures() for leg in LEGS}
    per_alert: list[dict[str, Any]] = []
    examples: dict[str, list[tuple[str, dict[str, float], int]]] = {leg: [] for leg in LEGS}  # (group, x, y)
    positives_by_leg: dict[str, list[tuple[str, dict[str, float]]]] = {leg: [] for leg in LEGS}
    negatives_by_leg: dict[str, list[tuple[str, dict[str, float]]]] = {leg: [] for leg in LEGS}
    everything = [*answerable, *unanswerable]
    for index, alert in enumerate(everything, start=1):
        if progress:
            progress("alerts", index, len(everything))
        vector = embedder.embed_query(alert.text) if alert.text else None
        rows = store.hybrid_search(conn, store.RUNBOOKS, text=alert.text, vector=vector, k=k, limit=FEATURE_ROWS)
        ranked = _rankings(rows)
        if alert.gold:
            for leg in LEGS:
                order = [paths.get(r.id, r.id) for r in ranked[leg]][:10]
                hit = next((i for i, p in enumerate(order) if p in alert.gold), None)
                f = figures[leg]
                f.top1 += hit == 0
                f.top5 += hit is not None and hit < 5
                f.mrr += 1 / (hit + 1) if hit is not None else 0.0
                x = abstention_features(rows, leg)
                positives_by_leg[leg].append((alert.alertname, x))
                examples[leg].append((alert.alertname, x, 1))
            gold_ids = tuple(ids_by_path[g] for g in alert.gold if g in ids_by_path)
            loo = store.hybrid_search(
                conn,
                store.RUNBOOKS,
                text=alert.text,
                vector=vector,
                k=k,
                limit=FEATURE_ROWS,
                filters=store.Filters(exclude_ids=gold_ids),
            )
            for leg in LEGS:
                examples[leg].append((alert.alertname, abstention_features(loo, leg), 0))
        else:
            for leg in LEGS:
                x = abstention_features(rows, leg)
                negatives_by_leg[leg].append((alert.alertname, x))
                examples[leg].append((alert.alertname, x, 0))
        per_alert.append(
            {
                "id": alert.id,
                "answerable": bool(alert.gold),
                "ranked": [{"runbook": paths.get(r.id, r.id), "score": round(r.score, 6)} for r in rows[:10]],
                "_features": abstention_features(rows, "hybrid"),
            }
        )
    n = max(len(answerable), 1)
    for leg in LEGS:
        f = figures[leg]
        f.top1, f.top5, f.mrr = f.top1 / n, f.top5 / n, f.mrr / n

    groups = sorted({a.alertname for a in everything})
    votes: dict[str, int] = {}
    held_out_rules: dict[str, calib.Calibration] = {}
    for leg in abstention_legs:
        false_abstain = abstain = 0
        for repeat in range(repeats):
            rules = held_out(examples[leg], groups, LEG_FEATURES[leg], seed=seed + repeat)
            false_abstain += sum(rules[g].abstains(x) for g, x in positives_by_leg[leg] if g in rules)
            abstain += sum(rules[g].abstains(x) for g, x in negatives_by_leg[leg] if g in rules)
            if leg == "hybrid":
                held_out_rules = held_out_rules or rules
                for alert, record in zip(everything, per_alert, strict=True):
                    rule = rules.get(alert.alertname)
                    votes[alert.id] = votes.get(alert.id, 0) + bool(rule and rule.abstains(record["_features"]))
        figures[leg].false_abstain_rate = false_abstain / (n * repeats)
        figures[leg].abstain_rate = abstain / (len(unanswerable) * repeats) if unanswerable else None
    for record in per_alert:
        record["abstained"] = votes.get(record["id"], 0) * 2 > repeats
        record.pop("_features")
    final = calib.fit(
        [x for _, x, _ in examples["hybrid"]],
        [y for _, _, y in examples["hybrid"]],
        groups=[g for g, _, _ in examples["hybrid"]],
        source=f"nocai eval retrieval on {len(answerable)} answerable and {len(unanswerable)} unanswerable alerts "
        f"({root.name}), leave-one-out negatives",
    )
    final.vector_floor_model = embedder.model_name
    final.metrics = {
        "cv_abstain_rate": figures["hybrid"].abstain_rate or 0.0,
        "cv_false_abstain_rate": figures["hybrid"].false_abstain_rate or 0.0,
    }
    ood_abstained = 0
    for alert in out_of_domain:
        vector = embedder.embed_query(alert.text) if alert.text else None
        rows = store.hybrid_search(conn, store.RUNBOOKS, text=alert.text, vector=vector, k=k, limit=FEATURE_ROWS)
        ood_abstained += not rows or final.abstains(abstention_features(rows), embedder.model_name)
    if out_of_domain:
        final.metrics["out_of_domain_abstain_rate"] = ood_abstained / len(out_of_domain)
    return RetrievalEvaluation(
        figures,
        per_alert,
        len(answerable),
        len(unanswerable),
        final,
        unresolved,
        held_out_rules,
        out_of_domain_abstain_rate=ood_abstained / len(out_of_domain) if out_of_domain else None,
        out_of_domain=len(out_of_domain),
    )


def held_out(
    examples: Sequence[tuple[str, dict[str, float], int]],
    groups: Sequence[str],
    features: Sequence[str],
    *,
    seed: int,
) -> dict[str, calib.Calibration]:
    """For each group (alertname), the abstention rule fitted on the folds that do not contain it."""
    shuffled = list(groups)
    random.Random(seed).shuffle(shuffled)
    fold_of = {g: i % FOLDS for i, g in enumerate(shuffled)}
    rules: dict[str, calib.Calibration] = {}
    for fold in range(FOLDS):
        train = [(g, x, y) for g, x, y in examples if fold_of[g] != fold]
        if len({y for _, _, y in train}) < 2:
            continue
        rule = calib.fit(
            [x for _, x, _ in train], [y for _, _, y in train], groups=[g for g, _, _ in train], features=features
        )
        rules.update({g: rule for g in shuffled if fold_of[g] == fold})
    return rules
