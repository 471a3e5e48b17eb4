"""What an alert's labels say about it: its severity in nocai's words, and the service, component and
environment it concerns.

Every sender spells these differently (``severity: P1``, ``priority: "2 - High"``, ``env: prd``,
``app.kubernetes.io/name``); these functions map them onto one vocabulary. Pure functions of their input.

What this module must never do: touch the database, the network or the clock, or invent a value the labels do
not support (None when they say nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ai_service.vocabulary import Severity

# --- severity ----------------------------------------------------------------------------------------------

_SEVERITY_WORDS: dict[str, Severity] = {}
for _level, _words in (
    (
        "critical",
        "critical crit page p0 p1 sev0 sev1 s0 s1 disaster emergency emerg fatal blocker highest",
    ),
    ("high", "error err major high p2 sev2 s2"),
    ("medium", "warning warn minor medium moderate average p3 sev3 s3"),
    ("low", "info information informational notice low lowest p4 p5 sev4 sev5 s4 s5 debug planning trivial"),
):
    for _word in _words.split():
        _SEVERITY_WORDS[_word] = _level  # type: ignore[assignment]

_COMPACT = re.compile(r"[\s_\-.]+")
_PARTS = re.compile(r"\s*[-\u2013:/()]\s*|\s+")
_ITSM_LEVEL = re.compile(r"^\s*([1-5])\b")
_ITSM_WORDS = {"critical": 1, "high": 1, "medium": 2, "moderate": 2, "low": 3, "planning": 3}
_BY_SUM: dict[int, Severity] = {2: "critical", 3: "high", 4: "medium", 5: "low", 6: "low"}
_BY_LEVEL: dict[int, Severity] = {1: "high", 2: "medium", 3: "low"}


def normalize_severity(value: str | None) -> Severity | None:
    """Map a source's severity word to ``low|medium|high|critical``; ``None`` when it does not map.

    critical/crit/page/P0/P1/sev1/disaster/emergency -> critical; error/major/high/P2/sev2 -> high;
    warning/warn/minor/medium/moderate/average/P3 -> medium; info/notice/low/P4/P5/debug -> low. Case,
    spaces, '-' and '_' do not matter (``SEV-1``, ``Sev 1``). ITSM values such as ``1 - High`` or
    ``P1 - Critical`` map by their word. Anything else (``none``, ``unknown``, a bare number) is ``None``.
    """
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        return None
    whole = _SEVERITY_WORDS.get(_COMPACT.sub("", text))
    if whole:
        return whole
    for part in reversed([p for p in _PARTS.split(text) if p]):
        level = _SEVERITY_WORDS.get(_COMPACT.sub("", part))
        if level:
            return level
    return None


def _itsm_level(value: str | None) -> int | None:
    if not value:
        return None
    match = _ITSM_LEVEL.match(value)
    if match:
        return min(int(match.group(1)), 3)
    for part in _PARTS.split(value.strip().lower()):
        if part in _ITSM_WORDS:
            return _ITSM_WORDS[part]
    return None


def severity_from_impact_urgency(impact: str | None, urgency: str | None) -> Severity | None:
    """Severity from ITSM impact and urgency (``1 - High``, ``2 - Medium``, ``3 - Low`` or the bare words).

    Both given: the usual priority matrix (1/1 critical; 1/2, 2/1 high; 1/3, 2/2, 3/1 medium; else low).
    One given: 1 high, 2 medium, 3 low. Neither understood: ``None``.
    """
    i, u = _itsm_level(impact), _itsm_level(urgency)
    if i and u:
        return _BY_SUM[i + u]
    if i or u:
        return _BY_LEVEL[i or u or 3]
    return None


def severity_of(severity: str | None, impact: str | None, urgency: str | None) -> tuple[str | None, Severity | None]:
    return severity, normalize_severity(severity) or severity_from_impact_urgency(impact, urgency)


# --- labels -> service, component, environment --------------------------------------------------------------

_SERVICE_LABELS = (
    "service",
    "service_name",
    "app",
    "app_kubernetes_io_name",
    "application",
    "k8s_app",
    "deployment",
    "statefulset",
    "daemonset",
    "cronjob",
)
# In kube-prometheus the `service` (and `container`) label often names the scrape target (kube-state-metrics,
# node-exporter), not the service in trouble; such values are skipped.
_EXPORTER_SERVICE = re.compile(r"kube-state-metrics|exporter|^kubelet$|^cadvisor$", re.IGNORECASE)
COMPONENT_LABELS = ("component", "app_kubernetes_io_component", "subsystem")
_ENVIRONMENT_LABELS = ("environment", "env", "deployment_environment", "stage")
_ENVIRONMENT_HINT_LABELS = ("namespace", "cluster")
_ENVIRONMENT_ALIASES = {
    "prod": "production",
    "prd": "production",
    "production": "production",
    "live": "production",
    "staging": "staging",
    "stage": "staging",
    "stg": "staging",
    "dev": "development",
    "development": "development",
    "qa": "qa",
    "test": "test",
    "testing": "test",
    "tst": "test",
    "uat": "uat",
    "preprod": "preprod",
    "preproduction": "preprod",
    "sandbox": "sandbox",
    "sbx": "sandbox",
}
_PREPROD = re.compile(r"pre[-_.]?prod", re.IGNORECASE)
_ENV_TOKENS = re.compile(r"[-_.\s/]+")
RUNBOOK_ANNOTATIONS = ("runbook_url", "runbook", "runbookURL", "runbook_link", "runbookUrl")
SEVERITY_LABELS = ("severity", "priority")


def first_label(mapping: Mapping[str, str], keys: Iterable[str]) -> str | None:
    for key in keys:
        value = mapping.get(key)
        if value and value.strip():
            return value.strip()
    return None


# Workload names inside generated names: <workload>-<replicaset hash>-<suffix>, <workload>-<suffix> (pods),
# <cronjob>-<scheduled minute> (jobs).
_GENERATED_NAME = re.compile(
    r"^(?P<base>[a-z0-9]+(?:-[a-z0-9]+)*?)"
    r"(?:-(?=[a-z]*\d)[a-z0-9]{5,10}-[a-z0-9]{5}|-(?=[bcdfghjklmnpqrstvwxz]*\d)[bcdfghjklmnpqrstvwxz2456789]{5}|-\d{6,})$"
)


def _workload(name: str | None) -> str | None:
    match = _GENERATED_NAME.match(name or "")
    return match.group("base") if match else None


def service_from_labels(labels: Mapping[str, str]) -> str | None:
    """The affected service named by the labels, skipping values that name an exporter (see above)."""
    candidates = [labels.get(key) for key in _SERVICE_LABELS]
    candidates += [_workload(labels.get("pod")), _workload(labels.get("job_name")), labels.get("container")]
    for value in candidates:
        value = (value or "").strip()
        if value and not _EXPORTER_SERVICE.search(value):
            return value
    return None


def _environment_token(value: str) -> str | None:
    text = _PREPROD.sub("preprod", value.lower())
    for token in _ENV_TOKENS.split(text):
        if token in _ENVIRONMENT_ALIASES:
            return _ENVIRONMENT_ALIASES[token]
    return None


def environment_from_labels(labels: Mapping[str, str]) -> str | None:
    """Environment from explicit labels (canonicalised when recognised), else a namespace/cluster token."""
    explicit = first_label(labels, _ENVIRONMENT_LABELS)
    if explicit:
        return _ENVIRONMENT_ALIASES.get(explicit.lower()) or _environment_token(explicit) or explicit
    for key in _ENVIRONMENT_HINT_LABELS:
        value = labels.get(key)
        if value:
            found = _environment_token(value)
            if found:
                return found
    return None


def unique(values: Iterable[str | None]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if value and value.strip():
            seen.setdefault(value.strip(), None)
    return list(seen)


def nonempty(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def link_map(**candidates: str | None) -> dict[str, str]:
    return {name: url.strip() for name, url in candidates.items() if url and url.strip()}
