"""Risk inference: read-only, reversible and destructive actions, in prose and in commands."""

from __future__ import annotations

import pytest

from ai_service.knowledge.risk import command_head, command_lines, infer_risk, split_segments

FENCE = "```"


def shell(*lines: str, lang: str = "shell") -> str:
    return f"{FENCE}{lang}\n" + "\n".join(lines) + f"\n{FENCE}"


CASES: list[tuple[str, str, str, str]] = [
    # --- read-only diagnosis -> low
    ("kubectl get", shell("kubectl -n monitoring get pods -o wide"), "diagnosis", "low"),
    ("kubectl describe inline", "Check pod events via `kubectl -n $NS describe pod $POD`.", "diagnosis", "low"),
    ("kubectl logs", shell("kubectl -n monitoring logs -l app=alertmanager -c alertmanager"), "diagnosis", "low"),
    ("df and du", shell("df -h /", "sudo du -xh --max-depth=2 /var | sort -rh | head"), "diagnosis", "low"),
    ("top", shell("top -b -n 1 -o %CPU | head -20"), "diagnosis", "low"),
    (
        "SELECT in psql",
        shell('sudo -u postgres psql -X -c "SELECT count(*) FROM pg_stat_activity;"'),
        "diagnosis",
        "low",
    ),
    (
        "EXPLAIN in sql block",
        shell("EXPLAIN ANALYZE SELECT * FROM orders WHERE id = 1;", lang="sql"),
        "diagnosis",
        "low",
    ),
    ("curl GET", shell("curl -s http://localhost:9090/-/healthy"), "diagnosis", "low"),
    ("dig", shell("dig example.com @10.0.0.53 +tries=1"), "diagnosis", "low"),
    (
        "promql with DELETE label value",
        shell('rate(apiserver_request_total{verb=~"POST|DELETE"}[5m])', lang="promql"),
        "diagnosis",
        "low",
    ),
    (
        "output column named Delete",
        shell("$ kubectl get storageclass", "standard   kubernetes.io/gce-pd   Delete   true"),
        "diagnosis",
        "low",
    ),
    ("grep for the word delete", shell("kubectl logs deploy/api | grep delete"), "diagnosis", "low"),
    ("prose check", "Check the alert's `mountpoint` label.", "diagnosis", "low"),
    ("past tense deleted", "Check whether deleted pods are listed in the events.", "diagnosis", "low"),
    ("undelete is not delete", "Look at the undelete history of the bucket.", "diagnosis", "low"),
    ("negated delete", "Do not delete WAL files by hand. Check which slot retains them.", "diagnosis", "low"),
    ("avoid deleting", "Previous configuration keeps working, so avoid deleting existing pods.", "diagnosis", "low"),
    ("forcefully evicted (past)", "Check if certain pods were forcefully evicted.", "diagnosis", "low"),
    ("noun: update strategy", "Check the DaemonSet update strategy.", "diagnosis", "low"),
    ("noun: restart count", "Read the restart count of each container.", "diagnosis", "low"),
    ("relative clause", "Check the configuration which it tries to reload.", "diagnosis", "low"),
    ("state: terminating", "Check whether pods are stuck in terminating state.", "diagnosis", "low"),
    ("condition: if expansion", "To check if volume expansion is available, run the query below.", "diagnosis", "low"),
    ("placeholder replace", "Replace `/var` with the mount point from the alert.", "diagnosis", "low"),
    ("unable to scale", "Check why HPA was unable to scale.", "diagnosis", "low"),
    # --- reversible changes -> medium
    ("rollout restart", shell("kubectl -n shop rollout restart deployment/api"), "mitigation", "medium"),
    ("systemctl restart", shell("sudo systemctl restart postgresql@16-main"), "mitigation", "medium"),
    ("systemctl reload", shell("sudo systemctl reload nginx"), "mitigation", "medium"),
    ("kubectl scale", shell("kubectl scale deployment/api --replicas=5"), "mitigation", "medium"),
    ("cordon", "Cordon the node so no new pods land on it.", "mitigation", "medium"),
    ("kill a process", shell("kill -TERM 4242"), "mitigation", "medium"),
    ("terminate a backend", shell("SELECT pg_terminate_backend(4242);", lang="sql"), "mitigation", "medium"),
    (
        "promote a standby",
        shell("sudo -u postgres pg_ctl promote -D /var/lib/postgresql/16/main"),
        "mitigation",
        "medium",
    ),
    ("increase a limit", "Increase the memory limit of the container to 2Gi.", "mitigation", "medium"),
    ("raise max pods", "You can raise the max pods per node limit by changing `maxPods`.", "mitigation", "medium"),
    ("roll back a deployment", shell("kubectl rollout undo deployment/api"), "mitigation", "medium"),
    ("etcd defrag", shell("$ etcdctl defrag"), "mitigation", "medium"),
    ("curl POST reload", shell("curl -X POST http://localhost:9093/-/reload"), "mitigation", "medium"),
    ("unknown mitigation wording", "Make sure pods have enough resources to work correctly.", "mitigation", "medium"),
    ("must be restarted", "The exporter must be restarted after the change.", "mitigation", "medium"),
    (
        "read-only diagnosis that restarts",
        "Check that no unit failed, and restart any that did.",
        "verification",
        "medium",
    ),
    # --- destructive or irreversible -> high
    ("kubectl delete", shell("kubectl -n kube-system delete pod -l k8s-app=kube-proxy"), "mitigation", "high"),
    ("prose delete", "Delete the incorrect secret and deploy the correct one.", "mitigation", "high"),
    ("drain", "Cordon and drain the node to migrate apps from it.", "mitigation", "high"),
    ("rm -rf", shell("sudo rm -rf /var/lib/docker/tmp/*"), "mitigation", "high"),
    ("find -delete", shell("sudo find /var/log -name '*.gz' -mtime +14 -delete"), "mitigation", "high"),
    ("truncate a file", shell("sudo truncate -s 0 /proc/4242/fd/7"), "mitigation", "high"),
    ("DROP TABLE", shell("DROP TABLE audit_log_2019;", lang="sql"), "mitigation", "high"),
    (
        "DELETE FROM",
        shell("DELETE FROM jobs WHERE finished_at < now() - interval '30 days';", lang="sql"),
        "mitigation",
        "high",
    ),
    ("UPDATE SET", shell("UPDATE accounts SET locked = false WHERE id = 7;", lang="sql"), "mitigation", "high"),
    ("ALTER TABLE", shell("ALTER TABLE orders ADD COLUMN note text;", lang="sql"), "mitigation", "high"),
    ("--force", shell("kubectl replace --force -f pod.yaml"), "mitigation", "high"),
    ("grace period 0", shell("kubectl delete pod api-0 --grace-period=0"), "mitigation", "high"),
    ("mkfs", shell("sudo mkfs.ext4 /dev/sdb1"), "mitigation", "high"),
    ("wipe", "Wipe the old data directory before re-seeding the replica.", "mitigation", "high"),
    ("docker prune", shell("sudo docker image prune -a -f"), "mitigation", "high"),
    ("journal vacuum", shell("sudo journalctl --vacuum-size=500M"), "mitigation", "high"),
    (
        "volume resize",
        "If volume resizing is available, it's easiest to increase the capacity of the volume.",
        "mitigation",
        "high",
    ),
    ("lvextend", shell("sudo lvextend -r -L +10G /dev/vg0/data"), "mitigation", "high"),
    ("scale to zero", "Scale the oldest ReplicaSets to 0 and delete them.", "mitigation", "high"),
    ("irreversible note", "Purge the queue. This cannot be undone.", "mitigation", "high"),
    ("should be terminated", "Once the problem is resolved, the instance should be terminated.", "mitigation", "high"),
    ("curl DELETE", shell("curl -X DELETE http://es:9200/logs-2019.01.01"), "mitigation", "high"),
    ("riskiest wins", "Check the logs, restart the exporter, then delete the stale lock file.", "mitigation", "high"),
    ("risky verb in diagnosis still counts", "Remove the stale lock before reading the logs.", "diagnosis", "high"),
]


@pytest.mark.parametrize(("action", "phase", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_infer_risk(action: str, phase: str, expected: str) -> None:
    level, reason = infer_risk(action, phase)
    assert level == expected, reason
    assert reason


def test_has_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30
    assert {case[3] for case in CASES} == {"low", "medium", "high"}


def test_reason_names_the_matched_text() -> None:
    _, reason = infer_risk(shell("kubectl -n shop delete pod api-0"), "mitigation")
    assert "kubectl delete" in reason


def test_default_by_phase_when_nothing_matches() -> None:
    assert infer_risk("Talk to the database team.", "diagnosis")[0] == "low"
    assert infer_risk("Make sure the service has enough capacity.", "mitigation")[0] == "medium"
    assert infer_risk("Make sure the service has enough capacity.", "verification")[0] == "low"


def test_split_segments_separates_prose_inline_and_fenced_code() -> None:
    text = "Run `df -h` first.\n\n```shell\nrm -rf /tmp/x\n```\nDone."
    kinds = [(segment.kind, segment.lang) for segment in split_segments(text)]
    assert kinds == [("prose", ""), ("code", "inline"), ("prose", ""), ("code", "shell"), ("prose", "")]


def test_command_lines_keeps_prompted_lines_and_continuations() -> None:
    block = "$ kubectl get pods \\\n    -n monitoring\nNAME READY\n# lsof -n\noutput line"
    assert command_lines(block).splitlines() == ["kubectl get pods \\", "    -n monitoring", "lsof -n"]
    assert command_lines("# a comment\nkubectl get pods") == "kubectl get pods"


def test_command_head_skips_wrappers_flags_and_assignments() -> None:
    assert command_head("sudo -u postgres kubectl -n x delete pod y") == ["kubectl", "delete", "pod", "y"]
    assert command_head("NODE_NAME=<instance label> oc debug node/x") == ["oc", "debug", "node/x"]
    assert command_head("grep delete app.log") == ["grep"]
