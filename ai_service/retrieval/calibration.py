"""The abstention rule: a small logistic model over the best hit's evidence, learned from data.

Features of the best hit: ``coverage`` (share of the query's IDF mass it contains), ``title`` (share of its
title's IDF mass the query contains), ``margin`` (its lead over the second hit, relative to its score); and of
the legs: ``vec_lead`` (the best cosine similarity minus the mean of ranks 2..10) and ``fts_lead`` (the best
BM25 score as a share of the top five). ``vec`` (cosine similarity), ``agree`` (both legs rank it first) and
``unexplained`` (the rarest query term it lacks) are computed too and available to other rules.

``nocai eval retrieval`` learns the weights and the threshold from labelled alerts: answerable ones (their
runbook is in the knowledge base), unanswerable ones, and answerable ones with their runbook left out
(leave-one-out negatives: the nearest *other* runbook is exactly what abstention must reject), with
cross-validation grouped by alertname, and writes the fitted rule as JSON.

The threshold is chosen so that an estimated ``max_false_abstain`` of answerable alerts are abstained on. The
estimate is out-of-fold (the positives' probabilities under rules fitted without their group), because an
in-sample quantile is optimistic: measured on the public prometheus set, a 5 % in-sample quantile abstained on
6-7 % of held-out answerable alerts. The abstention rate on unanswerable alerts is what that buys, and is reported.

One absolute rule sits beside the relative ones: the **vector floor**. When the best cosine similarity anywhere
in the knowledge base (``vec_best``) is below it, nothing there is even about the same subject, and no amount of
lexical overlap ("test", "high", "900") makes a match. The floor is half the 1st percentile of the answerable
alerts' ``vec_best``: far below any real match, far above what unrelated text reaches. A cosine similarity means
something only for the model that produced it, so the floor is recorded with that model's name and applies to
it alone (another embedding model gets no floor until ``nocai eval retrieval`` measures one for it).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Relative evidence only: absolute cosine similarities depend on how long a knowledge base's documents are, so a
#: rule learned on one knowledge base would not carry over to another if it read them.
FEATURES = ("coverage", "title", "margin", "vec_lead", "fts_lead")
#: The share of answerable alerts the default threshold may abstain on: a margin under a 5 % budget.
MAX_FALSE_ABSTAIN = 0.04
INNER_FOLDS = 5
#: The vector floor is this share of the answerable alerts' low (``FLOOR_QUANTILE``) best similarity.
FLOOR_SHARE = 0.5
FLOOR_QUANTILE = 0.01
DEFAULT_CALIBRATION = Path(__file__).resolve().parent / "calibration.json"


@dataclass
class Calibration:
    features: tuple[str, ...]
    mean: list[float]
    scale: list[float]
    weights: list[float]
    bias: float
    threshold: float
    source: str = "untrained"
    metrics: dict[str, float] = field(default_factory=dict)
    #: Platt scaling (a, b) from the match probability to the probability that the plan's first step is right:
    #: ``confidence = sigmoid(a * logit(p) + b)``; (1, 0) is the identity. Learned by ``nocai eval triage``.
    confidence_scaling: list[float] = field(default_factory=lambda: [1.0, 0.0])
    #: Below this best cosine similarity (``vec_best``) nothing matches; 0 disables it. See the module docstring.
    vector_floor: float = 0.0
    #: The embedding model the floor was measured with ("" while unknown: then it applies to any model).
    vector_floor_model: str = ""

    def confidence(self, probability: float) -> float:
        """Triage confidence: the match probability, rescaled to mean what it says about the plan."""
        return platt(probability, *self.confidence_scaling)

    def probability(self, values: dict[str, float]) -> float:
        x = np.array([values.get(name, 0.0) for name in self.features], dtype=np.float64)
        z = (x - np.array(self.mean)) / np.array(self.scale)
        return float(1.0 / (1.0 + np.exp(-(z @ np.array(self.weights) + self.bias))))

    def below_floor(self, values: dict[str, float], model: str | None = None) -> bool:
        """Is the best similarity under the vector floor (of ``model``, when the floor was measured with it)?"""
        if self.vector_floor <= 0 or (model is not None and self.vector_floor_model not in ("", model)):
            return False
        return values.get("vec_best", values.get("vec", 0.0)) < self.vector_floor

    def abstains(self, values: dict[str, float], model: str | None = None) -> bool:
        return self.probability(values) < self.threshold or self.below_floor(values, model)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2)

    @classmethod
    def load(cls, path: Path = DEFAULT_CALIBRATION) -> Calibration:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["features"] = tuple(data["features"])
        return cls(**data)


def _logistic(z: np.ndarray, y: np.ndarray, l2: float, iterations: int) -> tuple[np.ndarray, float]:
    w = np.zeros(z.shape[1])
    b = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
        gradient = p - y
        w -= 0.5 * (z.T @ gradient / len(y) + l2 * w)
        b -= 0.5 * gradient.mean()
    return w, b


def fit(
    rows: Sequence[dict[str, float]],
    labels: Sequence[int],
    *,
    groups: Sequence[str] | None = None,
    features: Sequence[str] = FEATURES,
    max_false_abstain: float = MAX_FALSE_ABSTAIN,
    l2: float = 1e-2,
    iterations: int = 2000,
    source: str = "",
) -> Calibration:
    """Logistic regression (standardised features, L2) and the threshold keeping false abstention in bounds.

    With ``groups`` (e.g. alertnames; rows of one group are never split), the threshold is the
    ``max_false_abstain`` quantile of the positives' out-of-fold probabilities; without, of their in-sample ones.
    """
    x = np.array([[row.get(name, 0.0) for name in features] for row in rows], dtype=np.float64)
    y = np.array(labels, dtype=np.float64)
    if len(set(labels)) < 2:
        raise ValueError("calibration needs both answerable and unanswerable examples")
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    w, b = _logistic(z, y, l2, iterations)
    positives = 1.0 / (1.0 + np.exp(-(z[y == 1] @ w + b)))
    if groups is not None and len(set(groups)) >= INNER_FOLDS:
        out_of_fold = _out_of_fold_positives(z, y, list(groups), l2, iterations)
        positives = out_of_fold if len(out_of_fold) else positives
    threshold = float(np.quantile(positives, max_false_abstain))
    best = [row.get("vec_best", 0.0) for row, label in zip(rows, labels, strict=True) if label == 1]
    uses_vectors = any(name.startswith("vec") for name in features)  # a full-text-only rule gets no floor
    floor = FLOOR_SHARE * float(np.quantile(best, FLOOR_QUANTILE)) if best and uses_vectors else 0.0
    return Calibration(
        tuple(features), mean.tolist(), scale.tolist(), w.tolist(), float(b), threshold, source, vector_floor=floor
    )


def _out_of_fold_positives(z: np.ndarray, y: np.ndarray, groups: list[str], l2: float, iterations: int) -> np.ndarray:
    """Each positive's probability under a rule fitted on the other folds (folds of whole groups)."""
    names = sorted(set(groups))
    random.Random(0).shuffle(names)
    fold_of = {name: i % INNER_FOLDS for i, name in enumerate(names)}
    folds = np.array([fold_of[g] for g in groups])
    scores = []
    for fold in range(INNER_FOLDS):
        train = folds != fold
        if len(set(y[train].tolist())) < 2:
            continue
        w, b = _logistic(z[train], y[train], l2, iterations)
        held_out = (~train) & (y == 1)
        scores.extend((1.0 / (1.0 + np.exp(-(z[held_out] @ w + b)))).tolist())
    return np.array(scores)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(p / (1 - p)))


def platt(probability: float, a: float, b: float) -> float:
    return float(1.0 / (1.0 + np.exp(-(a * _logit(probability) + b))))


def fit_platt(probabilities: Sequence[float], outcomes: Sequence[bool], *, iterations: int = 3000) -> list[float]:
    """Fit (a, b) so that ``platt(p, a, b)`` matches the observed rate of ``outcomes`` (logistic regression on
    the logit, with Platt's smoothed targets so that a small sample cannot push confidences to 0 or 1)."""
    x = np.array([_logit(p) for p in probabilities])
    y = np.array(outcomes, dtype=np.float64)
    positives, negatives = y.sum(), len(y) - y.sum()
    target = np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    a, b = 1.0, 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(a * x + b)))
        gradient = p - target
        a -= 0.1 * float((gradient * x).mean())
        b -= 0.1 * float(gradient.mean())
    return [a, b]
