"""``bench/bench_triage.py`` runs end to end at a small scale and its sanity figures hold (the figures that matter
are printed by full-size runs; this keeps the benchmark from rotting between them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_triage_benchmark_runs_and_triages_every_alert_on_topic(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    alerts = 8
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "bench_triage.py"),
            *("--steps", "1500", "--signatures", "1500", "--topics", "15"),
            *("--alerts", str(alerts), "--warmup", "2", "--shared-buffers", "", "--json", str(figures)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "alert in -> both rows committed" in completed.stdout
    runs = json.loads(figures.read_text(encoding="utf-8"))["runs"]
    assert [r["label"].split(", ")[-1] for r in runs] == ["sequential", "signatures on a pooled connection"]
    for run in runs:
        assert run["alerts"] == alerts
        # Both interleaved modes wrote one incident, one triage and one resolution per alert.
        assert run["rows"] == {"incidents": 2 * alerts, "triage_results": 2 * alerts, "resolution_outputs": 2 * alerts}
        assert run["plans_with_steps"] == 1.0
        assert run["first_step_on_topic"] >= 0.75  # the plan starts in a runbook of the alert's own topic
        assert run["search_p50_ms"] > 0 and run["p50_ms"] > 0 and run["alerts_per_s"] > 0
