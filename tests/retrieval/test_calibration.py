"""The abstention rule: fitted from data, threshold from out-of-fold probabilities, stored and loaded intact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ai_service.knowledge.embedding_local import LOCAL_MODEL_NAME
from ai_service.retrieval import calibration as calib


def _sample(
    rng: np.random.Generator, n_groups: int, per_group: int
) -> tuple[list[dict[str, float]], list[int], list[str]]:
    """Overlapping classes: answerable alerts have more coverage and a bigger lead, with noise."""
    rows, labels, groups = [], [], []
    for g in range(n_groups):
        for _ in range(per_group):
            label = int(rng.random() < 0.5)
            shift = 0.8 if label else 0.0
            rows.append(
                {
                    "coverage": float(rng.normal(0.4 + 0.3 * label, 0.2)),
                    "title": float(rng.normal(0.3 + 0.2 * label, 0.25)),
                    "margin": float(rng.normal(0.1, 0.05)),
                    "vec_lead": float(rng.normal(0.1 + 0.1 * shift, 0.05)),
                    "fts_lead": float(rng.normal(0.25 + 0.05 * label, 0.05)),
                }
            )
            labels.append(label)
            groups.append(f"alert-{g}")
    return rows, labels, groups


def test_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both answerable and unanswerable"):
        calib.fit([{"coverage": 1.0}, {"coverage": 0.9}], [1, 1])


def test_in_sample_threshold_abstains_on_the_budgeted_share_of_training_positives() -> None:
    rows, labels, _ = _sample(np.random.default_rng(1), 60, 5)
    rule = calib.fit(rows, labels, max_false_abstain=0.1)
    positives = [r for r, y in zip(rows, labels, strict=True) if y == 1]
    share = sum(rule.abstains(r) for r in positives) / len(positives)
    assert share == pytest.approx(0.1, abs=0.01)
    negatives = [r for r, y in zip(rows, labels, strict=True) if y == 0]
    assert sum(rule.abstains(r) for r in negatives) / len(negatives) > 0.5  # the features do separate


def test_grouped_threshold_keeps_false_abstention_near_budget_on_new_groups() -> None:
    rng = np.random.default_rng(7)
    rows, labels, groups = _sample(rng, 80, 4)
    rule = calib.fit(rows, labels, groups=groups, max_false_abstain=0.05)
    fresh, fresh_labels, _ = _sample(rng, 400, 4)
    positives = [r for r, y in zip(fresh, fresh_labels, strict=True) if y == 1]
    assert sum(rule.abstains(r) for r in positives) / len(positives) < 0.1


def test_rule_round_trips_through_json(tmp_path: Path) -> None:
    rows, labels, groups = _sample(np.random.default_rng(3), 30, 4)
    rule = calib.fit(rows, labels, groups=groups, source="test")
    rule.confidence_scaling = [1.5, 0.5]
    path = tmp_path / "calibration.json"
    path.write_text(rule.to_json(), encoding="utf-8")
    loaded = calib.Calibration.load(path)
    assert loaded.features == calib.FEATURES
    assert loaded.threshold == rule.threshold
    assert loaded.probability(rows[0]) == pytest.approx(rule.probability(rows[0]))
    assert loaded.confidence(0.5) == pytest.approx(calib.platt(0.5, 1.5, 0.5))


def test_shipped_rule_reads_the_current_features() -> None:
    shipped = calib.Calibration.load()
    assert shipped.features == calib.FEATURES
    assert 0 < shipped.threshold < 1
    assert shipped.metrics["cv_false_abstain_rate"] <= 0.08


def test_the_vector_floor_is_half_the_low_best_similarity_of_answerable_alerts() -> None:
    rng = np.random.default_rng(3)
    rows, labels, groups = _sample(rng, 20, 10)
    for row, label in zip(rows, labels, strict=True):
        row["vec_best"] = float(rng.uniform(0.4, 0.9) if label else rng.uniform(0.0, 0.6))
    rule = calib.fit(rows, labels, groups=groups)
    best = [row["vec_best"] for row, label in zip(rows, labels, strict=True) if label]
    assert rule.vector_floor == pytest.approx(calib.FLOOR_SHARE * float(np.quantile(best, calib.FLOOR_QUANTILE)))
    assert 0.19 < rule.vector_floor < 0.21
    # A full-text rule reads no similarity, and gets no floor.
    assert calib.fit(rows, labels, features=("coverage", "title")).vector_floor == 0.0


def test_the_floor_abstains_whatever_the_lexical_evidence_but_only_for_its_own_model() -> None:
    rows, labels, groups = _sample(np.random.default_rng(4), 20, 10)
    rule = calib.fit(rows, labels, groups=groups)
    rule.vector_floor, rule.vector_floor_model = 0.2, "model-a"
    strong = {"coverage": 1.0, "title": 1.0, "margin": 0.3, "vec_lead": 0.3, "fts_lead": 0.4}
    assert not rule.abstains({**strong, "vec_best": 0.5}, "model-a")
    assert rule.abstains({**strong, "vec_best": 0.1}, "model-a")
    assert rule.below_floor({"vec_best": 0.1}, "model-a")
    # Cosine similarities of another model mean something else: no floor for them.
    assert not rule.abstains({**strong, "vec_best": 0.1}, "model-b")
    rule.vector_floor = 0.0
    assert not rule.below_floor({"vec_best": 0.0}, "model-a")


def test_the_floor_survives_a_round_trip(tmp_path: Path) -> None:
    rows, labels, groups = _sample(np.random.default_rng(5), 10, 10)
    rule = calib.fit(rows, labels, groups=groups)
    rule.vector_floor, rule.vector_floor_model = 0.21, "m"
    path = tmp_path / "c.json"
    path.write_text(rule.to_json())
    loaded = calib.Calibration.load(path)
    assert (loaded.vector_floor, loaded.vector_floor_model) == (0.21, "m")


def test_the_shipped_rule_has_a_floor_for_the_shipped_model() -> None:
    shipped = calib.Calibration.load()
    assert shipped.vector_floor > 0 and shipped.vector_floor_model == LOCAL_MODEL_NAME
