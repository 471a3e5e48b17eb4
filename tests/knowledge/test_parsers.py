"""Runbook parsers on Markdown: the public prometheus-operator runbooks and the fixtures, and through them the
rules that split blocks into steps (shared with DOCX)."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from ai_service.errors import InputError
from ai_service.knowledge.models import ParsedRunbook, ParsedStep
from ai_service.knowledge.parsers import iter_runbook_files, parse_markdown_text, parse_runbook_file

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
