"""Alert fingerprints: one stable string per alert *series*, the same every time that alert fires.

The fingerprint groups notifications of the same problem on the same thing (for de-duplication and for
counting how often a signature recurs); :attr:`NormalizedAlert.alert_id` names one episode of it.

* Alertmanager and Grafana compute a fingerprint of the alert's label set and send it; it is used unchanged,
  so nocai's fingerprint equals the one in the sender's UI and API.
* Otherwise the fingerprint is the SHA-256 (hex) of a canonical JSON encoding of what identifies the alert,
  tagged with what kind of identity it is, so that different kinds never collide:

  - Alertmanager/Grafana without one: ``["labels", [[name, value], ...]]`` over the label set sorted by
    name, without :data:`VOLATILE_LABELS` and without ``__``-prefixed internal labels; key order in the payload
    and a Prometheus HA replica label therefore do not change it;
  - PagerDuty: ``["pagerduty", incident_key]`` (the de-duplication key the integration set), else
    ``["pagerduty-incident", incident id]``;
  - generic: ``["generic", source, alert_id]``, because an alert id is only unique within its sender.

What this module must never do: depend on anything volatile (time, values, order, the process), or on the
database or network. Changing the scheme changes every stored fingerprint, so it needs a migration of them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ai_service.alerts.models import NormalizedAlert

VOLATILE_LABELS: frozenset[str] = frozenset(
    {
        # Prometheus/Thanos HA pairs: the same alert from each replica must be one series.
        "prometheus_replica",
        "replica",
        # Values and times some senders copy into labels.
        "value",
        "alertstate",
        "timestamp",
        "ts",
        "time",
        # Kubernetes hashes that change on every rollout.
        "pod_template_hash",
        "controller_revision_hash",
    }
)
"""Label names left out of a computed fingerprint: they vary between notifications of the same alert."""


def identifying_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that identify an alert series, sorted by name (volatile and ``__`` internal ones removed)."""
    return {name: labels[name] for name in sorted(labels) if name not in VOLATILE_LABELS and not name.startswith("__")}


def _digest(parts: object) -> str:
    encoded = json.dumps(parts, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def labels_fingerprint(labels: Mapping[str, str]) -> str:
    """SHA-256 fingerprint of a label set: independent of key order, volatile labels ignored."""
    return _digest(["labels", [[name, value] for name, value in identifying_labels(labels).items()]])


def alert_fingerprint(alert: NormalizedAlert) -> str:
    """The fingerprint of ``alert``: the sender's own when it has one, else the documented SHA-256 scheme."""
    if alert.source in ("alertmanager", "grafana"):
        given = alert.raw.get("fingerprint")
        if isinstance(given, str) and given.strip():
            return given.strip()
        return labels_fingerprint(alert.labels)
    if alert.source == "pagerduty":
        key = alert.labels.get("incident_key")
        if key:
            return _digest(["pagerduty", key])
        return _digest(["pagerduty-incident", alert.alert_id])
    return _digest(["generic", alert.origin or "", alert.alert_id])


def alert_pattern(alert: NormalizedAlert) -> str:
    """The pattern an alert belongs to: the rule that fired (its ``alertname``), else its title in lower case
    without the words that carry digits (hosts, ids, values). Alerts that differ only in instance, pod, host or
    value share it; what responders teach about one (``ai_service.feedback``) applies to all of them."""
    name = (alert.labels.get("alertname") or "").strip()
    if name:
        return " ".join(name.lower().split())[:200]
    words = re.findall(r"[^\W\d_]+(?:['-][^\W\d_]+)*|\S+", alert.title.lower())
    kept = [w for w in words if not any(ch.isdigit() for ch in w) and any(ch.isalpha() for ch in w)]
    return " ".join(kept)[:200] or " ".join(alert.title.lower().split())[:200]
