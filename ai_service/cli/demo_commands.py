"""`nocai demo`: the first thing a new user sees — the service on the embedded default, with a queue to look at.

The demo loads the sample knowledge base (a re-run touches nothing that did not change), mints two tokens (one
for the console, one for the webhooks), starts the service exactly as ``nocai serve`` does, sends sample alerts
through the real webhook endpoint over HTTP, waits until the workers have triaged them, prints what each got and
where the console is, and serves until Ctrl-C. The samples are chosen so that the queue shows all three bands
(``docs/policy.md`` says which sample gets which band and why). When it stops it revokes its two tokens, and the
embedded PostgreSQL it started stops with it (unless something else still uses it).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from ai_service.api.server import StopService, serve
from ai_service.auth.service import create_token, revoke_token
from ai_service.cli.console import console, err_console
from ai_service.cli.progress import progress_bar
from ai_service.config import Settings, get_settings
from ai_service.knowledge import service as knowledge
from ai_service.knowledge.signatures import ingest_incidents
from db.connection import connect

SAMPLES = Path(__file__).resolve().parents[1] / "alerts" / "samples"
#: One payload per kind of night: REVIEW (destructive plan, critical, unsure), PROPOSE (reversible plans in
#: production, one of them a Grafana and one a PagerDuty webhook), AUTO (the same certificate alert in staging).
DEMO_SAMPLES = (
    "am_postgres_connections.json",
    "am_disk_full.json",
    "am_replication_lag.json",
    "am_pod_crash_loop.json",
    "grafana_cpu.json",
    "am_certificate_expiry.json",
    "am_staging_certificate_expiry.json",
    "pagerduty_triggered.json",
)


@dataclasses.dataclass
class DemoTokens:
    console: str
    ingest: str
    ids: tuple[str, ...]


def demo_cmd(
    exit_after_triage: Annotated[
        bool,
        typer.Option(
            "--exit-after-triage",
            envvar="NOCAI_DEMO_EXIT_AFTER_TRIAGE",
            help="Stop once the sample alerts are triaged, instead of serving until Ctrl-C (for scripts).",
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Most seconds to wait for the sample alerts' triage.")
    ] = 180.0,
) -> None:
    """Run the service with the sample knowledge base and sample alerts in its queue; serve until Ctrl-C.

    Example: nocai demo                      (then open the printed URL and sign in with the printed token)
             nocai demo --exit-after-triage  (for scripts: exit 0 once every sample alert is triaged)
    """
    settings = get_settings()
    if "log_level" not in settings.model_fields_set:  # the walkthrough is the demo's output, not access logs
        settings = settings.model_copy(update={"log_level": "warning"})
    _load_sample_knowledge()
    tokens = _mint_tokens()
    failures: list[str] = []
    try:
        serve(
            settings,
            on_started=lambda stop: _walkthrough(settings, tokens, stop, exit_after_triage, timeout, failures),
        )
    finally:
        _revoke(tokens)
    if failures:
        err_console.print(f"Error: {failures[0]}")
        raise typer.Exit(1)


def _load_sample_knowledge() -> None:
    with connect(autocommit=True) as conn:
        embedder = knowledge.prepare_embedder(conn, get_settings())
        with progress_bar() as progress:
            knowledge.ingest_runbooks(conn, embedder, [knowledge.SAMPLE_DIR / "runbooks"], progress=progress)
            ingest_incidents(conn, embedder, [knowledge.SAMPLE_DIR / "incidents.csv"], progress=progress)


def _mint_tokens() -> DemoTokens:
    with connect(autocommit=True) as conn:
        console_token = create_token(conn, role="responder", name="demo-console", policy_roles=["sre"])
        ingest_token = create_token(conn, role="ingest", name="demo-webhooks")
    ids = (str(console_token.stored.id), str(ingest_token.stored.id))
    return DemoTokens(console=console_token.token, ingest=ingest_token.token, ids=ids)


def _revoke(tokens: DemoTokens) -> None:
    with connect(autocommit=True) as conn:
        for token_id in tokens.ids:
            revoke_token(conn, token_id)


def _walkthrough(
    settings: Settings,
    tokens: DemoTokens,
    stop: StopService,
    exit_after_triage: bool,
    timeout: float,
    failures: list[str],
) -> None:
    """Send the samples, wait for their triage, show the result and the console's address."""
    base = f"http://{_url_host(settings.host)}:{settings.port}"
    try:
        with httpx.Client(base_url=base, timeout=30.0) as client:
            incident_ids = _send_samples(client, tokens.ingest, tokens.console)
            incidents = _wait_for_triage(client, tokens.console, incident_ids, timeout)
    except (httpx.HTTPError, TimeoutError) as exc:
        failures.append(f"the demo could not complete: {exc}")
        stop()
        return
    _show(incidents)
    if exit_after_triage:
        stop()
        return
    console.print(f"\nThe console: {base}/   sign in with this token (role responder, policy role sre):")
    console.print(f"  {tokens.console}", soft_wrap=True)
    console.print(f"The API: {base}/docs   webhook token (role ingest): {tokens.ingest}", soft_wrap=True)
    console.print("Serving until Ctrl-C (the demo's tokens are revoked when it stops).")


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _send_samples(client: httpx.Client, ingest_token: str, console_token: str) -> list[str]:
    """Post the samples; an alert still open from an earlier demo is triaged again, so that the queue shows what
    today's knowledge base and policy make of it."""
    headers = {"Authorization": f"Bearer {ingest_token}", "Content-Type": "application/json"}
    incident_ids: list[str] = []
    again = 0
    for name in DEMO_SAMPLES:
        response = client.post("/api/v1/alerts", content=(SAMPLES / name).read_bytes(), headers=headers)
        response.raise_for_status()
        for receipt in response.json()["alerts"]:
            incident_id = receipt["incident_id"]
            if not incident_id or incident_id in incident_ids:
                continue
            incident_ids.append(incident_id)
            if receipt["outcome"] == "repeat":
                retriage = client.post(
                    f"/api/v1/incidents/{incident_id}/triage", headers={"Authorization": f"Bearer {console_token}"}
                )
                retriage.raise_for_status()
                again += 1
    console.print(
        f"sent {len(DEMO_SAMPLES)} sample webhooks to POST /api/v1/alerts: {len(incident_ids)} incidents"
        + (f" ({again} still open from an earlier demo, triaged again)" if again else "")
    )
    return incident_ids


def _wait_for_triage(client: httpx.Client, token: str, incident_ids: list[str], timeout: float) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while len(done) < len(incident_ids):
        for incident_id in incident_ids:
            if incident_id in done:
                continue
            response = client.get(f"/api/v1/incidents/{incident_id}", headers=headers)
            response.raise_for_status()
            detail = response.json()
            pending = any(item.get("status") in ("queued", "running") for item in detail.get("work") or [])
            if not pending and (detail.get("policy_band") or detail.get("work")):
                done[incident_id] = detail
        if len(done) < len(incident_ids):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(incident_ids) - len(done)} sample alert(s) not triaged after {timeout:.0f} s "
                    "(see `nocai queue status`)"
                )
            time.sleep(0.25)
    return [done[incident_id] for incident_id in incident_ids]


def _show(incidents: list[dict[str, Any]]) -> None:
    table = Table(title="the sample alerts, triaged")
    for column in ("band", "severity", "incident", "first step's runbook", "why (policy)"):
        table.add_column(column, overflow="fold")
    for detail in incidents:
        plan = detail.get("resolution") or {}
        steps = plan.get("recommendations") or []
        decision = detail.get("policy_decision") or {}
        reasons = [str(r) for r in decision.get("reasons") or []]
        if reasons and reasons[0].startswith("catch-all"):  # why not an earlier band: the last rule it missed
            reasons = reasons[-1:]
        table.add_row(
            detail.get("policy_band") or "not triaged",
            detail.get("severity") or "—",
            escape(detail.get("title") or detail["incident_id"]),
            steps[0]["runbook_id"] if steps else "no match",
            escape("; ".join(reasons[:2])) or "—",
        )
    console.print(table)
