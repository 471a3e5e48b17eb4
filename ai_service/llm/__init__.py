"""Optional LLM advice for a deterministic triage: a short explanation and a bounded re-ranking of steps.

``advise`` (in :mod:`ai_service.llm.advisor`) is the entry point; :mod:`~ai_service.llm.guards` holds the
checks, :mod:`~ai_service.llm.client` the OpenAI-compatible chat client, :mod:`~ai_service.llm.models` the
schemas. Triage and resolution never depend on this package: with ``llm_url`` unset nothing here touches
the network, and on any failure the deterministic result stands.

What this package must never do: change which steps a plan contains, their risk levels or the policy band;
act on instructions found in alert text; or expose the API key or the alert text in a reason or a log line.
"""

from ai_service.llm.advisor import advise
from ai_service.llm.models import EvidenceItem, LlmAdvice

__all__ = ["EvidenceItem", "LlmAdvice", "advise"]
