"""Tests of alert -> search query: each kind of noise removed, words kept, CamelCase split, the alertname optional,
and the published Prometheus alert texts left without template placeholders."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ai_service.alerts.adapters import parse_alerts
from ai_service.alerts.models import NormalizedAlert
from ai_service.retrieval.query_text import SearchQuery, build_query, clean_name, normalize_text, split_identifier

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = REPO_ROOT / "ai_service" / "alerts" / "samples"
EVAL_ALERTS = REPO_ROOT.parent / "shared" / "eval" / "prometheus" / "alerts.jsonl"


def sample(name: str) -> NormalizedAlert:
    return parse_alerts((SAMPLES / name).read_bytes())[0]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


# --- normalize_text: each kind of noise ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        # Prometheus / Grafana template placeholders.
        ("Target {{ $labels.instance }} is down", ["{{", "$labels", "instance"], ["Target", "is down"]),
        ("Job {{$labels.job}} failed", ["{{", "job}}"], ["Job", "failed"]),
        ("{{ $value | humanize }} errors per second", ["$value", "humanize"], ["errors per second"]),
        ('Only {{ printf "%.2f" $value }}% space left', ["printf", "%", "$value"], ["Only", "space left"]),
        ("{{ $value | humanizePercentage }} of requests fail", ["humanizePercentage"], ["of requests fail"]),
        (
            "Volume {{ with $labels.cluster -}} on Cluster {{ . }} {{- end }} is full",
            ["{{", "with", "end"],
            ["Volume", "on Cluster", "is full"],
        ),
        ("Unclosed {{ $labels.instance", ["{{", "$labels"], ["Unclosed"]),
        ("Value is $value and ${threshold}", ["$value", "${"], ["Value is"]),
        # Identifiers and values.
        ("Request 3f2b8c1e-9a4d-4e2b-8f7a-1c2d3e4f5a6b failed", ["3f2b8c1e"], ["Request", "failed"]),
        ("Image sha256:4d719f1dea8853540b3823ab1fbe6be74a9953b3 pulled", ["sha256", "4d719f"], ["Image", "pulled"]),
        ("Commit 4d719f1dea8853540b3823ab1fbe6be74a9953b3 deployed", ["4d719f"], ["Commit", "deployed"]),
        ("Container 9c8e7f6a5b4d is unhealthy", ["9c8e7f6a5b4d"], ["Container", "is unhealthy"]),
        ("Address 0x7ffd5a3c at fault", ["0x7ffd5a3c"], ["Address", "at fault"]),
        ("Host 10.0.3.17:9100 unreachable", ["10.0.3.17", "9100"], ["Host", "unreachable"]),
        ("Subnet 10.20.0.0/16 exhausted", ["10.20", "/16"], ["Subnet", "exhausted"]),
        ("Peer fe80::1ff:fe23:4567:890a dropped", ["fe80", "890a"], ["Peer", "dropped"]),
        ("NIC 00:1a:2b:3c:4d:5e flapping", ["00:1a"], ["NIC", "flapping"]),
        ("Queue has 184523 messages", ["184523"], ["Queue has", "messages"]),
        ("Queue has 1,234,567 messages", ["1,234"], ["Queue has", "messages"]),
        ("Lag is 184.27 seconds", ["184.27"], ["Lag is", "seconds"]),
        ("CPU usage is 95.3% on the node", ["95.3", "%"], ["CPU usage is", "on the node"]),
        ("Usage at 97 % now", ["97", "%"], ["Usage at", "now"]),
        ("Disk has 12.5GB free", ["12.5", "GB"], ["Disk has", "free"]),
        ("Started 2026-06-02T07:41:12.386Z and retried", ["2026", "07:41"], ["Started", "and retried"]),
        ("Since 2026-06-02 07:41:12 UTC errors", ["2026", "UTC"], ["Since", "errors"]),
        ("At 10:32:05 the link failed", ["10:32"], ["At", "the link failed"]),
        ("Backup of 2026/06/02 missing", ["2026"], ["Backup of", "missing"]),
        # Kubernetes generated names.
        ("Pod web-7c9d8f6b5-x2x9k is crash looping", ["7c9d8f6b5", "x2x9k"], ["Pod web is crash looping"]),
        ("Pod payments/checkout-api-5d9b7c7b4f-2xk9p restarted", ["5d9b7c7b4f"], ["payments/checkout-api restarted"]),
        ("DaemonSet pod node-exporter-7xk2p missing", ["7xk2p"], ["node-exporter missing"]),
        ("Job pod backup-28512345-abcde failed", ["28512345", "abcde"], ["backup failed"]),
        ("ReplicaSet web-7c9d8f6b5 scaled", ["7c9d8f6b5"], ["ReplicaSet web scaled"]),
        # Links, names and quoted values.
        ("See https://grafana.example.com/d/abc?x=1 for details", ["https", "grafana"], ["See", "for details"]),
        ("Docs at www.example.com/runbook, then retry", ["www", "example"], ["Docs at", "then retry"]),
        ("Mail oncall@example.com now", ["oncall", "@"], ["Mail", "now"]),
        ("Host db-01.eu-west-1.example.net is slow", ["db-01", "example"], ["Host", "is slow"]),
        ('Series {instance="10.0.0.1:9100", job="node"} absent', ['instance="', 'job="', "{"], ["Series", "absent"]),
        ('Pod "payments-7f9c" not ready', ['"', "7f9c"], ["Pod", "not ready"]),
        ("Interface 'eth0' is down", ["eth0", "'"], ["Interface", "is down"]),
        ("[FIRING:3] Disk almost full", ["FIRING", "[", "3"], ["Disk almost full"]),
        ("VALUE = 93.5\n LABELS = map[job:pg instance:x] too many", ["VALUE", "93.5", "map["], ["too many"]),
    ],
)
def test_normalize_text_removes_noise_and_keeps_words(text: str, gone: list[str], kept: list[str]) -> None:
    result = normalize_text(text)
    for fragment in gone:
        assert fragment not in result, (fragment, result)
    for fragment in kept:
        assert fragment in result, (fragment, result)


def test_pod_name_hash_suffixes_are_removed_exactly() -> None:
    assert normalize_text("web-7c9d8f6b5-x2x9k") == "web"
    assert normalize_text("orders-worker-6d8f7b9c5-q7z4m") == "orders-worker"


def test_quoted_reason_words_are_kept() -> None:
    result = normalize_text('waiting state (reason: "CrashLoopBackOff"), last "OOMKilled"')
    assert result == "waiting state (reason: CrashLoopBackOff), last OOMKilled"


@pytest.mark.parametrize(
    "text",
    [
        "Pod is crash looping.",
        "PostgreSQL replication lag is going up (> 30s).",
        "Filesystem is predicted to run out of space within the next 24 hours.",
        "TLS 1.2 handshakes fail for old clients; certificates expire in 13 days.",
        "Disk /var/lib/postgresql is full, see the runbook.",
        "Too many connections: 3 of 5 replicas are down (e.g. after a failover).",
        "KubePodCrashLooping fires when a container restarts 5 times in 10m.",
    ],
)
def test_clean_text_is_left_as_is(text: str) -> None:
    assert normalize_text(text) == text


def test_nothing_meaningful_is_lost_from_a_noisy_description() -> None:
    text = (
        "Pod payments-prod/web-7c9d8f6b5-x2x9k (web) on 10.2.1.15:8080 restarted 12 times since "
        "2026-06-11T15:20:44Z; memory usage 97.3%, limit 512Mi, request 3f2b8c1e-9a4d-4e2b-8f7a-1c2d3e4f5a6b."
    )
    result = normalize_text(text)
    for word in ["Pod", "payments-prod/web", "(web)", "restarted", "12 times", "memory usage", "limit", "512Mi"]:
        assert word in result, (word, result)


def test_normalize_text_is_deterministic_and_idempotent() -> None:
    text = 'CPU {{ $value }}% on "node-1" at 2026-06-02T07:41:12Z ({{ $labels.instance }})'
    once = normalize_text(text)
    assert once == normalize_text(text)
    assert normalize_text(once) == once
    assert normalize_text("") == ""


# --- CamelCase ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("KubePodCrashLooping", "kube pod crash looping"),
        ("KubeAPIErrorBudgetBurn", "kube api error budget burn"),
        ("NodeFilesystemSpaceFillingUp", "node filesystem space filling up"),
        ("PostgreSQLTooManyConnections", "postgresql too many connections"),
        ("CoreDNSErrorsHigh", "coredns errors high"),
        ("CPUThrottlingHigh", "cpu throttling high"),
        ("etcdHighNumberOfFailedGRPCRequests", "etcd high number of failed grpc requests"),
        ("Http5xxErrors", "http 5xx errors"),
        ("disk_full", "disk full"),
        ("tls-handshake-errors", "tls handshake errors"),
        ("Watchdog", "watchdog"),
    ],
)
def test_split_identifier(name: str, expected: str) -> None:
    assert split_identifier(name) == expected


# --- build_query ------------------------------------------------------------------------------------------------


def test_build_query_from_a_crash_loop_alert() -> None:
    query = build_query(sample("am_pod_crash_loop.json"))
    assert isinstance(query, SearchQuery)
    assert query.text.startswith("kube pod crash looping. Pod is crash looping.")
    assert "crash loop back off" in query.text  # the quoted reason, split into words
    for noise in ["7c9d8f6b5", "x2x9k", "3f2b8c1e", "{{", '"']:
        assert noise not in query.text
    assert query.alertname == "KubePodCrashLooping"
    assert query.namespace == "payments-prod"
    assert query.job == "kube-state-metrics"
    assert query.service == "web"
    assert query.environment == "production"
    assert query.labels["reason"] == "CrashLoopBackOff"


def test_build_query_without_the_alertname() -> None:
    alert = sample("am_pod_crash_loop.json")
    query = build_query(alert, include_alertname=False)
    assert query.text.startswith("Pod is crash looping.")
    assert "kube pod crash looping" not in query.text
    assert query.alertname is None
    assert "alertname" not in query.labels
    assert build_query(alert).labels["alertname"] == "KubePodCrashLooping"


def test_alertname_is_cut_from_the_text_when_excluded() -> None:
    (alert,) = parse_alerts(
        {
            "version": "4",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "PostgresqlTooManyConnections", "job": "pg"},
                    "annotations": {"description": "PostgresqlTooManyConnections: pool is exhausted."},
                }
            ],
        }
    )
    assert alert.title == "PostgresqlTooManyConnections"  # no summary: the title is the alertname
    with_name = build_query(alert)
    assert with_name.text == "postgresql too many connections. pool is exhausted."
    without = build_query(alert, include_alertname=False)
    assert "postgresql" not in without.text.lower()
    assert without.text == "pool is exhausted."


def test_build_query_for_formats_without_an_alertname() -> None:
    query = build_query(sample("pagerduty_triggered.json"))
    # The service's words follow when the text does not name them (PagerDuty's service "Checkout API").
    assert query.text == "postgresql too many connections orders-db (postgres-exporter). Checkout API."
    assert query.alertname is None and query.service == "Checkout API"
    generic = build_query(sample("generic_dns.json"))
    assert "10.0.0" not in generic.text and "SERVFAIL" in generic.text
    assert generic.environment == "production" and generic.component == "dns"


def test_split_camel_case_can_be_turned_off() -> None:
    alert = sample("am_pod_crash_loop.json")
    assert "CrashLoopBackOff" in build_query(alert, split_camel_case=False).text


def test_volatile_labels_stay_out_of_the_query_context() -> None:
    alert = NormalizedAlert(
        alert_id="a",
        source="alertmanager",
        status="firing",
        title="Target down",
        labels={"alertname": "TargetDown", "job": "api", "prometheus_replica": "prometheus-k8s-1", "__x__": "1"},
    )
    assert build_query(alert).labels == {"alertname": "TargetDown", "job": "api"}


def test_empty_text_falls_back_to_service_words() -> None:
    alert = NormalizedAlert(
        alert_id="a", source="generic", status="firing", title="4d719f1dea88", service="orders_api", component="db"
    )
    assert build_query(alert).text == "orders api db."
    bare = NormalizedAlert(alert_id="a", source="generic", status="firing", title="10.0.0.1")
    assert build_query(bare).text == ""


def test_title_and_description_are_not_repeated() -> None:
    alert = NormalizedAlert(
        alert_id="a", source="generic", status="firing", title="Disk full on db-1", description="Disk full on db-1."
    )
    assert build_query(alert).text == "Disk full on db-1."


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.json")))
def test_sample_queries_are_clean(name: str) -> None:
    for alert in parse_alerts((SAMPLES / name).read_bytes()):
        for include in (True, False):
            text = build_query(alert, include_alertname=include).text
            assert text
            assert not re.search(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|https?://|\{\{|\d{5,}|\d%", text), text


# --- the published Prometheus alert texts ------------------------------------------------------------------------


def _eval_alerts() -> list[dict[str, str]]:
    if not EVAL_ALERTS.is_file():
        pytest.skip(f"{EVAL_ALERTS} is absent (the shared evaluation data sits beside the repository)")
    return [json.loads(line) for line in EVAL_ALERTS.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_no_template_placeholder_survives_in_the_eval_alerts() -> None:
    rows = _eval_alerts()
    assert rows
    raw_with_templates = 0
    for row in rows:
        text = f"{row.get('summary') or ''} {row.get('description') or ''}"
        raw_with_templates += "{{" in text
        alert = NormalizedAlert(
            alert_id=row["id"],
            source="generic",
            status="firing",
            title=row.get("summary") or row["alertname"],
            description=row.get("description") or "",
            labels={"alertname": row["alertname"]},
        )
        for query_text in (
            normalize_text(text),
            build_query(alert).text,
            build_query(alert, include_alertname=False).text,
        ):
            for placeholder in ("{{", "}}", "$labels", "$value"):
                assert placeholder not in query_text, (row["id"], query_text)
        assert row["alertname"].lower() not in build_query(alert, include_alertname=False).text.lower()
    assert raw_with_templates > 0  # the check above had something to remove


@pytest.mark.parametrize(
    ("name", "cleaned"),
    [
        ("Critical: Orders DB replication lag", "Orders DB replication lag"),
        ("P1 - Checkout down", "Checkout down"),
        ("[FIRING:3] PostgresqlTooManyConnections orders-db", "PostgresqlTooManyConnections orders-db"),
        ("Memory (copy)", "Memory"),
        ("Memory (copy 2) on web", "Memory on web"),
        # Words that only look like decorations stay.
        ("High CPU usage", "High CPU usage"),
        ("Low disk space", "Low disk space"),
        ("error rate high", "error rate high"),
    ],
)
def test_tool_decorations_are_cut_from_names_and_titles(name: str, cleaned: str) -> None:
    assert clean_name(name) == cleaned


def test_a_duplicated_grafana_rule_is_searched_by_its_own_name() -> None:
    (alert,) = parse_alerts(
        {"alert_id": "a", "title": "High memory usage", "labels": {"alertname": "Memory (copy)"}}, format="generic"
    )
    assert "copy" not in build_query(alert).text


def test_a_title_that_only_says_the_alert_fired_leads_with_the_rule_and_is_not_searched() -> None:
    (alert,) = parse_alerts(
        {
            "receiver": "ops",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "High CPU usage", "zone": "eu-1"},
                    "annotations": {
                        "summary": "This alert was triggered for zone eu-1",
                        "description": "The system has high CPU usage",
                    },
                }
            ],
        },
        format="alertmanager",
    )
    assert alert.title == "High CPU usage: This alert was triggered for zone eu-1"
    text = build_query(alert).text
    assert "triggered" not in text and "zone" not in text, text
    assert text.startswith("high cpu usage.") and "The system has high CPU usage" in text, text


@pytest.mark.parametrize(
    "summary",
    ["Disk sda1 was triggered by a full log partition", "CPU usage is high: This alert was triggered for web-1"],
)
def test_a_summary_that_names_the_problem_stays_the_title(summary: str) -> None:
    (alert,) = parse_alerts(
        {
            "receiver": "ops",
            "alerts": [
                {"status": "firing", "labels": {"alertname": "HostTrouble"}, "annotations": {"summary": summary}}
            ],
        },
        format="alertmanager",
    )
    assert alert.title == summary
