"""`nocai eval triage`: the whole judgement measured on labelled alerts (same input as `nocai eval retrieval`).

Each alert goes through the real pipeline — intake, triage, resolution plan, policy — on a scratch database
holding the given runbooks. Measured: the runbook of the plan's first step against the alert's ``runbook``
field (top-1), the triage severity against the rule's ``severity`` label, the no-match rate (on answerable and,
separately, unanswerable alerts), and how well confidence means what it says: a reliability table (bins of
predicted confidence against observed accuracy of the first step) and its expected calibration error (ECE).
When alerts carry the team that owns them (``team``, else ``runbook_group``), the proposed assignment group is
measured against it: ``team_accuracy`` over the answerable alerts that carry one (an alert routed nowhere counts
as wrong), ``team_accuracy_unanswerable`` the same over the unanswerable ones, and ``misrouted_unanswerable`` the
share of those sent to a wrong team (routed nowhere is not misrouted). Out-of-domain alerts have no team: any
routing of theirs counts in ``out_of_domain_routed_rate``.

Everything learned is measured out of sample, with 5-fold cross-validation grouped by alertname: each alert is
triaged with the abstention rule fitted without its alertname (the same folds as ``nocai eval retrieval``), and
its confidence comes from a Platt scaling fitted without its alertname; the ECE of the raw match probability is
reported beside it.

The alert's title and description are its summary and description; its labels are the rule's labels without
the alertname (runbooks are named after alerts, so the name would give the answer away).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg

from ai_service.alerts.adapters import parse_alerts
from ai_service.alerts.service import receive_alert
from ai_service.errors import InputError
from ai_service.evaluation import retrieval as retrieval_evaluation
from ai_service.incidents.service import triage_incident
from ai_service.knowledge import store as knowledge_store
from ai_service.knowledge.embeddings import Embedder
from ai_service.policy.models import Policy
from ai_service.retrieval.calibration import Calibration, fit_platt, platt
from ai_service.retrieval.service import load_calibration

RULE_SEVERITY = {
    "critical": "critical",
    "error": "high",
    "high": "high",
    "warning": "medium",
    "info": "low",
    "none": "low",
}
BINS = 10


@dataclass
class TriageEvaluation:
    runbook_top1: float
    severity_accuracy: float
    ece: float
    no_match_rate: float
    no_match_rate_unanswerable: float | None
    reliability: list[dict[str, float]]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    p50_ms: float = 0.0
    confidence_scaling: list[float] = field(default_factory=lambda: [1.0, 0.0])
    ece_uncalibrated: float = 0.0
    #: ECE over the alerts that got a plan only (no-match alerts are right at confidence 0 by construction).
    ece_planned: float = 0.0
    #: Share of the out-of-domain alerts that got an explicit no-match (None without an out-of-domain set).
    out_of_domain_no_match_rate: float | None = None
    #: Share of the answerable alerts carrying a team whose proposed assignment group is that team (None: no alert
    #: carries one); the same over the unanswerable alerts; the share of those routed to a wrong team.
    team_accuracy: float | None = None
    team_accuracy_unanswerable: float | None = None
    misrouted_unanswerable: float | None = None
    #: Share of the out-of-domain alerts that were routed to any team (they belong to none).
    out_of_domain_routed_rate: float | None = None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _alerts(path: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise InputError(f"{path}:{number}: not JSON ({exc})", hint="one JSON object per line") from exc
    return rows


def evaluate(
    conn: psycopg.Connection,
    embedder: Embedder,
    runbooks_dir: Path,
    alerts_file: Path,
    no_runbook_file: Path | None,
    *,
    policy: Policy,
    out_of_domain_file: Path | None = None,
) -> TriageEvaluation:
    """Run every alert through the pipeline on ``conn`` (holding exactly the runbooks of ``runbooks_dir``).

    Out-of-domain alerts (``out_of_domain_file``) are triaged with the rule fitted on all the labelled alerts,
    which never saw them; they count in the out-of-domain no-match rate only."""
    root = runbooks_dir.resolve()
    paths = {
        rid: Path(src).resolve().relative_to(root).as_posix()
        for rid, src in knowledge_store.runbook_source_paths(conn).items()
        if Path(src).resolve().is_relative_to(root)
    }
    labelled: list[tuple[dict[str, Any], bool | None]] = [(row, True) for row in _alerts(alerts_file)]
    if no_runbook_file:
        labelled += [(row, False) for row in _alerts(no_runbook_file)]
    if out_of_domain_file:
        labelled += [(row, None) for row in _alerts(out_of_domain_file)]
    rules, fitted = _held_out_rules(conn, embedder, runbooks_dir, alerts_file, no_runbook_file)
    records, ood_no_match, ood_routed, timings = [], [], [], []
    for index, (row, answerable) in enumerate(labelled):
        labels = {k: v for k, v in (row.get("labels") or {}).items() if k != "alertname"}
        payload = {
            "alert_id": f"{row['id']}#{index}",
            "title": row.get("summary") or (row.get("description") or "")[:120] or str(row["id"]),
            "description": row.get("description") or "",
            "labels": labels,
            "severity": labels.get("severity") or row.get("severity"),
        }
        alert = parse_alerts(payload, format="generic")[0]
        intake = receive_alert(conn, alert)
        assert intake.incident_id is not None
        alertname = str(row.get("alertname") or row["id"])
        rule = fitted if answerable is None else rules.get(alertname)
        outcome = triage_incident(conn, embedder, alert, intake.incident_id, policy=policy, calibration=rule)
        if answerable is None:
            ood_no_match.append(outcome.triage.no_match)
            ood_routed.append(outcome.triage.assignment_group is not None)
            continue
        timings.append(outcome.seconds)
        first = outcome.plan.recommendations[0].runbook_id if outcome.plan.recommendations else None
        gold = row.get("runbook")
        golds = {gold} if isinstance(gold, str) else set(gold or [])
        records.append(
            {
                "id": row["id"],
                "alertname": alertname,
                "match_probability": outcome.search.abstention.match_probability,
                "answerable": answerable,
                "band": outcome.decision.band,
                "severity": outcome.triage.severity,
                "expected_severity": RULE_SEVERITY.get(str(row.get("severity") or "").lower()),
                "confidence": outcome.triage.confidence,
                "no_match": outcome.triage.no_match,
                "first_step_runbook": paths.get(first) if first else None,
                "correct": bool(first and paths.get(first) in golds),
                "assignment_group": outcome.triage.assignment_group,
                "assignment_group_source": outcome.triage.assignment_group_source,
                "expected_team": expected_team(row),
            }
        )
    scaling = _cross_validated_confidence(records)
    answer = [r for r in records if r["answerable"]]
    unanswerable = [r for r in records if not r["answerable"]]
    n = max(len(answer), 1)
    with_severity = [r for r in answer if r["expected_severity"]]
    reliability, ece = _reliability(records)  # unanswerable alerts count: no plan of theirs is right
    timings.sort()
    return TriageEvaluation(
        runbook_top1=sum(r["correct"] for r in answer) / n,
        severity_accuracy=(
            sum(r["severity"] == r["expected_severity"] for r in with_severity) / len(with_severity)
            if with_severity
            else 0.0
        ),
        ece=ece,
        no_match_rate=sum(r["no_match"] for r in answer) / n,
        no_match_rate_unanswerable=(
            sum(r["no_match"] for r in unanswerable) / len(unanswerable) if unanswerable else None
        ),
        reliability=reliability,
        alerts=records,
        p50_ms=1000 * timings[len(timings) // 2] if timings else 0.0,
        confidence_scaling=scaling,
        ece_planned=_reliability([r for r in records if not r["no_match"]])[1],
        ece_uncalibrated=_reliability(
            [{**r, "confidence": 0.0 if r["no_match"] else r["match_probability"]} for r in records]
        )[1],
        out_of_domain_no_match_rate=sum(ood_no_match) / len(ood_no_match) if ood_no_match else None,
        **_team_figures(answer, unanswerable),
        out_of_domain_routed_rate=sum(ood_routed) / len(ood_routed) if ood_routed else None,
    )


def expected_team(row: dict[str, Any]) -> str | None:
    """The team that owns a labelled alert: its ``team``, else its ``runbook_group`` (None: not labelled)."""
    for key in ("team", "runbook_group"):
        value = row.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _team_figures(answer: list[dict[str, Any]], unanswerable: list[dict[str, Any]]) -> dict[str, float | None]:
    """Team accuracy over the alerts that carry a team (see the module docstring)."""

    def share(records: list[dict[str, Any]], *, misrouted: bool = False) -> float | None:
        labelled = [r for r in records if r["expected_team"]]
        if not labelled:
            return None
        if misrouted:
            hits = [r for r in labelled if r["assignment_group"] not in (None, r["expected_team"])]
        else:
            hits = [r for r in labelled if r["assignment_group"] == r["expected_team"]]
        return len(hits) / len(labelled)

    return {
        "team_accuracy": share(answer),
        "team_accuracy_unanswerable": share(unanswerable),
        "misrouted_unanswerable": share(unanswerable, misrouted=True),
    }


def _held_out_rules(
    conn: psycopg.Connection,
    embedder: Embedder,
    runbooks_dir: Path,
    alerts_file: Path,
    no_runbook_file: Path | None,
) -> tuple[dict[str, Calibration], Calibration]:
    """alertname -> the abstention rule fitted without it (by the retrieval evaluation, on the same database);
    and the rule fitted on all of them."""
    answerable = retrieval_evaluation.read_alerts(alerts_file, answerable=True)
    unanswerable = retrieval_evaluation.read_alerts(no_runbook_file, answerable=False) if no_runbook_file else []
    shipped = load_calibration()
    result = retrieval_evaluation.evaluate(
        conn, embedder, runbooks_dir, answerable, unanswerable, abstention_legs=("hybrid",), repeats=1
    )
    rules = {
        name: replace(rule, confidence_scaling=shipped.confidence_scaling)
        for name, rule in result.held_out_rules.items()
    }
    return rules, replace(result.calibration, confidence_scaling=shipped.confidence_scaling)


def _cross_validated_confidence(records: list[dict[str, Any]], folds: int = 5, seed: int = 0) -> list[float]:
    """Replace each record's confidence by Platt scaling fitted on the other folds (grouped by alertname).

    The outcome is "the plan's first step is right" (never for an unanswerable alert). Only alerts that got a plan
    are scaled: a no-match has none, and its confidence is 0 by definition. Returns the scaling fitted on all of
    them, which ``--save-calibration`` stores for production.
    """
    planned = [r for r in records if not r["no_match"]]  # a no-match has no plan: its confidence stays 0
    groups = sorted({r["alertname"] for r in planned})
    random.Random(seed).shuffle(groups)
    fold_of = {g: i % folds for i, g in enumerate(groups)}
    for fold in range(folds):
        train = [r for r in planned if fold_of[r["alertname"]] != fold]
        a, b = fit_platt([r["match_probability"] for r in train], [r["correct"] for r in train])
        for r in planned:
            if fold_of[r["alertname"]] == fold:
                r["confidence"] = round(platt(r["match_probability"], a, b), 4)
    return fit_platt([r["match_probability"] for r in planned], [r["correct"] for r in planned])


def _reliability(records: list[dict[str, Any]]) -> tuple[list[dict[str, float]], float]:
    """Bins of predicted confidence against the observed accuracy of the first step; and the ECE."""
    bins: list[list[dict[str, Any]]] = [[] for _ in range(BINS)]
    for r in records:
        bins[min(int(r["confidence"] * BINS), BINS - 1)].append(r)
    table, ece = [], 0.0
    for i, members in enumerate(bins):
        if not members:
            continue
        confidence = sum(m["confidence"] for m in members) / len(members)
        accuracy = sum(m["correct"] for m in members) / len(members)
        ece += len(members) / max(len(records), 1) * abs(confidence - accuracy)
        table.append(
            {
                "low": i / BINS,
                "high": (i + 1) / BINS,
                "count": len(members),
                "confidence": round(confidence, 4),
                "accuracy": round(accuracy, 4),
            }
        )
    return table, ece
