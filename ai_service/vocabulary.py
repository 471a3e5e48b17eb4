"""The words nocai judges with, each defined once, with its one order.

* **Severity** of an alert or a triage: ``low < medium < high < critical``.
* **Risk level** of a runbook step (and of a plan: its riskiest step): ``low < medium < high``.
* **Phase** of a step, in the order a plan runs them: ``diagnosis``, ``mitigation``, ``verification``, then
  ``other``.
* **Band** of a policy decision, from least to most human involvement: ``AUTO < PROPOSE < REVIEW``.

Every module that names one of these imports it from here: a ``Literal`` type for annotations and pydantic
fields, a tuple that lists the values in their order, and :func:`rank` to compare two of them. Nothing else
in the code base spells these values out as a list or numbers them.

What this module must never do: import anything of nocai, or hold anything but these vocabularies.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, TypeVar

Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("low", "medium", "high", "critical")

RiskLevel = Literal["low", "medium", "high"]
RISK_LEVELS: tuple[RiskLevel, ...] = ("low", "medium", "high")

Phase = Literal["diagnosis", "mitigation", "verification", "other"]
PHASES: tuple[Phase, ...] = ("diagnosis", "mitigation", "verification", "other")

Band = Literal["AUTO", "PROPOSE", "REVIEW"]
BANDS: tuple[Band, ...] = ("AUTO", "PROPOSE", "REVIEW")

_Word = TypeVar("_Word", bound=str)


def rank(scale: tuple[_Word, ...], value: str | None) -> int:
    """Position of ``value`` in ``scale`` (0 = first); ``len(scale)`` for None or a value not in it, so that
    unknown values sort after every known one."""
    for position, word in enumerate(scale):
        if word == value:
            return position
    return len(scale)


def phase_rank(phase: str | None) -> int:
    """Where a step of ``phase`` goes in a plan: diagnosis 0, mitigation 1, verification 2, anything else 3."""
    return min(rank(PHASES, phase), PHASES.index("other"))


def riskiest(levels: Iterable[str | None]) -> RiskLevel | None:
    """The highest of ``levels`` (None entries ignored); None when there is none. Raises ValueError for a value
    that is not a risk level."""
    highest = -1
    for level in levels:
        if level is None:
            continue
        position = rank(RISK_LEVELS, level)
        if position == len(RISK_LEVELS):
            raise ValueError(f"unknown risk level {level!r}; expected one of {', '.join(RISK_LEVELS)}")
        highest = max(highest, position)
    return RISK_LEVELS[highest] if highest >= 0 else None


def risks_up_to(ceiling: RiskLevel) -> list[RiskLevel]:
    """Every risk level at or below ``ceiling``."""
    return list(RISK_LEVELS[: RISK_LEVELS.index(ceiling) + 1])
