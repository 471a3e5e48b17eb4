"""The failure taxonomy: its table, how texts are classified, and docs/taxonomy.md kept equal to the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ai_service import taxonomy
from ai_service.knowledge.clustering import ERROR_CLASS_NAMES
from ai_service.knowledge.labels import first_paragraph, runbook_failure_type
from ai_service.knowledge.parsers import parse_runbook_file
from ai_service.knowledge.service import SAMPLE_DIR, parsed_failure_type

DOC = Path(__file__).resolve().parents[2] / "docs" / "taxonomy.md"


def test_the_table_is_small_readable_and_uses_one_error_class_vocabulary() -> None:
    assert 25 <= len(taxonomy.FAILURE_TYPES) <= 35
    ids = [t.id for t in taxonomy.FAILURE_TYPES]
    assert len(set(ids)) == len(ids) and taxonomy.UNKNOWN not in ids
    assert ERROR_CLASS_NAMES is taxonomy.ERROR_CLASS_NAMES  # one definition, re-exported by clustering
    for failure in taxonomy.FAILURE_TYPES:
        assert re.fullmatch(r"[a-z]+(?:_[a-z]+)*", failure.id)
        assert failure.error_class in ERROR_CLASS_NAMES and failure.error_class != "unknown"
        assert failure.name[0].isupper() and failure.description.endswith(".") and failure.evidence
        assert taxonomy.error_class_of(failure.id) == failure.error_class
        assert taxonomy.is_known(failure.id) and taxonomy.is_label(failure.id)
    assert taxonomy.error_class_of(taxonomy.UNKNOWN) == "unknown" and taxonomy.error_class_of("o_timeout") == "unknown"
    assert not taxonomy.is_known(taxonomy.UNKNOWN) and taxonomy.is_label(taxonomy.UNKNOWN)
    assert not taxonomy.is_label("out_pool") and taxonomy.get(None) is None


@pytest.mark.parametrize("failure", taxonomy.FAILURE_TYPES, ids=lambda t: t.id)
def test_every_type_is_what_its_own_name_says(failure: taxonomy.FailureType) -> None:
    """Every type is reachable, and no earlier type steals the words of a later one's name."""
    assert taxonomy.classify_text(failure.name) == failure.id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No space left on device while writing /var/lib/docker", "disk_full"),
        ("Filesystem /data is predicted to fill within 4 hours", "disk_full"),
        ("inode usage on /var at 98%", "disk_full"),
        ("java process killed by the kernel OOM killer", "memory_exhaustion"),
        ("host swapping heavily, MemAvailable below 5%", "memory_exhaustion"),
        ("FATAL: sorry, too many clients already", "connection_limit"),
        ("remaining connection slots are reserved for superuser connections", "connection_limit"),
        ("CPU utilisation above 95% for 15 minutes on the batch host", "cpu_saturation"),
        ("load average is three times the number of cores", "cpu_saturation"),
        ("iowait at 60%, disk latency high", "disk_io_saturation"),
        ("Back-off restarting failed container, pod in CrashLoopBackOff", "pod_crash_loop"),
        ("SSL certificate for shop.example.com expires in 5 days", "certificate_expiry"),
        ("cert-manager Certificate not ready, renewal failed", "certificate_expiry"),
        ("SSL handshake failed: certificate verify failed (unknown ca)", "tls_handshake_failure"),
        ("Temporary failure in name resolution; resolvers return SERVFAIL", "dns_resolution_failure"),
        ("interface eth1 operstate down on the core switch", "link_down"),
        ("ICMP probes lose 18% of packets", "packet_loss"),
        ("node network receive errors climbing on bond0 member", "packet_loss"),
        ("host is unreachable, no route to host", "host_unreachable"),
        ("standby replication lag above 300 seconds", "replication_lag"),
        ("Kafka consumer group lag keeps growing", "queue_backlog"),
        ("RabbitMQ queue depth piling up, messages unacked", "queue_backlog"),
        ("nightly pgBackRest backup failed", "backup_failure"),
        ("checksum failure: invalid page in block 4242, data corrupted", "data_corruption"),
        ("user account locked out after password change", "account_locked"),
        ("permission denied for relation payments", "access_denied"),
        ("Adobe licence expired for the design team", "license_expiry"),
        ("RAID array degraded, one disk failed", "hardware_failure"),
        ("PSU 2 failed on the storage node, fan speed critical", "hardware_failure"),
        ("prometheus failed to reload its configuration", "monitoring_failure"),
        ("Alertmanager is failing to send notifications", "monitoring_failure"),
        ("node clock not synchronising with NTP", "clock_skew"),
        ("etcd cluster has no leader", "cluster_member_down"),
        ("Deployment rollout stuck: replicas mismatch for 15 minutes", "deployment_failure"),
        ("Kubernetes job failed to complete", "job_failure"),
        ("resource quota exceeded in namespace payments", "capacity_limit"),
        ("file descriptors almost exhausted", "capacity_limit"),
        ("invalid configuration: unknown field in config file", "config_error"),
        ("upstream payment provider is unavailable", "dependency_down"),
        ("HTTP 5xx error rate above 5% on checkout", "error_rate"),
        ("p99 latency above 2 seconds on the search API", "slow_responses"),
        ("VPN client cannot connect from home office", "vpn_failure"),
        ("The billing service is down", "service_down"),
    ],
)
def test_representative_texts(text: str, expected: str) -> None:
    assert taxonomy.classify_text(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "purple walrus ledger", "Test alert please ignore", "lorem ipsum"])
def test_text_without_evidence_is_unknown_never_invented(text: str) -> None:
    assert taxonomy.classify_text(text) == taxonomy.UNKNOWN
    assert taxonomy.evidence(text) == []


def test_weights_and_ties() -> None:
    # Title evidence outweighs a description naming another failure; equal evidence goes to the earlier type.
    assert taxonomy.classify([("Disk full", 3.0), ("the OOM killer may fire", 1.0)]) == "disk_full"
    assert taxonomy.classify([("disk full", 1.0), ("out of memory", 1.0)]) == "disk_full"
    assert taxonomy.classify([("out of memory", 1.0), ("disk full", 1.0)]) == "disk_full"  # order of texts: none
    assert taxonomy.best({"error_rate": 2.0, "certificate_expiry": 2.0}) == "certificate_expiry"
    assert taxonomy.best({"error_rate": 2.5, "certificate_expiry": 2.0}) == "error_rate"
    assert taxonomy.best({"not_a_type": 9.0}) == taxonomy.UNKNOWN and taxonomy.best({}) == taxonomy.UNKNOWN


def test_identifiers_and_separators_read_as_words() -> None:
    assert taxonomy.normalise("Node_Filesystem-Almost/Out") == "node filesystem almost out"
    assert runbook_failure_type("NodeFilesystemAlmostOutOfSpace", None, None, None, []) == "disk_full"
    assert runbook_failure_type("etcdMembersDown", None, "etcd", None, []) == "cluster_member_down"
    assert runbook_failure_type("KubePodCrashLooping", None, None, None, []) == "pod_crash_loop"


def test_a_runbook_is_typed_by_its_title_before_its_metadata_and_first_paragraph() -> None:
    # The title says it; the description wanders into other failures, which do not win.
    assert (
        runbook_failure_type(
            "PostgreSQL connection slots exhausted",
            "Meaning: clients are refused.\n\nImpact: the disk may fill with logs and the host may swap.",
            "postgresql",
            "connections",
            ["database"],
        )
        == "connection_limit"
    )
    # Without evidence in the title, the metadata and the first paragraph decide; later paragraphs never do.
    assert runbook_failure_type("Runbook 7", "Backups of the ledger stopped.", None, None, []) == "backup_failure"
    assert runbook_failure_type("Runbook 7", "Nothing here.\n\nThe disk is full.", None, None, []) == "unknown"
    assert first_paragraph("\n\n  first one \n\nsecond") == "first one"


def test_the_sample_runbooks_get_the_type_they_are_about() -> None:
    expected = {
        "backup-job-failed": "backup_failure",
        "dns-resolution-failure": "dns_resolution_failure",
        "k8s-pod-crashloop": "pod_crash_loop",
        "linux-cpu-saturation": "cpu_saturation",
        "linux-disk-full": "disk_full",
        "linux-memory-oom": "memory_exhaustion",
        "mq-consumer-backlog": "queue_backlog",
        "net-packet-loss-link-down": "link_down",
        "pg-connection-exhaustion": "connection_limit",
        "pg-replication-lag": "replication_lag",
        "tls-certificate-expiry": "certificate_expiry",
        "tls-handshake-errors": "tls_handshake_failure",
    }
    root = SAMPLE_DIR / "runbooks"
    found = {}
    for path in sorted(root.rglob("*")):
        if path.suffix in (".md", ".yaml"):
            runbook = parse_runbook_file(path, root)
            found[runbook.runbook_id] = parsed_failure_type(runbook)
    assert found == expected


def test_docs_table_is_generated_from_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    begin, end = "<!-- taxonomy:begin (python -m ai_service.taxonomy) -->", "<!-- taxonomy:end -->"
    assert begin in text and end in text, f"{DOC} must keep the generated table between {begin} and {end}"
    table = text.split(begin, 1)[1].split(end, 1)[0].strip()
    assert table == taxonomy.markdown_table(), (
        f"{DOC} is out of date with ai_service/taxonomy.py: replace its table by the output of "
        "`python -m ai_service.taxonomy`"
    )
