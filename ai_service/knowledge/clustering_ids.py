"""Readable, stable signature ids: ``SIG-<PREFIX>-<NNN>``, the prefix naming the domain (DISK, MEM, DB, TLS, ...).

What this module must never do: hand out an id that is already taken, or make one from anything but the draft
and the ids already taken (the same drafts in the same order always get the same ids).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ai_service.knowledge.clustering_describe import SignatureDraft

# First matching word of the failure type (then of the symptoms) -> id prefix.
_PREFIX_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DISK", ("disk", "filesystem", "inode", "inodes", "space", "volume")),
    ("MEM", ("memory", "oom", "swap", "swapping", "heap", "paging")),
    ("CPU", ("cpu", "load", "iowait")),
    ("CERT", ("certificate", "cert", "certbot", "acme")),
    ("TLS", ("tls", "ssl", "handshake", "mtls")),
    ("DNS", ("dns", "coredns", "nxdomain", "servfail", "resolver", "resolve", "dnssec")),
    ("NET", ("interface", "link", "packet", "network", "nic", "optic", "duplex", "wan")),
    ("K8S", ("pod", "pods", "kube", "kubernetes", "k8s", "container", "crash", "crashloop", "deployment")),
    ("DB", ("postgresql", "postgres", "pg", "database", "db", "replication", "replica", "standby", "pgbouncer",
            "connections", "mysql", "wal")),
    ("BACKUP", ("backup", "backups", "restic", "pgbackrest", "snapshot")),
    ("MQ", ("kafka", "rabbitmq", "queue", "consumer", "consumers", "backlog", "broker")),
    ("VPN", ("vpn",)),
    ("ACCESS", ("password", "account", "mfa", "login", "locked", "lockout", "permission")),
    ("PRINT", ("printer", "print")),
    ("LIC", ("licence", "license")),
)  # fmt: skip
_CLASS_PREFIX = {
    "resource_exhaustion": "RES",
    "connectivity": "CONN",
    "configuration": "CONF",
    "certificate": "CERT",
    "dependency": "DEP",
    "data_integrity": "DATA",
    "performance": "PERF",
    "capacity": "CAP",
    "access": "ACCESS",
    "hardware": "HW",
    "unknown": "MISC",
}
_SIGNATURE_ID = re.compile(r"^SIG-([A-Z0-9]+)-(\d+)$")


def _prefix(draft: SignatureDraft) -> str:
    # The draft's distinctive phrase and keyword class, not its taxonomy label: ids were made from these before
    # failure types came from the taxonomy, and the same incidents must keep getting the same ids.
    phrase = draft.label_phrase or draft.failure_type
    for text in (phrase.replace("_", " "), *draft.symptoms):
        for word in text.split():
            for prefix, words in _PREFIX_WORDS:
                if word in words:
                    return prefix
    return _CLASS_PREFIX.get(draft.keyword_class or draft.error_class, "MISC")


def signature_id_for(draft: SignatureDraft, taken: set[str] | frozenset[str]) -> str:
    """A readable id ``SIG-<PREFIX>-<NNN>`` not in ``taken``: the prefix names the domain (DISK, MEM, DB,
    TLS, ...; from the distinctive phrase, else the symptoms, else the keyword error class) and the number is
    one more than the highest already taken with that prefix. Pure: add the result to ``taken`` before naming
    the next draft (or use :func:`assign_signature_ids`)."""
    prefix = _prefix(draft)
    highest = 0
    for existing in taken:
        match = _SIGNATURE_ID.match(existing)
        if match and match.group(1) == prefix:
            highest = max(highest, int(match.group(2)))
    number = highest + 1
    while f"SIG-{prefix}-{number:03d}" in taken:  # only reachable with odd spellings such as SIG-X-0001
        number += 1
    return f"SIG-{prefix}-{number:03d}"


def assign_signature_ids(drafts: Sequence[SignatureDraft], taken: Iterable[str] = ()) -> list[str]:
    """Ids for ``drafts`` in order, none in ``taken`` and none repeated."""
    used = set(taken)
    ids = []
    for draft in drafts:
        signature_id = signature_id_for(draft, used)
        used.add(signature_id)
        ids.append(signature_id)
    return ids
