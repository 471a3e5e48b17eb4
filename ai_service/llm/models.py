"""Schemas of the optional LLM advice: what goes in (evidence), what the model must answer, what comes out.

* :class:`EvidenceItem` - one piece of evidence retrieval returned (a runbook step or an incident signature),
  shown to the model by id; the only ids the model may cite.
* :class:`LlmAnswer` - the JSON object the model must answer with. Nothing the model says is used before it
  has been parsed into this schema; anything else (extra keys such as a risk level or a policy band, wrong
  types, over-long lists) makes the whole answer invalid.
* :class:`LlmAdvice` - what :func:`ai_service.llm.advisor.advise` returns: the checked explanation, the
  bounded final order of the recommended steps, and a status with the reason when advice was not applied.

What this module must never do: accept an answer field it does not know, or carry the API key or the alert
text in :attr:`LlmAdvice.failure`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "EVIDENCE_ID_PATTERN",
    "AdviceStatus",
    "EvidenceId",
    "EvidenceItem",
    "EvidenceKind",
    "LlmAdvice",
    "LlmAnswer",
]

#: Runbook step ids (``linux-disk-full-S3``) and signature ids (``SIG-DISK-001``): no whitespace and no
#: brackets, so that ``[id]`` citations in an explanation can be read back without ambiguity.
EVIDENCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"

EvidenceId = Annotated[str, StringConstraints(pattern=EVIDENCE_ID_PATTERN)]
EvidenceKind = Literal["step", "signature"]
AdviceStatus = Literal["ok", "disabled", "skipped", "failed"]


class EvidenceItem(BaseModel):
    """One result of retrieval, as the model sees it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: EvidenceId = Field(description="Runbook step id or incident signature id.")
    kind: EvidenceKind
    text: str = Field(description="The step's or signature's text (shortened in the prompt).")
    score: float = Field(allow_inf_nan=False, description="Retrieval score, shown to the model as context.")


class LlmAnswer(BaseModel):
    """The JSON object the model must answer with (``response_format: json_object``).

    Strict: unknown keys are refused, so an answer that tries to set anything else (risk levels, a policy
    band, new steps) is refused whole rather than partly used.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    explanation: str | None = Field(default=None, max_length=20_000)
    ranking: list[str] | None = Field(default=None, max_length=200)
    cited_ids: list[str] = Field(default_factory=list, max_length=200)


class LlmAdvice(BaseModel):
    """The outcome of asking the optional LLM for advice; the deterministic result stands unless ``ok``.

    * ``ok`` - ``explanation`` (plain text, capped, every ``[id]`` checked) and/or ``ranking`` (the complete
      final order of the recommended steps, already bounded by :func:`ai_service.llm.guards.apply_ranking`,
      or ``None`` when the model proposed no order) may be used.
    * ``disabled`` - no LLM is configured; nothing was sent.
    * ``skipped`` - the LLM was not asked (instruction-like alert text, or nothing to advise on); ``failure``
      says why.
    * ``failed`` - the call or its answer failed a check; ``failure`` says which. Nothing of it is used.
    """

    model_config = ConfigDict(frozen=True)

    explanation: str | None = None
    ranking: list[str] | None = None
    cited_ids: list[str] = Field(default_factory=list)
    flagged_injection: bool = False
    status: AdviceStatus
    failure: str | None = None
    latency_ms: int | None = Field(default=None, description="Time spent asking and checking, when asked.")
    model: str | None = None

    @property
    def applied(self) -> bool:
        """Whether anything of this advice may be shown or used."""
        return self.status == "ok"
