"""Severity: the ITIL impact x urgency matrix, and how the alert and the signatures' history combine in it."""

from __future__ import annotations

import pytest

from ai_service.triage.severity import combine, itsm_level
from ai_service.vocabulary import SEVERITIES, rank

#: ITIL's usual 3 x 3 priority matrix, written out by hand (rows: impact 1-3, columns: urgency 1-3) and the
#: documented mapping P1 critical, P2 high, P3 medium, P4/P5 low.
ITIL_PRIORITY = {
    (1, 1): 1,
    (1, 2): 2,
    (1, 3): 3,
    (2, 1): 2,
    (2, 2): 3,
    (2, 3): 4,
    (3, 1): 3,
    (3, 2): 4,
    (3, 3): 5,
}
SEVERITY_OF = {1: "critical", 2: "high", 3: "medium", 4: "low", 5: "low"}
ITSM_TEXT = {1: "1 - High", 2: "2 - Medium", 3: "3 - Low"}
ALERT_SEVERITIES = ("critical", "high", "medium", "low")


@pytest.mark.parametrize(("impact", "urgency"), sorted(ITIL_PRIORITY))
def test_every_cell_of_the_matrix(impact: int, urgency: int) -> None:
    # A low alert sits in the bottom-right cell, so the history alone places it in any cell.
    severity, reason, got_impact, got_urgency = combine("low", ITSM_TEXT[impact], ITSM_TEXT[urgency])
    priority = ITIL_PRIORITY[(impact, urgency)]
    assert (got_impact, got_urgency) == (impact, urgency)
    assert severity == SEVERITY_OF[priority]
    assert f"P{priority}" in reason and reason.endswith(severity)


@pytest.mark.parametrize("alert_severity", ALERT_SEVERITIES)
def test_without_history_the_alert_keeps_its_own_severity(alert_severity: str) -> None:
    severity, _, impact, urgency = combine(alert_severity, None, None)
    assert severity == alert_severity
    assert severity == SEVERITY_OF[ITIL_PRIORITY[(impact, urgency)]]


def test_a_critical_alert_is_high_impact_and_high_urgency() -> None:
    assert combine("critical", None, None)[2:] == (1, 1)


@pytest.mark.parametrize("alert_severity", ALERT_SEVERITIES)
@pytest.mark.parametrize("hist_impact", [1, 2, 3])
@pytest.mark.parametrize("hist_urgency", [1, 2, 3])
def test_history_escalates_but_never_lowers(alert_severity: str, hist_impact: int, hist_urgency: int) -> None:
    _, _, alert_impact, alert_urgency = combine(alert_severity, None, None)
    severity, _, impact, urgency = combine(alert_severity, ITSM_TEXT[hist_impact], ITSM_TEXT[hist_urgency])
    # The more severe value of the two sources wins, for impact and urgency separately.
    assert impact == min(alert_impact, hist_impact)
    assert urgency == min(alert_urgency, hist_urgency)
    assert severity == SEVERITY_OF[ITIL_PRIORITY[(impact, urgency)]]
    assert rank(SEVERITIES, severity) >= rank(SEVERITIES, alert_severity)


def test_history_raises_a_medium_alert_to_critical() -> None:
    severity, reason, impact, urgency = combine("medium", "1 - High", "1 - High")
    assert (severity, impact, urgency) == ("critical", 1, 1)
    assert "history impact 1 - High" in reason and "history urgency 1 - High" in reason


def test_history_of_low_impact_does_not_hide_a_critical_alert() -> None:
    severity, reason, impact, urgency = combine("critical", "3 - Low", "3 - Low")
    assert (severity, impact, urgency) == ("critical", 1, 1)
    assert "history" not in reason  # history that did not change anything is not named as a source


@pytest.mark.parametrize("unknown", [None, "", "sev-banana"])
def test_an_unknown_or_absent_alert_severity(unknown: str | None) -> None:
    severity, reason, impact, urgency = combine(unknown, None, None)
    # Unknown and absent are the same thing, and the reason says the alert's severity was not known.
    absent_severity, _, absent_impact, absent_urgency = combine(None, None, None)
    assert (severity, impact, urgency) == (absent_severity, absent_impact, absent_urgency)
    assert "unknown" in reason or (unknown and unknown in reason)
    assert severity == SEVERITY_OF[ITIL_PRIORITY[(impact, urgency)]]
    # A severity the alert does not state is never rated above one it states as medium.
    assert rank(SEVERITIES, severity) <= rank(SEVERITIES, "medium")
    # History still decides when the alert says nothing readable.
    assert combine(unknown, "1 - High", "1 - High")[0] == "critical"


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("1 - High", 1),
        ("2 - Medium", 2),
        ("3 - Low", 3),
        (" 2 - Medium ", 2),
        ("3-Low", 3),
        ("1", 1),
        ("High", 1),
        ("medium", 2),
        ("LOW", 3),
    ],
)
def test_itsm_values_are_read(text: str, level: int) -> None:
    assert itsm_level(text) == level


@pytest.mark.parametrize("text", [None, "", "   ", "n/a", "P3", "4 - Planning", "10", "unset"])
def test_unreadable_itsm_values_are_ignored(text: str | None) -> None:
    assert itsm_level(text) is None
    for alert_severity in (*ALERT_SEVERITIES, None):
        severity, reason, impact, urgency = combine(alert_severity, text, text)
        plain_severity, _, plain_impact, plain_urgency = combine(alert_severity, None, None)
        assert (severity, impact, urgency) == (plain_severity, plain_impact, plain_urgency)
        assert "history" not in reason


def test_the_reason_names_its_sources() -> None:
    severity, reason, impact, urgency = combine("low", "2 - Medium", "1 - High")
    assert (impact, urgency) == (2, 1) and severity == SEVERITY_OF[ITIL_PRIORITY[(2, 1)]]
    assert "alert severity low" in reason
    assert "history impact 2 - Medium" in reason
    assert "history urgency 1 - High" in reason
    assert f"P{ITIL_PRIORITY[(2, 1)]}" in reason
    # Only the source that changed something is named.
    _, only_urgency, _, _ = combine("medium", "3 - Low", "1 - High")
    assert "history urgency 1 - High" in only_urgency and "history impact" not in only_urgency
