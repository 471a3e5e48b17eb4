"""Generate the sample ServiceNow incident export in ai_service/knowledge/sample/incidents.csv.

The incidents are synthetic. Each one is an instance of a pattern written for this script: most patterns are
variants of a failure that one of the sample runbooks covers (a disk filled by logs, a crash loop caused by a
missing Secret, ...), and the rest are ordinary service-desk noise that no runbook matches. Tickets are opened
either by a monitoring integration (Alertmanager, Zabbix or Datadog wording) or by a person, and closed with
notes that say what was done.

Close notes cite runbook steps as ``<runbook_id>-S<n>``, where n is the step's position in the runbook. The
patterns never hard-code n: they name a step by a fragment of its text, the script finds that step by parsing
the sample runbooks with nocai's own parser (:func:`ai_service.knowledge.parsers.parse_runbook_file`, so n is
the position ingestion stores), and it refuses to write the CSV when a fragment matches no step or more than
one, or when a close note cites an id that does not exist. Editing a runbook therefore cannot leave the sample
citing the wrong step silently.

The output is deterministic (fixed seed; the standard library and nocai's runbook parser, so run it with the
project's Python; its paths do not depend on the working directory):

    .venv/bin/python scripts/dev/generate_sample_incidents.py
"""

from __future__ import annotations

import csv
import random
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ai_service.knowledge.models import ParsedStep, make_step_id
from ai_service.knowledge.parsers import iter_runbook_files, parse_runbook_file

SEED = 20260914
ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = ROOT / "ai_service" / "knowledge" / "sample"
RUNBOOK_DIR = SAMPLE_DIR / "runbooks"
OUTPUT = SAMPLE_DIR / "incidents.csv"

HEADER = (
    "number",
    "short_description",
    "description",
    "category",
    "subcategory",
    "cmdb_ci",
    "assignment_group",
    "impact",
    "urgency",
    "priority",
    "close_code",
    "close_notes",
    "opened_at",
    "resolved_at",
)

FIRST_OPENED = datetime(2025, 1, 3)
LAST_OPENED = datetime(2026, 11, 14)
LATEST_RESOLVED = datetime(2026, 11, 23, 18, 0)
FIRST_NUMBER = 10234
SHORT_DESCRIPTION_MAX = 160  # ServiceNow's default column length
CITE_SHARE = 0.58  # share of solved runbook incidents whose close notes cite step ids
NOT_REPRODUCIBLE_SHARE = 0.07
BY_CALLER_SHARE = 0.06

LEVEL = {1: "1 - High", 2: "2 - Medium", 3: "3 - Low"}
# ITIL impact x urgency matrix as ServiceNow ships it; 3 x 3 (5 - Planning) is never generated.
PRIORITY = {
    (1, 1): "1 - Critical",
    (1, 2): "2 - High",
    (2, 1): "2 - High",
    (1, 3): "3 - Moderate",
    (2, 2): "3 - Moderate",
    (3, 1): "3 - Moderate",
    (2, 3): "4 - Low",
    (3, 2): "4 - Low",
}
CLOSE_CODE = {
    "P": "Solved (Permanently)",
    "W": "Solved (Work Around)",
    "N": "Not Solved (Not Reproducible)",
    "C": "Closed/Resolved by Caller",
}
# (low, high, mode) minutes from opened to resolved, by priority digit or close code.
DURATION = {
    "1": (14, 480, 75),
    "2": (25, 2880, 210),
    "3": (40, 5760, 540),
    "4": (60, 14400, 1440),
    "N": (8, 360, 40),
    "C": (45, 7200, 720),
}


# --------------------------------------------------------------------------------------------------------------
# Runbook steps


_STEP_ID = re.compile(r"\b([a-z0-9]+(?:-[a-z0-9]+)*)-S(\d+)\b")


class Runbooks:
    """The sample runbooks' steps as nocai parses them, used to turn step fragments into ids and to check cited
    ids. A step's position, and so its id, is the one ingestion stores."""

    def __init__(self, directory: Path) -> None:
        self.steps: dict[str, list[ParsedStep]] = {}
        for path in iter_runbook_files(directory):
            runbook = parse_runbook_file(path, root=directory)
            if runbook.runbook_id in self.steps:
                raise SystemExit(f"{path}: duplicate runbook_id {runbook.runbook_id}")
            self.steps[runbook.runbook_id] = list(runbook.steps)

    def step_id(self, runbook_id: str, fragment: str) -> str:
        """The id of the one step of ``runbook_id`` whose condition, action, expected outcome or rollback
        contains ``fragment``."""
        if runbook_id not in self.steps:
            raise SystemExit(f"unknown runbook {runbook_id!r}")
        hits = [step for step in self.steps[runbook_id] if any(fragment in text for text in _step_texts(step))]
        if len(hits) != 1:
            raise SystemExit(f"{runbook_id}: fragment {fragment!r} matches {len(hits)} steps, expected 1")
        return make_step_id(runbook_id, hits[0].position)

    def check_cited(self, texts: list[str]) -> int:
        """Fail if any text cites a step id that does not exist; return how many ids were cited."""
        cited = 0
        for text in texts:
            for match in _STEP_ID.finditer(text):
                runbook_id, n = match.group(1), int(match.group(2))
                if runbook_id not in self.steps or not 1 <= n <= len(self.steps[runbook_id]):
                    raise SystemExit(f"close note cites {match.group(0)}, which does not exist: {text!r}")
                cited += 1
        return cited


def _step_texts(step: ParsedStep) -> tuple[str, ...]:
    return tuple(text for text in (step.condition, step.action, step.expected_outcome, step.rollback) if text)


# --------------------------------------------------------------------------------------------------------------
# Pattern model


@dataclass(frozen=True)
class Alert:
    """A monitoring rule: its name, a one-line problem text and the operational detail."""

    name: str
    brief: str
    detail: str
    severity: str = "critical"


@dataclass(frozen=True)
class Note:
    """A close note: close-code key (P, W, N, C), text, and the steps it applied (``fragment`` or
    ``runbook_id :: fragment``)."""

    code: str
    text: str
    cites: tuple[str, ...] = ()


def note(code: str, text: str, *cites: str) -> Note:
    return Note(code, text, cites)


@dataclass(frozen=True)
class Pattern:
    """One recurring way a failure shows up and gets fixed."""

    key: str
    count: int
    shorts: tuple[str, ...]
    descs: tuple[str, ...]
    notes: tuple[Note, ...]
    alerts: tuple[Alert, ...] = ()
    monitored: float = 0.5
    preset: tuple[tuple[str, tuple[str, ...]], ...] = ()
    groups: tuple[tuple[str, int], ...] = ()
    category: tuple[str, str] | None = None
    severities: tuple[tuple[int, int, int], ...] = ()
    # Values derived after the topic's context has run, e.g. ("ci", "{cluster}"); templates over the values.
    overrides: tuple[tuple[str, str], ...] = ()


class Draw:
    """Random values for one incident; a pattern's preset options take precedence over the topic's."""

    def __init__(self, rng: random.Random, pattern: Pattern, opened: datetime) -> None:
        self.rng = rng
        self.opened = opened
        self.preset = dict(pattern.preset)
        self.values: dict[str, object] = {}

    def one(self, key: str, options: tuple[str, ...] | list[str]) -> str:
        value = self.rng.choice(self.preset.get(key, tuple(options)))
        self.values[key] = value
        return value

    def num(self, key: str, low: int, high: int) -> int:
        value = self.rng.randint(low, high)
        self.values[key] = value
        return value

    def set(self, key: str, value: object) -> None:
        self.values[key] = value

    def day(self, key: str, low: int, high: int, fmt: str = "%Y-%m-%d") -> None:
        """A date ``low``..``high`` days from opening (negative is earlier)."""
        self.values[key] = (self.opened + timedelta(days=self.rng.randint(low, high))).strftime(fmt)


@dataclass(frozen=True)
class Topic:
    """A runbook topic (or the noise bucket when runbook_id is empty) and how its tickets look."""

    name: str
    runbook_id: str
    category: tuple[str, str]
    groups: tuple[tuple[str, int], ...]
    severities: tuple[tuple[int, int, int], ...]
    context: Callable[[Draw], None]
    patterns: tuple[Pattern, ...]
    sources: tuple[tuple[str, int], ...] = (("alertmanager", 1),)
    alerts: tuple[Alert, ...] = ()
    not_reproducible: tuple[str, ...] = ()
    by_caller: tuple[str, ...] = ()


# --------------------------------------------------------------------------------------------------------------
# Shared vocabulary


FIRST_NAMES = (
    "Priya", "Tomasz", "Aisha", "Marco", "Lena", "Kwame", "Sofia", "Daniel", "Mei", "Olu", "Hannah", "Ravi",
    "Jonas", "Carla", "Yusuf", "Ingrid", "Mateo", "Niamh", "Farid", "Elena", "Grace", "Pavel", "Chloe", "Sanjay",
)  # fmt: skip
SURNAMES = (
    "Patel", "Nowak", "Okafor", "Rossi", "Fischer", "Mensah", "Almeida", "Byrne", "Chen", "Adeyemi", "Novak",
    "Haddad", "Lindqvist", "Moreau", "Kowalczyk", "Silva", "Murphy", "Iyer", "Brennan", "Schulz", "Dubois",
)  # fmt: skip
SITES = ("London", "Leeds", "Dublin", "Frankfurt", "Warsaw", "Lisbon", "Austin", "Toronto")
APPS = (
    "orders-api", "payments-api", "checkout-web", "inventory-svc", "notification-worker", "search-indexer",
    "pricing-engine", "auth-service", "cart-service", "fraud-scoring", "customer-portal", "reporting-api",
)  # fmt: skip
HOSTS = {
    "web": (*(f"web-prod-{i:02d}" for i in range(1, 15)), "web-stg-02", "web-stg-03"),
    "app": (*(f"app-prod-{i:02d}" for i in range(1, 11)), *(f"api-prod-{i:02d}" for i in range(1, 9))),
    "batch": ("batch-prod-01", "batch-prod-02", "batch-prod-03", "etl-prod-01", "etl-prod-02", "report-prod-01"),
    "ci": (*(f"ci-runner-{i:02d}" for i in range(1, 13)), "build-agent-04", "build-agent-07"),
    "log": ("log-ingest-01", "log-ingest-02", "elk-prod-03", "elk-prod-05", "syslog-dc1-01"),
    "legacy": ("erp-app-01", "erp-app-02", "cognos-prod-01", "ftp-legacy-01", "crm-legacy-02"),
    "jump": ("bastion-dc1-01", "bastion-dc2-01", "analytics-ws-03", "jump-prod-02"),
    "cloud": (*(f"api-prod-{i:02d}" for i in range(9, 15)), "worker-aws-03", "worker-aws-07"),
    "file": ("fs-prod-01", "fs-prod-02", "nas-gw-01", "sftp-prod-01"),
    "db": ("pg-orders-01", "pg-billing-01", "pg-crm-01", "pg-inventory-01", "pg-payments-01", "pg-catalog-01"),
}
DB_CLUSTERS = ("orders", "billing", "crm", "inventory", "payments", "catalog", "analytics")
K8S_CLUSTERS = ("k8s-prod-eu1", "k8s-prod-eu2", "k8s-prod-us1", "k8s-stg-eu1")
K8S_WORKLOADS = (
    ("payments-api", "payments"), ("payments-ledger", "payments"), ("orders-api", "orders"),
    ("orders-worker", "orders"), ("checkout-web", "checkout"), ("cart-service", "checkout"),
    ("inventory-svc", "inventory"), ("search-indexer", "search"), ("pricing-engine", "pricing"),
    ("notification-worker", "notifications"), ("fraud-scoring", "risk"), ("auth-service", "identity"),
)  # fmt: skip
PUBLIC_NAMES = (
    "shop.example.com", "www.example.com", "api.example.com", "partners.example.com", "sso.example.com",
    "status.example.com", "pay.example.com", "files.example.net", "grafana.int.example.com",
    "vault.int.example.com", "registry.int.example.com", "jira.int.example.com",
)  # fmt: skip
EDGE_NODES = tuple(f"edge-nginx-{i:02d}" for i in range(1, 7))
PARTNERS = ("Kestrel Pay", "Harbour Logistics", "Baltic Freight", "Norland Bank", "Quill Insurance", "Vantor Retail")
TEAMS = ("Web Platform", "Payments", "Identity", "Partner Integrations", "Checkout", "Data Science", "Finance")
PROBE_SITES = ("eu-west-1", "eu-central-1", "us-east-1", "ap-southeast-2", "sa-east-1")


def _common(d: Draw) -> None:
    """Values any template may use."""
    first = d.one("name", FIRST_NAMES)
    last = d.one("surname", SURNAMES)
    d.set("fullname", f"{first} {last}")
    d.set("user", (first[0] + last).lower())
    d.set("hhmm", (d.opened - timedelta(minutes=d.rng.randint(5, 95))).strftime("%H:%M"))
    d.set("chg", f"CHG{d.rng.randint(31000, 89999):07d}")
    major, minor, patch = d.rng.randint(1, 6), d.rng.randint(0, 24), d.rng.randint(0, 9)
    d.set("version", f"v{major}.{minor}.{patch}")
    d.set("fixversion", f"v{major}.{minor}.{patch + 1}")
    d.one("app", APPS)
    d.one("site", SITES)
    d.one("team", TEAMS)
    d.one("partner", PARTNERS)
    d.day("date", -6, -1)
    d.day("pause_date", -60, -12, "%d %b")
    d.day("release_date", -5, -1, "%d %b")
    d.num("catchup", 4, 45)
    d.num("pid", 1200, 98000)


def _host(d: Draw, default_pools: tuple[str, ...]) -> str:
    pool = d.one("pool", default_pools)
    return d.one("host", HOSTS[pool])


# --------------------------------------------------------------------------------------------------------------
# Disk full


def _disk(d: Draw) -> None:
    _common(d)
    host = _host(d, ("web", "app", "batch"))
    mount = d.one("mount", ("/var", "/", "/var/log"))
    pct = d.num("pct", 91, 99)
    total = int(d.one("total_gb", ("40", "50", "80", "100", "200", "250", "500")))
    d.set("freepct", 100 - pct)
    d.set("free", f"{total * (100 - pct) / 100:.1f}G")
    devices = {"/": "/dev/sda2", "/var": "/dev/mapper/vg_sys-lv_var", "/var/log": "/dev/mapper/vg_sys-lv_log"}
    d.set("device", devices.get(mount, f"/dev/mapper/vg_data-lv{mount.replace('/', '_')}"))
    d.num("after", 38, 72)
    d.num("size", 8, max(9, total // 2))
    d.set("du_gb", max(4, total * d.rng.randint(30, 55) // 100))
    d.set("total", total)
    app = str(d.values["app"])
    d.set("logdir", f"/var/log/{app}")
    d.set("olddir", f"/opt/{app}/logs")
    d.num("days", 30, 140)
    d.num("rate", 1, 6)
    d.num("fd", 3, 48)
    d.num("cache", 6, 40)
    d.one("standby_slot", ("replica_03", "standby_dc2", "old_reporting"))
    d.one("cdc_slot", ("debezium_orders", "debezium_billing", "pgl_sub_crm"))
    d.num("vgfree", 40, 300)
    d.one("ext", ("20", "30", "50", "100"))
    d.num("hours", 2, 4)
    d.num("ifree", 1, 4)
    d.num("lowpct", 38, 70)
    d.num("files", 2, 9)
    d.set("target", f"{host} ({mount})")
    d.set("ci", host)


DISK_ALERTS = (
    Alert(
        "NodeFilesystemAlmostOutOfSpace",
        "Filesystem {mount} has only {freepct}% space left",
        "Filesystem {mount} ({device}) on {host} is {pct}% full, {free} available. Threshold 95%.",
    ),
    Alert(
        "vfs.fs.size.pused",
        "Free disk space is less than 5% on volume {mount}",
        "Space utilization: {pct}%, free {free}",
    ),
    Alert(
        "DiskSpaceUsage",
        "disk {mount} usage {pct}%",
        "Disk usage for {mount} is {pct}% (critical threshold 95%). {free} free.",
    ),
)

DISK = Topic(
    name="disk full",
    runbook_id="linux-disk-full",
    category=("Hardware", "Disk"),
    groups=(("Linux Ops", 80), ("NOC", 12), ("Platform Engineering", 8)),
    severities=((2, 2, 40), (2, 1, 22), (1, 2, 10), (3, 2, 15), (1, 1, 5), (2, 3, 8)),
    sources=(("zabbix", 4), ("alertmanager", 4), ("datadog", 2)),
    context=_disk,
    alerts=DISK_ALERTS,
    not_reproducible=(
        "Alert had cleared before anyone logged in. {mount} on {host} at {after}% when checked, probably a temp "
        "file from an export. No action.",
        "Could not reproduce, usage {after}% on {mount}. Short spike from a one-off job, nothing left behind.",
        "Cleared on its own within 10 min (log rotation ran). Checked df, all mounts under 75%. Closing.",
    ),
    by_caller=(
        "App team removed their old export files from {mount} themselves. No action needed from Linux Ops.",
        "Requester confirmed they cleaned up the artefacts on {host}. Closing as per caller.",
    ),
    patterns=(
        Pattern(
            key="application or journal logs",
            count=9,
            monitored=0.65,
            preset=(("pool", ("web", "app", "log")),),
            shorts=(
                "{host} {mount} full - app logs filling disk",
                "Disk space alert on {host}, {mount} at {pct}%",
                "{app} on {host} failing with 'No space left on device'",
                "no space left on {host}, cant write logs",
                "URGENT: {host} disk full, {app} down",
            ),
            descs=(
                "{app} started returning 500s around {hhmm}. Logs on {host} show 'java.io.IOException: No space "
                "left on device'. df shows {mount} at {pct}%. Can someone from Linux Ops take a look?",
                "Monitoring shows {mount} on {host} at {pct}% and climbing roughly {rate} GB/hour. Looks like "
                "{logdir} is growing fast. Please clean up before it hits 100%.",
                "Hi team, deploy of {app} to {host} failed at the unpack step with 'write error: No space left "
                "on device'. Could you free some space? Thanks, {name}",
            ),
            notes=(
                note(
                    "W",
                    "{logdir} held {size}G of uncompressed rotated logs, {days} days' worth. Deleted rotations "
                    "older than 14 days, {mount} down to {after}%. Asked {app} team to drop the log level back "
                    "from DEBUG, which was left on after the last release.",
                    "du -xh",
                    "-mtime +14",
                ),
                note(
                    "P",
                    "logrotate config for {app} still pointed at {olddir}, so nothing under {logdir} had been "
                    "rotated since the move. Removed old logs, fixed /etc/logrotate.d/{app} in config "
                    "management and forced a rotation. Usage {after}%.",
                    "du -xh",
                    "-mtime +14",
                ),
                note(
                    "P",
                    "systemd journal was {size}G on {mount}. Vacuumed to 500M, usage {after}%. SystemMaxUse=1G "
                    "now set in journald.conf through puppet so it stays bounded.",
                    "--vacuum-size",
                ),
                note(
                    "W",
                    "journal + old logs. Ran journalctl --vacuum-size=500M and removed old .gz rotations from "
                    "/var/log. {mount} {pct}% -> {after}%.",
                    "--vacuum-size",
                    "-mtime +14",
                ),
                note(
                    "P",
                    "Root cause: the {app} access log was not covered by logrotate after the proxy switch. "
                    "Cleaned up {size}G, added rotation with compression, checked with logrotate -d. Disk now "
                    "{after}%.",
                    "du -xh",
                    "-mtime +14",
                ),
            ),
        ),
        Pattern(
            key="deleted file held open",
            count=5,
            monitored=0.4,
            preset=(("pool", ("app", "web", "log")), ("mount", ("/var", "/", "/var/log"))),
            shorts=(
                "{host} {mount} {pct}% but du only shows {du_gb}G used",
                "df and du disagree on {host}",
                "Disk full on {host} again after cleanup",
            ),
            descs=(
                "NOC cleaned up {mount} on {host} yesterday but usage went straight back to {pct}%. du -sh only "
                "accounts for {du_gb}G of {total}G. Something is holding space.",
                "{mount} on {host} at {pct}%. Someone deleted {app}.log by hand earlier today and df did not go "
                "down at all.",
            ),
            notes=(
                note(
                    "W",
                    "lsof +L1 showed {app} (pid {pid}) holding a deleted {size}G log file. Truncated it through "
                    "/proc/{pid}/fd/{fd}, space came back immediately. Service restart booked for tonight's "
                    "window.",
                    "lsof -nP +L1",
                    "truncate -s 0",
                ),
                note(
                    "P",
                    "Deleted-but-open file: {size}G {app}.log removed with rm while the service was running. "
                    "Restarted {app} to release it, {mount} back to {after}%. Added copytruncate to its logrotate "
                    "entry so nobody needs to delete logs by hand.",
                    "lsof -nP +L1",
                    "truncate -s 0",
                ),
                note(
                    "W",
                    "Space was held by rsyslog still writing to a deleted messages file. systemctl restart "
                    "rsyslog freed {size}G.",
                    "lsof -nP +L1",
                ),
            ),
        ),
        Pattern(
            key="docker images and build cache",
            count=7,
            monitored=0.55,
            preset=(("pool", ("ci",)), ("mount", ("/var/lib/docker", "/"))),
            groups=(("Platform Engineering", 55), ("Linux Ops", 45)),
            shorts=(
                "CI builds failing on {host} - no space left on device",
                "{host} out of disk, docker pulls failing",
                "gitlab runner {host} disk full",
                "Pipeline jobs failing on {host}: 'no space left on device' during docker build",
            ),
            descs=(
                "Several pipelines for {app} failed on runner {host} with 'failed to register layer: write "
                "/var/lib/docker/overlay2/...: no space left on device'. Other runners OK. Please clean up.",
                "{host} {mount} at {pct}%. The runner is picking up jobs and failing them immediately, can we "
                "take it out of the pool until it's cleaned?",
            ),
            notes=(
                note(
                    "W",
                    "docker system df: {size}G of unused images and {cache}G build cache. Pruned images and "
                    "build cache older than 7d, {mount} at {after}%. Runner back in the pool.",
                    "sudo docker system df",
                    "docker image prune",
                ),
                note(
                    "P",
                    "Images and build cache filled {mount}. Pruned, and enabled the nightly prune timer, which "
                    "was missing on {host} after its rebuild. {after}% used now.",
                    "sudo docker system df",
                    "docker image prune",
                ),
                note(
                    "W",
                    "Cleaned unused images and builder cache ({size}G), plus stopped containers left over from "
                    "cancelled jobs. Runner healthy again.",
                    "docker image prune",
                ),
            ),
        ),
        Pattern(
            key="postgres WAL retained",
            count=4,
            monitored=0.6,
            preset=(("pool", ("db",)), ("mount", ("/var/lib/postgresql", "/pgdata"))),
            groups=(("DBA Team", 60), ("Linux Ops", 40)),
            severities=((1, 1, 3), (1, 2, 4), (2, 1, 3)),
            shorts=(
                "pg_wal filling disk on {host}, {pct}%",
                "DB server {host} disk almost full - WAL",
                "URGENT {host} data volume {pct}% - postgres at risk",
            ),
            descs=(
                "{mount} on {host} at {pct}% and growing about {rate}G/h. Most of it is pg_wal ({size}G). "
                "Nothing obvious in the base directory. Please check before postgres stops.",
                "Disk alert on the primary {host}. pg_wal is {size}G, normally around 2G. Could be archiving?",
            ),
            notes=(
                note(
                    "P",
                    "Inactive replication slot '{standby_slot}' from a decommissioned replica was holding {size}G "
                    "of WAL. Confirmed with the DBA lead and dropped the slot; WAL recycled at the next checkpoint, "
                    "{mount} at {after}%.",
                    "pg_stat_archiver",
                    "pg-replication-lag :: pg_drop_replication_slot",
                ),
                note(
                    "W",
                    "archive_command failing since {hhmm} (archiver failed_count climbing, S3 credentials had "
                    "been rotated). Fixed the credentials in pgbackrest.conf, archiver caught up and WAL was "
                    "recycled. Disk {after}%.",
                    "pg_stat_archiver",
                ),
                note(
                    "P",
                    "CDC slot '{cdc_slot}' inactive since the connector was paused on {pause_date}. Data platform "
                    "team restarted the connector, slot active again and retained WAL released.",
                    "pg_stat_archiver",
                ),
            ),
        ),
        Pattern(
            key="legitimate growth, LVM extend",
            count=3,
            monitored=0.7,
            preset=(("pool", ("batch", "app", "file")), ("mount", ("/data", "/opt", "/srv"))),
            alerts=(
                Alert(
                    "NodeFilesystemFillingUp",
                    "Filesystem {mount} predicted to fill within 4 hours",
                    "Filesystem {mount} on {host} is {pct}% full and predicted to run out of space within 4 "
                    "hours at the current write rate.",
                    "warning",
                ),
            ),
            shorts=("Need more space on {host} {mount}", "{host}: {mount} growing, legit data - pls extend"),
            descs=(
                "Data volume on {host} growing faster than planned ({mount} at {pct}%). The data is legitimate, "
                "app team confirmed retention is as designed. I think the VG still has free space, please "
                "extend.",
            ),
            notes=(
                note(
                    "P",
                    "Growth is real data ({app} retention change). vg_data had {vgfree}G free; lvextend -r "
                    "+{ext}G on {mount}, now at {after}%. Capacity request raised for next quarter.",
                    "lvextend",
                ),
                note(
                    "P",
                    "Extended the LV by {ext}G online (xfs), usage {after}%. New size recorded in CMDB.",
                    "lvextend",
                ),
            ),
        ),
        Pattern(
            key="inodes exhausted",
            count=2,
            monitored=0.5,
            preset=(("pool", ("web", "app")), ("mount", ("/var", "/"))),
            alerts=(
                Alert(
                    "NodeFilesystemAlmostOutOfFiles",
                    "Filesystem {mount} has less than 5% inodes left",
                    "Filesystem {mount} on {host} has {ifree}% inodes left.",
                ),
            ),
            shorts=("{host} cannot create files but df shows free space", "inode exhaustion on {host} {mount}"),
            descs=(
                "{app} on {host} throws 'No space left on device' but df -h shows {mount} only {lowpct}% used. "
                "df -i says 100%.",
            ),
            notes=(
                note(
                    "P",
                    "df -i confirmed 100% inodes on {mount}: {files} million PHP session files under "
                    "/var/lib/php/sessions, session GC cron was disabled. Deleted sessions older than 1 day and "
                    "re-enabled the cleanup. IUse% now {after}%.",
                    "df -hT",
                ),
                note(
                    "W",
                    "Millions of small cache files in /var/cache/{app}. Cleared the cache directory, inodes back "
                    "to {after}%. App team will move the cache to Redis.",
                    "df -hT",
                    "du -xh",
                ),
            ),
        ),
    ),
)


# --------------------------------------------------------------------------------------------------------------
# Memory pressure / OOM


def _memory(d: Draw) -> None:
    _common(d)
    host = _host(d, ("app",))
    total = int(d.one("total", ("16", "32", "64", "128")))
    avail = d.num("availpct", 2, 9)
    d.set("avail", f"{total * avail / 100:.1f}G")
    d.set("totalg", f"{total}G")
    d.one("swapused", ("1.9G of 2G", "3.8G of 4G", "7.6G of 8G", "0B of 0B"))
    d.num("kills", 1, 3)
    d.num("usedpct", 92, 99)
    d.set("vm", d.rng.randint(6, 30) * 1048576 + d.rng.randint(0, 999999))
    d.one("nth", ("2nd", "3rd", "4th"))
    d.num("leakrate", 40, 400)
    d.num("hours", 6, 48)
    d.set("rss", f"{d.rng.uniform(2.5, total * 0.8):.1f}")
    d.one(
        "leakclass",
        (
            "com.example.orders.cache.PriceCache",
            "io.netty.buffer.PoolChunk",
            "org.hibernate.engine.internal.StatefulPersistenceContext",
            "com.example.session.SessionRegistry",
        ),
    )
    d.set("unit", d.values["app"])
    limit = d.one("limit", ("2G", "3G", "4G", "6G"))
    d.set("newlimit", f"{int(limit[:-1]) + d.rng.choice((1, 2))}G")
    d.num("freegb", 6, max(7, total // 2))
    d.one("job", ("monthly-invoice-export", "stock-reconciliation", "gdpr-purge", "sales-report"))
    d.set("load", f"{d.rng.uniform(12, 90):.1f}")
    d.num("cached", max(4, total // 3), max(5, total - 4))
    d.set("target", host)
    d.set("ci", host)


MEMORY = Topic(
    name="memory pressure / OOM",
    runbook_id="linux-memory-oom",
    category=("Hardware", "Memory"),
    groups=(("Linux Ops", 78), ("NOC", 12), ("Application Support", 10)),
    severities=((2, 2, 35), (2, 1, 25), (1, 2, 15), (1, 1, 6), (3, 2, 12), (2, 3, 7)),
    sources=(("zabbix", 4), ("alertmanager", 4), ("datadog", 2)),
    context=_memory,
    alerts=(
        Alert(
            "NodeMemoryHighUtilization",
            "Available memory below 10%",
            "Host {host} has {availpct}% memory available ({avail} of {totalg}). Swap used: {swapused}.",
        ),
        Alert(
            "NodeOOMKillDetected",
            "OOM kill detected",
            "Kernel OOM killer invoked {kills} time(s) on {host} in the last 15 minutes.",
        ),
        Alert("vm.memory.utilization", "High memory utilization (>90% for 5m)", "Memory utilization: {usedpct} %"),
    ),
    not_reproducible=(
        "Memory back to normal when checked ({availpct}% available was a short spike). No OOM kills in the "
        "kernel log. Closing.",
        "Could not reproduce. Spike coincided with the weekly backup; nothing killed, no swapping afterwards.",
    ),
    by_caller=(
        "Application team restarted {app} during their own release and memory is normal. Closed at caller's request.",
        "Caller confirmed issue went away after their job finished. No action taken.",
    ),
    patterns=(
        Pattern(
            key="JVM heap leak, global OOM",
            count=8,
            monitored=0.6,
            shorts=(
                "{app} on {host} killed by OOM killer",
                "{app} restarted itself on {host} - oom?",
                "Memory usage on {host} keeps climbing until {app} dies",
                "{app} down on {host}, dmesg shows Killed process java",
            ),
            descs=(
                "{app} on {host} went down at {hhmm}. dmesg: 'Out of memory: Killed process {pid} (java) "
                "total-vm:{vm}kB'. It came back after the systemd restart but memory is climbing again. This is "
                "the {nth} time this week.",
                "Grafana shows {app} RSS on {host} growing linearly since the release on {release_date}, about "
                "{leakrate}MB/h. It gets OOM killed every ~{hours}h. Pls investigate.",
            ),
            notes=(
                note(
                    "W",
                    "Global OOM on {host}, java ({app}) killed. Took class histogram and smaps_rollup before the "
                    "restart (attached), restarted the service, RSS back to normal. Histogram shows {leakclass} "
                    "growing; handed to the {app} team.",
                    "CONSTRAINT_MEMCG",
                    "smaps_rollup",
                    "systemctl restart <unit>",
                ),
                note(
                    "P",
                    "Leak in {app} {version} (unbounded cache in {leakclass}). Evidence collected, service "
                    "restarted as a workaround, dev team shipped the fix in {fixversion}. No OOM since.",
                    "smaps_rollup",
                    "systemctl restart <unit>",
                ),
                note(
                    "W",
                    "Restarted {app} on {host} to recover memory; it was growing ~{leakrate}MB/h. Leak "
                    "investigation is on the dev team's backlog.",
                    "systemctl restart <unit>",
                ),
            ),
        ),
        Pattern(
            key="systemd MemoryMax too low",
            count=5,
            monitored=0.5,
            preset=(("pool", ("app", "batch")),),
            alerts=(
                Alert(
                    "SystemdUnitFailed",
                    "unit {unit}.service failed (oom-kill)",
                    "Unit {unit}.service on {host} entered failed state with result 'oom-kill'. MemoryMax={limit}.",
                ),
            ),
            shorts=(
                "{unit}.service keeps failing with result oom-kill on {host}",
                "{app} crashing after upgrade - memory limit?",
                "{app} on {host} killed although host has free memory",
            ),
            descs=(
                "Since the upgrade to {version}, {unit}.service on {host} fails every few hours with Result: "
                "oom-kill. The host itself has plenty of free memory ({freegb}G). systemd MemoryMax is {limit}.",
            ),
            notes=(
                note(
                    "P",
                    "cgroup OOM (CONSTRAINT_MEMCG), not host-wide. {version} needs more memory at startup; "
                    "raised MemoryMax {limit} -> {newlimit} with set-property, host has headroom. Same value "
                    "committed as a puppet drop-in.",
                    "CONSTRAINT_MEMCG",
                    "MemoryCurrent",
                    "set-property <unit>",
                ),
                note(
                    "W",
                    "Raised MemoryMax for {unit} to {newlimit} for now. App team to review the memory settings "
                    "of {version}.",
                    "MemoryCurrent",
                    "set-property <unit>",
                ),
            ),
        ),
        Pattern(
            key="runaway ad-hoc process",
            count=5,
            monitored=0.5,
            preset=(("pool", ("batch", "jump")),),
            shorts=(
                "{host} extremely slow, swapping",
                "{host} unresponsive - ssh takes minutes",
                "High memory on {host} - someone's script?",
            ),
            descs=(
                "Can't log into {host}, ssh hangs after the password prompt. Monitoring shows memory at "
                "{usedpct}% and swap full. Nightly jobs are running late.",
                "{host} paging heavily since {hhmm}; top shows one process with {rss}G resident that is not one of "
                "the services on the box.",
            ),
            notes=(
                note(
                    "W",
                    "Largest RSS was an ad-hoc python script by {user} (pandas export) using {rss}G. Confirmed "
                    "with the user and killed it, memory back to normal. Asked them to run it on the analytics "
                    "box instead.",
                    "--sort=-rss",
                    "kill -TERM <PID>",
                ),
                note(
                    "W",
                    "A manual rsync of a directory tree with millions of files was eating memory. Stopped it "
                    "after checking with the owner; the copy will be rerun split per subdirectory.",
                    "--sort=-rss",
                    "kill -TERM <PID>",
                ),
                note(
                    "P",
                    "{job} was started twice because two cron runs overlapped, each copy holding {rss}G. Killed "
                    "the duplicate and wrapped the crontab entry in flock so it cannot overlap again.",
                    "--sort=-rss",
                    "kill -TERM <PID>",
                ),
            ),
        ),
        Pattern(
            key="legacy host thrashing",
            count=2,
            monitored=0.5,
            preset=(("pool", ("legacy",)),),
            shorts=("{host} swap exhausted", "legacy app server {host} swapping heavily"),
            descs=(
                "{host} at 100% swap, load {load}. The vendor application cannot be restarted during business hours.",
            ),
            notes=(
                note(
                    "W",
                    "Host thrashing and the app owner refused a restart until the evening. Added a 4G temporary "
                    "swap file to stop OOM kills; app restarted in the evening window and the temporary swap "
                    "removed afterwards.",
                    "columns in `vmstat`",
                    "swapfile.tmp",
                ),
            ),
        ),
        Pattern(
            key="page cache counted as used",
            count=4,
            monitored=0.75,
            preset=(("pool", ("log", "batch", "file")),),
            alerts=(
                Alert(
                    "HighMemoryUsage",
                    "memory usage {usedpct}%",
                    "Memory used {usedpct}% for 10m (threshold 90%).",
                    "warning",
                ),
            ),
            severities=((3, 2, 6), (2, 3, 4), (2, 2, 2)),
            shorts=("Memory {usedpct}% on {host}", "RAM usage alert {host} - is this real?"),
            descs=("Alert says memory usage {usedpct}% on {host}, but the apps on it seem fine. Is this real?",),
            notes=(
                note(
                    "P",
                    "Not a real shortage: {cached}G is page cache and MemAvailable is fine. The rule used "
                    "(total - free) / total. Changed the alert to MemAvailable; no action on the host.",
                    "SReclaimable",
                ),
                note(
                    "P",
                    "Checked /proc/meminfo: mostly Cached, MemAvailable healthy, no swapping. Alert tuned to "
                    "available memory. Closing.",
                    "SReclaimable",
                ),
            ),
        ),
    ),
)


# --------------------------------------------------------------------------------------------------------------
# CPU saturation


def _cpu(d: Draw) -> None:
    _common(d)
    host = _host(d, ("app", "web"))
    cores = int(d.one("cores", ("4", "8", "16", "32")))
    d.num("cpu", 91, 100)
    d.set("load", f"{cores * d.rng.uniform(2.1, 5.0):.1f}")
    d.one("proc", ("filebeat", "fluent-bit", "promtail", "logstash"))
    d.num("pcpu", 180, cores * 95)
    d.num("cpu_after", 18, 45)
    d.one("job", ("nightly-reindex", "invoice-batch", "image-resize", "stock-sync", "gdpr-export"))
    d.set("lat", f"{d.rng.uniform(1.5, 9):.1f}")
    d.one("finish", ("04:10", "04:45", "05:20", "05:40"))
    d.one("itype", ("t3.large", "t3.xlarge", "t3a.large", "t2.medium"))
    d.one("newtype", ("m6i.large", "m6i.xlarge", "c6i.xlarge"))
    d.num("steal", 15, 60)
    d.num("iowait", 35, 80)
    d.one("dev", ("nvme1n1", "sdb", "dm-3", "md0"))
    d.one(
        "culprit",
        ("a full reindex started by the search team", "the log archive job", "mlocate updatedb", "the backup agent"),
    )
    d.set("asg", f"asg-{d.values['app']}-prod")
    cap = d.num("cap", 4, 10)
    d.set("newcap", cap + 2)
    d.one("leakclass", ("UserAgentParser", "SkuMatcher", "PromoRuleEngine", "UrlRewriter"))
    d.one("script", ("cleanup_tmp.sh", "sync_prices.py", "export_feed.pl", "rotate_reports.sh"))
    d.set("target", host)
    d.set("ci", host)


CPU = Topic(
    name="CPU saturation",
    runbook_id="linux-cpu-saturation",
    category=("Hardware", "CPU"),
    groups=(("Linux Ops", 75), ("NOC", 15), ("Application Support", 10)),
    severities=((2, 2, 40), (2, 1, 20), (1, 2, 12), (3, 2, 15), (1, 1, 4), (2, 3, 9)),
    sources=(("zabbix", 4), ("alertmanager", 4), ("datadog", 3)),
    context=_cpu,
    alerts=(
        Alert(
            "NodeHighCPUUsage",
            "CPU usage above 90% for 15m",
            "CPU utilisation on {host} is {cpu}% (5m avg), load average {load} on {cores} cores.",
        ),
        Alert(
            "NodeLoadHigh",
            "load average {load} on {cores} cores",
            "5-minute load average {load} exceeds 2x core count ({cores}) for 15m.",
            "warning",
        ),
        Alert("system.cpu.util", "High CPU utilization (over 90% for 5m)", "Current utilization: {cpu} %"),
    ),
    not_reproducible=(
        "CPU at {cpu_after}% when checked, no runaway process. Spike lasted ~10 min during the {job} run. No action.",
        "Alert flapped once and cleared. mpstat/top normal. Closing, will reopen if it comes back.",
    ),
    by_caller=("App owner confirmed latency back to normal after their job completed. Closing per caller.",),
    patterns=(
        Pattern(
            key="log shipper retry loop",
            count=3,
            monitored=0.7,
            preset=(("pool", ("app", "web", "log")),),
            shorts=("{host} CPU 100%", "{proc} using all CPU on {host}", "{host} pegged at 100% cpu since {hhmm}"),
            descs=(
                "{host} has been at {cpu}% CPU since around {hhmm}. top shows {proc} at the top with {pcpu}%. "
                "Response times of {app} doubled.",
            ),
            notes=(
                note(
                    "W",
                    "{proc} stuck in a retry loop after its output endpoint went away ({pcpu}% CPU). Stopped it "
                    "after checking with the observability team, CPU back to {cpu_after}%. Output endpoint fixed "
                    "and {proc} started again.",
                    "pidstat -u 2 5",
                    "stuck cron job",
                ),
                note(
                    "P",
                    "{proc} spinning on a corrupt registry file after an unclean shutdown. Killed it, removed "
                    "the registry file, restarted; upgraded {proc} to the release that handles this.",
                    "pidstat -u 2 5",
                    "stuck cron job",
                ),
            ),
        ),
        Pattern(
            key="hung cron script",
            count=2,
            monitored=0.6,
            preset=(("pool", ("batch", "app")),),
            shorts=("High CPU on {host} - several {script} processes", "{host} load {load}, old cron jobs piling up"),
            descs=(
                "CPU at {cpu}% on {host}. There are several copies of {script} running, the oldest started two "
                "days ago.",
            ),
            notes=(
                note(
                    "P",
                    "Cron job {script} hung in a busy loop on empty input and new copies kept piling up. Killed "
                    "the stuck runs; owner patched the script to exit on empty input and added flock.",
                    "pidstat -u 2 5",
                    "stuck cron job",
                ),
            ),
        ),
        Pattern(
            key="batch job competing with service",
            count=3,
            monitored=0.4,
            preset=(("pool", ("batch", "app")),),
            shorts=("{app} latency high during {job} run", "CPU contention on {host} between {job} and {app}"),
            descs=(
                "Every night around {hhmm} the {job} job saturates the CPU on {host} and {app} p99 latency goes "
                "to {lat}s. The job has to complete before 06:00.",
            ),
            notes=(
                note(
                    "W",
                    "Reniced {job} to +10 and put it in the idle I/O class; {app} latency back under SLO while "
                    "the job finished at {finish}. Asked the owner to move the job to a batch host.",
                    "renice -n 10",
                ),
                note(
                    "P",
                    "Lowered priority of {job} (renice/ionice) for tonight; the unit now runs with Nice=10 and "
                    "IOSchedulingClass=idle permanently.",
                    "renice -n 10",
                ),
            ),
        ),
        Pattern(
            key="busy loop after deploy",
            count=4,
            monitored=0.5,
            preset=(("pool", ("app",)),),
            shorts=(
                "{app} high cpu after deploy",
                "{app} {version} - CPU 100% on all nodes",
                "cpu spike on {host} after release",
            ),
            descs=(
                "After deploying {app} {version} at {hhmm}, all {app} nodes are at {cpu}% CPU. Error rate OK but "
                "latency up 5x.",
            ),
            notes=(
                note(
                    "W",
                    "Thread dumps (3x, 5 s apart) show all worker threads inside {leakclass} regex matching. "
                    "Rolled back to the previous version, CPU normal. Dumps attached for the dev team.",
                    "Thread.print",
                    "deploy or configuration change",
                ),
                note(
                    "P",
                    "Busy loop in {app} {version}: retry without backoff while the cache was empty. Restarted to "
                    "stop the spin, dev team shipped {fixversion} the same day. Thread dumps attached.",
                    "Thread.print",
                    "deploy or configuration change",
                ),
            ),
        ),
        Pattern(
            key="burstable instance out of credits",
            count=3,
            monitored=0.5,
            preset=(("pool", ("cloud",)),),
            shorts=("{host} slow, CPU steal high", "{host} cpu credits exhausted?"),
            descs=(
                "{host} ({itype}) slow since this morning. top shows %st around {steal}%. Is this the noisy "
                "neighbour thing again?",
            ),
            notes=(
                note(
                    "W",
                    "CPUCreditBalance at 0 on the {itype} instance, steal {steal}%. Switched credit "
                    "specification to unlimited under {chg}, steal gone. Rightsizing request raised.",
                    "CPUCreditBalance",
                ),
                note(
                    "P",
                    "Credits exhausted on a burstable instance. Moved {host} to {newtype} (non-burstable) under "
                    "{chg}. No steal since.",
                    "CPUCreditBalance",
                    "%steal",
                ),
            ),
        ),
        Pattern(
            key="I/O wait, not CPU",
            count=3,
            monitored=0.6,
            preset=(("pool", ("batch", "file", "app")),),
            shorts=("{host} load {load} but cpu idle?", "High load on {host} - iowait"),
            descs=("Load average on {host} is {load} but top shows most of it is wa. Apps timing out on disk writes.",),
            notes=(
                note(
                    "W",
                    "Not CPU: iowait ~{iowait}%. iostat showed {dev} at 100% util, caused by {culprit}. "
                    "Rescheduled it outside business hours, load normal.",
                    "iostat -xz 2 5",
                ),
                note(
                    "P",
                    "Load was I/O wait from a degraded RAID set on {dev} (rebuild running). Storage team replaced "
                    "the disk; rebuild finished and load is normal.",
                    "iostat -xz 2 5",
                ),
            ),
        ),
        Pattern(
            key="traffic growth, scale out",
            count=2,
            monitored=0.5,
            preset=(("pool", ("cloud", "web")),),
            shorts=("{app} tier CPU high - traffic spike", "need more capacity for {app}, all nodes >90% cpu"),
            descs=(
                "Marketing campaign started at {hhmm}, traffic to {app} is 3x normal. All nodes in {asg} at >90% CPU.",
            ),
            notes=(
                note(
                    "W",
                    "Legitimate campaign traffic. Raised {asg} desired capacity {cap} -> {newcap}, CPU back to "
                    "~55%. Scaled back the next morning.",
                    "set-desired-capacity",
                ),
                note(
                    "P",
                    "Added 2 instances to {asg} and raised its min size permanently after a capacity review with "
                    "the app owner.",
                    "set-desired-capacity",
                ),
            ),
        ),
    ),
)


# --------------------------------------------------------------------------------------------------------------
# PostgreSQL


def _postgres(d: Draw) -> None:
    _common(d)
    cluster = d.one("cluster", DB_CLUSTERS)
    primary = f"pg-{cluster}-01"
    d.set("primary", primary)
    d.one("replica", (f"pg-{cluster}-02", f"pg-{cluster}-03"))
    d.set("rep2", f"pg-{cluster}-report-01")
    maxconn = int(d.one("maxconn", ("200", "300", "400", "500")))
    conns = d.rng.randint(int(maxconn * 0.86), maxconn - 3)
    d.set("conns", conns)
    d.set("connpct", conns * 100 // maxconn)
    d.set("dbname", cluster)
    d.set("idle", d.rng.randint(int(maxconn * 0.4), int(maxconn * 0.7)))
    d.set("normal", d.rng.randint(int(maxconn * 0.2), int(maxconn * 0.45)))
    d.num("iit", 12, 90)
    d.one("age", ("47 min", "2h 10m", "5h", "3 days", "26 min"))
    d.one("client", ("DBeaver", "psql", "pgAdmin", "DataGrip"))
    d.set("role", f"{cluster}_app")
    d.one("table", ("orders", "order_items", "invoices", "customers", "stock_levels", "payments"))
    d.num("blocked", 40, 180)
    pool = int(d.one("pool", ("20", "25", "30")))
    d.set("newpool", pool + 10)
    d.num("waiting", 15, 400)
    d.num("maxwait", 4, 45)
    r1 = d.num("r1", 6, 12)
    d.set("r2", r1 * 3)
    d.one("perpod", ("10", "15", "20"))
    d.one("newper", ("5", "6", "8"))
    d.num("lag", 90, 5400)
    d.one("job", ("the nightly ETL", "the month-end billing run", "the search export", "the archive purge"))
    d.num("walgb", 20, 260)
    d.one("subnet", ("10.20.8.0/24", "10.40.8.0/24", "10.60.12.0/24"))
    d.set("walseg", f"00000001{d.rng.randint(0, 0x3F):08X}{d.rng.randint(0, 0xFF):08X}")
    d.set("standby_slot", d.rng.choice(("replica_03", "standby_dc2", "old_reporting")))
    d.set("cdc_slot", f"debezium_{cluster}")
    d.num("hours", 2, 9)
    d.set("host", primary)
    d.set("target", primary)
    d.set("ci", primary)


PG_CONN = Topic(
    name="database connection exhaustion",
    runbook_id="pg-connection-exhaustion",
    category=("Database", "PostgreSQL"),
    groups=(("DBA Team", 80), ("NOC", 10), ("Application Support", 10)),
    severities=((1, 1, 22), (1, 2, 25), (2, 1, 25), (2, 2, 20), (3, 2, 4), (1, 3, 4)),
    sources=(("alertmanager", 5), ("zabbix", 3), ("datadog", 2)),
    context=_postgres,
    alerts=(
        Alert(
            "PostgresqlTooManyConnections",
            "connections above 85% of max_connections",
            "{cluster} primary {host}: {conns} of {maxconn} connections in use ({connpct}%).",
        ),
        Alert("pgsql.connections.sum", "PostgreSQL: Too many connections", "Connections: {conns}/{maxconn}"),
    ),
    not_reproducible=(
        "Connection count back to normal ({normal}) when the DBA checked. Short spike during the {app} rollout, "
        "no errors reported. Closing.",
        "Could not reproduce, pg_stat_activity normal. The alert fired during the failover test in {chg}.",
    ),
    by_caller=("App team restarted {app} themselves and confirmed the errors are gone. Closing at caller's request.",),
    patterns=(
        Pattern(
            key="application leaking connections",
            count=7,
            monitored=0.5,
            shorts=(
                "{app} getting 'too many clients already'",
                "DB {host} refusing connections",
                "site slow, db refusing connections",
                "{app} errors FATAL: remaining connection slots are reserved",
                "too many connections on {cluster} db",
            ),
            descs=(
                "Since the {app} release at {hhmm} we see 'FATAL: sorry, too many clients already' in the logs "
                "of several services. {host} shows {conns} connections, most of them idle from {app}.",
                "Checkout failing intermittently. {app} logs: 'org.postgresql.util.PSQLException: FATAL: "
                "remaining connection slots are reserved for non-replication superuser connections'. Please "
                "check the {cluster} DB asap.",
                "Users report errors saving orders since ~{hhmm}. DB connection errors in the app logs, db host "
                "{host}.",
            ),
            notes=(
                note(
                    "W",
                    "{idle} idle connections from {app} (pool not returning connections since {version}). "
                    "Terminated its sessions idle > 5 min, errors stopped. {app} team rolled back {version}.",
                    "GROUP BY 1, 2, 3, 4",
                    "-v app=",
                ),
                note(
                    "P",
                    "Connection leak in {app} {version}: connections not closed on an error path. Killed idle "
                    "sessions as a workaround, fix deployed in {fixversion}, connection count stable at about "
                    "{normal}.",
                    "GROUP BY 1, 2, 3, 4",
                    "-v app=",
                ),
                note(
                    "W",
                    "pg_stat_activity grouped by application: {app} holding {idle} idle connections. Asked the "
                    "app team to restart their pods, connections dropped to {normal}.",
                    "GROUP BY 1, 2, 3, 4",
                ),
            ),
        ),
        Pattern(
            key="idle in transaction",
            count=6,
            monitored=0.5,
            shorts=(
                "long idle in transaction sessions on {host}",
                "{cluster} DB connections maxed, lots of idle in transaction",
                "{app} timeouts - db sessions stuck",
            ),
            descs=(
                "Connection alert on {host}. pg_stat_activity shows {iit} sessions 'idle in transaction', the "
                "oldest for {age}. Some of them look like {client} sessions from a user's workstation.",
                "{app} timeouts. Many backends idle in transaction from the {app} worker, oldest transaction {age}.",
            ),
            notes=(
                note(
                    "W",
                    "{iit} sessions idle in transaction > 10 min (oldest {age}, {client} from a laptop). "
                    "Terminated them, connections back to {normal}. Reminded the user not to leave transactions "
                    "open on prod.",
                    "idle_for",
                    "interval '10 minutes'",
                ),
                note(
                    "P",
                    "{app} worker opened a transaction and then waited on an external HTTP call. Terminated the "
                    "stuck sessions and set idle_in_transaction_session_timeout = 5min on role {role}. No "
                    "recurrence.",
                    "idle_for",
                    "interval '10 minutes'",
                    "ALTER ROLE <role> SET",
                ),
                note(
                    "P",
                    "Set idle_in_transaction_session_timeout for role {role} after killing the stale sessions. "
                    "Dev team fixing the missing commit in their error handler.",
                    "ALTER ROLE <role> SET",
                ),
            ),
        ),
        Pattern(
            key="lock chain",
            count=4,
            monitored=0.4,
            shorts=(
                "{cluster} DB all queries hanging",
                "{app} requests piling up, db locks",
                "DB connections exhausted during migration",
            ),
            descs=(
                "During the {app} deploy the schema migration ran ALTER TABLE on {table} and everything queued "
                "behind it. Connections hit the max within a few minutes.",
                "All {app} requests hang since {hhmm}; pg shows lots of sessions waiting on Lock.",
            ),
            notes=(
                note(
                    "W",
                    "Lock chain: the migration (ALTER TABLE {table}) waited behind a long {client} query and "
                    "blocked {blocked} sessions behind it. With the app owner's OK terminated the migration, the "
                    "queue drained in seconds. Migration re-run at night with lock_timeout set.",
                    "blocked_by",
                    "<blocking_pid>",
                ),
                note(
                    "W",
                    "pg_blocking_pids pointed at one long-running report (pid {pid}, running {age}) holding locks "
                    "on {table}. Terminated it, {blocked} waiters cleared.",
                    "blocked_by",
                    "<blocking_pid>",
                ),
            ),
        ),
        Pattern(
            key="pgbouncer pool saturated",
            count=4,
            monitored=0.6,
            alerts=(
                Alert(
                    "PgBouncerClientsWaiting",
                    "pgbouncer clients waiting for a server connection",
                    "pgbouncer for {dbname}: cl_waiting={waiting}, maxwait={maxwait}s.",
                ),
            ),
            shorts=(
                "pgbouncer cl_waiting high for {dbname}",
                "{app} query_wait_timeout errors",
                "slow responses {app} - waiting on db pool",
            ),
            descs=(
                "After scaling {app} from {r1} to {r2} replicas, pgbouncer shows cl_waiting {waiting} and maxwait "
                "{maxwait}s for {dbname}. The DB itself is not busy.",
            ),
            notes=(
                note(
                    "P",
                    "SHOW POOLS: sv_active = pool_size ({pool}) with cl_waiting {waiting}. DB had headroom, so "
                    "raised default_pool_size {pool} -> {newpool} and RELOAD; no waiting clients since. Sum of "
                    "pools still below max_connections.",
                    "sv_active",
                    "default_pool_size",
                ),
                note(
                    "W",
                    "Pool saturated after the {app} scale-out. Increased pool_size for {dbname} in pgbouncer.ini "
                    "and reloaded. App team asked to size replicas against the pool.",
                    "default_pool_size",
                ),
            ),
        ),
        Pattern(
            key="autoscaled application without pooler",
            count=3,
            monitored=0.5,
            shorts=("{app} autoscaled, now db at max_connections", "DB connection limit hit after HPA scale-up"),
            descs=(
                "{app} scaled to {r2} pods because of traffic, each pod has a pool of {perpod} connections. "
                "{host} at {conns}/{maxconn}.",
            ),
            notes=(
                note(
                    "W",
                    "{r2} pods x {perpod} connections is more than max_connections. Capped HPA maxReplicas at "
                    "{r1} and cut the per-pod pool to {newper}. Long term: route {app} through pgbouncer "
                    "(ticket raised).",
                    "GROUP BY 1, 2, 3, 4",
                ),
                note(
                    "W",
                    "Reduced the {app} pool size in its config map and rolled the pods; connections back to "
                    "{normal}. Pooler migration tracked separately.",
                    "GROUP BY 1, 2, 3, 4",
                ),
            ),
        ),
    ),
)


def _replica(d: Draw) -> None:
    _postgres(d)
    d.set("host", d.values["replica"])
    d.set("target", d.values["replica"])
    d.set("ci", d.values["replica"])


PG_REPLICATION = Topic(
    name="replication lag",
    runbook_id="pg-replication-lag",
    category=("Database", "PostgreSQL"),
    groups=(("DBA Team", 85), ("NOC", 10), ("Linux Ops", 5)),
    severities=((2, 2, 35), (2, 1, 20), (3, 2, 15), (1, 2, 15), (2, 3, 10), (1, 1, 5)),
    sources=(("alertmanager", 5), ("zabbix", 3)),
    context=_replica,
    alerts=(
        Alert(
            "PostgresqlReplicationLag",
            "replication lag {lag}s",
            "Standby {host} ({cluster}) is {lag} seconds behind primary {primary}.",
        ),
        Alert("pgsql.replication.lag.sec", "PostgreSQL: Streaming lag is too high", "Lag: {lag} s"),
    ),
    not_reproducible=(
        "Lag back to 0 when checked; replay caught up on its own within minutes. Primary was idle, so the "
        "replay-timestamp lag was overstated. No action.",
        "Could not reproduce. Standby streaming, lag < 1 s. Probably a short network blip between DCs.",
    ),
    by_caller=("Reporting team confirmed data fresh again. Closing at their request.",),
    patterns=(
        Pattern(
            key="long queries on standby",
            count=5,
            monitored=0.5,
            shorts=(
                "reports showing stale data ({cluster} replica)",
                "replica {host} lagging {lag}s",
                "{cluster} read replica lag high during business hours",
            ),
            descs=(
                "Finance reports show yesterday's numbers. Replica {host} is {lag}s behind. Someone is running "
                "big queries on the replica I think.",
                "Replication lag on {host} growing since {hhmm}, WAL received but not replayed.",
            ),
            notes=(
                note(
                    "W",
                    "Replay held back by a {age} reporting query on {host} (max_standby_streaming_delay=-1 on "
                    "this replica). Cancelled queries older than 15 min, replay caught up in {catchup} min. Told "
                    "the BI team.",
                    "pg_stat_database_conflicts",
                    "pg_cancel_backend",
                ),
                note(
                    "P",
                    "BI dashboards ran hours-long queries on the HA replica. Cancelled them, lag cleared; BI "
                    "moved to the dedicated reporting replica {rep2}.",
                    "pg_stat_database_conflicts",
                    "pg_cancel_backend",
                ),
            ),
        ),
        Pattern(
            key="bulk write on primary",
            count=4,
            monitored=0.8,
            shorts=("replication lag alert {cluster} every night ~{hhmm}", "Lag on {host} during {job}"),
            descs=("Lag alert fires every night during {job} and clears by morning. Max lag {lag}s.",),
            notes=(
                note(
                    "W",
                    "{job} writes ~{walgb}G of WAL in 40 min and replay cannot keep up. Lag cleared by itself "
                    "after the job. Asked the owner to batch commits; alert threshold for the job window under "
                    "discussion.",
                    "wal_written_since_reset",
                ),
                note(
                    "P",
                    "Lag caused by {job} doing one huge UPDATE. Owner rewrote it into batches of 10k rows; WAL "
                    "rate halved and no lag alert in 7 nights.",
                    "wal_written_since_reset",
                ),
            ),
        ),
        Pattern(
            key="standby disconnected",
            count=3,
            monitored=0.8,
            alerts=(
                Alert(
                    "PostgresqlReplicaNotStreaming",
                    "standby not streaming",
                    "pg_stat_replication on {primary} has had no row for {host} for 5m.",
                ),
            ),
            severities=((1, 2, 3), (2, 1, 3), (2, 2, 2)),
            shorts=("{host} not replicating", "standby {host} disconnected from primary"),
            descs=(
                "Replica {host} missing from pg_stat_replication on {primary} since {hhmm}; its log says it "
                "cannot connect to the primary.",
                "Standby {host} not streaming and lag growing. Nothing changed on our side as far as I know.",
            ),
            notes=(
                note(
                    "P",
                    "Replicator password rotated by the vault job but the standby's primary_conninfo was not "
                    "updated. Updated the password file, restarted the standby, streaming again.",
                    "journalctl -u postgresql@16-main",
                    "SHOW primary_conninfo",
                ),
                note(
                    "P",
                    "pg_hba.conf change on {primary} dropped the replication line for {subnet}. Restored the "
                    "entry, reloaded the primary, restarted the standby: streaming.",
                    "journalctl -u postgresql@16-main",
                    "SHOW primary_conninfo",
                ),
                note(
                    "W",
                    "Firewall change {chg} blocked 5432 between the DCs. Network reverted the rule and the "
                    "standby reconnected by itself.",
                    "journalctl -u postgresql@16-main",
                ),
            ),
        ),
        Pattern(
            key="standby rebuilt",
            count=2,
            monitored=0.5,
            shorts=("{host} replica broken - requested WAL segment has already been removed",),
            descs=(
                "Standby {host} was down for maintenance over the weekend and now cannot catch up: 'requested "
                "WAL segment {walseg} has already been removed'.",
            ),
            notes=(
                note(
                    "P",
                    "WAL no longer on the primary nor in the archive (3-day archive retention, host down for 5). "
                    "Rebuilt {host} with pg_basebackup -X stream -R, took {hours}h. Streaming, lag 0.",
                    "journalctl -u postgresql@16-main",
                    "pg_basebackup",
                ),
            ),
        ),
        Pattern(
            key="inactive slot",
            count=3,
            monitored=0.6,
            overrides=(("host", "{primary}"), ("target", "{primary}"), ("ci", "{primary}")),
            alerts=(
                Alert(
                    "PostgresqlReplicationSlotInactive",
                    "replication slot inactive, {walgb}G WAL retained",
                    "An inactive replication slot on {primary} ({cluster}) retains {walgb}G of WAL.",
                ),
            ),
            severities=((2, 1, 3), (1, 2, 2)),
            shorts=(
                "{primary} pg_wal growing - replication slot inactive",
                "inactive replication slot on {cluster} primary",
            ),
            descs=("WAL on {primary} is {walgb}G and growing. pg_replication_slots shows an inactive slot.",),
            notes=(
                note(
                    "P",
                    "Slot {standby_slot} belonged to a standby decommissioned last month without dropping its slot. "
                    "Confirmed with the owner, dropped it, {walgb}G of WAL freed.",
                    "slot_type",
                    "pg_drop_replication_slot",
                ),
                note(
                    "W",
                    "Inactive slot {cdc_slot} from a paused CDC connector. Data team restarted the connector, the "
                    "slot is active and WAL retention is back to normal.",
                    "slot_type",
                ),
            ),
        ),
        Pattern(
            key="replay paused",
            count=1,
            monitored=0.5,
            shorts=("replica {host} lag growing, replay paused?",),
            descs=("{host} lag keeps increasing since {hhmm}; received LSN advancing but replay is not.",),
            notes=(
                note(
                    "W",
                    "pg_is_wal_replay_paused() = t: paused during a data investigation on Friday and never "
                    "resumed. Resumed replay, caught up in {catchup} min.",
                    "pg_stat_wal_receiver",
                    "pg_wal_replay_resume",
                ),
            ),
        ),
    ),
)


# --------------------------------------------------------------------------------------------------------------
# Certificate expiry and TLS handshake errors


def _tls(d: Draw) -> None:
    _common(d)
    fqdn = d.one("fqdn", PUBLIC_NAMES)
    days = d.num("days", 1, 14)
    expiry = d.opened + timedelta(days=days, hours=d.rng.randint(0, 23))
    d.set("expiry", expiry.strftime("%b %d %H:%M:%S %Y GMT"))
    d.set("newexpiry", (d.opened + timedelta(days=d.rng.choice((90, 90, 365, 397)))).strftime("%Y-%m-%d"))
    workload, ns = d.rng.choice(K8S_WORKLOADS)
    d.set("ns", ns)
    d.set("cert", fqdn.split(".")[0] + "-tls")
    d.set("zone", fqdn.split(".", 1)[1])
    d.set("workload", workload)
    lb = d.one("lb", EDGE_NODES)
    d.set("host", lb)
    d.day("renewdate", -20, -2)
    d.one("ca", ("DigiCert", "Sectigo", "GlobalSign", "the internal Vault PKI"))
    d.one("oldfqdn", ("legacy-shop.example.com", "old-api.example.com", "beta.example.net", "m.example.com"))
    d.one("device", ("POS terminal", "handheld scanner", "self-service kiosk"))
    d.num("n", 3, 6)
    d.day("sunset", 30, 75, "%d %b")
    d.one("probe_site", PROBE_SITES)
    d.num("errs", 800, 45000)
    d.num("base", 20, 150)
    d.set("target", fqdn)
    d.set("ci", fqdn)


CERT_EXPIRY = Topic(
    name="certificate expiry",
    runbook_id="tls-certificate-expiry",
    category=("Software", "Certificates"),
    groups=(("Security Operations", 40), ("Platform Engineering", 40), ("Linux Ops", 20)),
    severities=((2, 2, 40), (2, 1, 20), (1, 2, 15), (3, 2, 10), (2, 3, 10), (1, 1, 5)),
    sources=(("alertmanager", 6), ("datadog", 3)),
    context=_tls,
    alerts=(
        Alert(
            "SSLCertExpiringSoon",
            "TLS certificate for {fqdn} expires in {days} days",
            "probe_ssl_earliest_cert_expiry for https://{fqdn} is {expiry}, {days} days from now.",
            "warning",
        ),
        Alert(
            "CertManagerCertExpirySoon",
            "certificate {ns}/{cert} expires in {days} days",
            "cert-manager certificate {ns}/{cert} has not been renewed and expires on {expiry}.",
        ),
    ),
    not_reproducible=(
        "s_client shows a certificate valid until {newexpiry}; the probe result was cached from before the "
        "renewal. Cleared on the next probe run.",
    ),
    by_caller=("Owning team renewed the certificate themselves before we picked it up. Closing per caller.",),
    patterns=(
        Pattern(
            key="cert-manager HTTP-01 challenge failing",
            count=6,
            monitored=0.7,
            alerts=(
                Alert(
                    "CertManagerCertNotReady",
                    "certificate {ns}/{cert} not ready",
                    "Certificate {ns}/{cert} has had condition Ready=False for 10m.",
                ),
            ),
            shorts=(
                "cert for {fqdn} not renewing",
                "{fqdn} certificate expires in {days} days - cert-manager",
                "Let's Encrypt renewal failing for {fqdn}",
            ),
            descs=(
                "Got the expiry warning for {fqdn}. cert-manager should renew it automatically but the "
                "Certificate is Ready=False and the challenge is stuck in pending.",
            ),
            notes=(
                note(
                    "P",
                    "HTTP-01 self check got a 404: the solver ingress got class nginx-internal after the ingress "
                    "migration. Fixed the ClusterIssuer solver class, ran cmctl renew; certificate Ready and "
                    "valid until {newexpiry}.",
                    "describe challenge",
                    "cmctl renew",
                ),
                note(
                    "P",
                    "Challenge failed because the WAF blocked /.well-known/acme-challenge. Added a WAF exception, "
                    "renewed with cmctl, new cert served.",
                    "describe challenge",
                    "cmctl renew",
                ),
                note(
                    "W",
                    "Order errored after repeated failed attempts. Fixed the HTTP redirect loop on {fqdn} and "
                    "triggered the renewal by hand; Ready=True.",
                    "describe certificate",
                    "cmctl renew",
                ),
            ),
        ),
        Pattern(
            key="DNS-01 solver credentials",
            count=3,
            monitored=0.6,
            shorts=("wildcard cert *.{zone} renewal failing", "cert-manager DNS01 errors for {zone}"),
            descs=(
                "Certificate {ns}/{cert} (*.{zone}) is not ready, the challenge says 'AccessDenied ... "
                "route53:ChangeResourceRecordSets'.",
            ),
            notes=(
                note(
                    "P",
                    "DNS-01 solver IAM key was rotated by the security job but the secret in the cert-manager "
                    "namespace was not updated. Updated the secret, renewed; wildcard valid to {newexpiry}. "
                    "Solver moved to IRSA so there is no static key anymore.",
                    "describe challenge",
                    "cmctl renew",
                ),
                note(
                    "P",
                    "Cloudflare API token for DNS-01 expired. New token in the secret, challenge passed, cert renewed.",
                    "describe challenge",
                    "cmctl renew",
                ),
            ),
        ),
        Pattern(
            key="renewed but not reloaded",
            count=4,
            monitored=0.5,
            shorts=(
                "{fqdn} still serving old cert",
                "cert renewed but browser shows expiry {expiry}",
                "{fqdn} certificate expiring even though certbot renewed it",
            ),
            descs=(
                "The cert for {fqdn} was renewed on {renewdate}, but s_client still shows notAfter {expiry}.",
                "Expiry alert for {fqdn} keeps firing although the renewal job reported success.",
            ),
            notes=(
                note(
                    "P",
                    "Renewed cert was on disk, nginx never reloaded (certbot deploy hook lost when the host was "
                    "rebuilt). nginx -t && reload, new cert served. Added --deploy-hook 'systemctl reload nginx'.",
                    "-checkend 604800",
                    "picks up Secret changes",
                ),
                note(
                    "W",
                    "Secret had the new cert (serial differs from the served one). {workload} reads the cert only "
                    "at startup, so did a rollout restart; new cert served.",
                    "-serial -enddate",
                    "picks up Secret changes",
                ),
            ),
        ),
        Pattern(
            key="manually issued certificate",
            count=5,
            monitored=0.3,
            groups=(("Security Operations", 55), ("Linux Ops", 45)),
            shorts=(
                "Renew certificate for {fqdn}",
                "{fqdn} SSL cert expires {expiry}",
                "[Security] certificate expiry notice {fqdn}",
            ),
            descs=(
                "Our {ca} certificate for {fqdn} expires on {expiry}. Please renew it and install it on {host}.",
                "Automated notice: certificate CN={fqdn} issued by {ca} expires in {days} days. Owner: {team}.",
            ),
            notes=(
                note(
                    "P",
                    "New key and CSR generated with the SANs of the old cert, issued by {ca}. Checked key/cert "
                    "match and chain, installed on {host} with backups of the old files, reloaded nginx. New "
                    "expiry {newexpiry}.",
                    "openssl req -new",
                    "pkey -in",
                    "crt.$(date +%F)",
                ),
                note(
                    "P",
                    "Renewed through the {ca} portal, installed the full chain on {host}, reload OK. s_client "
                    "verify return code 0 (ok).",
                    "pkey -in",
                    "crt.$(date +%F)",
                    "Verify return code",
                ),
                note(
                    "P",
                    "Cert for {fqdn} reissued by {ca}. Installed and verified. Requested onboarding to "
                    "cert-manager so renewal is automatic next time.",
                    "openssl req -new",
                    "Verify return code",
                ),
            ),
        ),
        Pattern(
            key="stale probe target",
            count=2,
            monitored=0.9,
            preset=(("fqdn", ("legacy-shop.example.com", "old-api.example.com", "beta.example.net")),),
            severities=((3, 2, 3), (2, 3, 2)),
            shorts=("cert expiry alert for {fqdn}",),
            descs=("Expiry warning for {fqdn}, but I believe that service was retired.",),
            notes=(
                note(
                    "P",
                    "s_client shows the name still points at the old load balancer, which serves an expiring "
                    "cert, but the service was decommissioned on {pause_date}. Removed the blackbox target and "
                    "the DNS record.",
                    "-ext subjectAltName",
                ),
                note(
                    "P",
                    "Probe target was stale (old hostname). The endpoint serves a valid cert under its new name; "
                    "removed the old target from monitoring.",
                    "-ext subjectAltName",
                ),
            ),
        ),
    ),
)

TLS_HANDSHAKE = Topic(
    name="TLS handshake errors",
    runbook_id="tls-handshake-errors",
    category=("Network", "SSL/TLS"),
    groups=(("Platform Engineering", 45), ("Security Operations", 30), ("Network Operations", 25)),
    severities=((2, 1, 30), (1, 2, 20), (2, 2, 30), (1, 1, 10), (3, 2, 10)),
    sources=(("alertmanager", 6), ("datadog", 4)),
    context=_tls,
    alerts=(
        Alert(
            "BlackboxProbeFailed",
            "TLS handshake to {fqdn} failing",
            "Blackbox probe https://{fqdn} failing from {probe_site}: remote error: tls: handshake failure.",
        ),
        Alert(
            "NginxSSLHandshakeErrorsHigh",
            "SSL handshake errors high",
            "{errs} SSL_do_handshake() failures logged on {host} in the last 10m (baseline ~{base}).",
            "warning",
        ),
    ),
    not_reproducible=(
        "Handshake from outside OK (TLSv1.3, verification OK). Error spike came from a vulnerability scanner "
        "run by a third party; nothing to fix.",
    ),
    by_caller=("{partner} found the problem in their own proxy configuration. Closing at their request.",),
    patterns=(
        Pattern(
            key="incomplete chain",
            count=4,
            monitored=0.3,
            shorts=(
                "partner API calls failing - certificate verify failed",
                "{fqdn}: unable to get local issuer certificate",
                "SSL error for {fqdn} from java clients after cert renewal",
            ),
            descs=(
                "Since the renewal of the {fqdn} certificate, the {partner} integration fails with 'PKIX path "
                "building failed: unable to find valid certification path'. Browsers are fine.",
            ),
            notes=(
                note(
                    "P",
                    "-showcerts returned only the leaf; the renewal installed cert.pem instead of the full chain. "
                    "Rebuilt fullchain with the intermediate, reloaded, partner calls OK.",
                    "-showcerts",
                    "fullchain.pem",
                ),
                note(
                    "P",
                    "Missing intermediate on {host}. Installed the full chain, checked with openssl verify "
                    "-untrusted, reloaded nginx. Added a chain check to the renewal pipeline.",
                    "-showcerts",
                    "fullchain.pem",
                ),
            ),
        ),
        Pattern(
            key="protocol or cipher removed",
            count=4,
            monitored=0.4,
            shorts=(
                "old clients can't connect to {fqdn} after TLS change",
                "handshake failures - no shared cipher",
                "clients fail TLS after hardening change {chg}",
            ),
            descs=(
                "After change {chg} (TLS hardening) on the edge, some clients can't connect any more: 'no shared "
                "cipher' and 'unsupported protocol' in the nginx error log.",
            ),
            notes=(
                note(
                    "W",
                    "{chg} removed TLS 1.2 CBC ciphers that the {device}s still need. Restored the previous "
                    "ssl_ciphers, reloaded, devices reconnect. Removal rescheduled with the device owner.",
                    "ssl-enum-ciphers",
                    "Mozilla",
                ),
                note(
                    "W",
                    "TLS 1.1 disabled by {chg}; {partner} is still on TLS 1.1. Re-enabled on their listener only, "
                    "with a sunset date of {sunset} agreed.",
                    "ssl-enum-ciphers",
                    "Mozilla",
                ),
            ),
        ),
        Pattern(
            key="stale certificate on one node",
            count=3,
            monitored=0.5,
            shorts=("intermittent SSL errors on {fqdn}", "1 in {n} requests to {fqdn} fail with cert expired"),
            descs=("Roughly one in {n} requests to {fqdn} fails with 'certificate has expired'. Looks like one node.",),
            notes=(
                note(
                    "P",
                    "Fingerprint check across the pool: {host} served the old cert (puppet runs failing there "
                    "since {date}). Drained the node, deployed the cert, reloaded, re-added. Puppet fixed.",
                    "fingerprint -sha256",
                    "Take the node out",
                ),
            ),
        ),
        Pattern(
            key="mTLS client CA rotated",
            count=3,
            monitored=0.2,
            shorts=("mTLS clients failing after CA rotation", "{partner} gets 400 The SSL certificate error"),
            descs=(
                "Since the client CA bundle was rotated ({chg}) some API clients get '400 The SSL certificate "
                "error'. Their certificates were issued by the old CA.",
            ),
            notes=(
                note(
                    "W",
                    "openssl verify of a client cert against the new bundle: unable to get local issuer "
                    "certificate. Appended the old client CA next to the new one, reloaded; clients OK. Old CA "
                    "comes out once clients have re-issued (by {sunset}).",
                    "ssl_verify_client",
                    "client-ca.pem.bak",
                ),
            ),
        ),
        Pattern(
            key="plain HTTP to TLS port",
            count=2,
            monitored=0.6,
            shorts=(
                "health checks failing on {host} - 400 plain HTTP",
                "handshake errors spike on {host}, LB health check",
            ),
            descs=(
                "Error log on {host} is flooded with 'http request' handshake errors since the target group "
                "change; the LB marks targets unhealthy.",
            ),
            notes=(
                note(
                    "P",
                    "New target group health check used HTTP on port 443. Changed it to HTTPS, errors stopped, "
                    "targets healthy.",
                    "plain HTTP request was sent",
                ),
            ),
        ),
    ),
)


# --------------------------------------------------------------------------------------------------------------
# DNS and network


def _dns(d: Draw) -> None:
    _common(d)
    d.one(
        "record",
        (
            "api.int.example.com",
            "orders-db.int.example.com",
            "sso.example.com",
            "registry.int.example.com",
            "vault.int.example.com",
            "ldap.corp.example.com",
            "gw.partner.example.net",
        ),
    )
    d.one("resolver", ("10.20.0.53", "10.20.0.54", "10.40.0.53", "10.40.0.54"))
    resolverhost = d.one("resolverhost", ("dns-res-01", "dns-res-02", "dns-res-03", "dns-res-04"))
    d.one("rcode", ("SERVFAIL", "timeout"))
    d.one("probe_site", ("dc1", "dc2", "office-lon", "office-waw"))
    d.num("servfail", 8, 70)
    d.one("cluster", K8S_CLUSTERS)
    d.one("zone", ("int.example.com", "example.com", "corp.example.com"))
    d.set("oldip", f"10.{d.rng.choice((20, 40))}.{d.rng.randint(1, 60)}.{d.rng.randint(10, 250)}")
    d.one("partnerdomain", ("kestrelpay.example.org", "harbour-logistics.example.net", "quill-ins.example.org"))
    d.one("ndots", ("ndots:5", "ndots:5 with 4 search domains"))
    _host(d, ("app", "web", "batch"))
    d.set("target", resolverhost)
    d.set("ci", resolverhost)


DNS = Topic(
    name="DNS resolution failure",
    runbook_id="dns-resolution-failure",
    category=("Network", "DNS"),
    groups=(("Network Operations", 60), ("Linux Ops", 20), ("Platform Engineering", 20)),
    severities=((1, 1, 10), (1, 2, 20), (2, 1, 25), (2, 2, 30), (3, 2, 15)),
    sources=(("alertmanager", 5), ("zabbix", 3)),
    context=_dns,
    alerts=(
        Alert(
            "DNSProbeFailed",
            "DNS probe failing for {record}",
            "blackbox dns probe via {resolver} for {record} returned {rcode} from {probe_site}.",
        ),
        Alert(
            "UnboundServfailRateHigh",
            "SERVFAIL rate {servfail}%",
            "unbound on {resolverhost}: {servfail}% of answers were SERVFAIL over the last 10m.",
            "warning",
        ),
    ),
    not_reproducible=(
        "All resolvers answering when checked, getent and dig OK from the reporting hosts. Probe blip, no action.",
    ),
    by_caller=("Caller reports lookups working again after their VPN reconnect. Closing.",),
    patterns=(
        Pattern(
            key="recursive resolver down",
            count=4,
            monitored=0.6,
            shorts=(
                "DNS not resolving from {site} servers",
                "Temporary failure in name resolution on multiple hosts",
                "{resolverhost} not answering queries",
            ),
            descs=(
                "Many hosts in {site} fail lookups ('Temporary failure in name resolution'). dig against "
                "{resolver} times out, the second resolver works.",
            ),
            notes=(
                note(
                    "W",
                    "unbound on {resolverhost} hung (process up, not answering, memory at its limit). Restarted "
                    "it, answers again. Cache limits raised under {chg}.",
                    "`connection timed out`",
                    "systemctl restart unbound",
                ),
                note(
                    "P",
                    "named on {resolverhost} crashed after a config push with a broken zone include. Fixed the "
                    "include, restarted named. named-checkconf added to the pipeline.",
                    "unbound named --no-pager",
                    "systemctl restart unbound",
                ),
            ),
        ),
        Pattern(
            key="CoreDNS overloaded",
            count=4,
            monitored=0.6,
            overrides=(("target", "{cluster}"), ("ci", "{cluster}"), ("label", "cluster")),
            groups=(("Platform Engineering", 85), ("Network Operations", 15)),
            alerts=(
                Alert(
                    "CoreDNSErrorsHigh",
                    "CoreDNS is returning SERVFAIL for {servfail}% of requests",
                    "coredns in {cluster}: SERVFAIL rate {servfail}% over 5m.",
                ),
            ),
            shorts=(
                "intermittent DNS failures in {cluster}",
                "pods can't resolve {record}",
                "coredns OOMKilled in {cluster}",
            ),
            descs=(
                "Services in {cluster} intermittently fail with 'dial tcp: lookup {record}: i/o timeout'. The "
                "CoreDNS pods keep restarting.",
            ),
            notes=(
                note(
                    "W",
                    "CoreDNS pods OOMKilled under query load ({ndots} amplification from a new batch job). "
                    "Scaled coredns to 4 and raised its memory limit; job fixed to use FQDNs with a trailing "
                    "dot.",
                    "jessie-dnsutils",
                    "--replicas=4",
                ),
                note(
                    "P",
                    "Only 2 coredns replicas for 60 nodes: the DNS autoscaler had never been deployed in "
                    "{cluster}. Restarted coredns and deployed cluster-proportional-autoscaler.",
                    "jessie-dnsutils",
                    "--replicas=4",
                ),
            ),
        ),
        Pattern(
            key="record missing or wrong",
            count=4,
            monitored=0.4,
            overrides=(("ci", "DNS zone {zone}"),),
            shorts=(
                "{record} NXDOMAIN after change",
                "cannot resolve {record}",
                "{record} lookup fails since this morning",
            ),
            descs=(
                "Since {hhmm} {record} does not resolve. Change {chg} touched the {zone} zone this morning.",
                "{partner} reports that {record} stopped resolving for them this morning; from here it fails too.",
            ),
            notes=(
                note(
                    "P",
                    "Terraform change {chg} removed the {record} record (resource renamed). Restored the record, "
                    "checked the SOA serial on all NS, flushed the resolvers.",
                    "+norecurse",
                    "SOA <zone>",
                    "flush-caches",
                ),
                note(
                    "P",
                    "Typo in the CNAME for {record}. Corrected in the zone repo; serial consistent on both "
                    "authoritative servers.",
                    "+norecurse",
                    "SOA <zone>",
                ),
            ),
        ),
        Pattern(
            key="stale negative cache",
            count=2,
            monitored=0.0,
            shorts=("{record} works from laptop but not from servers",),
            descs=("The new record {record} created this morning resolves on my laptop but servers get NXDOMAIN.",),
            notes=(
                note(
                    "W",
                    "The resolvers had cached the NXDOMAIN (queried before the record existed, negative TTL 1h). "
                    "Flushed the name on the unbound resolvers.",
                    "flush-caches",
                ),
            ),
        ),
        Pattern(
            key="DNSSEC validation failure",
            count=2,
            monitored=0.5,
            shorts=("SERVFAIL for {partnerdomain}", "cannot resolve {partnerdomain} - works on public dns?"),
            descs=("Our resolvers return SERVFAIL for {partnerdomain}, but dig +cd works.",),
            notes=(
                note(
                    "W",
                    "DNSSEC validation failure on {partnerdomain}: expired RRSIG on their side (delv confirmed). "
                    "Added a temporary negative trust anchor on our resolvers and informed the partner; removed "
                    "it after they re-signed.",
                    "delv",
                ),
            ),
        ),
        Pattern(
            key="client resolver config overwritten",
            count=2,
            monitored=0.0,
            overrides=(("ci", "{host}"), ("target", "{host}")),
            groups=(("Linux Ops", 100),),
            shorts=("{host} cannot resolve anything", "DNS broken on {host} after patching"),
            descs=(
                "After monthly patching {host} cannot resolve internal names. /etc/resolv.conf only contains "
                "127.0.0.53 and resolvectl shows no DNS servers.",
            ),
            notes=(
                note(
                    "P",
                    "Netplan config had no nameservers; they had been set by hand in resolv.conf, which "
                    "systemd-resolved replaced. Added nameservers to netplan, applied, resolving.",
                    "resolvectl status",
                ),
            ),
        ),
    ),
)


def _network(d: Draw) -> None:
    _common(d)
    host = _host(d, ("app", "web", "batch", "file"))
    d.one("iface", ("ens3f0", "ens3f1", "eno1", "eno2", "enp65s0f0"))
    d.set("switch", f"sw-dc{d.rng.randint(1, 2)}-r{d.rng.randint(1, 24):02d}-tor{d.rng.randint(1, 2)}")
    d.set("port", f"Ethernet1/{d.rng.randint(1, 48)}")
    d.num("lfc", 3, 60)
    d.num("errs", 200, 90000)
    d.set("loss", f"{d.rng.uniform(2, 18):.1f}")
    d.one("dest", ("10.40.0.10", "db-vip-dc2", "backup-dc2-01", "s3-gw.int.example.com"))
    d.one("probe_site", ("dc1", "dc2", "office-lon", "office-waw", "office-aus"))
    d.num("mbps", 8, 12)
    d.one("normalmbps", ("110", "1100", "2300"))
    d.set("dcticket", f"DC-{d.rng.randint(4000, 9999)}")
    d.set("carrier_ticket", f"{d.rng.choice(('CS', 'TT', 'INC'))}{d.rng.randint(100000, 999999)}")
    d.one("nicfw", ("i40e firmware 8.30", "bnxt_en firmware 218.0", "ixgbe driver 5.19"))
    d.set("target", host)
    d.set("ci", host)


NETWORK = Topic(
    name="packet loss / interface down",
    runbook_id="net-packet-loss-link-down",
    category=("Network", "Connectivity"),
    groups=(("Network Operations", 85), ("Linux Ops", 10), ("NOC", 5)),
    severities=((2, 2, 35), (2, 1, 25), (1, 2, 15), (1, 1, 8), (3, 2, 12), (2, 3, 5)),
    sources=(("zabbix", 5), ("alertmanager", 4)),
    context=_network,
    alerts=(
        Alert("NodeNetworkInterfaceDown", "interface {iface} down", "{host} interface {iface} operstate down for 2m."),
        Alert(
            "NodeNetworkReceiveErrs",
            "receive errors on {iface}",
            "{host} interface {iface} saw {errs} receive errors in the last 15m.",
            "warning",
        ),
        Alert(
            "IcmpPacketLoss",
            "packet loss {loss}% to {dest}",
            "ICMP loss from {probe_site} to {dest} is {loss}% over 5m.",
        ),
    ),
    not_reproducible=(
        "Counters stable and mtr clean when checked. Single flap during the switch firmware upgrade in {chg}.",
        "No loss observed over 30 min of mtr, interface counters not increasing. Closing.",
    ),
    by_caller=("Caller confirms the application is fine again. Closing per caller.",),
    patterns=(
        Pattern(
            key="bad optic or cable",
            count=5,
            monitored=0.6,
            shorts=(
                "packet loss to {host}",
                "CRC errors on {switch} {port}",
                "{host} intermittent timeouts, bond member flapping",
            ),
            descs=(
                "{app} on {host} sees random timeouts. ip -s link shows rx errors on {iface}, bond0 link "
                "failure count {lfc}.",
            ),
            notes=(
                note(
                    "W",
                    "CRC errors and low rx power (-14 dBm) on {switch} {port}. Shut the port so the bond uses the "
                    "other member, loss stopped. {dcticket} raised to replace the optic; port re-enabled after "
                    "the swap, counters clean.",
                    "sudo ethtool -S <iface>",
                    "transceiver",
                    "raise a data-centre ticket",
                ),
                note(
                    "P",
                    "Damaged cable between {host} {iface} and {switch} {port}. Replaced by DC ops ({dcticket}), "
                    "0 errors over 24h.",
                    "sudo ethtool -S <iface>",
                    "transceiver",
                ),
            ),
        ),
        Pattern(
            key="link administratively down",
            count=4,
            monitored=0.7,
            alerts=(
                Alert(
                    "net.if.status",
                    "Interface {iface}: Link down",
                    "Current state: down. Interface {iface} on {host} went down at {hhmm}.",
                ),
                Alert(
                    "NodeNetworkInterfaceDown",
                    "interface {iface} down",
                    "{host} interface {iface} operstate down for 2m.",
                ),
            ),
            shorts=("{host} {iface} down", "{host} lost network on second interface", "link down {switch} {port}"),
            descs=(
                "{host} is unreachable on the storage network since {hhmm}. It was fine before the switch maintenance.",
            ),
            notes=(
                note(
                    "P",
                    "{port} on {switch} was left shut after maintenance {chg}. no shutdown, link up, host reachable.",
                    "list link state for every interface",
                ),
                note(
                    "P",
                    "{iface} was down on the host: its NetworkManager profile had autoconnect=no after the "
                    "rebuild. ip link set up and fixed the profile.",
                    "list link state for every interface",
                    "ip link set dev <iface> up",
                ),
            ),
        ),
        Pattern(
            key="speed or duplex mismatch",
            count=3,
            monitored=0.2,
            shorts=("{host} slow network after NIC replacement", "throughput on {host} very low"),
            descs=(
                "Since the NIC was replaced on {host}, transfers run at ~{mbps} MB/s instead of ~{normalmbps} MB/s.",
            ),
            notes=(
                note(
                    "P",
                    "ethtool showed 1000Mb/s Half with autoneg off, hard-coded from the old NIC's config. Set "
                    "autoneg on, link now 25000Mb/s Full. Removed the hard-coded settings from config.",
                    "sudo ethtool -S <iface>",
                    "autoneg on",
                ),
            ),
        ),
        Pattern(
            key="RX ring buffer overruns",
            count=3,
            monitored=0.6,
            shorts=("packet drops on {host} during peak", "rx_missed_errors increasing on {host}"),
            descs=("During peaks {host} drops packets; rx_missed_errors on {iface} climbing. {app} sees retransmits.",),
            notes=(
                note(
                    "P",
                    "RX ring was 512 (max 4096). Raised to 4096 one bond member at a time, drops stopped. "
                    "Persisted in the NM dispatcher script.",
                    "ethtool -G",
                ),
            ),
        ),
        Pattern(
            key="loss on the WAN path",
            count=3,
            monitored=0.5,
            overrides=(("ci", "WAN {site} MPLS"), ("target", "{dest}")),
            shorts=("packet loss {site} to DC", "apps slow for {site} office", "loss to {dest} via MPLS"),
            descs=("Users in {site} report slow apps; mtr shows {loss}% loss starting at the carrier hop.",),
            notes=(
                note(
                    "W",
                    "mtr shows loss from hop 4 (carrier PE) through to the destination. Carrier ticket "
                    "{carrier_ticket} opened; traffic moved to the backup link until the carrier replaced a "
                    "faulty line card.",
                    "first hop where it starts",
                ),
                note(
                    "P",
                    "Loss on the {site} MPLS circuit; carrier replaced the CPE. mtr clean for 2 days.",
                    "first hop where it starts",
                ),
            ),
        ),
        Pattern(
            key="NIC driver resets",
            count=2,
            monitored=0.5,
            shorts=("{host} NIC resets, network drops for seconds",),
            descs=(
                "Kernel log on {host}: 'NETDEV WATCHDOG: {iface}: transmit queue 3 timed out' followed by link "
                "down/up.",
            ),
            notes=(
                note(
                    "P",
                    "tx timeouts followed by driver resets; known bug fixed in a newer release than {nicfw}. "
                    "Updated NIC firmware and driver in {chg}, no resets since.",
                    "tx timeout",
                ),
            ),
        ),
    ),
)


# --------------------------------------------------------------------------------------------------------------
# Backups


def _backup(d: Draw) -> None:
    _common(d)
    host = _host(d, ("file", "app", "batch"))
    d.one("job", ("backup-files", "backup-etc", "backup-home", "backup-sftp"))
    d.one("rc", ("1", "2", "3", "11"))
    d.one("bucket", ("corp-backups-prod", "backup-eu-prod", "backup-dc2-offsite"))
    d.day("lastok", -3, -1)
    d.set("tool", "restic")
    cluster = d.one("cluster", DB_CLUSTERS)
    d.set("stanza", f"{cluster}-main")
    d.set("dbhost", f"pg-{cluster}-01")
    d.one("btype", ("incr", "full", "diff"))
    d.set("walseg", f"00000001{d.rng.randint(0, 0x3F):08X}{d.rng.randint(0, 0xFF):08X}")
    d.one("repohost", ("pgbackrest-repo-01", "pgbackrest-repo-02"))
    d.one("batch", ("the month-end billing run", "the search reindex", "the nightly ETL load"))
    d.num("days", 2, 6)
    d.num("age_h", 27, 140)
    d.set("target", host)
    d.set("ci", host)


BACKUP = Topic(
    name="failed backup job",
    runbook_id="backup-job-failed",
    category=("Software", "Backup"),
    groups=(("Backup & Storage", 75), ("Linux Ops", 20), ("NOC", 5)),
    severities=((2, 2, 40), (3, 2, 20), (2, 3, 15), (2, 1, 15), (1, 2, 10)),
    sources=(("datadog", 4), ("alertmanager", 5)),
    context=_backup,
    alerts=(
        Alert(
            "BackupJobFailed",
            "backup job {job} failed",
            "systemd unit {job}.service on {host} exited with status {rc}.",
        ),
        Alert(
            "BackupTooOld",
            "last successful backup older than 26h",
            "Newest backup for {host} ({tool}) completed {age_h}h ago.",
            "warning",
        ),
    ),
    not_reproducible=(
        "Job succeeded on the automatic retry 30 min later; snapshot present. Transient S3 503. No action.",
    ),
    by_caller=("Owner re-ran the job themselves after their maintenance and confirmed success. Closing.",),
    patterns=(
        Pattern(
            key="storage credentials expired",
            count=6,
            monitored=0.7,
            shorts=(
                "Backup failed on {host} - AccessDenied",
                "nightly backup {job} failed",
                "backups failing to S3 since {date}",
            ),
            descs=(
                "The nightly backup of {host} failed: 'AccessDenied: Access Denied' when uploading to "
                "s3://{bucket}. Last success {lastok}.",
            ),
            notes=(
                note(
                    "P",
                    "Access key of the backup user was rotated on {date} by the IAM policy, env file not updated. "
                    "Updated /etc/backup/s3.env from vault, s3 ls OK, re-ran the job, snapshot present.",
                    "ExpiredToken",
                    "sudoedit",
                    "journalctl -fu",
                ),
                note(
                    "P",
                    "Bucket policy change {chg} removed PutObject for the backup role. Policy restored, job re-run "
                    "successfully.",
                    "ExpiredToken",
                    "journalctl -fu",
                ),
                note(
                    "W",
                    "Credentials expired. Updated the env file and re-ran by hand; automation to sync creds from "
                    "vault tracked in the backlog.",
                    "sudoedit",
                ),
            ),
        ),
        Pattern(
            key="stale restic lock",
            count=4,
            monitored=0.7,
            shorts=("restic backup {host} failed - repository locked", "file backup {host} not running"),
            descs=(
                "Backup job on {host}: 'Fatal: unable to create lock in backend: repository is already locked "
                "by PID {pid} on {host}'.",
            ),
            notes=(
                note(
                    "W",
                    "Stale lock from a run killed by the reboot for patching. No restic running, restic unlock, "
                    "re-ran the job - snapshot OK.",
                    "restic unlock",
                    "journalctl -fu",
                ),
                note(
                    "P",
                    "Stale lock left by an OOM-killed run. Unlocked, re-ran, and gave the unit a MemoryHigh so the "
                    "job is not killed again. restic check --read-data-subset OK.",
                    "restic unlock",
                    "read-data-subset",
                ),
            ),
        ),
        Pattern(
            key="pgBackRest WAL archiving",
            count=3,
            monitored=0.8,
            overrides=(("host", "{dbhost}"), ("target", "{dbhost}"), ("ci", "{dbhost}"), ("tool", "pgBackRest")),
            groups=(("DBA Team", 80), ("Backup & Storage", 20)),
            alerts=(
                Alert(
                    "PgBackRestBackupFailed",
                    "pgBackRest backup failed for stanza {stanza}",
                    "pgbackrest --stanza={stanza} --type={btype} backup on {dbhost} exited with code {rc}.",
                ),
            ),
            shorts=("pgbackrest backup {stanza} failed", "WAL archiving broken on {dbhost}"),
            descs=(
                "pgBackRest: 'ERROR: [082]: WAL segment {walseg} was not archived before the 60000ms timeout'. "
                "Backup aborted.",
            ),
            notes=(
                note(
                    "P",
                    "archive-push failing since the repo host {repohost} was rebuilt (ssh host key changed). "
                    "Updated known_hosts, check passes, re-ran the incr backup, verify OK.",
                    "check command end",
                    "--type=incr",
                    "read-data-subset",
                ),
                note(
                    "P",
                    "archive_command failing because the spool directory was full. Cleared the spool, check OK, "
                    "backup re-run.",
                    "check command end",
                    "/var/spool/pgbackrest",
                ),
            ),
        ),
        Pattern(
            key="spool or temp full",
            count=3,
            monitored=0.6,
            shorts=("backup failed on {host}: no space left", "{job} failed - tmp full"),
            descs=("Backup {job} failed with 'No space left on device' while writing temp files.",),
            notes=(
                note(
                    "W",
                    "/tmp on {host} full from an export left by the app team. Removed it with the owner's OK, "
                    "re-ran the backup OK.",
                    "/var/spool/pgbackrest",
                    "journalctl -fu",
                ),
                note(
                    "P",
                    "Spool volume too small for the new dataset size; extended it by 20G and re-ran. New backup "
                    "verified.",
                    "/var/spool/pgbackrest",
                    "read-data-subset",
                ),
            ),
        ),
        Pattern(
            key="overlap with batch window",
            count=2,
            monitored=0.6,
            shorts=("backup {job} timed out", "{job} killed after timeout"),
            descs=("Backup job {job} on {host} exceeded its timeout and was killed. It overlaps with {batch}.",),
            notes=(
                note(
                    "P",
                    "Job overlapped with {batch} (both heavy on I/O). Moved the backup timer to 03:30 with the "
                    "owner's agreement, re-ran by hand, completed.",
                    "list-timers --all",
                    "journalctl -fu",
                ),
            ),
        ),
        Pattern(
            key="timer left disabled",
            count=2,
            monitored=0.9,
            shorts=("no backup of {host} for {days} days", "backup freshness alert {host}"),
            descs=(
                "Freshness alert: last backup of {host} is {age_h}h old. No failure alerts, so the job probably "
                "did not run.",
            ),
            notes=(
                note(
                    "P",
                    "The backup timer was disabled during storage maintenance {chg} and never re-enabled. Enabled "
                    "it, ran the job by hand, new snapshot listed.",
                    "list-timers --all",
                    "today's timestamp",
                ),
            ),
        ),
    ),
)


# --------------------------------------------------------------------------------------------------------------
# Kubernetes crash loops and message backlogs


def _k8s(d: Draw) -> None:
    _common(d)
    cluster = d.one("cluster", K8S_CLUSTERS)
    deploy, ns = d.rng.choice(K8S_WORKLOADS)
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    pod = f"{deploy}-{''.join(d.rng.choices(alphabet, k=10))}-{''.join(d.rng.choices(alphabet, k=5))}"
    d.set("deploy", deploy)
    d.set("ns", ns)
    d.set("pod", pod)
    d.set("container", deploy)
    d.num("restarts", 4, 38)
    desired = d.num("desired", 3, 8)
    d.set("ready", d.rng.randint(0, desired - 1))
    limit = d.one("limit", ("512Mi", "768Mi", "1Gi", "2Gi"))
    d.set("newlimit", {"512Mi": "768Mi", "768Mi": "1Gi", "1Gi": "1536Mi", "2Gi": "3Gi"}[limit])
    d.num("usedpct", 88, 99)
    d.one("secret", (f"{deploy}-db-credentials", f"{deploy}-api-keys", f"{ns}-kafka-sasl"))
    d.num("start", 70, 180)
    d.one("probe", ("30", "45", "60"))
    d.one("dep", (f"pg-{ns}-01.int.example.com", "redis-sessions.int.example.com", "kafka-prod-01.int.example.com"))
    d.set("port", {"pg": "5432", "re": "6379", "ka": "9092"}[str(d.values["dep"])[:2]])
    d.set("host", pod)
    d.set("target", f"{ns}/{pod}")
    d.set("label", "pod")
    d.set("scope", f"kube_namespace:{ns},kube_deployment:{deploy}")
    d.set("ci", f"{deploy} ({cluster})")


K8S = Topic(
    name="Kubernetes pod crash loop",
    runbook_id="k8s-pod-crashloop",
    category=("Software", "Container Platform"),
    groups=(("Platform Engineering", 70), ("Application Support", 20), ("NOC", 10)),
    severities=((2, 2, 30), (2, 1, 25), (1, 1, 10), (1, 2, 15), (3, 2, 15), (2, 3, 5)),
    sources=(("alertmanager", 8), ("datadog", 2)),
    context=_k8s,
    alerts=(
        Alert(
            "KubePodCrashLooping",
            "pod {ns}/{pod} is crash looping",
            "Pod {ns}/{pod} ({container}) is in waiting state (reason: CrashLoopBackOff), {restarts} restarts in "
            "the last 15m.",
            "warning",
        ),
        Alert(
            "KubeDeploymentReplicasMismatch",
            "deployment {ns}/{deploy} replicas mismatch",
            "Deployment {ns}/{deploy} has not matched the expected number of replicas for longer than 15 "
            "minutes ({ready}/{desired} ready).",
        ),
    ),
    not_reproducible=(
        "Pods Running and Ready when checked, restart count not increasing. Restarts were caused by a node "
        "drain during cluster upgrade. Closing.",
    ),
    by_caller=("{deploy} team fixed and redeployed themselves. Closed at caller's request.",),
    patterns=(
        Pattern(
            key="OOMKilled",
            count=8,
            monitored=0.7,
            alerts=(
                Alert(
                    "KubeContainerOOMKilled",
                    "container {container} in {ns}/{pod} OOMKilled",
                    "Container {container} of pod {ns}/{pod} was OOMKilled {restarts} times in the last hour.",
                ),
                Alert(
                    "KubePodCrashLooping",
                    "pod {ns}/{pod} is crash looping",
                    "Pod {ns}/{pod} ({container}) is in waiting state (reason: CrashLoopBackOff).",
                    "warning",
                ),
            ),
            shorts=(
                "{deploy} pods restarting - OOMKilled",
                "{deploy} crashloop in {cluster}",
                "OOMKilled {deploy} after traffic increase",
            ),
            descs=(
                "{deploy} pods in {ns} keep restarting; describe shows Last State: Terminated, Reason: "
                "OOMKilled, Exit Code: 137. Limit is {limit}.",
            ),
            notes=(
                note(
                    "P",
                    "OOMKilled (137). Usage on surviving pods at ~{usedpct}% of the {limit} limit; JVM "
                    "MaxRAMPercentage=90 left no room for metaspace and native memory. Set MaxRAMPercentage=75 "
                    "and limit {newlimit} in the chart. No restarts since.",
                    "lastState.terminated.reason",
                    "MaxRAMPercentage",
                    "set resources",
                ),
                note(
                    "W",
                    "Raised memory limit {limit} -> {newlimit} with kubectl set resources to stop the crash loop; "
                    "the {ns} team made the same change in their helm values.",
                    "MaxRAMPercentage",
                    "set resources",
                ),
                note(
                    "W",
                    "Container OOMKilled during cache warm-up after the dataset doubled. Bumped the limit, pods "
                    "stable. App team to look at cache sizing.",
                    "lastState.terminated.reason",
                    "set resources",
                ),
            ),
        ),
        Pattern(
            key="bad configuration in rollout",
            count=4,
            monitored=0.5,
            preset=(
                (
                    "crashlog",
                    (
                        "Error: required environment variable DATABASE_URL is not set",
                        "yaml: line 14: did not find expected key",
                        "java.lang.IllegalStateException: Failed to load ApplicationContext",
                    ),
                ),
            ),
            shorts=(
                "{deploy} CrashLoopBackOff after deploy",
                "new release of {deploy} crash looping",
                "{deploy} down in {cluster} after {version} rollout",
            ),
            descs=(
                "After rolling out {version} of {deploy}, new pods go to CrashLoopBackOff. Logs --previous: "
                "'{crashlog}'. Old replicas still serving.",
                "Deploy pipeline for {deploy} stuck at rollout status. Pods exit with code 1 a few seconds after "
                "start.",
            ),
            notes=(
                note(
                    "W",
                    "Previous container log: '{crashlog}'. Introduced by {version}; rolled back with rollout "
                    "undo, all replicas ready. Dev team fixing.",
                    "--previous",
                    "rollout history",
                    "rollout undo",
                ),
                note(
                    "P",
                    "Config key renamed in {version} but the configmap was not updated. Reverted in git (Argo "
                    "CD), fixed the configmap and redeployed {fixversion}.",
                    "--previous",
                    "rollout history",
                ),
            ),
        ),
        Pattern(
            key="broken image or code",
            count=4,
            monitored=0.5,
            preset=(
                (
                    "crashlog",
                    (
                        "panic: runtime error: invalid memory address or nil pointer dereference",
                        "exec /app/server: exec format error",
                    ),
                ),
            ),
            shorts=("pods crashloop in {ns} after release", "{deploy} {version} crashing on start"),
            descs=("{deploy} {version} pods crash immediately with '{crashlog}'.",),
            notes=(
                note(
                    "W",
                    "'{crashlog}' on start since {version}. Rolled back to the previous revision, pods healthy. "
                    "Bug raised with the {ns} team.",
                    "--previous",
                    "rollout undo",
                ),
                note(
                    "P",
                    "Rolled back {version} with rollout undo; {fixversion} with the fix deployed the next day "
                    "without issues.",
                    "rollout history",
                    "rollout undo",
                ),
            ),
        ),
        Pattern(
            key="missing Secret",
            count=5,
            monitored=0.6,
            alerts=(
                Alert(
                    "KubePodNotReady",
                    "pod {ns}/{pod} not ready",
                    "Pod {ns}/{pod} has been in a non-ready state for longer than 15 minutes.",
                    "warning",
                ),
            ),
            shorts=(
                "{deploy} pods CreateContainerConfigError",
                "secret not found - {deploy} can't start",
                "{deploy} pods not starting in {ns}",
            ),
            descs=(
                'New pods of {deploy} stuck in CreateContainerConfigError: \'Error: secret "{secret}" not '
                "found'. The ExternalSecret shows SecretSyncedError.",
            ),
            notes=(
                note(
                    "P",
                    "ExternalSecret {secret} in SecretSyncedError: the Vault role for namespace {ns} expired after "
                    "the Vault upgrade. Renewed the role binding, force-sync, secret created, pods started.",
                    "SecretSyncedError",
                    "force-sync",
                ),
                note(
                    "P",
                    "Secret {secret} missing in {cluster}: service onboarded without its ExternalSecret manifest. "
                    "Added the manifest, synced; pods running.",
                    "SecretSyncedError",
                    "force-sync",
                ),
                note(
                    "W",
                    "Vault path renamed; pointed the ExternalSecret at the new path and forced a resync.",
                    "force-sync",
                ),
            ),
        ),
        Pattern(
            key="liveness probe too early",
            count=4,
            monitored=0.5,
            shorts=("{deploy} restarts on startup - liveness probe", "{deploy} killed by liveness probe before ready"),
            descs=(
                "{deploy} takes ~{start}s to start since {version} (runs migrations on boot). The liveness probe "
                "kills it at {probe}s.",
            ),
            notes=(
                note(
                    "W",
                    "Liveness initialDelaySeconds={probe} but startup now takes {start}s. Patched "
                    "initialDelaySeconds to 90, pods came up. Team adding a startupProbe to the chart.",
                    "initialDelaySeconds plus",
                    "patch deployment",
                ),
                note(
                    "P",
                    "Added a startupProbe (failureThreshold 30, period 10) to the {deploy} chart; liveness no "
                    "longer kills pods during warm-up.",
                    "initialDelaySeconds plus",
                ),
            ),
        ),
        Pattern(
            key="dependency unreachable",
            count=3,
            monitored=0.5,
            shorts=("{deploy} crashloop - cannot connect to db", "{deploy} exits: connection refused to {dep}"),
            descs=(
                "{deploy} logs 'could not connect to {dep}:{port}: connection timed out' then exits. Started "
                "after the network policy change.",
            ),
            notes=(
                note(
                    "P",
                    "nc from a netshoot pod in {ns} timed out to {dep}:{port}. The new default-deny NetworkPolicy "
                    "had no egress rule for the DB subnet. Added the rule; pods recovered without a restart.",
                    "netshoot",
                ),
                note(
                    "W",
                    "{dep} was down (maintenance overran). Pods recovered once it was back; no change to the "
                    "deployment.",
                    "netshoot",
                ),
            ),
        ),
    ),
)


KAFKA_FLOWS = (
    ("orders-worker", "orders.created"),
    ("fulfilment-svc", "orders.created"),
    ("notification-worker", "notifications.outbound"),
    ("search-indexer", "inventory.updates"),
    ("ledger-writer", "payments.events"),
    ("clickstream-loader", "clickstream.raw"),
)


def _mq(d: Draw) -> None:
    _common(d)
    consumer, topic = d.rng.choice(KAFKA_FLOWS)
    d.set("consumer", consumer)
    d.set("group", f"{consumer}-cg")
    d.set("topic", topic)
    d.num("part", 0, 11)
    d.num("offset", 1_200_000, 98_000_000)
    d.num("lag", 25_000, 4_800_000)
    d.one(
        "deser",
        (
            "SerializationException: Error deserializing Avro message for id 1874",
            "SerializationException: Unknown magic byte!",
            "JsonParseException: Unexpected character ('<' (code 60))",
        ),
    )
    d.one("producer", ("checkout-web", "pricing-engine", "legacy-erp-bridge"))
    d.num("replicas", 3, 8)
    d.one("event", ("Black Friday", "the spring sale", "a push notification campaign"))
    d.one("queue", ("orders.fulfilment", "email.outbound", "invoice.render", "webhooks.dispatch"))
    d.one("vhost", ("/", "prod", "billing"))
    d.set("rmqcluster", "rabbitmq-prod")
    node = d.one("rmqnode", ("rmq-prod-01", "rmq-prod-02", "rmq-prod-03"))
    d.num("depth", 80_000, 2_500_000)
    d.one("consumers", ("0", "1", "2"))
    d.one("cluster", DB_CLUSTERS)
    d.set("host", node)
    d.set("target", d.values["group"])
    d.set("label", "consumergroup")
    d.set("scope", f"consumer_group:{d.values['group']}")
    d.set("ci", "kafka-prod")


MQ = Topic(
    name="message queue backlog",
    runbook_id="mq-consumer-backlog",
    category=("Software", "Middleware"),
    groups=(("Middleware Team", 55), ("Platform Engineering", 25), ("Application Support", 20)),
    severities=((2, 2, 35), (2, 1, 25), (1, 2, 15), (1, 1, 8), (3, 2, 12), (2, 3, 5)),
    sources=(("alertmanager", 6), ("datadog", 4)),
    context=_mq,
    alerts=(
        Alert(
            "KafkaConsumerGroupLag",
            "consumer group {group} lag {lag}",
            "Consumer group {group} on topic {topic} has total lag {lag} and growing for 10m.",
        ),
    ),
    not_reproducible=("Lag back to normal when checked; a consumer restart during deploy caused a short spike.",),
    by_caller=("Owning team confirmed processing caught up after their fix. Closing per caller.",),
    patterns=(
        Pattern(
            key="Kafka poison message",
            count=3,
            monitored=0.6,
            shorts=(
                "{group} lag stuck on partition {part}",
                "messages not processed - {group} consumer stuck",
                "Kafka lag {topic} partition {part} not moving",
            ),
            descs=(
                "Lag on {topic} partition {part} grows while the other partitions are fine. The consumer log "
                "repeats the same error for offset {offset}: '{deser}'.",
            ),
            notes=(
                note(
                    "W",
                    "Poison message at {topic}:{part}@{offset} (bad schema version). Saved it, stopped the "
                    "consumers, reset the partition to {offset}+1 with the owner's OK, restarted. Lag drained in "
                    "{catchup} min. Message handed to the dev team for replay.",
                    "A dash in CONSUMER-ID",
                    "kafka-console-consumer.sh",
                ),
                note(
                    "P",
                    "Partition stuck on a malformed event from {producer}. Skipped the record (saved first); "
                    "{fixversion} of {consumer} now sends deserialization failures to a DLQ topic.",
                    "kafka-console-consumer.sh",
                ),
            ),
        ),
        Pattern(
            key="Kafka rebalance storm",
            count=3,
            monitored=0.6,
            shorts=("{group} constantly rebalancing", "kafka consumer group {group} lag growing, pods fine"),
            descs=(
                "{group} lag keeps growing although all consumer pods are running. Logs are full of 'consumer "
                "poll timeout has expired' and rebalances.",
            ),
            notes=(
                note(
                    "P",
                    "Group state flipping between PreparingRebalance and Stable: a batch of 500 records took "
                    "longer than max.poll.interval.ms after the new enrichment call. Lowered max.poll.records to "
                    "100, group stable, lag drained.",
                    "--members --verbose",
                    "KAFKA_MAX_POLL_RECORDS=100",
                ),
                note(
                    "W",
                    "Rebalance storm; reduced max poll records with an env override. Dev team to make the "
                    "enrichment async.",
                    "KAFKA_MAX_POLL_RECORDS=100",
                ),
            ),
        ),
        Pattern(
            key="consumers down",
            count=3,
            monitored=0.7,
            shorts=("{consumer} not consuming, lag {lag}", "no active consumers in {group}"),
            descs=(
                "{group} has no active members, partitions show no CONSUMER-ID. The {consumer} deployment shows "
                "0/{replicas} ready.",
            ),
            notes=(
                note(
                    "P",
                    "{consumer} pods crash looping after a config change; rolled back, consumers rejoined and lag "
                    "drained in {catchup} min.",
                    "deserializ",
                    "k8s-pod-crashloop :: rollout undo",
                ),
                note(
                    "W",
                    "{consumer} had been scaled to 0 during maintenance and not scaled back. Restored the replicas, "
                    "lag back to 0.",
                    "deserializ",
                ),
            ),
        ),
        Pattern(
            key="under-provisioned consumers",
            count=3,
            monitored=0.6,
            shorts=("{topic} lag growing during {event}", "event backlog {group} - traffic spike"),
            descs=("Producer rate tripled because of {event}. {group} lag at {lag} and growing, consumers healthy.",),
            notes=(
                note(
                    "W",
                    "Consumers healthy but too few (4 pods for 12 partitions). Scaled {consumer} to 12, lag "
                    "drained in {catchup} min. Scaled back to 6 after the event.",
                    "scale at most up to the partition count",
                ),
                note(
                    "P",
                    "Raised the HPA maxReplicas of {consumer} to the partition count and added a lag-based "
                    "scaling metric.",
                    "scale at most up to the partition count",
                ),
            ),
        ),
        Pattern(
            key="RabbitMQ memory alarm from abandoned queue",
            count=2,
            monitored=0.8,
            overrides=(
                ("target", "{rmqnode}"),
                ("label", "node"),
                ("scope", "rabbitmq_queue:{queue}"),
                ("ci", "{rmqcluster}"),
            ),
            alerts=(
                Alert(
                    "RabbitMQMemoryAlarm",
                    "memory alarm on {rmqnode}",
                    "rabbit@{rmqnode} reached the memory high watermark; publishers are blocked.",
                ),
            ),
            severities=((1, 1, 1), (1, 2, 1)),
            shorts=("RabbitMQ publishers blocked - memory alarm", "rmq {rmqnode} memory high watermark"),
            descs=("Publishers on {rmqcluster} are blocked. Queue {queue} has {depth} messages and 0 consumers.",),
            notes=(
                note(
                    "W",
                    "Memory alarm caused by {queue}, 0 consumers: its service was decommissioned on {pause_date} "
                    "and the queue left behind. Owner confirmed the messages are not needed, purged the queue, "
                    "alarm cleared.",
                    "memory_breakdown",
                    "purge_queue",
                ),
            ),
        ),
        Pattern(
            key="RabbitMQ redelivery loop",
            count=2,
            monitored=0.5,
            overrides=(
                ("target", "{queue}"),
                ("label", "queue"),
                ("scope", "rabbitmq_queue:{queue}"),
                ("ci", "{rmqcluster}"),
            ),
            alerts=(
                Alert(
                    "RabbitMQQueueBacklog",
                    "queue {queue} has {depth} ready messages",
                    "Queue {queue} in vhost {vhost} on {rmqcluster}: {depth} messages ready, {consumers} consumers.",
                ),
            ),
            shorts=("{queue} messages redelivered endlessly", "RabbitMQ queue {queue} not draining"),
            descs=(
                "{queue} depth grows, consumers connected, messages_unacknowledged flapping. Consumer logs show "
                "the same message failing and being requeued.",
            ),
            notes=(
                note(
                    "P",
                    "Poison message requeued forever (nack with requeue=true). Applied a policy with "
                    "dead-letter-exchange and delivery-limit 5 on {queue} (quorum queue); the message moved to "
                    "the DLQ and the queue drained.",
                    "sort -k2 -n -r",
                    "delivery-limit",
                ),
            ),
        ),
        Pattern(
            key="slow downstream database",
            count=2,
            monitored=0.6,
            shorts=("{group} lag growing - db slow?",),
            descs=("Consumers of {topic} write to the {cluster} DB, which is slow since {hhmm}. Lag {lag}.",),
            notes=(
                note(
                    "W",
                    "Lag caused by slow writes to the {cluster} DB (connection exhaustion incident in parallel). "
                    "Did not add consumers; lag drained once the DB recovered. Retention 7d, so nothing lost.",
                    "retention.ms",
                    "pg-connection-exhaustion :: GROUP BY 1, 2, 3, 4",
                ),
            ),
        ),
    ),
)


# --------------------------------------------------------------------------------------------------------------
# Noise: tickets no runbook matches


def _desk(d: Draw) -> None:
    _common(d)
    d.one("printer", ("PRN-LON-3F-01", "PRN-LON-2F-04", "PRN-WAW-1F-02", "PRN-DUB-GF-01", "PRN-AUS-4F-03"))
    d.one(
        "product",
        ("JetBrains All Products", "Adobe Acrobat Pro", "Microsoft Visio", "Figma Professional", "Tableau Creator"),
    )
    d.one("mailbox", ("finance-ap@", "hr-recruiting@", "noc-shift@", "partners@"))
    d.one("tool", ("Grafana", "Jira project OPS", "Confluence space NOC", "Tableau Server", "GitLab group infra"))
    d.one("oldhost", ("app-prod-old-03", "win-print-01", "ftp-legacy-02", "test-vm-117"))
    d.one("check", ("checkout-journey", "login-page", "status-page"))
    d.one("probe_site", ("Sao Paulo", "Sydney", "Mumbai", "Johannesburg"))
    d.one("laptop", ("LT-0423", "LT-0988", "LT-1204", "LT-1377", "LT-0731"))
    d.set("host", d.values["oldhost"])
    d.set("target", d.values["oldhost"])
    d.set("ci", "Active Directory")


NOISE = Topic(
    name="unrelated (noise)",
    runbook_id="",
    category=("Inquiry / Help", "General"),
    groups=(("Service Desk", 100),),
    severities=((3, 2, 60), (2, 3, 25), (2, 2, 15)),
    sources=(("alertmanager", 5), ("zabbix", 3)),
    context=_desk,
    patterns=(
        Pattern(
            key="password reset / lockout",
            count=8,
            monitored=0.0,
            category=("Inquiry / Help", "Password Reset"),
            shorts=(
                "Password reset",
                "Account locked out - {user}",
                "cannot log in to windows",
                "AD account locked after password change",
            ),
            descs=(
                "User {fullname} locked out after changing their password; the phone is probably still using "
                "the old one.",
                "Please reset my password, forgot it after the holiday. {fullname}",
                "User cannot log in: 'Your account has been locked'. Identity verified via manager callback.",
            ),
            notes=(
                note(
                    "P",
                    "Identity verified, password reset, user logged in. Advised to update the password on the "
                    "mobile mail app.",
                ),
                note(
                    "P", "Account unlocked in AD. Lockouts came from old credentials saved on the phone; removed them."
                ),
                note("P", "Temporary password issued, user changed it at first login."),
                note("C", "User remembered the password and logged in. Closed on request."),
            ),
        ),
        Pattern(
            key="MFA re-enrolment",
            overrides=(("ci", "MFA - Authenticator"),),
            count=3,
            monitored=0.0,
            category=("Inquiry / Help", "Password Reset"),
            groups=(("Identity & Access Management", 70), ("Service Desk", 30)),
            shorts=(
                "New phone - need MFA re-enrolment",
                "MFA prompts not arriving",
                "Lost phone, cannot approve sign-in",
            ),
            descs=(
                "{fullname} got a new phone and cannot approve sign-ins anymore. Please reset the MFA registration.",
            ),
            notes=(
                note("P", "Identity verified by video call, MFA methods reset, user re-registered the authenticator."),
            ),
        ),
        Pattern(
            key="printer",
            overrides=(("ci", "{printer}"),),
            count=5,
            monitored=0.0,
            category=("Hardware", "Printer"),
            groups=(("End User Computing", 80), ("Service Desk", 20)),
            shorts=("Printer {printer} not printing", "{printer} shows offline", "printer on 3rd floor broken again"),
            descs=(
                "Jobs sit in the queue for {printer} and nothing comes out.",
                "{printer} not printing for the whole floor since this morning.",
            ),
            notes=(
                note("P", "Cleared a torn sheet behind tray 2, test page OK."),
                note(
                    "P", "Printer got a new IP after its DHCP lease expired; set a reservation and re-added the queue."
                ),
                note("P", "Toner and drum replaced, prints fine."),
                note("N", "Printer working when the technician arrived; test page OK."),
            ),
        ),
        Pattern(
            key="VPN access request",
            overrides=(("ci", "Remote Access VPN"),),
            count=3,
            monitored=0.0,
            category=("Network", "VPN"),
            groups=(("Service Desk", 70), ("Network Operations", 30)),
            shorts=("VPN access request for {fullname}", "Need VPN access for contractor {fullname}"),
            descs=(
                "New contractor {fullname} starts Monday in {team} and needs VPN access. Manager approval attached.",
            ),
            notes=(
                note(
                    "P", "Added the user to the VPN-Users group after checking the manager approval; access confirmed."
                ),
                note("P", "Contractor account created with an end date and added to the contractor VPN profile."),
            ),
        ),
        Pattern(
            key="VPN cannot connect",
            overrides=(("ci", "Remote Access VPN"),),
            count=3,
            monitored=0.0,
            category=("Network", "VPN"),
            groups=(("Service Desk", 60), ("Network Operations", 40)),
            shorts=("Cannot connect to VPN from home", "VPN stuck on connecting"),
            descs=("VPN client stuck on 'connecting' since this morning, internet works otherwise.",),
            notes=(
                note("P", "User's VPN client was outdated; updated it, connecting now."),
                note("W", "Home router blocked UDP 443; switched the profile to TCP, works."),
                note("C", "User connected after restarting the laptop. Closed by caller."),
            ),
        ),
        Pattern(
            key="licence renewal",
            overrides=(("ci", "{product}"),),
            count=3,
            monitored=0.0,
            category=("Software", "License"),
            groups=(("Service Desk", 60), ("End User Computing", 40)),
            shorts=("{product} license renewal for {team}", "{product} license expires next week"),
            descs=(
                "Our {product} subscription shows 'licence expires in 7 days'. Can you renew it for the {team} team?",
            ),
            notes=(
                note("P", "Renewal PO raised with procurement and licences renewed for 12 months."),
                note("P", "Renewed through the vendor portal; seats reduced from 25 to 20 after usage review."),
            ),
        ),
        Pattern(
            key="licence request",
            overrides=(("ci", "{product}"),),
            count=2,
            monitored=0.0,
            category=("Software", "License"),
            groups=(("Service Desk", 60), ("End User Computing", 40)),
            shorts=("Request: {product} license for {fullname}",),
            descs=("{fullname} needs a {product} licence for new reporting work. Approved by the {team} lead.",),
            notes=(
                note("P", "Licence assigned from the pool."),
                note("P", "Reclaimed an unused licence from a leaver and assigned it."),
            ),
        ),
        Pattern(
            key="laptop fault",
            overrides=(("ci", "{laptop}"),),
            count=2,
            monitored=0.0,
            category=("Hardware", "Laptop"),
            groups=(("End User Computing", 100),),
            shorts=("Laptop {laptop} battery swelling", "{laptop} does not boot"),
            descs=("{fullname} ({team}) reports a fault with {laptop}, see subject. In the {site} office this week.",),
            notes=(note("P", "Laptop swapped for a spare, user data migrated, faulty unit sent for repair."),),
        ),
        Pattern(
            key="docking station",
            overrides=(("ci", "{laptop}"),),
            count=1,
            monitored=0.0,
            category=("Hardware", "Laptop"),
            groups=(("End User Computing", 100),),
            shorts=("Docking station not detecting monitors",),
            descs=("Since the last update my dock only shows one of the two monitors. Laptop {laptop}.",),
            notes=(note("P", "Dock firmware updated and DisplayLink driver reinstalled; both monitors detected."),),
        ),
        Pattern(
            key="shared mailbox access",
            overrides=(("ci", "Exchange Online"),),
            count=2,
            monitored=0.0,
            category=("Software", "Email"),
            shorts=("Add me to {mailbox} shared mailbox", "Shared mailbox access for {fullname}"),
            descs=(
                "Hi, could you give {fullname} access to the {mailbox} shared mailbox? Approved by the {team} lead.",
            ),
            notes=(note("P", "Full access granted on the shared mailbox; it appears in Outlook after a restart."),),
        ),
        Pattern(
            key="Outlook password prompts",
            overrides=(("ci", "Exchange Online"),),
            count=2,
            monitored=0.0,
            category=("Software", "Email"),
            shorts=("Outlook keeps asking for password", "outlook password prompt every few minutes"),
            descs=("Since this morning Outlook asks for my password every few minutes, webmail works fine.",),
            notes=(
                note("P", "Removed stale cached credentials from Credential Manager; Outlook stopped prompting."),
                note("C", "Prompts stopped after the user rebooted. Closed by caller."),
            ),
        ),
        Pattern(
            key="tool access request",
            overrides=(("ci", "{tool}"),),
            count=4,
            monitored=0.0,
            category=("Inquiry / Help", "Access Request"),
            groups=(("Service Desk", 70), ("Identity & Access Management", 30)),
            shorts=("Access to {tool} for {fullname}", "Need {tool} access", "{tool} permission request"),
            descs=("{fullname} joined {team} and needs access to {tool}. Line manager approved in the request.",),
            notes=(note("P", "Access granted via the {tool} group in AD after approval check."),),
        ),
        Pattern(
            key="heartbeat from decommissioned host",
            count=2,
            monitored=1.0,
            category=("Software", "Monitoring"),
            groups=(("NOC", 70), ("Observability", 30)),
            severities=((3, 2, 1), (2, 3, 1)),
            overrides=(("ci", "{oldhost}"),),
            alerts=(
                Alert(
                    "HostHeartbeatMissing",
                    "no heartbeat from {oldhost}",
                    "Agent on {oldhost} has not reported for 30m.",
                ),
            ),
            shorts=("Alert for {oldhost} - host decommissioned?",),
            descs=("We keep getting heartbeat alerts for {oldhost}. I thought it was switched off last month.",),
            notes=(
                note("P", "Host decommissioned on {pause_date}; removed it from monitoring. No impact."),
                note(
                    "P",
                    "{oldhost} was shut down by its owner without a decommission request. Confirmed, removed from "
                    "monitoring and CMDB.",
                ),
            ),
        ),
        Pattern(
            key="monitoring test alert",
            count=2,
            monitored=1.0,
            category=("Software", "Monitoring"),
            groups=(("NOC", 60), ("Observability", 40)),
            severities=((3, 2, 1),),
            overrides=(("ci", "Alertmanager"), ("target", "monitoring-test")),
            alerts=(
                Alert(
                    "WatchdogTest",
                    "test alert - please ignore",
                    "Test notification for the new ServiceNow routing rule.",
                    "warning",
                ),
            ),
            shorts=("test alert - please ignore",),
            descs=("Test notification for the new ServiceNow routing rule.",),
            notes=(
                note("N", "Test alert from the Observability team validating the new route. Nothing to do."),
                note("P", "Routing test by Observability; asked them to use the test assignment group next time."),
            ),
        ),
        Pattern(
            key="single synthetic probe location",
            count=2,
            monitored=1.0,
            category=("Software", "Monitoring"),
            groups=(("NOC", 80), ("Observability", 20)),
            severities=((3, 2, 1), (2, 3, 1)),
            overrides=(("ci", "Synthetic monitoring"), ("target", "{check}"), ("scope", "check:{check}")),
            alerts=(
                Alert(
                    "SyntheticCheckFailed",
                    "synthetic check {check} failed from {probe_site}",
                    "Check {check} failed from 1 of 6 locations ({probe_site}).",
                    "warning",
                ),
            ),
            shorts=("synthetic check {check} red from {probe_site}",),
            descs=("Check {check} failing from {probe_site} only.",),
            notes=(
                note(
                    "N",
                    "Only one probe location failing, provider-side issue there (their status page confirmed). "
                    "Service fine from all other locations. No action.",
                ),
            ),
        ),
    ),
)

TOPICS = (DISK, MEMORY, CPU, PG_CONN, PG_REPLICATION, CERT_EXPIRY, DNS, NETWORK, K8S, BACKUP, MQ, TLS_HANDSHAKE, NOISE)


# --------------------------------------------------------------------------------------------------------------
# Rendering


CITE_FORMS = (
    "Runbook steps used: {ids}.",
    "Ref {ids}.",
    "Followed {ids}.",
    "Per runbook {ids}.",
    "({ids})",
    "Steps: {ids}",
    "KB ref {ids}.",
)
CITE_JOINS = (", ", " + ", " / ", " and ")
SIGNATURES = ("\n\nThanks,\n{name}", "\n\nRegards\n{fullname}", "\nthx {name}", "\n\n-- {fullname}, {team} team")
ZABBIX_SEVERITY = {"critical": ("High", "Disaster"), "warning": ("Warning", "Average")}
COMMON_TYPOS = (
    (re.compile(r"\bthe\b"), "teh"),
    (re.compile(r"\breceiv"), "reciev"),
    (re.compile(r"\boccurred\b"), "occured"),
    (re.compile(r"\brestarted\b"), "restared"),
    (re.compile(r"\bdatabase\b"), "databse"),
    (re.compile(r"\bplease\b"), "pleae"),
)


def _sentence(text: str) -> str:
    """Capitalise a text that starts with a filled-in phrase such as "the nightly ETL"."""
    return "T" + text[1:] if text.startswith("the ") else text


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _typo(rng: random.Random, text: str) -> str:
    """One plausible keyboard slip in a longer plain word (never in hostnames, paths or numbers)."""
    for right, wrong in COMMON_TYPOS:
        if right.search(text) and rng.random() < 0.5:
            return right.sub(wrong, text, count=1)
    words = [m for m in re.finditer(r"(?<![\w./-])[a-z]{6,}(?![\w./-])", text)]
    if not words:
        return text
    match = rng.choice(words)
    word = match.group(0)
    i = rng.randint(1, len(word) - 3)
    slip = rng.choice(
        (word[:i] + word[i + 1] + word[i] + word[i + 2 :], word[:i] + word[i + 1 :], word[:i] + word[i] + word[i:])
    )
    return text[: match.start()] + slip + text[match.end() :]


def _monitoring_text(
    rng: random.Random, topic: Topic, pattern: Pattern, values: dict[str, object], opened: datetime
) -> tuple[str, str]:
    source = _weighted(rng, topic.sources)
    alerts = pattern.alerts or topic.alerts
    # Dotted names are Zabbix item keys; Prometheus and Datadog name their rules differently.
    fitting = [a for a in alerts if ("." in a.name) == (source == "zabbix")] or list(alerts)
    alert = rng.choice(fitting)
    brief = alert.brief.format_map(values)
    detail = alert.detail.format_map(values)
    host = str(values["host"])
    target = str(values["target"])
    fired = opened - timedelta(minutes=rng.randint(1, 6), seconds=rng.randint(0, 59))
    if source == "alertmanager":
        label = values.get("label", "instance")
        short = f"[FIRING:1] {alert.name} {target}"
        desc = "\n".join(
            (
                f"[FIRING:1] {alert.name}",
                "Labels:",
                f" - alertname = {alert.name}",
                f" - severity = {alert.severity}",
                f" - {label} = {target}",
                " - env = prod",
                "Annotations:",
                f" - summary = {brief}",
                f" - description = {detail}",
                f"Started: {fired:%Y-%m-%d %H:%M:%S} UTC",
                "Created by alertmanager-servicenow bridge.",
            )
        )
    elif source == "zabbix":
        short = f"Problem: {brief}" if host in brief else f"Problem: {brief} on {host}"
        desc = "\n".join(
            (
                f"Problem started at {fired:%H:%M:%S} on {fired:%Y.%m.%d}",
                f"Problem name: {brief}",
                f"Host: {host}",
                f"Severity: {rng.choice(ZABBIX_SEVERITY[alert.severity])}",
                f"Operational data: {detail}",
                f"Original problem ID: {rng.randint(10_000_000, 99_999_999)}",
            )
        )
    else:
        short = (
            f"[{alert.severity.upper()}] {brief}"
            if target in brief
            else f"[{alert.severity.upper()}] {brief} on {target}"
        )
        desc = (
            f"{detail}\n\nMonitor: {alert.name}\nScope: {values.get('scope', f'host:{host}')}\n"
            f"Triggered at {fired:%Y-%m-%d %H:%M:%S} UTC. Notified via @servicenow-noc."
        )
    return short[:SHORT_DESCRIPTION_MAX], desc


def _human_text(rng: random.Random, pattern: Pattern, values: dict[str, object]) -> tuple[str, str]:
    short = rng.choice(pattern.shorts).format_map(values)
    desc = rng.choice(pattern.descs).format_map(values)
    if rng.random() < 0.05:
        short = _typo(rng, short)
    if rng.random() < 0.07:
        desc = _typo(rng, desc)
    if rng.random() < 0.2 and short[1:2].islower():
        short = short[0].lower() + short[1:]
    if rng.random() < 0.25:
        desc += rng.choice(SIGNATURES).format_map(values)
    return short[:SHORT_DESCRIPTION_MAX], desc


def _draw_values(rng: random.Random, topic: Topic, pattern: Pattern, opened: datetime) -> dict[str, object]:
    """The values one incident's templates are filled from."""
    draw = Draw(rng, pattern, opened)
    topic.context(draw)
    values = draw.values
    for key, options in pattern.preset:
        values.setdefault(key, rng.choice(options))
    for key, template in pattern.overrides:
        values[key] = template.format_map(values)
    return values


def _opened_at(rng: random.Random, human: bool) -> datetime:
    span = int((LAST_OPENED - FIRST_OPENED).total_seconds())
    while True:
        opened = FIRST_OPENED + timedelta(seconds=rng.randrange(span))
        office = opened.weekday() < 5 and 7 <= opened.hour < 19
        if not human or office or rng.random() < 0.1:
            return opened


def _resolved_at(rng: random.Random, opened: datetime, key: str) -> datetime:
    low, high, mode = DURATION[key]
    resolved = opened + timedelta(minutes=rng.triangular(low, high, mode), seconds=rng.randint(0, 59))
    return min(resolved.replace(microsecond=0), LATEST_RESOLVED)


class Generator:
    """Turns the patterns into incident rows, resolving every cited step fragment to its id up front."""

    def __init__(self, runbooks: Runbooks, seed: int = SEED) -> None:
        self.runbooks = runbooks
        self.rng = random.Random(seed)
        self.cited: dict[Note, tuple[str, ...]] = {}
        for topic in TOPICS:
            for pattern in topic.patterns:
                for n in pattern.notes:
                    self.cited[n] = tuple(self._resolve(topic, cite) for cite in n.cites)

    def _resolve(self, topic: Topic, cite: str) -> str:
        runbook_id, sep, fragment = cite.partition(" :: ")
        if not sep:
            runbook_id, fragment = topic.runbook_id, cite
        return self.runbooks.step_id(runbook_id, fragment)

    def _close_notes(
        self, topic: Topic, pattern: Pattern, values: dict[str, object], monitored: bool
    ) -> tuple[str, str]:
        rng = self.rng
        roll = rng.random()
        # The not-reproducible notes talk about an alert that cleared, so only monitoring tickets get them.
        if monitored and topic.not_reproducible and roll < NOT_REPRODUCIBLE_SHARE:
            return "N", rng.choice(topic.not_reproducible).format_map(values)
        if topic.by_caller and roll < NOT_REPRODUCIBLE_SHARE + BY_CALLER_SHARE:
            return "C", rng.choice(topic.by_caller).format_map(values)
        chosen = rng.choice(pattern.notes)
        text = _sentence(chosen.text.format_map(values))
        ids = self.cited[chosen]
        if ids and rng.random() < CITE_SHARE:
            used = [i for i in ids if rng.random() < 0.75] or [rng.choice(ids)]
            cite = rng.choice(CITE_FORMS).format(ids=rng.choice(CITE_JOINS).join(used))
            text = f"{cite} {text}" if rng.random() < 0.2 else f"{text} {cite}"
        return chosen.code, text

    def incident(self, topic: Topic, pattern: Pattern) -> dict[str, str]:
        rng = self.rng
        monitored = rng.random() < pattern.monitored
        opened = _opened_at(rng, human=not monitored)
        values = _draw_values(rng, topic, pattern, opened)
        if monitored:
            short, desc = _monitoring_text(rng, topic, pattern, values, opened)
        else:
            short, desc = _human_text(rng, pattern, values)
        severities = pattern.severities or topic.severities
        impact, urgency, _ = rng.choices(severities, weights=[w for *_, w in severities])[0]
        if "urgent" in short.lower() or "asap" in desc.lower():
            impact, urgency = min(impact, 2), 1
        priority = PRIORITY[(impact, urgency)]
        code, notes = self._close_notes(topic, pattern, values, monitored)
        resolved = _resolved_at(rng, opened, code if code in ("N", "C") else priority[0])
        category, subcategory = pattern.category or topic.category
        return {
            "short_description": short,
            "description": desc,
            "category": category,
            "subcategory": subcategory,
            "cmdb_ci": str(values["ci"]),
            "assignment_group": _weighted(rng, pattern.groups or topic.groups),
            "impact": LEVEL[impact],
            "urgency": LEVEL[urgency],
            "priority": priority,
            "close_code": CLOSE_CODE[code],
            "close_notes": notes,
            "opened_at": opened.strftime("%Y-%m-%d %H:%M:%S"),
            "resolved_at": resolved.strftime("%Y-%m-%d %H:%M:%S"),
            "_topic": topic.name,
        }

    def incidents(self) -> list[dict[str, str]]:
        rows = [
            self.incident(topic, pattern)
            for topic in TOPICS
            for pattern in topic.patterns
            for _ in range(pattern.count)
        ]
        rows.sort(key=lambda row: row["opened_at"])
        number = FIRST_NUMBER
        for row in rows:
            row["number"] = f"INC{number:07d}"
            number += self.rng.randint(4, 61)
        return rows


def check_templates() -> None:
    """Fail with the pattern's name if any of its templates uses a value its topic does not provide."""
    rng = random.Random(0)
    for topic in TOPICS:
        for pattern in topic.patterns:
            values = _draw_values(rng, topic, pattern, LAST_OPENED)
            alerts = pattern.alerts or topic.alerts
            templates = [
                *pattern.shorts,
                *pattern.descs,
                *(n.text for n in pattern.notes),
                *(a.brief for a in alerts),
                *(a.detail for a in alerts),
                *topic.not_reproducible,
                *topic.by_caller,
                *SIGNATURES,
            ]
            if pattern.monitored > 0 and not alerts:
                raise SystemExit(f"{topic.name} / {pattern.key}: monitored but has no alerts")
            for template in templates:
                try:
                    template.format_map(values)
                except KeyError as exc:
                    raise SystemExit(f"{topic.name} / {pattern.key}: unknown value {exc} in {template!r}") from exc


def main() -> int:
    check_templates()
    runbooks = Runbooks(RUNBOOK_DIR)
    rows = Generator(runbooks).incidents()
    cited = runbooks.check_cited([row["close_notes"] for row in rows])
    with OUTPUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    per_topic = Counter(row["_topic"] for row in rows)
    citing = sum(1 for row in rows if _STEP_ID.search(row["close_notes"]))
    print(f"wrote {len(rows)} incidents to {OUTPUT.relative_to(ROOT)}")
    for topic in TOPICS:
        print(f"  {per_topic[topic.name]:4d}  {topic.name}")
    print(f"  {citing} close notes cite {cited} runbook step ids, all of which exist")
    return 0


if __name__ == "__main__":
    sys.exit(main())
