"""`nocai eval feedback`: does what responders teach make the next triage better? Measured on a replayed stream.

A stream of labelled alerts (the input of ``nocai eval triage``) is replayed in a fixed order through the real
pipeline — intake, retrieval with what responders taught, triage, plan, policy, stored rows — twice, on one
scratch knowledge base:

1. **without feedback**: every alert is triaged and nothing is said about it;
2. **with feedback**: after each alert, the word a responder would give on its triage — ``confirm`` when the
   plan's first step comes from the labelled runbook, else ``wrong_runbook`` naming the labelled runbook
   (``ai_service.feedback.service.give_triage_feedback``: the labelled runbook becomes the right one for the
   alert's pattern, the chosen one a wrong one).

The figure is the accuracy of the first step's runbook on the **second half** of the stream, where the repeats
are, with feedback against without. The pass without feedback runs first, so the knowledge base it sees holds
no feedback at all; the pass with feedback then runs on the same knowledge base (the same runbook ids, the same
vectors, the same index), so the two passes differ in nothing but what was taught. A knowledge base that already
holds feedback is refused. The incidents of the first pass stay in the database: triage never reads them.

**Stream order.** Fixed: each alert's key is (how many alerts of its alertname came before it in the file, its
id), so every alertname's first occurrence comes before any repeat, and the second half holds the repeats.
(On the public Prometheus set, the repeats are the rules that share an alertname at different severities.)

**Honesty.** The alertname stays a label of the alert, because it is the pattern key feedback is stored under
(``ai_service.alerts.fingerprint.alert_pattern``), but it is never part of the query: runbooks are named after
alerts, so the name would give the answer away. The query is ``build_query(alert, include_alertname=False)``
(``incidents.service.judge(..., include_alertname=False)``), which also cuts the alertname out of the title and
description; every alert's query text is in the report. Alerts are recorded as a webhook's are
(``record_payload``: the incident with its pattern and its queued work item); no worker runs, each alert is
triaged at once.

**No loss without it.** Each alert is triaged with the abstention rule fitted without its alertname, as
``nocai eval triage`` does, so the pass without feedback must reach ``nocai eval triage``'s top-1 on the same
alerts; that figure is computed in the same run, on the same knowledge base, and reported beside it.

What this module must never do: use the alertname (or the label) in a query, give feedback in the pass without
it, or look at an alert's expected runbook before that alert has been triaged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from ai_service.alerts.adapters import parse_payload
from ai_service.alerts.models import NormalizedAlert, ParsedPayload
from ai_service.errors import ConflictError
from ai_service.evaluation import triage as triage_evaluation
from ai_service.feedback import store as feedback_store
from ai_service.feedback.models import TriageFeedback
from ai_service.feedback.service import give_triage_feedback
from ai_service.incidents import service as incidents
from ai_service.incidents.intake import record_payload
from ai_service.knowledge import store as knowledge_store
from ai_service.knowledge.embeddings import Embedder
from ai_service.policy.models import Policy
from ai_service.retrieval.calibration import Calibration
from ai_service.retrieval.query_text import SearchQuery, build_query

Pass = Literal["without_feedback", "with_feedback"]
ORDER = "by (occurrence of its alertname so far in the file, id): first occurrences first, repeats after"
RESPONDER = "eval-responder"


@dataclass
class PassFigures:
    """One replay of the stream."""

    accuracy: float
    correct: int
    second_half_accuracy: float
    second_half_correct: int
    #: Alerts whose triage read a runbook choice responders had taught (a runbook put first or one left out).
    taught_used: int
    #: Alerts of the second half that got no plan at all (a no-match).
    second_half_no_match: int
    #: Accuracy on the alerts whose alertname occurred earlier in the stream (anywhere), and how many are right.
    repeats_accuracy: float
    repeats_correct: int


@dataclass
class FeedbackEvaluation:
    with_feedback: PassFigures
    without_feedback: PassFigures
    alerts_total: int
    second_half: int
    #: Alerts of the second half whose alertname already occurred in the first half.
    repeats_in_second_half: int
    #: Alerts whose alertname occurred earlier in the stream (the repeats, wherever their first occurrence is).
    repeats_total: int
    #: ``nocai eval triage``'s runbook top-1 on the same alerts, same knowledge base.
    plain_triage_top1: float
    plain_triage_correct: int
    #: Ids where the pass without feedback and ``nocai eval triage`` disagree (none, when nothing is lost).
    plain_triage_disagreements: list[str]
    order: str = ORDER
    alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def no_loss(self) -> bool:
        """The pass without feedback is exactly ``nocai eval triage`` on the same alerts."""
        return self.without_feedback.correct == self.plain_triage_correct and not self.plain_triage_disagreements

    def as_json(self) -> dict[str, Any]:
        return {
            "with_feedback": self.with_feedback.__dict__,
            "without_feedback": self.without_feedback.__dict__,
            "gain_second_half": round(
                self.with_feedback.second_half_accuracy - self.without_feedback.second_half_accuracy, 4
            ),
            "alerts_total": self.alerts_total,
            "second_half": self.second_half,
            "repeats_in_second_half": self.repeats_in_second_half,
            "repeats_total": self.repeats_total,
            "plain_triage_top1": self.plain_triage_top1,
            "plain_triage_correct": self.plain_triage_correct,
            "plain_triage_disagreements": self.plain_triage_disagreements,
            "no_loss": self.no_loss,
            "order": self.order,
            "alerts": self.alerts,
        }


def alertname_of(row: dict[str, Any]) -> str:
    """The alertname of a labelled row (its id when it has none, as ``nocai eval triage`` groups them)."""
    return str(row.get("alertname") or (row.get("labels") or {}).get("alertname") or row["id"])


def stream_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The replay order (see the module docstring): first occurrences of every alertname, then the repeats."""
    seen: Counter[str] = Counter()
    keyed = []
    for row in rows:
        name = alertname_of(row)
        keyed.append(((seen[name], str(row["id"])), row))
        seen[name] += 1
    return [row for _, row in sorted(keyed, key=lambda item: item[0])]


def payload_of(row: dict[str, Any], alert_id: str) -> ParsedPayload:
    """The generic alert for a labelled row: ``nocai eval triage``'s, with the alertname kept as a label."""
    labels = {str(k): str(v) for k, v in (row.get("labels") or {}).items()}
    labels["alertname"] = alertname_of(row)
    payload = {
        "alert_id": alert_id,
        "title": row.get("summary") or (row.get("description") or "")[:120] or str(row["id"]),
        "description": row.get("description") or "",
        "labels": labels,
        "severity": labels.get("severity") or row.get("severity"),
    }
    return parse_payload(payload, format="generic")


def query_of(alert: NormalizedAlert) -> SearchQuery:
    """What the replay searches with: the alert without its alertname (neither in the text nor as context)."""
    return build_query(alert, include_alertname=False)


def _golds(row: dict[str, Any]) -> list[str]:
    gold = row.get("runbook")
    return [gold] if isinstance(gold, str) else [str(g) for g in gold or []]


def _replay(
    conn: psycopg.Connection,
    embedder: Embedder,
    stream: list[dict[str, Any]],
    *,
    run: Pass,
    paths: dict[str, str],
    rules: dict[str, Calibration],
    policy: Policy,
) -> list[dict[str, Any]]:
    """Triage every alert of ``stream`` in order; with feedback, say after each whether its plan was right."""
    ids = {path: rid for rid, path in paths.items()}
    half = len(stream) // 2
    first_half_names = {alertname_of(row) for row in stream[:half]}
    seen: set[str] = set()
    records = []
    for position, row in enumerate(stream):
        name = alertname_of(row)
        parsed = payload_of(row, f"{row['id']}#{run}#{position}")
        # Recorded as a webhook's alert is: the incident with its queued work item, whose alert is what feedback
        # reads the pattern from. No worker runs here: the alert is triaged at once, below.
        (receipt,) = record_payload(conn, parsed, max_attempts=1).alerts
        assert receipt.incident_id is not None  # every id of a pass is new: the alert opens an incident
        incident_id = receipt.incident_id
        judgement = incidents.judge(
            conn, embedder, parsed.alerts[0], policy=policy, calibration=rules.get(name), include_alertname=False
        )
        with conn.transaction():
            outcome = incidents.record(conn, incident_id, judgement)
        steps = outcome.plan.recommendations
        chosen = paths.get(steps[0].runbook_id) if steps else None
        golds = _golds(row)
        correct = chosen is not None and chosen in golds
        taught = outcome.search.feedback
        excluded = list(taught.excluded) if taught else []
        verdict = None
        if run == "with_feedback":
            verdict = "confirm" if correct else "wrong_runbook"
            right = next((ids[g] for g in golds if g in ids), None)
            give_triage_feedback(
                conn,
                incident_id,
                TriageFeedback(verdict=verdict, runbook_id=None if correct else right),
                user=RESPONDER,
            )
        records.append(
            {
                "id": str(row["id"]),
                "alertname": name,
                "pass": run,
                "position": position,
                "second_half": position >= half,
                "repeat": position >= half and name in first_half_names,
                "seen_before": name in seen,
                "correct": correct,
                "runbook": chosen,
                "expected": golds[0] if len(golds) == 1 else golds,
                "no_match": outcome.triage.no_match,
                "taught": taught is not None,
                "taught_runbook": paths.get(taught.runbook_id, taught.runbook_id) if taught else None,
                "taught_votes": taught.votes if taught else 0,  # net: right votes minus wrong ones
                "excluded": [paths.get(r, r) for r in excluded],
                "feedback": verdict,
                "query": outcome.search.query_text,
            }
        )
        seen.add(name)
    return records


def _figures(records: list[dict[str, Any]]) -> PassFigures:
    second = [r for r in records if r["second_half"]]
    repeats = [r for r in records if r["seen_before"]]
    correct = sum(r["correct"] for r in records)
    second_correct = sum(r["correct"] for r in second)
    return PassFigures(
        accuracy=round(correct / max(len(records), 1), 4),
        correct=correct,
        second_half_accuracy=round(second_correct / max(len(second), 1), 4),
        second_half_correct=second_correct,
        taught_used=sum(r["taught"] or bool(r["excluded"]) for r in records),
        second_half_no_match=sum(r["no_match"] for r in second),
        repeats_accuracy=round(sum(r["correct"] for r in repeats) / max(len(repeats), 1), 4),
        repeats_correct=sum(r["correct"] for r in repeats),
    )


def evaluate(
    conn: psycopg.Connection,
    embedder: Embedder,
    runbooks_dir: Path,
    alerts_file: Path,
    *,
    policy: Policy,
) -> FeedbackEvaluation:
    """Replay ``alerts_file`` without and with feedback on ``conn`` (holding exactly the runbooks of
    ``runbooks_dir``, and no feedback); see the module docstring."""
    if feedback_store.learned_rows(conn):
        raise ConflictError(
            "this knowledge base already holds feedback, so the pass without feedback would not be one",
            hint="run the evaluation on a scratch knowledge base (as `nocai eval feedback` does)",
        )
    root = runbooks_dir.resolve()
    paths = {
        rid: Path(src).resolve().relative_to(root).as_posix()
        for rid, src in knowledge_store.runbook_source_paths(conn).items()
        if Path(src).resolve().is_relative_to(root)
    }
    stream = stream_order(triage_evaluation._alerts(alerts_file))
    # The rules `nocai eval triage` uses: each alertname's abstention rule fitted without it.
    rules, _ = triage_evaluation._held_out_rules(conn, embedder, runbooks_dir, alerts_file, None)
    plain = triage_evaluation.evaluate(conn, embedder, runbooks_dir, alerts_file, None, policy=policy)
    without = _replay(conn, embedder, stream, run="without_feedback", paths=paths, rules=rules, policy=policy)
    with_ = _replay(conn, embedder, stream, run="with_feedback", paths=paths, rules=rules, policy=policy)
    plain_correct = {str(r["id"]): bool(r["correct"]) for r in plain.alerts}
    second = [r for r in without if r["second_half"]]
    return FeedbackEvaluation(
        with_feedback=_figures(with_),
        without_feedback=_figures(without),
        alerts_total=len(stream),
        second_half=len(second),
        repeats_in_second_half=sum(r["repeat"] for r in second),
        repeats_total=sum(r["seen_before"] for r in without),
        plain_triage_top1=round(plain.runbook_top1, 4),
        plain_triage_correct=sum(plain_correct.values()),
        plain_triage_disagreements=sorted(r["id"] for r in without if plain_correct.get(r["id"]) != r["correct"]),
        alerts=without + with_,
    )
