"""The failure taxonomy: a small, documented set of failure types, each with its error class and keyword evidence.

A failure type says *what kind of failure* an alert, a runbook or an incident signature is about, in words a
responder reads at a glance (``disk_full``, ``link_down``, ``certificate_expiry``). Every label nocai gives is one
of :data:`FAILURE_TYPES` — or :data:`UNKNOWN` when the text holds no evidence for any of them; no label is ever
made up from the text itself. Each type belongs to one error class of :data:`ERROR_CLASS_NAMES` (the coarse
vocabulary policies and reports group by), so a failure type always comes with the same error class.

Evidence is a set of regular expressions on lower-cased text in which ``_``, ``-`` and ``/`` read as spaces
(callers split CamelCase identifiers first: ``KubePodCrashLooping`` → ``kube pod crash looping``). The table
runs from specific to general: when two types have the same evidence, the earlier one wins, so a text about an
expiring certificate that also says "errors" is ``certificate_expiry``, not ``error_rate``.

Stability: an id, once published, keeps its meaning. Types may be added and evidence refined (stored labels are
then refreshed by ``relabel_knowledge_base``), but an id is never renamed or reused for another failure.
``docs/taxonomy.md`` is generated from this table (``python -m ai_service.taxonomy``) and a test keeps the two equal.

What this module must never do: import anything of nocai, touch the database, or return a label that is not in
the table.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

#: The error classes (the vocabulary of ``error_class`` everywhere), one definition. ``unknown``: no evidence.
ERROR_CLASS_NAMES: tuple[str, ...] = (
    "resource_exhaustion",
    "connectivity",
    "configuration",
    "certificate",
    "dependency",
    "data_integrity",
    "performance",
    "capacity",
    "access",
    "hardware",
    "unknown",
)

#: The label of text that carries no evidence for any failure type.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class FailureType:
    """One failure type: its id (snake_case, stable), a human name, its error class, what it means, and the
    keyword evidence for it (regular expressions on normalised text, see the module docstring)."""

    id: str
    name: str
    error_class: str
    description: str
    evidence: tuple[str, ...]

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in self.evidence))


FAILURE_TYPES: tuple[FailureType, ...] = (
    FailureType(
        "certificate_expiry", "Certificate expiry", "certificate",
        "A TLS certificate has expired or is about to, or its automatic renewal failed.",
        (r"\bcert(?:ificate)?s?\b.{0,40}\b(?:expir|renew|not ready|valid(?:ity)? (?:period|days))",
         r"\bexpir\w*\b.{0,30}\bcert(?:ificate)?s?\b", r"\bssl cert\w* expir", r"\bcertbot\b",
         r"\bcert manager\b.{0,40}\b(?:not ready|fail|renew)", r"\bacme\b.{0,30}\b(?:challenge|order|fail)",
         r"\bprobe ssl earliest cert expiry\b", r"\bocsp\b"),
    ),
    FailureType(
        "tls_handshake_failure", "TLS handshake failure", "certificate",
        "Clients and servers fail to establish TLS: handshake errors, untrusted or incomplete chains, protocol or "
        "cipher mismatches.",
        (r"\b(?:tls|ssl|mtls)\b.{0,30}\bhandshake", r"\bhandshake\b.{0,30}\b(?:fail|error|timeout)",
         r"\bcertificate verify failed\b", r"\bunknown (?:ca|authority)\b", r"\bno shared cipher\b",
         r"\bwrong version number\b", r"\bx ?509\b", r"\bca bundle\b", r"\bcertificate chain\b",
         r"\bssl (?:error|routines)\b", r"\btls (?:error|alert)s?\b",
         r"\b(?:ssl|tls)\b.{0,20}\b(?:error|fail)", r"\bself signed certificate\b"),
    ),
    FailureType(
        "dns_resolution_failure", "DNS resolution failure", "connectivity",
        "Names do not resolve, or resolve wrongly: resolver errors, SERVFAIL, NXDOMAIN, DNS probe failures.",
        (r"\bdns\b", r"\bnxdomain\b", r"\bservfail\b", r"\bname resolution\b", r"\bcannot resolve\b",
         r"\b(?:could not|failed to|unable to|can not) resolve\b", r"\bno such host\b", r"\bunknown ?host",
         r"\bresolv(?:er|ers|ing|e|es|ed)? (?:fail|error|timeout|time out|not)", r"\bcoredns\b",
         r"\bkube ?dns\b", r"\bdnssec\b"),
    ),
    FailureType(
        "clock_skew", "Clock skew", "configuration",
        "A host's clock drifts from true time or stops synchronising (NTP, chrony, PTP).",
        (r"\bclock\b.{0,30}\b(?:skew|drift|offset|out of sync|not synchron|unsynchron)", r"\bntp\b",
         r"\bchrony", r"\btime (?:drift|offset|skew|synchroni[sz]ation)", r"\btimex\b", r"\bptp\b"),
    ),
    FailureType(
        "backup_failure", "Backup failure", "data_integrity",
        "A backup or snapshot job failed, did not run, or the newest good backup is too old.",
        (r"\bbackups?\b", r"\bsnapshots?\b.{0,30}\b(?:fail|stale|missing|old)", r"\bpgbackrest\b", r"\brestic\b",
         r"\bbarman\b", r"\bvelero\b", r"\bwal archiv", r"\barchive command\b", r"\brestore test"),
    ),
    FailureType(
        "replication_lag", "Replication lag", "data_integrity",
        "A replica, standby or follower is behind its primary or has stopped replicating.",
        (r"\breplicat\w*\b.{0,30}\b(?:lag|delay|behind|broken|stopped|not running|error|fail|disconnect)",
         r"\b(?:lag|behind)\b.{0,30}\breplica", r"\bstandby\b.{0,30}\b(?:lag|behind|disconnect)",
         r"\breplication slots?\b", r"\bslave (?:io|sql)\b", r"\breplica (?:lag|delay)\b",
         r"\bseconds behind master\b", r"\bwal receiver\b", r"\bstreaming (?:lag|replication)\b",
         r"\b(?:replica|standby|follower|secondary|slave)s?\b.{0,30}\b(?:lag|behind|not streaming|broken|stopped|"
         r"disconnect|catch up)"),
    ),
    FailureType(
        "data_corruption", "Data corruption", "data_integrity",
        "Stored data is damaged or inconsistent: checksum failures, corrupt blocks or indexes, split brain.",
        (r"\bcorrupt", r"\bchecksum (?:fail|error|mismatch)", r"\bdata loss\b", r"\bdata inconsisten",
         r"\binconsistent (?:data|state|replicas?)\b",
         r"\bsplit ?brain\b", r"\bout of order (?:samples|timestamps)\b", r"\bduplicate (?:samples|timestamps)\b"),
    ),
    FailureType(
        "account_locked", "Account locked", "access",
        "A user or service account is locked out, or its password or second factor needs a reset.",
        (r"\block(?:ed)? ?out\b", r"\baccount (?:is )?locked\b", r"\bpassword (?:reset|expired|change)",
         r"\breset (?:my |the |their |his |her )?(?:password|mfa|2fa)", r"\bforgot (?:my )?password\b",
         r"\b(?:mfa|2fa)\b"),
    ),
    FailureType(
        "license_expiry", "Licence expiry", "access",
        "A software licence or subscription expired, or its seats ran out.",
        (r"\blicen[cs]e", r"\bsubscription (?:expir|ended|lapsed)"),
    ),
    FailureType(
        "access_denied", "Access denied", "access",
        "A permission, credential or authorisation check fails, or someone needs access granted.",
        (r"\bpermission denied\b", r"\baccess denied\b", r"\bunauthori[sz]ed\b", r"\bforbidden\b",
         r"\b40[13]\b", r"\bcredential", r"\bauthenticat\w* (?:fail|error)", r"\blog ?in (?:fail|error)",
         r"\bfailed log ?ins?\b", r"\bsign ?in (?:fail|error)", r"\bneeds? access\b", r"\baccess (?:request|to)\b",
         r"\bshared mailbox\b", r"\binvalid (?:token|api key)\b", r"\bexpired (?:token|credentials)\b"),
    ),
    FailureType(
        "vpn_failure", "VPN failure", "connectivity",
        "A VPN tunnel or client cannot connect, or drops.",
        (r"\bvpn\b", r"\bipsec\b", r"\bwire ?guard\b", r"\banyconnect\b", r"\bglobalprotect\b",
         r"\btunnel (?:down|flap)"),
    ),
    FailureType(
        "monitoring_failure", "Monitoring failure", "configuration",
        "The monitoring stack itself fails: scrapes, rule evaluations, alert notifications, configuration "
        "reloads, exporters or metric storage.",
        (r"\bmonitoring (?:failure|fail|error|down)", r"\bscrap(?:e|es|ing)\b.{0,30}\b(?:error|fail|timeout|slow)",
         r"\bfailed to scrape\b",
         r"\b(?:target|targets|exporter|job)s? (?:is |are )?(?:down|missing|absent)", r"\btarget (?:limit|sync)",
         r"\brule (?:evaluation|group)s?\b", r"\brule failures\b", r"\bmissing rule", r"\bconfig(?:uration)? reload",
         r"\breload(?:s|ing)? (?:has )?fail", r"\bfailed (?:to )?reload", r"\bsend(?:ing)? (?:alerts|notifications)",
         r"\bnotifications? (?:fail|queue|dropped|error)", r"\balertmanagers?\b", r"\bwatchdog\b",
         r"\bdead ?man'?s (?:switch|snitch)\b", r"\btsdb\b", r"\bremote (?:write|storage|read)\b",
         r"\bingest(?:ing|ed)? samples\b", r"\bexporter\b.{0,30}\b(?:error|fail|down)", r"\btext ?file collector\b",
         r"\bmonitoring (?:agent|system|stack)\b.{0,30}\b(?:down|fail|error)",
         r"\breconcil\w* (?:error|fail)", r"\b(?:list|watch) errors\b", r"\bshards? (?:missing|mismatch)",
         r"\bsharding mismatch\b", r"\blabel limit\b", r"\balert routing\b", r"\brouting rule\b"),
    ),
    FailureType(
        "link_down", "Network link down", "connectivity",
        "A network interface, port, bond member or link is down or flapping.",
        (r"\blink\b.{0,20}\b(?:down|flap|lost|fail)", r"\binterfaces?\b.{0,30}\b(?:down|flap)",
         r"\b(?:if)?oper ?status\b", r"\boperstate\b", r"\blinkdown\b", r"\bport (?:is )?(?:down|flap)",
         r"\bnetwork up\b", r"\bbond\w*\b.{0,20}\b(?:degraded|down|slave)", r"\bcarrier (?:lost|changes?)\b",
         r"\b(?:nic|uplink)s?\b.{0,20}\bdown\b", r"\bnetwork interface\b"),
    ),
    FailureType(
        "packet_loss", "Packet loss", "connectivity",
        "Packets are lost or interfaces count errors and drops on the path.",
        (r"\bpacket ?loss\b", r"\blos(?:e|es|ing|t)\b.{0,20}\bpackets\b",
         r"\bpackets? (?:lost|dropped)\b", r"\bdrop(?:ped|s|ping)? (?:packets|frames)\b",
         r"\b(?:receive|transmit|rx|tx) (?:errors|errs|drops)\b", r"\bcrc errors?\b", r"\bretransmi",
         r"\bnetwork (?:receive|transmit)\b"),
    ),
    FailureType(
        "host_unreachable", "Host unreachable", "connectivity",
        "A host or node cannot be reached at all: no ping, no route, no heartbeat.",
        (r"\bunreachable\b", r"\bno route to host\b", r"\bhost (?:is )?down\b", r"\binstance (?:is )?down\b",
         r"\bnode (?:is )?(?:down|unreachable|not ready)\b", r"\bnot responding to ping", r"\bping (?:fail|loss)",
         r"\bheartbeat\b", r"\bnode readiness\b", r"\bnetwork (?:is )?(?:unavailable|unreachable)\b"),
    ),
    FailureType(
        "disk_full", "Disk full", "resource_exhaustion",
        "A filesystem or volume is out of space or inodes, or will be soon.",
        (r"\bdisk (?:is )?(?:full|space|usage|pressure)", r"\bno space left\b", r"\benospc\b",
         r"\bfilesystems?\b.{0,40}\b(?:full|space|fill|fills|filling|usage|out of|inodes?)\b",
         r"\b(?:out of|running out of|low) (?:disk )?space\b", r"\binodes?\b", r"\bvolumes?\b.{0,20}\b(?:full|filling)",
         r"\bfilling up\b", r"\bout of files\b", r"\bdf (?:h|i)\b", r"\bout of disk\b",
         r"\b(?:df|du) (?:and|vs|shows|says)\b", r"\bquota low space\b",
         r"\bpersistent ?volume\w* (?:filling|full|usage)", r"\bstorage (?:full|space)\b",
         r"\b(?:osd|pool|tablespace|bucket|storage|disk)s?\b.{0,20}\b(?:near|nearly|almost|dangerously)? ?full\b"),
    ),
    FailureType(
        "memory_exhaustion", "Memory exhaustion", "resource_exhaustion",
        "Memory is running out: memory pressure, heavy swapping, or processes killed out of memory.",
        (r"\bout of memory\b", r"\boom\b", r"\boom ?kill", r"\boomkilled\b",
         r"\bmemory (?:is )?(?:pressure|usage|exhaust|leak|limit|alarm|utili[sz]ation|full|high|low)",
         r"\b(?:high|low) memory\b", r"\bswap(?:ping)?\b", r"\bmem ?available\b", r"\bheap\b", r"\bmaxmemory\b",
         r"\bpaging\b"),
    ),
    FailureType(
        "connection_limit", "Connection limit", "resource_exhaustion",
        "Connection slots or pools are exhausted and new clients are refused or left waiting.",
        (r"\btoo many (?:connections|clients)\b", r"\bmax connections\b", r"\bconnection slots?\b",
         r"\bremaining connection slots\b", r"\bconnection pool\b", r"\bconnections?\b.{0,30}\b(?:exhaust|limit|"
         r"max|near|full|saturat)", r"\bpgbouncer\b", r"\bcl waiting\b", r"\bidle in transaction\b",
         r"\bthreads (?:connected|running)\b",
         r"\b(?:high|many|active) (?:number of )?(?:database |db |client )?connections\b"),
    ),
    FailureType(
        "disk_io_saturation", "Disk I/O saturation", "performance",
        "Storage is saturated or slow: high I/O wait, long fsync or disk latency.",
        (r"\biowait\b", r"\bio ?wait\b", r"\bi ?o (?:wait|saturat|latency|util)", r"\bdisk (?:io|latency|"
         r"read|write|saturat|util|busy)", r"\bfsync\b", r"\biostat\b", r"\bio (?:pressure|stall)",
         r"\bunusual disk\b"),
    ),
    FailureType(
        "cpu_saturation", "CPU saturation", "performance",
        "CPUs are saturated or throttled: high utilisation, load above the cores, steal or throttling.",
        (r"\bcpu\b.{0,30}\b(?:usage|utili[sz]|saturat|high|load|busy|pressure|steal|throttl|spike|contention|100)",
         r"\b(?:high|busy) cpu\b", r"\bload average\b", r"\bhigh load\b", r"\bsteal\b", r"\bthrottl",
         r"\bcontext switch"),
    ),
    FailureType(
        "queue_backlog", "Queue backlog", "capacity",
        "Messages or jobs pile up faster than consumers process them.",
        (r"\bbacklog\b", r"\bconsumer\w*\b.{0,20}\blag\b", r"\bconsumer lag\b",
         r"\bqueues?\b.{0,20}\b(?:depth|size|length|grow|full|piling|backed up)", r"\bmessages? (?:ready|unacked)",
         r"\bunacked\b", r"\bdead ?letter\b", r"\blisten queue\b", r"\benqueued\b",
         r"\bpending (?:messages|jobs)", r"\bno consumers?\b"),
    ),
    FailureType(
        "capacity_limit", "Capacity or quota limit", "capacity",
        "A quota or configured limit is reached or overcommitted: resource quotas, file descriptors, "
        "connection tracking, pod or replica maximums.",
        (r"\bquotas?\b", r"\bovercommit", r"\bfile descriptors?\b", r"\bconntrack\b", r"\bopen files\b",
         r"\btoo many (?:pods|open files|processes|threads)", r"\bmaxed out\b",
         r"\blimits?\b.{0,20}\b(?:hit|reach|exceed|approach)", r"\bnear(?:ly)? (?:its |the )?limit\b",
         r"\b(?:ulimit|rlimit)\b", r"\bcapacity\b", r"\bheadroom\b", r"\bexhausted\b"),
    ),
    FailureType(
        "pod_crash_loop", "Crash loop", "configuration",
        "A container or process keeps crashing and restarting (CrashLoopBackOff), or cannot start.",
        (r"\bcrash ?loop", r"\bback ?off\b", r"\brestart(?:s|ing)? (?:count|loop|repeatedly)",
         r"\bkeeps? restarting\b", r"\bcontainer (?:waiting|restart)", r"\bcreate container config error\b",
         r"\bimage ?pull", r"\berr ?image", r"\bcontainer\w* (?:crash|exit)",
         r"\bcrash(?:es|ing|ed)?\b"),
    ),
    FailureType(
        "deployment_failure", "Deployment failure", "configuration",
        "A rollout, update or scheduling of a workload does not complete: stuck rollouts, replica or "
        "generation mismatches, pods that cannot be scheduled.",
        (r"\brollout\w*\b.{0,20}\b(?:stuck|fail|not)", r"\bnot rolled ?out\b", r"\breplicas? mismatch\b",
         r"\bgeneration mismatch\b", r"\bversion mismatch\b", r"\b(?:not|mis) ?scheduled\b", r"\bunschedulable\b",
         r"\bdeploy(?:ment)?s? (?:fail|stuck|broke)", r"\bfailed deploy", r"\bpending pods?\b",
         r"\bpods? (?:stuck )?pending\b", r"\bbad (?:rollout|deploy|release)\b"),
    ),
    FailureType(
        "cluster_member_down", "Cluster member down", "dependency",
        "A member of a clustered system is down or lost: missing peers, no leader, quorum at risk.",
        (r"\bquorum\b", r"\bno leader\b", r"\bleader (?:election|changes?|lost)", r"\bmembers? (?:down|lost|"
         r"missing|inconsistent)", r"\binsufficient members\b", r"\bfailed peers\b", r"\bpeers? (?:down|lost)",
         r"\bcluster (?:is )?(?:degraded|partition)", r"\bbrokers? (?:down|offline)", r"\bnodes? offline\b",
         r"\bmembership\b", r"\bcluster\b.{0,30}\b(?:not converg|unhealthy|not ok)"),
    ),
    FailureType(
        "hardware_failure", "Hardware failure", "hardware",
        "A physical component failed or is failing: disks, RAID, fans, power supplies, memory modules, "
        "optics, sensors, printers and laptops.",
        (r"\bhardware\b", r"\braid\b", r"\bsmart\b", r"\bdisk (?:failure|failed|fault)", r"\bfan\b", r"\bpsu\b",
         r"\bpower supply\b", r"\becc\b", r"\bedac\b", r"\btemperature\b", r"\btoo hot\b", r"\boverheat",
         r"\bipmi\b", r"\bsfp\b", r"\boptic", r"\bbattery\b", r"\bups\b", r"\bprinter", r"\btoner\b",
         r"\bpaper jam\b", r"\blaptop\b", r"\bdocking\b", r"\bcable\b",
         r"\b(?:pending|bad|reallocated) sectors?\b", r"\bbad blocks?\b"),
    ),
    FailureType(
        "job_failure", "Job failure", "configuration",
        "A batch, cron or scheduled job failed or did not complete in time.",
        (r"\bjobs?\b.{0,20}\b(?:fail|did not|not complete|completion|stuck|timed out)", r"\bcron ?job",
         r"\bcron\b", r"\bsystemd timer\b", r"\bbatch (?:job|run)",
         r"\bbuilds?\b.{0,20}\bfail"),
    ),
    FailureType(
        "config_error", "Configuration error", "configuration",
        "A configuration is invalid, inconsistent or rejected, or a setting is wrong.",
        (r"\bmisconfigur", r"\b(?:bad|invalid|wrong|broken) config", r"\bconfig(?:uration)? (?:error|invalid|"
         r"inconsistent|mismatch|drift)", r"\brejected\b", r"\bmissing (?:secret|config ?map)",
         r"\bconfig ?map\b", r"\benv(?:ironment)? var", r"\btypo\b", r"\bliveness probe\b"),
    ),
    FailureType(
        "dependency_down", "Dependency down", "dependency",
        "Something the service relies on — an upstream API, a backend, a third party — is unavailable.",
        (r"\bupstream\b", r"\bdownstream\b", r"\bdependenc", r"\bthird ?party\b", r"\bprovider\b",
         r"\bbackends? (?:is |are )?(?:down|unavailable|unhealthy)", r"\bbad gateway\b", r"\b502\b",
         r"\bcircuit breaker\b", r"\baggregated api\b"),
    ),
    FailureType(
        "error_rate", "Error rate", "dependency",
        "Requests fail at an elevated rate: 5xx responses, failed requests, an error budget burning.",
        (r"\berror (?:rate|ratio|budget)", r"\b5\d\d\b", r"\b5xx\b", r"\b(?:requests?|calls?) fail",
         r"\bfail(?:ed|ing|ure)s? (?:requests|calls|rpcs)\b", r"\bfailed grpc\b", r"\berrors?\b.{0,10}\b(?:high|"
         r"rate|increas|spike)", r"\bhigh (?:number of )?(?:errors|failures)\b", r"\bclient errors\b",
         r"\bterminated requests\b", r"\bexceptions?\b",
         r"\btoo many (?:errors|failures|failed)\b", r"\b(?:server|http|grpc|api|request|query) errors\b"),
    ),
    FailureType(
        "slow_responses", "Slow responses", "performance",
        "Requests are answered slowly: latency or response times above their objective, timeouts.",
        (r"\bslow", r"\blatency\b", r"\bresponse times?\b", r"\bp9\d\b", r"\btime(?:d)? ?outs?\b",
         r"\btiming out\b", r"\bhangs?\b", r"\bhanging\b", r"\bdegraded performance\b", r"\bduration high\b"),
    ),
    FailureType(
        "service_down", "Service down", "dependency",
        "A service, process or component is down, not ready or not answering its health checks.",
        (r"\b(?:service|process|daemon|server|api|component|application|app|pod|endpoint|site|website)s? "
         r"(?:is |are )?(?:down|unavailable|not ready|not running|stopped|dead)\b", r"\bnot ready\b",
         r"\bnotready\b", r"\b(?:has )?disappeared\b", r"\bhealth ?checks? fail", r"\bunhealthy\b",
         r"\bprobe (?:fail|success)", r"\bblackbox\b", r"^(?:[\w.]+ ){1,4}down$",
         r"\boffline\b", r"\bnot (?:live|alive|online)\b", r"\bno \w+ (?:alive|online)\b",
         r"\bnot enough (?:healthy|ready)\b"),
    ),
)  # fmt: skip

_BY_ID: dict[str, FailureType] = {t.id: t for t in FAILURE_TYPES}
_ORDER: dict[str, int] = {t.id: i for i, t in enumerate(FAILURE_TYPES)}
_SEPARATORS = re.compile(r"[_\-/]+")
_SPACES = re.compile(r"\s+")


def _check_table() -> None:
    ids = [t.id for t in FAILURE_TYPES]
    if len(set(ids)) != len(ids) or UNKNOWN in ids:
        raise AssertionError("failure type ids must be unique and not 'unknown'")
    for t in FAILURE_TYPES:
        if not re.fullmatch(r"[a-z]+(?:_[a-z]+)*", t.id) or t.error_class not in ERROR_CLASS_NAMES:
            raise AssertionError(f"failure type {t.id!r}: bad id or error class {t.error_class!r}")


_check_table()


def get(type_id: str | None) -> FailureType | None:
    """The failure type with this id (None for ``unknown``, None and ids outside the taxonomy)."""
    return _BY_ID.get(type_id) if type_id else None


def is_known(type_id: str | None) -> bool:
    """Is ``type_id`` a failure type of the taxonomy (``unknown`` is not)?"""
    return type_id in _BY_ID


def is_label(type_id: str | None) -> bool:
    """Is ``type_id`` a label the taxonomy gives: one of its types, or ``unknown``?"""
    return type_id == UNKNOWN or type_id in _BY_ID


def error_class_of(type_id: str | None) -> str:
    """The error class of a failure type (``unknown`` for ``unknown`` and ids outside the taxonomy)."""
    found = get(type_id)
    return found.error_class if found else UNKNOWN


def normalise(text: str) -> str:
    """Lower-cased, with ``_``, ``-`` and ``/`` read as spaces and whitespace collapsed (what evidence reads)."""
    return _SPACES.sub(" ", _SEPARATORS.sub(" ", text.casefold())).strip()


def evidence(text: str) -> list[str]:
    """The ids of every failure type with evidence in ``text``, in table order."""
    folded = normalise(text)
    return [t.id for t in FAILURE_TYPES if t.pattern.search(folded)] if folded else []


def best(scores: dict[str, float]) -> str:
    """The id with the highest score (ties: the earlier type of the table); ``unknown`` when none scores."""
    scored = [(score, type_id) for type_id, score in scores.items() if score > 0 and type_id in _ORDER]
    if not scored:
        return UNKNOWN
    return max(scored, key=lambda item: (item[0], -_ORDER[item[1]]))[1]


def classify(parts: Iterable[tuple[str, float]]) -> str:
    """The failure type of texts given with their weights (each type's score: the sum of the weights of the
    texts with evidence for it; see :func:`best`). ``classify([(title, 2.0), (body, 1.0)])``."""
    scores: dict[str, float] = defaultdict(float)
    for text, weight in parts:
        for type_id in evidence(text):
            scores[type_id] += weight
    return best(scores)


def classify_text(text: str) -> str:
    """The failure type of one text (``unknown`` without evidence)."""
    return classify([(text, 1.0)])


def markdown_table() -> str:
    """The taxonomy as the Markdown table of ``docs/taxonomy.md``."""
    rows = ["| id | name | error class | what it means |", "| --- | --- | --- | --- |"]
    rows += [f"| `{t.id}` | {t.name} | `{t.error_class}` | {t.description} |" for t in FAILURE_TYPES]
    rows.append(f"| `{UNKNOWN}` | Unclassified | `{UNKNOWN}` | No evidence for any type above: no label is invented. |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
