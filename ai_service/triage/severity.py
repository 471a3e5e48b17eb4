"""Severity from impact x urgency (the ITIL priority matrix), combining the alert with the signatures' history.

Impact and urgency are 1 (high), 2 (medium) or 3 (low). The alert's own severity gives its urgency (and, for a
critical alert, its impact); the matched signature's history (ITSM ``impact`` / ``urgency`` such as
``1 - High``) can raise either — the more severe value of the two sources wins, so history can escalate an alert
but never hide what the alert itself says. Priority = the matrix cell; P1 → critical, P2 → high, P3 → medium,
P4/P5 → low.
"""

from __future__ import annotations

import re

from ai_service.vocabulary import Severity

#: priority[impact][urgency], 1-based (ITIL's usual 3 x 3 matrix).
PRIORITY = {1: {1: 1, 2: 2, 3: 3}, 2: {1: 2, 2: 3, 3: 4}, 3: {1: 3, 2: 4, 3: 5}}
SEVERITY_OF_PRIORITY: dict[int, Severity] = {1: "critical", 2: "high", 3: "medium", 4: "low", 5: "low"}
_ALERT_LEVELS = {"critical": (1, 1), "high": (2, 1), "medium": (2, 2), "low": (3, 3)}


def itsm_level(value: str | None) -> int | None:
    """``1 - High`` → 1, ``2 - Medium`` → 2, ``3 - Low`` → 3; None when absent or unreadable."""
    if not value:
        return None
    match = re.match(r"\s*([123])\b", value)
    if match:
        return int(match.group(1))
    lowered = value.lower()
    for word, level in (("high", 1), ("medium", 2), ("low", 3)):
        if word in lowered:
            return level
    return None


def combine(
    alert_severity: str | None, signature_impact: str | None, signature_urgency: str | None
) -> tuple[Severity, str, int, int]:
    """(severity, reason, impact, urgency) for an alert and its best signature's history."""
    impact, urgency = _ALERT_LEVELS.get(alert_severity or "", (3, 2))
    sources = [f"alert severity {alert_severity or 'unknown'} → impact {impact}, urgency {urgency}"]
    hist_impact, hist_urgency = itsm_level(signature_impact), itsm_level(signature_urgency)
    if hist_impact is not None and hist_impact < impact:
        impact = hist_impact
        sources.append(f"history impact {signature_impact}")
    if hist_urgency is not None and hist_urgency < urgency:
        urgency = hist_urgency
        sources.append(f"history urgency {signature_urgency}")
    priority = PRIORITY[impact][urgency]
    severity = SEVERITY_OF_PRIORITY[priority]
    return severity, f"{'; '.join(sources)} → P{priority} → {severity}", impact, urgency
