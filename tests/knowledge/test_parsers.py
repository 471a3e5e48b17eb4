"""Runbook parsers: Markdown (fixtures and the public prometheus-operator runbooks), YAML/JSON, DOCX."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from datetime import date
from pathlib import Path, PurePosixPath

import pytest
from docx import Document
from docx.enum.style import WD_STYLE_TYPE

from ai_service.errors import InputError
from ai_service.knowledge.models import ParsedRunbook, ParsedStep, make_step_id
from ai_service.knowledge.parsers import (
    derive_runbook_id,
    derive_service_component,
    iter_runbook_files,
    parse_markdown_text,
    parse_runbook_file,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROMETHEUS = (REPO_ROOT / "../shared/eval/prometheus/runbooks/content/runbooks").resolve()


def phases(runbook: ParsedRunbook) -> dict[str, int]:
    return dict(Counter(step.phase for step in runbook.steps))


def step_with(runbook: ParsedRunbook, text: str) -> ParsedStep:
    found = [step for step in runbook.steps if text in step.action]
    assert len(found) == 1, f"{text!r} is in {len(found)} steps"
    return found[0]


@pytest.fixture(scope="module")
def prometheus_root() -> Path:
    if not PROMETHEUS.is_dir():
        pytest.skip(f"prometheus-operator runbooks not found at {PROMETHEUS} (clone them to run these tests)")
    return PROMETHEUS


def parse_prometheus(root: Path, relative: str) -> ParsedRunbook:
    return parse_runbook_file(root / relative, root)


# --- the public prometheus-operator runbooks, with hand-written expectations ---------------------------------


def test_list_based_runbook(prometheus_root: Path) -> None:
    runbook = parse_prometheus(prometheus_root, "kubernetes/KubePodCrashLooping.md")
    assert runbook.runbook_id == "kubernetes-kubepodcrashlooping"
    assert runbook.service == "kubernetes"
    assert runbook.title == "Kube Pod Crash Looping"
    assert runbook.description is not None and runbook.description.startswith("Meaning: Pod is in CrashLoop")
    assert "Impact: Service degradation or unavailability." in runbook.description
    # four instruction items, then "Other things to check:" with its enumeration as one step
    assert phases(runbook) == {"diagnosis": 5, "mitigation": 1}
    assert "`kubectl -n $NAMESPACE describe pod $POD`" in runbook.steps[1].action
    nested = step_with(runbook, "Check pod template parameters such as:")
    assert "- readiness and liveness probes may be incorrect" in nested.action
    other = step_with(runbook, "Other things to check:")
    assert "- read only filesystem" in other.action
    assert all(step.condition == "Diagnosis of Kube Pod Crash Looping" for step in runbook.steps[:5])
    assert runbook.steps[5].condition == "Mitigation of Kube Pod Crash Looping"
    assert all(step.risk_level == "low" for step in runbook.steps[:5])


def test_prose_and_code_runbook(prometheus_root: Path) -> None:
    runbook = parse_prometheus(prometheus_root, "etcd/etcdInsufficientMembers.md")
    assert phases(runbook) == {"diagnosis": 6, "mitigation": 2}
    login = step_with(runbook, "Login to the cluster.")
    assert "```shell\n$ kubectl get nodes -l node-role.kubernetes.io/master=\n```" in login.action
    exec_step = step_with(runbook, "we need to `exec` into")
    assert (
        "$ kubectl exec -c etcdctl -n openshift-etcd $(kubectl get po -l app=etcd -oname -n openshift-etcd "
        "| awk -F\"/\" 'NR==1{ print $2 }')" in exec_step.action
    )
    assert exec_step.condition == "Diagnosis of etcdInsufficientMembers: General etcd health"
    health = step_with(runbook, "$ etcdctl endpoint health -w table")
    assert health.section == "Diagnosis > General etcd health"
    last_resort = runbook.steps[-1]
    assert last_resort.condition.startswith("if none of the above fix the issue")
    assert "Mitigation of etcdInsufficientMembers: Disaster and recovery" in last_resort.condition


def test_prose_with_example_output_and_expected_outcome(prometheus_root: Path) -> None:
    runbook = parse_prometheus(prometheus_root, "kubernetes/KubeNodeNotReady.md")
    assert phases(runbook) == {"diagnosis": 1, "mitigation": 1}
    diagnosis = runbook.steps[0]
    # the sample notification is explanation leading into the step that runs the command
    assert diagnosis.action.index("alertname = KubeNodeNotReady") < diagnosis.action.index("$ kubectl get node")
    assert diagnosis.expected_outcome is not None
    assert diagnosis.expected_outcome.startswith("The output should describe why the node isn't ready")
    assert diagnosis.risk_level == "low"
    assert runbook.steps[1].risk_level == "high"  # "the instance should be terminated"


def _only_reading_step(runbook: ParsedRunbook) -> ParsedStep:
    """A runbook without written steps gets exactly one low-risk diagnosis step that points at what it says."""
    assert len(runbook.steps) == 1
    (step,) = runbook.steps
    assert (step.phase, step.risk_level, step.risk_inferred) == ("diagnosis", "low", False)
    assert "no written steps" in step.condition
    return step


def test_stub_runbooks_parse_with_description_and_one_reading_step(prometheus_root: Path) -> None:
    todo = parse_prometheus(prometheus_root, "prometheus/PrometheusNotIngestingSamples.md")
    assert todo.description == "Meaning: Prometheus is not ingesting samples.\n\nImpact: Missing metrics."
    assert _only_reading_step(todo).action.endswith(todo.description)
    all_todo = parse_prometheus(prometheus_root, "kubernetes/KubeletPlegDurationHigh.md")
    assert "TODO" not in _only_reading_step(all_todo).action
    redirect = parse_prometheus(prometheus_root, "node/NodeRAIDDiskFailure.md")
    assert redirect.description == "See Node RAID Degraded (NodeRAIDDegraded.md)"
    assert "NodeRAIDDegraded.md" in _only_reading_step(redirect).action


def test_runbook_with_title_only_still_names_itself() -> None:
    runbook = parse_markdown_text("# Broker unreachable\n\n## Mitigation\n\nTODO\n")
    step = _only_reading_step(runbook)
    assert step.condition.startswith("Broker unreachable")
    assert "ask its owner" in step.action


def test_runbook_with_sub_headings(prometheus_root: Path) -> None:
    runbook = parse_prometheus(prometheus_root, "etcd/etcdBackendQuotaLowSpace.md")
    assert runbook.title == "etcdBackendQuotaLowSpace"
    assert phases(runbook) == {"diagnosis": 5, "mitigation": 2, "verification": 1}
    assert [step.section for step in runbook.steps] == [
        "Diagnosis > CLI Checks",
        "Diagnosis > CLI Checks",
        "Diagnosis > CLI Checks",
        "Diagnosis > PromQL queries",
        "Diagnosis > PromQL queries",
        "Mitigation > Capacity planning",
        "Mitigation > Defrag",
        "Mitigation > Defrag",
    ]
    status = step_with(runbook, "$ etcdctl endpoint status -w table")
    assert status.condition == "Diagnosis of etcdBackendQuotaLowSpace: CLI Checks"
    query = step_with(runbook, "(etcd_mvcc_db_total_size_in_bytes / etcd_server_quota_backend_bytes) * 100")
    assert "PromQL queries" in query.condition
    defrag = step_with(runbook, "$ etcdctl defrag")
    assert defrag.condition == "When the etcd DB size increases (Mitigation of etcdBackendQuotaLowSpace: Defrag)"
    assert defrag.risk_level == "medium"
    validation = runbook.steps[-1]
    assert validation.phase == "verification"
    assert validation.action.startswith("As validation, check the endpoint status")
    assert validation.expected_outcome == "More space should be available now."


def test_long_runbook(prometheus_root: Path) -> None:
    runbook = parse_prometheus(prometheus_root, "kubernetes/KubePersistentVolumeFillingUp.md")
    counts = phases(runbook)
    assert counts["diagnosis"] == 2
    assert 20 <= counts["mitigation"] <= 30
    restart = step_with(runbook, "$ kubectl -n <my-namespace> delete pod `kubectl -n <my-namespace> get pod -ojson")
    assert restart.section == "Mitigation > Direct Volume resizing"
    assert restart.condition.startswith("Once the PVC status says to restart the respective pod")
    assert restart.risk_level == "high"
    resize = step_with(runbook, "$ kubectl -n <my-namespace> edit pvc <my-pvc>")
    assert "And edit `.spec.resources.requests.storage`" in resize.action  # "And ..." continues the step
    assert resize.risk_level == "high"
    purge = step_with(runbook, "it may be best to purge the volume")
    assert purge.condition.startswith("When the data is ephemeral and volume expansion is not available")
    assert purge.risk_level == "high"
    procedure = [step for step in runbook.steps if "In general procedure is like this" in step.condition]
    assert [step.action for step in procedure][:3] == [
        "add new nodes with bigger capacity than existing cluster",
        "trigger data migration",
        "scale in to 0 old instance pool and after that delete it.",
    ]


def test_runbook_without_sections_is_read_as_steps(prometheus_root: Path) -> None:
    runbook = parse_prometheus(prometheus_root, "prometheus/PrometheusDuplicateTimestamps.md")
    assert phases(runbook) == {"other": 2}
    assert runbook.steps[0].condition == "Responding to Prometheus Duplicate Timestamps"
    assert "$ kubectl -n <namespace> logs prometheus-k8s-0" in runbook.steps[1].action
    assert runbook.steps[1].risk_level == "low"  # "resolved by removing ..." is explanation, not the instruction


def test_templates_in_commands_stay_verbatim_and_shortcodes_leave_conditions(prometheus_root: Path) -> None:
    members = parse_prometheus(prometheus_root, "etcd/etcdMembersDown.md")
    template = '--template=\'{{range .items}}{{"===> node:> "}}{{.metadata.name}}{{"\\n"}}'
    assert template in step_with(members, "machineconfiguration.openshift.io/state").action
    clock = parse_prometheus(prometheus_root, "node/NodeClockNotSynchronising.md")
    (step,) = clock.steps
    assert step.action == "See Node Clok Skew Detected (NodeClockSkewDetected.md) for mitigation steps."
    assert "{{" not in step.condition


def test_parsing_is_stable(prometheus_root: Path) -> None:
    first = parse_prometheus(prometheus_root, "etcd/etcdBackendQuotaLowSpace.md")
    second = parse_prometheus(prometheus_root, "etcd/etcdBackendQuotaLowSpace.md")
    assert first.model_dump() == second.model_dump()
    assert [first.step_id(step) for step in first.steps][:2] == [
        "etcd-etcdbackendquotalowspace-S1",
        "etcd-etcdbackendquotalowspace-S2",
    ]


def test_a_changed_step_changes_only_its_own_hash(prometheus_root: Path, tmp_path: Path) -> None:
    original = prometheus_root / "etcd/etcdBackendQuotaLowSpace.md"
    copy = tmp_path / "etcd" / "etcdBackendQuotaLowSpace.md"
    copy.parent.mkdir()
    shutil.copy(original, copy)
    before = parse_runbook_file(copy, tmp_path)
    copy.write_text(original.read_text().replace("$ etcdctl defrag\n", "$ etcdctl defrag --cluster\n"))
    after = parse_runbook_file(copy, tmp_path)
    assert after.runbook_id == before.runbook_id == "etcd-etcdbackendquotalowspace"
    assert after.content_sha256 != before.content_sha256
    changed = [
        (old.position, new.position)
        for old, new in zip(before.steps, after.steps, strict=True)
        if old.content_sha256 != new.content_sha256
    ]
    assert changed == [(7, 7)]
    assert "$ etcdctl defrag --cluster" in after.steps[6].action


def test_all_prometheus_runbooks_parse(prometheus_root: Path, record_property: pytest.RecordProperty) -> None:
    files = sorted(prometheus_root.rglob("*.md"))
    runbooks = [parse_runbook_file(path, prometheus_root) for path in files]  # _index.md pages included
    real = [rb for rb, path in zip(runbooks, files, strict=True) if path.name != "_index.md"]
    assert len(real) == 108
    assert [p.name for p in iter_runbook_files(prometheus_root)] == [p.name for p in files if p.name != "_index.md"]
    totals = Counter(step.phase for rb in real for step in rb.steps)
    total = sum(totals.values())
    record_property("prometheus_steps", dict(totals))
    print(f"\nprometheus runbooks: {len(real)} runbooks, {total} steps, per phase {dict(sorted(totals.items()))}")
    assert 350 <= total <= 650
    assert totals["diagnosis"] >= 200 and totals["mitigation"] >= 150
    assert len({rb.runbook_id for rb in real}) == 108
    for runbook in real:
        assert runbook.description or runbook.steps, runbook.source_path
        assert [step.position for step in runbook.steps] == list(range(1, len(runbook.steps) + 1))
        for step in runbook.steps:
            assert step.condition.strip() and step.action.strip(), (runbook.runbook_id, step.position)
            assert "{{<" not in step.condition and "](" not in step.condition
            assert step.risk_level in ("low", "medium", "high")
    with_steps = sum(1 for rb in real if rb.steps)
    assert with_steps >= 100


# --- Markdown fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def disk_full() -> ParsedRunbook:
    return parse_runbook_file(FIXTURES / "markdown/storage/disk-full.md", FIXTURES / "markdown")


def test_front_matter_metadata(disk_full: ParsedRunbook) -> None:
    assert disk_full.runbook_id == "fixture-disk-full"
    assert disk_full.title == "Root filesystem nearly full"
    assert (disk_full.service, disk_full.component) == ("linux-host", "filesystem")
    assert disk_full.tags == ["disk", "logs"]
    assert disk_full.last_reviewed == date(2026, 3, 1)
    assert disk_full.format == "markdown"
    assert disk_full.source_path == "storage/disk-full.md"
    raw = (FIXTURES / "markdown/storage/disk-full.md").read_bytes()
    assert disk_full.content_sha256 == hashlib.sha256(raw).hexdigest()


def test_description_drops_html_and_keeps_details_text(disk_full: ParsedRunbook) -> None:
    assert disk_full.description == (
        "Meaning: The root filesystem is above 90% used.\n\n"
        "Logs and container images are the usual culprits.\n\n"
        "Impact: Writes fail once the disk is full."
    )


def test_numbered_steps_with_nested_code_and_expected_outcome(disk_full: ParsedRunbook) -> None:
    assert phases(disk_full) == {"diagnosis": 2, "mitigation": 3, "verification": 1}
    check = disk_full.steps[0]
    assert check.action == "Check which filesystem is full.\n\n```shell\ndf -h /\n```"
    assert check.expected_outcome == "`/` shows `Use%` above 90."
    nested = disk_full.steps[1]
    assert nested.action == "Find the largest directories.\n\n- Start with `/var/log`.\n- Then `/var/lib/docker`."


def test_sub_headings_condition_clause_risk_mark_and_rollback(disk_full: ParsedRunbook) -> None:
    journal = disk_full.steps[2]
    assert journal.section == "Mitigation > Disk full by logs"
    assert journal.condition == (
        "If the systemd journal is the largest consumer (Mitigation of Root filesystem nearly full: Disk full by logs)"
    )
    assert "Risk:" not in journal.action
    assert (journal.risk_level, journal.risk_inferred) == ("medium", False)
    assert journal.expected_outcome == "You should see the journal drop to about 500 MB."
    # the "## Rollback" item names step 3
    assert journal.rollback == "For step 3, restore the journal size limit in `/etc/systemd/journald.conf`."
    delete = disk_full.steps[3]
    assert delete.condition == "Mitigation of Root filesystem nearly full: Disk full by logs"
    assert (delete.risk_level, delete.risk_inferred) == ("high", True)
    assert "This cannot be undone." in delete.action
    assert delete.rollback == "This cannot be undone."


def test_code_is_verbatim_while_prose_is_cleaned(disk_full: ParsedRunbook) -> None:
    images = disk_full.steps[4]
    assert images.section == "Mitigation > Disk full by images"
    assert images.action == (
        "Remove unused images, see the docs (images.md):\n\n"
        '```shell\ndocker image prune -a --filter "until={{ .Retention }}"\n```'
    )
    assert images.rollback == "To roll back, pull the removed images again."
    assert disk_full.steps[5].phase == "verification"
    assert disk_full.steps[5].condition == "Verification of Root filesystem nearly full"


@pytest.fixture(scope="module")
def prose() -> ParsedRunbook:
    return parse_runbook_file(FIXTURES / "markdown/prose-and-code.md", FIXTURES / "markdown")


def test_prose_sections_split_at_paragraphs_and_checklist_lines(prose: ParsedRunbook) -> None:
    assert prose.runbook_id == "prose-and-code"
    assert prose.service is None
    assert phases(prose) == {"diagnosis": 4, "mitigation": 2, "other": 1}
    lag = prose.steps[0]
    assert lag.action.startswith("The notification names the consumer group. For example:\n\n```txt\n")
    assert "```shell\n$ kafka-consumer-groups --describe --group payments\n```" in lag.action
    assert lag.expected_outcome == "The output should show the lag per partition."
    assert [step.action.split("\n")[0] for step in prose.steps[1:4]] == [
        "Check the consumer pods.",
        "Check the broker logs.",
        "Check the network policies.",
    ]
    # explanation attaches to the step before it; the TODO placeholder disappears
    assert prose.steps[3].action.endswith("This usually happens after a deploy. Nothing to do for the alert itself.")
    assert all("TODO" not in step.action for step in prose.steps)


def test_pseudo_heading_and_enumeration(prose: ParsedRunbook) -> None:
    restart = prose.steps[4]
    assert restart.condition == (
        "If the consumer is stuck on one message (Mitigation of Queue consumer stalled: When the consumer is stuck)"
    )
    assert "kubectl -n queue rollout restart deployment/payments-consumer" in restart.action
    assert restart.risk_level == "medium"
    rebalance = prose.steps[5]
    assert rebalance.action.startswith("Otherwise probably the topic needs to be rebalanced.")
    assert "- a poison message" in rebalance.action
    escalation = prose.steps[6]
    assert (escalation.phase, escalation.section) == ("other", "Escalation")
    assert escalation.condition == "Escalation for Queue consumer stalled"


def test_redirect_only_page_has_description_and_a_step_that_points_on() -> None:
    runbook = parse_runbook_file(FIXTURES / "markdown/redirect-only.md")
    assert runbook.runbook_id == "redirect-only"
    assert runbook.title == "Old alert name"
    assert runbook.description == "See Queue consumer stalled (prose-and-code.md)"
    assert _only_reading_step(runbook).action.endswith("See Queue consumer stalled (prose-and-code.md)")


def test_document_without_headings() -> None:
    runbook = parse_runbook_file(FIXTURES / "markdown/no-headings.md")
    assert [step.phase for step in runbook.steps] == ["other", "other"]
    assert runbook.steps[0].condition == "Responding to no-headings"
    assert runbook.steps[0].action.endswith("```shell\n$ kubectl -n <namespace> get pod\n```")


def test_front_matter_errors_name_file_and_line() -> None:
    with pytest.raises(InputError) as syntax:
        parse_runbook_file(FIXTURES / "markdown/bad-front-matter.md", FIXTURES / "markdown")
    assert str(syntax.value).startswith("bad-front-matter.md:3:16:")
    assert "front matter is not valid YAML" in syntax.value.message
    with pytest.raises(InputError) as typed:
        parse_runbook_file(FIXTURES / "markdown/bad-front-matter-type.md", FIXTURES / "markdown")
    assert typed.value.message.startswith("bad-front-matter-type.md:3: last_reviewed:")
    assert typed.value.hint == "write the date as YYYY-MM-DD"


def test_markdown_edge_cases() -> None:
    text = (
        "# Cache stale\n\n## Diagnosis\n\n"
        "<!-- hidden -->\n\n"
        "- See [the dashboard](https://grafana.example/d/cache)\n"
        "- Check the hit ratio:\n\n"
        "```promql\nrate(cache_hits_total[5m])\n```\n\n"
        "## Mitigation\n\nTBD\n\n"
        "## Fix verification\n\n"
        "Verify that the hit ratio recovered. [risk: low]\n"
    )
    runbook = parse_markdown_text(text, "cache/cache-stale.md")
    assert runbook.runbook_id == "cache-stale"
    assert phases(runbook) == {"diagnosis": 1, "verification": 1}
    check = runbook.steps[0]
    # the reference item leads into the step; the code block after the list belongs to the last item
    assert check.action == (
        "See the dashboard (https://grafana.example/d/cache)\n\nCheck the hit ratio:\n\n"
        "```promql\nrate(cache_hits_total[5m])\n```"
    )
    verify = runbook.steps[1]
    assert verify.section == "Fix verification"
    assert verify.condition == "Verification of Cache stale: Fix verification"
    assert (verify.action, verify.risk_level, verify.risk_inferred) == (
        "Verify that the hit ratio recovered.",
        "low",
        False,
    )


def test_rollback_section_matches_by_sub_heading_and_words() -> None:
    text = (
        "# Service overloaded\n\n## Mitigation\n\n### Scale out\n\nScale the deployment to 6 replicas.\n\n"
        "### Shed load\n\nEnable the rate limiter on the ingress.\n\n"
        "## Rollback\n\n"
        "- Shed load: disable the rate limiter again.\n"
        "- Scale the deployment back to 3 replicas when traffic drops.\n"
    )
    runbook = parse_markdown_text(text)
    scale, shed = runbook.steps
    assert shed.rollback == "Shed load: disable the rate limiter again."
    assert scale.rollback == "Scale the deployment back to 3 replicas when traffic drops."


def test_condition_and_action_are_never_empty() -> None:
    runbook = parse_markdown_text("# X\n\n## Mitigation\n\n```\nsystemctl restart x\n```\n")
    (step,) = runbook.steps
    assert step.condition == "Mitigation of X"
    assert step.action == "```\nsystemctl restart x\n```"


# --- ids and metadata derived from the path ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relative", "expected"),
    [
        ("node/NodeFilesystemSpaceFillingUp.md", "node-nodefilesystemspacefillingup"),
        ("kube-state-metrics/KubeStateMetricsListErrors.md", "kube-state-metrics-kubestatemetricslisterrors"),
        ("Postgres/Replication Lag (v2).yaml", "postgres-replication-lag-v2"),
        ("runbook.docx", "runbook"),
    ],
)
def test_derive_runbook_id(relative: str, expected: str) -> None:
    assert derive_runbook_id(PurePosixPath(relative)) == expected


def test_derive_service_and_component() -> None:
    assert derive_service_component(PurePosixPath("etcd/etcdNoLeader.md")) == ("etcd", None)
    assert derive_service_component(PurePosixPath("db/postgres/lag.md")) == ("db", "postgres")
    assert derive_service_component(PurePosixPath("lag.md")) == (None, None)


def test_step_id_format() -> None:
    assert make_step_id("node-nodeclockskewdetected", 3) == "node-nodeclockskewdetected-S3"


def test_unsupported_extension_and_path_outside_root(tmp_path: Path) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("hello")
    with pytest.raises(InputError, match=r"unsupported runbook file type '\.txt'"):
        parse_runbook_file(text_file)
    with pytest.raises(InputError, match="not inside the runbook root"):
        parse_runbook_file(FIXTURES / "markdown/redirect-only.md", tmp_path)


def test_markdown_extension_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "Cache.markdown"
    path.write_bytes("\ufeff# Cache\n\n## Fix\n\nFlush the cache.\n".encode())
    runbook = parse_runbook_file(path)
    assert (runbook.runbook_id, runbook.title, runbook.format) == ("cache", "Cache", "markdown")
    assert [(s.phase, s.risk_level) for s in runbook.steps] == [("mitigation", "high")]


def test_invalid_utf8_is_an_input_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_bytes(b"# Title\n\n## Diagnosis\n\nCheck \xff\xfe the disk.\n")
    with pytest.raises(InputError, match=r"broken\.md:5: not valid UTF-8"):
        parse_runbook_file(broken)


# --- YAML and JSON -------------------------------------------------------------------------------------------

STRUCTURED = FIXTURES / "structured"


def parse_structured(name: str) -> ParsedRunbook:
    return parse_runbook_file(STRUCTURED / name, STRUCTURED)


def test_yaml_runbook() -> None:
    runbook = parse_structured("pod-crashloop.yaml")
    assert runbook.format == "yaml"
    assert runbook.runbook_id == "fixture-pod-crashloop"
    assert runbook.last_reviewed == date(2026, 9, 14)
    assert runbook.description == "A container keeps exiting and the kubelet restarts it with a back-off."
    assert [step.phase for step in runbook.steps] == ["diagnosis", "mitigation", "mitigation", "verification"]
    first, rollback, delete, verify = runbook.steps
    assert (first.risk_level, first.risk_inferred) == ("low", False)
    assert first.action.endswith('```shell\nkubectl -n "$NS" describe pod "$POD"\n```')
    assert first.expected_outcome == "The failing container and why it stopped."
    assert (rollback.risk_level, rollback.risk_inferred) == ("medium", True)
    assert rollback.rollback == "Roll forward again with `kubectl rollout undo` once the fix is released."
    assert delete.risk_level == "high"
    assert verify.risk_level == "low"
    assert verify.section == "Verification"


def test_json_runbook_matches_yaml() -> None:
    from_yaml = parse_structured("pod-crashloop.yaml")
    from_json = parse_structured("pod-crashloop.json")
    assert from_json.format == "json"
    assert [s.content_sha256 for s in from_json.steps] == [s.content_sha256 for s in from_yaml.steps]
    assert from_json.model_dump(exclude={"format", "source_path", "content_sha256"}) == from_yaml.model_dump(
        exclude={"format", "source_path", "content_sha256"}
    )


def test_yaml_id_and_service_from_path(tmp_path: Path) -> None:
    runbook_file = tmp_path / "queues" / "kafka" / "Consumer Lag.yml"
    runbook_file.parent.mkdir(parents=True)
    runbook_file.write_text("title: Consumer lag\nsteps:\n  - condition: When lag grows\n    action: Check lag.\n")
    runbook = parse_runbook_file(runbook_file, tmp_path)
    assert runbook.runbook_id == "queues-kafka-consumer-lag"
    assert (runbook.service, runbook.component) == ("queues", "kafka")
    assert runbook.source_path == "queues/kafka/Consumer Lag.yml"


@pytest.mark.parametrize(
    ("name", "message", "hint"),
    [
        ("missing-action.yaml", "missing-action.yaml:5: steps[1].action: required field is missing", "missing field"),
        (
            "bad-risk-level.yaml",
            "bad-risk-level.yaml:5: steps[0].risk_level: Input should be 'low', 'medium' or 'high', got 'extreme'",
            "listed values",
        ),
        ("empty-steps.yaml", "empty-steps.yaml:2: steps: must not be empty (at least one item)", "at least one step"),
        (
            "unknown-field.yaml",
            "unknown-field.yaml:4: steps[0].acton: unknown field (did you mean 'action'?)",
            "remove or rename",
        ),
        ("syntax-error.yaml", "syntax-error.yaml:4:4: runbook is not valid YAML", "YAML syntax"),
        ("missing-action.json", "missing-action.json:5: steps[1].action: required field is missing", "missing field"),
        ("syntax-error.json", "syntax-error.json:4:64: not valid JSON", "JSON syntax"),
    ],
)
def test_structured_validation_errors(name: str, message: str, hint: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_structured(name)
    assert message in caught.value.message
    assert caught.value.hint is not None and hint in caught.value.hint
    assert caught.value.exit_code == 2


def test_wrong_types_report_every_field_with_its_line() -> None:
    with pytest.raises(InputError) as caught:
        parse_structured("wrong-types.yaml")
    lines = caught.value.message.splitlines()
    assert lines == [
        "wrong-types.yaml:2: tags: Input should be a valid list, got 5",
        "wrong-types.yaml:4: steps[0].condition: Input should be a valid string, got ['full', 'disk']",
        "wrong-types.yaml:5: steps[0].action: Input should be a valid string, got 42",
    ]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("- just\n- a list\n", "x.yaml:1: expected a mapping with 'title' and 'steps' at the top level, found a list"),
        ("", "x.yaml:1: expected a mapping with 'title' and 'steps' at the top level, found nothing"),
        ("steps:\n  - condition: c\n    action: a\n", "x.yaml:1: title: required field is missing"),
        ("title: T\nsteps:\n  - condition: '  '\n    action: a\n", "x.yaml:3: steps[0].condition: must not be empty"),
        ("title: T\nrunbook_id: Not A Slug\nsteps:\n  - {condition: c, action: a}\n", "x.yaml:2: runbook_id:"),
        ("title: T\nsteps:\n  - {condition: c, action: a, phase: fixing}\n", "x.yaml:3: steps[0].phase:"),
    ],
)
def test_more_yaml_errors(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        parse_runbook_file(path, tmp_path)
    assert fragment in caught.value.message


def test_yaml_phase_is_inferred_when_missing(tmp_path: Path) -> None:
    path = tmp_path / "svc.yaml"
    steps = [
        {"condition": "When the API is slow", "action": "Check the p99 latency dashboard."},
        {"condition": "When one pod is hot", "action": "Restart the pod with `kubectl delete pod api-0`."},
        {"condition": "After the restart", "action": "Confirm that p99 latency is back under 200 ms."},
    ]
    path.write_text(json.dumps({"title": "API slow", "steps": steps}))
    path = path.rename(tmp_path / "svc.json")
    runbook = parse_runbook_file(path, tmp_path)
    assert [(s.phase, s.risk_level) for s in runbook.steps] == [
        ("diagnosis", "low"),
        ("mitigation", "high"),
        ("verification", "low"),
    ]


# --- DOCX ----------------------------------------------------------------------------------------------------


def build_docx(path: Path) -> None:
    document = Document()
    document.core_properties.title = "Disk full on a database host"
    document.core_properties.keywords = "disk, postgres"
    document.core_properties.subject = "postgresql"
    code_style = document.styles.add_style("Code", WD_STYLE_TYPE.PARAGRAPH)
    document.add_paragraph("Disk full on a database host", style="Title")
    document.add_heading("Meaning", level=1)
    document.add_paragraph("The data volume is above 90% used.")
    document.add_heading("Diagnosis", level=1)
    document.add_paragraph("Check which filesystem is full.", style="List Number")
    command = document.add_paragraph()
    command.add_run("df -h /var/lib/postgresql").font.name = "Courier New"
    document.add_paragraph("Find the largest directories.", style="List Number")
    document.add_paragraph("Start with pg_wal.", style="List Number 2")
    document.add_heading("Mitigation", level=1)
    document.add_heading("WAL retained by a slot", level=2)
    document.add_paragraph("If an inactive slot retains WAL, drop it:")
    document.add_paragraph("SELECT pg_drop_replication_slot('old_standby');", style=code_style)
    document.add_paragraph("SELECT slot_name FROM pg_replication_slots;", style=code_style)
    document.add_paragraph("Expected: pg_wal shrinks at the next checkpoint.")
    bold = document.add_paragraph()
    bold.add_run("When the volume can grow").bold = True
    run_paragraph = document.add_paragraph("Extend the volume with ")
    run_paragraph.add_run("lvextend -r -L +10G /dev/vg0/data").font.name = "Consolas"
    document.add_heading("Verification", level=1)
    document.add_paragraph("1. Confirm that usage is back under 80%.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Mount"
    table.cell(0, 1).text = "Threshold"
    table.cell(1, 0).text = "/var/lib/postgresql"
    table.cell(1, 1).text = "80%"
    document.save(str(path))


def test_docx_runbook(tmp_path: Path) -> None:
    path = tmp_path / "postgres" / "Disk Full.docx"
    path.parent.mkdir()
    build_docx(path)
    runbook = parse_runbook_file(path, tmp_path)
    assert runbook.format == "docx"
    assert runbook.runbook_id == "postgres-disk-full"
    assert runbook.title == "Disk full on a database host"
    assert (runbook.service, runbook.tags) == ("postgresql", ["disk", "postgres"])
    assert runbook.description == "Meaning: The data volume is above 90% used."
    assert phases(runbook) == {"diagnosis": 2, "mitigation": 2, "verification": 1}
    check, largest, drop, extend, confirm = runbook.steps
    assert check.action == "Check which filesystem is full.\n\n```\ndf -h /var/lib/postgresql\n```"
    assert largest.action == "Find the largest directories.\n\n1. Start with pg_wal."
    assert drop.section == "Mitigation > WAL retained by a slot"
    assert (
        drop.condition
        == "If an inactive slot retains WAL (Mitigation of Disk full on a database host: WAL retained by a slot)"
    )
    assert drop.action.endswith(
        "```\nSELECT pg_drop_replication_slot('old_standby');\nSELECT slot_name FROM pg_replication_slots;\n```"
    )
    assert drop.expected_outcome == "pg_wal shrinks at the next checkpoint."
    assert drop.risk_level == "high"
    assert extend.condition == (
        "Mitigation of Disk full on a database host: WAL retained by a slot > When the volume can grow"
    )
    assert extend.action == "Extend the volume with `lvextend -r -L +10G /dev/vg0/data`"
    assert extend.risk_level == "high"
    assert confirm.phase == "verification"
    # a typed "1. " paragraph is a list item; the table attaches to the step as reference material
    assert confirm.action == "Confirm that usage is back under 80%.\n\nMount | Threshold\n/var/lib/postgresql | 80%"


def test_docx_heading_title_and_bullets(tmp_path: Path) -> None:
    document = Document()
    document.add_heading("Cache stale", level=1)
    document.add_heading("Troubleshooting", level=2)
    document.add_paragraph("Check the hit ratio on the dashboard.", style="List Bullet")
    document.add_paragraph("Check the eviction count.", style="List Bullet")
    path = tmp_path / "cache.docx"
    document.save(str(path))
    runbook = parse_runbook_file(path)
    assert runbook.title == "Cache stale"
    assert [(s.phase, s.condition) for s in runbook.steps] == [
        ("diagnosis", "Diagnosis of Cache stale: Troubleshooting"),
        ("diagnosis", "Diagnosis of Cache stale: Troubleshooting"),
    ]


def test_unreadable_docx_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.docx"
    path.write_bytes(b"this is not a zip file")
    with pytest.raises(InputError, match=r"broken\.docx:1: not a readable \.docx document"):
        parse_runbook_file(path)
