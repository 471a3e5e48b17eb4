"""The web console in-process (FastAPI's TestClient) over a real database holding the sample knowledge base:
sign-in and sign-out, redirects, CSRF and role refusals, escaping of hostile alert text, every page for a viewer,
the live rows fragment, and the forms that move a plan and give feedback.

One app serves the module (its runtime has no worker: ``Console.triage()`` does a worker's job in the test);
each test makes the incidents it looks at. ``sample_kb_template`` (also used by the browser test) loads the
sample knowledge base once per test session and every app runs on a clone of it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ai_service.api.app import create_app
from ai_service.auth.service import create_token, revoke_token
from ai_service.config import Settings
from ai_service.queue import store as queue_store
from ai_service.service.runtime import Runtime
from ai_service.service.worker import Triager, process
from ai_service.web.render import safe_href
from ai_service.web.session import csrf_token
from tests.conftest import REPO_ROOT, PgServer

SAMPLES = REPO_ROOT / "ai_service" / "alerts" / "samples"
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


# ------------------------------------------------------------------------------------------------------
# Helpers shared with the browser test
# ------------------------------------------------------------------------------------------------------


def sample_kb_template(pg_server: PgServer) -> str:
    """The session's sample-knowledge-base template (see ``tests.conftest.PgServer``): clone it, never write."""
    return pg_server.sample_kb_template()


def make_tokens(url: str) -> dict[str, str]:
    """Tokens by who holds them: an SRE responder, an operator responder, a viewer, an admin, an ingest sender."""
    people = {
        "sre": ("responder", ["sre"]),
        "operator": ("responder", ["operator"]),
        "viewer": ("viewer", None),
        "admin": ("admin", None),
        "ingest": ("ingest", None),
    }
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            who: create_token(conn, role=role, name=f"{who}-person", policy_roles=roles).token
            for who, (role, roles) in people.items()
        }


def sample_payload(name: str = "am_postgres_connections.json") -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return payload


def with_instance(payload: dict[str, Any], instance: str) -> dict[str, Any]:
    """The same Alertmanager alert from another instance (another fingerprint: another incident)."""
    changed = copy.deepcopy(payload)
    for alert in changed["alerts"]:
        before = alert["labels"].get("instance", "")
        for texts in (alert.get("annotations") or {}, changed.get("commonAnnotations") or {}):
            for key, value in texts.items():
                if before and isinstance(value, str):
                    texts[key] = value.replace(before, instance)
        alert["labels"]["instance"] = instance
        alert.pop("fingerprint", None)
        alert["startsAt"] = datetime.now(UTC).isoformat()
    changed["commonLabels"]["instance"] = instance
    return changed


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


# ------------------------------------------------------------------------------------------------------
# The app of this module
# ------------------------------------------------------------------------------------------------------


@dataclass
class Console:
    app: FastAPI
    runtime: Runtime
    url: str
    tokens: dict[str, str] = field(default_factory=dict)

    def browser(self, who: str | None = None, base_url: str = "http://testserver") -> TestClient:
        """A client of its own (its own cookies), signed in as ``who`` through the sign-in form."""
        client = TestClient(self.app, base_url=base_url, raise_server_exceptions=False, follow_redirects=False)
        if who is not None:
            response = sign_in(client, self.tokens[who])
            assert response.status_code == 303, response.text[:400]
        return client

    def send(self, payload: dict[str, Any]) -> list[str]:
        """POST a webhook as Alertmanager does; the ids of the incidents it opened or repeated."""
        client = TestClient(self.app, raise_server_exceptions=False)
        response = client.post(
            "/api/v1/alerts", json=payload, headers={"Authorization": f"Bearer {self.tokens['ingest']}"}
        )
        assert response.status_code == 202, response.text
        return [a["incident_id"] for a in response.json()["alerts"] if a.get("incident_id")]

    def triage(self) -> int:
        """Triage every queued item in this thread, as a worker does."""
        triager = Triager(self.runtime.settings, self.runtime.embedder, self.runtime.policy)
        done = 0
        with self.runtime.pool.connection() as conn:
            while (item := queue_store.claim(conn, worker="test", lease_seconds=60)) is not None:
                process(conn, triager, item)
                done += 1
        return done

    def incident(self, payload: dict[str, Any]) -> str:
        """Send ``payload`` and triage it: the id of its (one) incident."""
        (incident_id,) = self.send(payload)
        self.triage()
        return incident_id

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def plan_status(self, incident_id: str) -> str | None:
        rows = self.query(
            "SELECT execution_status FROM resolution_outputs WHERE incident_id = %s ORDER BY created_at DESC LIMIT 1",
            (incident_id,),
        )
        return rows[0][0] if rows else None


def sign_in(client: TestClient, token: str, next_: str = "/") -> httpx.Response:
    form = client.get("/sign-in")
    assert form.status_code == 200, form.text[:300]
    return client.post("/sign-in", data={"token": token, "csrf_token": csrf_of(form.text), "next": next_})


@contextlib.contextmanager
def running(url: str, data_dir: Path, **overrides: Any) -> Iterator[Console]:
    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        workers=0,
        host="127.0.0.1",
        pool_min_size=1,
        pool_max_size=6,
        log_format="text",
        log_level="warning",
        **overrides,
    )
    runtime = Runtime.start(settings)
    app = create_app(runtime)
    with TestClient(app):  # the lifespan: started once, closes the runtime at the end
        yield Console(app=app, runtime=runtime, url=url, tokens=make_tokens(url))


@pytest.fixture(scope="module")
def console(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    name = pg_server.create_database(template=sample_kb_template(pg_server))
    try:
        with running(pg_server.url(name), tmp_path_factory.mktemp("console-data")) as app:
            yield app
    finally:
        pg_server.drop_database(name)


@pytest.fixture(scope="module")
def postgres_incident(console: Console) -> str:
    """A triaged incident of the bundled Alertmanager sample (REVIEW: an SRE accepts it)."""
    return console.incident(with_instance(sample_payload(), "10.0.4.12:9187"))


def _hostile() -> dict[str, Any]:
    payload = with_instance(sample_payload("am_disk_full.json"), f"evil-{uuid.uuid4().hex[:6]}:9100")
    alert = payload["alerts"][0]
    alert["annotations"] = {
        "summary": '<script>alert("pwned")</script> Filesystem almost full',
        "description": "<img src=x onerror=alert(1)> only 2% left",
        "runbook_url": "javascript:alert(document.cookie)",
        "dashboard": "https://grafana.example.net/d/disk",
    }
    alert["labels"]["team"] = '"><svg onload=alert(2)>'
    alert["generatorURL"] = "https://prometheus.example.net/graph?g0.expr=up&x=<b>"
    payload["commonAnnotations"] = {}
    return payload


# ------------------------------------------------------------------------------------------------------
# Sign-in, sessions and redirects
# ------------------------------------------------------------------------------------------------------


def test_pages_send_a_stranger_to_sign_in_and_back(console: Console, postgres_incident: str) -> None:
    client = console.browser()
    page = f"/incidents/{postgres_incident}"
    response = client.get(page)
    assert response.status_code == 303
    assert response.headers["location"] == f"/sign-in?next=%2Fincidents%2F{postgres_incident}"
    for path in ("/", "/knowledge", "/insights", "/knowledge/drafts", "/?fragment=rows"):
        assert client.get(path).status_code == 303, path
    form = client.get("/sign-in?next=" + page)
    assert form.status_code == 200 and 'name="token"' in form.text and "nocai_nonce" in client.cookies
    signed = client.post(
        "/sign-in", data={"token": console.tokens["viewer"], "csrf_token": csrf_of(form.text), "next": page}
    )
    assert signed.status_code == 303 and signed.headers["location"] == page
    assert client.get(page).status_code == 200


def test_the_session_cookie_is_http_only_strict_and_secure_over_https(console: Console) -> None:
    response = sign_in(console.browser(), console.tokens["viewer"])
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("nocai_session=nocai_")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    secure = sign_in(console.browser(base_url="https://testserver"), console.tokens["viewer"])
    assert "Secure" in secure.headers["set-cookie"] and "HttpOnly" in secure.headers["set-cookie"]
    assert console.tokens["viewer"] not in secure.text  # the token goes in the cookie only


def test_sign_in_refuses_a_wrong_token_and_an_ingest_token(console: Console) -> None:
    client = console.browser()
    for token, fragment in ((f"nocai_{uuid.uuid4().hex}", "not known"), (console.tokens["ingest"], "ingest")):
        form = client.get("/sign-in")
        response = client.post("/sign-in", data={"token": token, "csrf_token": csrf_of(form.text), "next": "/"})
        assert response.status_code == 401, response.text[:300]
        assert fragment in response.text and "nocai_session" not in client.cookies
    assert client.get("/").status_code == 303


def test_sign_out_ends_the_session(console: Console) -> None:
    client = console.browser("viewer")
    queue = client.get("/")
    assert queue.status_code == 200 and "viewer-person" in queue.text
    refused = client.post("/sign-out", data={})
    assert refused.status_code == 403
    out = client.post("/sign-out", data={"csrf_token": csrf_of(queue.text)})
    assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    assert "nocai_session" not in client.cookies
    assert client.get("/").status_code == 303


def test_a_revoked_token_is_refused_at_once(console: Console) -> None:
    with psycopg.connect(console.url, autocommit=True) as conn:
        minted = create_token(conn, role="responder", name="leaving")
    leaving = minted.token
    client = console.browser()
    assert sign_in(client, leaving).status_code == 303
    assert client.get("/").status_code == 200
    with psycopg.connect(console.url, autocommit=True) as conn:
        revoke_token(conn, str(minted.stored.id))
    response = client.get("/")
    assert response.status_code == 303 and "expired=1" in response.headers["location"]
    assert "nocai_session" not in client.cookies
    notice = client.get(response.headers["location"])
    assert "no longer accepted" in notice.text


def test_pages_accept_a_bearer_token_for_scripts(console: Console) -> None:
    client = console.browser()
    response = client.get("/", headers={"Authorization": f"Bearer {console.tokens['viewer']}"})
    assert response.status_code == 200 and "viewer-person" in response.text
    bad = client.get("/", headers={"Authorization": f"Bearer nocai_{uuid.uuid4().hex}"})
    assert bad.status_code == 401 and bad.headers["content-type"].startswith("text/html")
    assert "not known" in bad.text and "Traceback" not in bad.text


def test_a_link_from_another_site_reloads_itself_to_carry_the_strict_cookie(console: Console) -> None:
    response = console.browser().get("/insights", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
    assert '<meta http-equiv="refresh" content="0;url=/insights">' in response.text
    again = console.browser().get("/insights", headers={"Sec-Fetch-Site": "same-origin"})
    assert again.status_code == 303  # without a session the reload lands on sign-in: no loop


# ------------------------------------------------------------------------------------------------------
# CSRF and roles
# ------------------------------------------------------------------------------------------------------


def test_a_post_without_the_sessions_csrf_token_is_refused_whatever_the_cookie(
    console: Console, postgres_incident: str
) -> None:
    sre = console.browser("sre")
    other = console.browser("operator")
    base = f"/incidents/{postgres_incident}"
    other_csrf = csrf_of(other.get("/").text)
    posts = [
        (f"{base}/resolution/accept", {}),
        (f"{base}/feedback/triage", {"verdict": "confirm"}),
        (f"{base}/feedback/steps", {"step_id": "pg-connection-exhaustion-S1", "outcome": "fixed_it"}),
        (f"{base}/close", {}),
        (f"{base}/triage", {}),
        (f"{base}/drafts", {"title": "steps", "steps": "restart it"}),
        ("/sign-out", {}),
    ]
    for path, form in posts:
        for csrf in (None, "", "0" * 64, other_csrf):
            data = dict(form) | ({"csrf_token": csrf} if csrf is not None else {})
            response = sre.post(path, data=data)
            assert response.status_code == 403, (path, csrf, response.status_code)
            assert "could not be verified" in response.text
        anonymous = console.browser().post(path, data=form)
        assert anonymous.status_code == 403, path
    assert console.plan_status(postgres_incident) == "pending"
    assert console.query("SELECT count(*) FROM feedback WHERE incident_id = %s", (postgres_incident,)) == [(0,)]
    assert console.query("SELECT status FROM incidents WHERE id = %s", (postgres_incident,)) == [("open",)]


def test_the_csrf_token_is_an_hmac_of_the_session_and_the_same_on_every_replica(console: Console) -> None:
    client = console.browser("viewer")
    assert csrf_of(client.get("/").text) == csrf_token(console.tokens["viewer"])
    assert csrf_token(console.tokens["viewer"]) != csrf_token(console.tokens["sre"])


def test_a_viewer_sees_but_cannot_act(console: Console, postgres_incident: str) -> None:
    viewer = console.browser("viewer")
    page = viewer.get(f"/incidents/{postgres_incident}")
    assert page.status_code == 200
    assert "Accept plan" not in page.text and "Fixed it" not in page.text and "Close incident" not in page.text
    csrf = csrf_of(page.text)
    for path, form in (
        ("resolution/accept", {}),
        ("feedback/steps", {"step_id": "pg-connection-exhaustion-S1", "outcome": "fixed_it"}),
        ("close", {}),
    ):
        response = viewer.post(f"/incidents/{postgres_incident}/{path}", data={"csrf_token": csrf, **form})
        assert response.status_code == 403, (path, response.text[:300])
        assert "viewer" in response.text and "responder or admin" in response.text
    assert console.plan_status(postgres_incident) == "pending"


def test_the_policy_decides_who_accepts_and_the_page_says_why(console: Console) -> None:
    incident_id = console.incident(with_instance(sample_payload(), "10.0.4.13:9187"))
    operator = console.browser("operator")
    page = operator.get(f"/incidents/{incident_id}")
    assert "REVIEW" in page.text and "needs one of sre, admin to accept" in page.text
    refused = operator.post(f"/incidents/{incident_id}/resolution/accept", data={"csrf_token": csrf_of(page.text)})
    assert refused.status_code == 303 and refused.headers["location"].endswith("#plan")
    shown = operator.get(refused.headers["location"].split("#")[0])
    assert "flash-error" in shown.text and "needs role sre or admin" in shown.text
    assert console.plan_status(incident_id) == "pending"
    sre = console.browser("sre")
    accepted = sre.post(
        f"/incidents/{incident_id}/resolution/accept",
        data={"csrf_token": csrf_of(sre.get("/").text), "notes": "on it"},
    )
    assert accepted.status_code == 303
    assert "Plan accepted" in sre.get(f"/incidents/{incident_id}").text
    assert console.plan_status(incident_id) == "accepted"
    again = sre.get(f"/incidents/{incident_id}")
    assert "Plan accepted" not in again.text  # a flash is shown once
    assert "Mark executed" in again.text and "Accept plan" not in again.text


def test_only_an_admin_publishes_a_draft(console: Console) -> None:
    payload = {
        "alert_id": f"T-{uuid.uuid4().hex[:8]}",
        "source": "homegrown",
        "title": "Quantum flux capacitor desynchronised on bench rig 7",
        "description": "The chroniton field oscillates out of phase with the tachyon pulse generator.",
        "severity": "low",
        "status": "firing",
        "labels": {"rig": "7"},
    }
    incident_id = console.incident(payload)
    sre = console.browser("sre")
    page = sre.get(f"/incidents/{incident_id}")
    assert "No good match" in page.text and "Save as draft runbook" in page.text
    saved = sre.post(
        f"/incidents/{incident_id}/drafts",
        data={
            "csrf_token": csrf_of(page.text),
            "title": "Resynchronise the flux capacitor",
            "steps": "diagnosis: read the phase with `fluxctl phase`\nmitigation: `fluxctl resync --rig 7`\n",
        },
    )
    assert saved.status_code == 303
    assert "Draft runbook" in sre.get(saved.headers["location"].split("#")[0]).text
    ((draft_id,),) = console.query("SELECT id FROM runbook_drafts WHERE incident_id = %s", (incident_id,))
    drafts = sre.get("/knowledge/drafts")
    assert "Resynchronise the flux capacitor" in drafts.text and "Publish into" not in drafts.text
    refused = sre.post(f"/knowledge/drafts/{draft_id}/publish", data={"csrf_token": csrf_of(drafts.text)})
    assert refused.status_code == 403 and "admin" in refused.text
    admin = console.browser("admin")
    listed = admin.get("/knowledge/drafts")
    assert "Publish into the knowledge base" in listed.text
    published = admin.post(f"/knowledge/drafts/{draft_id}/publish", data={"csrf_token": csrf_of(listed.text)})
    assert published.status_code == 303 and published.headers["location"].startswith("/knowledge/runbooks/")
    runbook = admin.get(published.headers["location"])
    assert runbook.status_code == 200 and "Published as runbook" in runbook.text and "fluxctl resync" in runbook.text


# ------------------------------------------------------------------------------------------------------
# Escaping
# ------------------------------------------------------------------------------------------------------


def test_alert_text_is_escaped_and_only_http_links_are_links(console: Console) -> None:
    incident_id = console.incident(_hostile())
    client = console.browser("viewer")
    for path in (f"/incidents/{incident_id}", "/", "/?fragment=rows"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<svg onload" not in html, path
        assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html, path
    page = client.get(f"/incidents/{incident_id}").text
    assert 'href="javascript:' not in page.lower()
    assert '<span class="inert" title="not a web link: shown as text">javascript:alert(document.cookie)</span>' in page
    assert '<a href="https://grafana.example.net/d/disk" rel="noopener noreferrer nofollow"' in page
    assert "&#34;&gt;&lt;svg onload=alert(2)&gt;" in page
    assert 'href="https://prometheus.example.net/graph?g0.expr=up&amp;x=&lt;b&gt;"' in page


def test_the_safe_href_filter_admits_http_and_https_only() -> None:
    assert safe_href("https://runbooks.example.net/a?b=c") == "https://runbooks.example.net/a?b=c"
    assert safe_href("HTTP://host.example/x") == "HTTP://host.example/x"
    for bad in (
        "javascript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<b>x</b>",
        "//evil.example/x",
        "https:///no-host",
        "https://host/ with space",
        "vbscript:x",
        None,
        42,
    ):
        assert safe_href(bad) is None, bad


# ------------------------------------------------------------------------------------------------------
# Every page, the fragment, errors as pages
# ------------------------------------------------------------------------------------------------------


def test_every_page_answers_a_signed_in_viewer(console: Console, postgres_incident: str) -> None:
    client = console.browser("viewer")
    signature = console.query("SELECT incident_signature_id FROM incident_signatures ORDER BY 1 LIMIT 1")[0][0]
    pages = [
        "/",
        "/?status=open&band=REVIEW&severity=high&service=orders-db",
        "/?status=bogus&band=&severity=",
        f"/incidents/{postgres_incident}",
        "/knowledge",
        "/knowledge?q=FATAL%3A+too+many+clients+already&kind=all",
        "/knowledge?q=disk+full&kind=steps&service=linux-host",
        "/knowledge/runbooks/pg-connection-exhaustion",
        f"/knowledge/signatures/{signature}",
        "/knowledge/drafts",
        "/insights",
        "/insights?days=7&every=week",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        assert "<!doctype html>" in response.text and "Traceback" not in response.text
        assert (
            response.headers["cache-control"] == "no-store"
            and "frame-ancestors 'none'" in response.headers["content-security-policy"]
        )
    for asset, kind in (("/static/console.css", "text/css"), ("/static/console.js", "text/javascript")):
        response = console.browser().get(asset)  # public: the sign-in page needs them
        assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
        assert console.browser().get(asset, headers={"If-None-Match": response.headers["etag"]}).status_code == 304


def test_the_incident_page_shows_the_triage_why_the_evidence_and_the_plan(
    console: Console, postgres_incident: str
) -> None:
    html = console.browser("sre").get(f"/incidents/{postgres_incident}").text
    for expected in (
        "Postgresql too many connections",  # the alert
        "PostgresqlTooManyConnections",  # its labels
        "https://runbooks.example.net/postgresql/connection-exhaustion",  # its links
        "needs-review",  # the policy rule that fired, and why
        "risk high",
        "connection_limit",  # failure type (from the taxonomy)
        "DBA Team",  # assignment group
        "from signature SIG-DB-",  # and where it came from
        "Vector",  # evidence with its legs
        "BM25",
        "pg-connection-exhaustion-S1",  # the plan's steps
        '<pre class="cmd" data-lang="sql"><code>',  # commands in <pre>
        "Expected:",
        "Rollback:",
        "Track record:",
        "Accept plan",
        "Fixed it",
        "Made it worse",
        "Confirm the triage",
        "Wrong runbook",
        "Close incident",
    ):
        assert expected in html, expected


def test_the_rows_fragment_is_the_rows_alone_with_the_filters(console: Console, postgres_incident: str) -> None:
    client = console.browser("viewer")
    rows = client.get("/?fragment=rows")
    assert rows.status_code == 200
    assert rows.text.lstrip().startswith("<tr") and "<html" not in rows.text and "<thead" not in rows.text
    assert f'data-incident="{postgres_incident}"' in rows.text
    none = client.get("/?fragment=rows&service=no-such-service")
    assert "data-incident=" not in none.text and "No incident matches" in none.text
    page = client.get("/?band=REVIEW")
    assert 'data-live="/?band=REVIEW&amp;fragment=rows"' in page.text
    assert console.browser().get("/?fragment=rows").status_code == 303  # signed out: the script reloads the page


def test_errors_on_console_routes_are_pages(console: Console) -> None:
    client = console.browser("viewer")
    for path, status, fragment in (
        (f"/incidents/{uuid.uuid4()}", 404, "no incident"),
        ("/incidents/not-a-uuid", 404, "malformed"),
        ("/knowledge/runbooks/no-such-runbook", 404, "no runbook no-such-runbook"),
        ("/knowledge/signatures/SIG-NOPE", 404, "no signature SIG-NOPE"),
        ("/insights?days=9999", 422, "days"),
        ("/static/nope.css", 404, "no static file"),
    ):
        response = client.get(path)
        assert response.status_code == status, (path, response.status_code)
        assert response.headers["content-type"].startswith("text/html"), path
        assert fragment.lower() in response.text.lower(), (path, response.text[-800:])
        assert "What to do" in response.text and "Traceback" not in response.text


# ------------------------------------------------------------------------------------------------------
# Feedback and its flash messages
# ------------------------------------------------------------------------------------------------------


def test_feedback_redirects_back_with_what_it_taught(console: Console) -> None:
    incident_id = console.incident(with_instance(sample_payload(), "10.0.4.14:9187"))
    sre = console.browser("sre")
    page = sre.get(f"/incidents/{incident_id}")
    csrf = csrf_of(page.text)
    used = console.query("SELECT resolution_output->'used_signature_ids' FROM incidents WHERE id = %s", (incident_id,))
    lent = used[0][0]
    assert lent, "the sample's plan uses the history of its signatures"
    before = console.query(
        "SELECT resolution_success_count FROM incident_signatures WHERE incident_signature_id = %s", (lent[0],)
    )[0][0]

    fixed = sre.post(
        f"/incidents/{incident_id}/feedback/steps",
        data={"csrf_token": csrf, "step_id": "pg-connection-exhaustion-S1", "outcome": "fixed_it"},
    )
    assert fixed.status_code == 303
    assert fixed.headers["location"] == f"/incidents/{incident_id}#step-pg-connection-exhaustion-S1"
    shown = sre.get(f"/incidents/{incident_id}").text
    assert "“fixed it” recorded" in shown and "one more confirmed fix for" in shown
    assert "sre-person: fixed it" in shown
    after = console.query(
        "SELECT resolution_success_count FROM incident_signatures WHERE incident_signature_id = %s", (lent[0],)
    )[0][0]
    assert after == before + 1
    signature_page = sre.get(f"/knowledge/signatures/{lent[0]}").text
    assert f"<dd data-fixes>{after}</dd>" in signature_page

    confirmed = sre.post(f"/incidents/{incident_id}/feedback/triage", data={"csrf_token": csrf, "verdict": "confirm"})
    assert confirmed.status_code == 303
    shown = sre.get(f"/incidents/{incident_id}").text
    flash = shown[shown.index('id="flash"') : shown.index("</div>", shown.index('id="flash"'))]
    assert "Triage feedback recorded: confirmed the triage" in flash
    assert "<li>" in flash and "pg-connection-exhaustion" in flash  # what it taught, runbook named

    invalid = sre.post(f"/incidents/{incident_id}/feedback/triage", data={"csrf_token": csrf, "verdict": "correct"})
    assert invalid.status_code == 303
    shown = sre.get(f"/incidents/{incident_id}").text
    assert "flash-error" in shown and "a correction names what was right" in shown

    closed = sre.post(f"/incidents/{incident_id}/close", data={"csrf_token": csrf, "notes": "pool resized"})
    assert closed.status_code == 303
    assert "Incident closed" in sre.get(f"/incidents/{incident_id}").text
    later = sre.get(f"/incidents/{incident_id}").text  # the flash is gone; the note stays with the incident
    assert "Incident closed" not in later and "pool resized" in later
    assert console.query("SELECT status, resolved_by FROM incidents WHERE id = %s", (incident_id,)) == [
        ("resolved", "sre-person")
    ]
    twice = sre.post(f"/incidents/{incident_id}/close", data={"csrf_token": csrf})
    assert twice.status_code == 303 and "already resolved" in sre.get(f"/incidents/{incident_id}").text

    insights = sre.get("/insights").text
    assert "<svg" in insights and 'class="line-median"' in insights and "orders-db" in insights


def test_a_flash_cookie_not_signed_by_the_session_is_ignored(console: Console) -> None:
    client = console.browser("viewer")
    client.cookies.set("nocai_flash", "eyJ0aXRsZSI6ICJQYXN0ZSB5b3VyIHRva2VuIGF0IGV2aWwuZXhhbXBsZSJ9.deadbeef")
    assert "evil.example" not in client.get("/").text


def test_open_access_needs_no_sign_in_but_still_a_csrf_token(pg_server: PgServer, tmp_path: Path) -> None:
    name = pg_server.create_database(template=sample_kb_template(pg_server))
    try:
        url = pg_server.url(name)
        settings = Settings(
            database_url=url, data_dir=tmp_path, workers=0, open_access=True, log_level="warning", log_format="text"
        )
        runtime = Runtime.start(settings)
        try:
            # One app's lifespan at a time (its metrics collector is process-wide): this one is not started.
            client = TestClient(create_app(runtime, close_on_shutdown=False), follow_redirects=False)
            assert client.get("/sign-in").status_code == 303
            queue = client.get("/")
            assert queue.status_code == 200 and "local (open access)" in queue.text and "Sign out" not in queue.text
            assert "nocai_nonce" in client.cookies
            sent = client.post("/api/v1/alerts", json=with_instance(sample_payload(), "10.9.9.9:9187"))
            incident_id = sent.json()["alerts"][0]["incident_id"]
            refused = client.post(f"/incidents/{incident_id}/close", data={})
            assert refused.status_code == 403
            page = client.get(f"/incidents/{incident_id}")
            closed = client.post(f"/incidents/{incident_id}/close", data={"csrf_token": csrf_of(page.text)})
            assert closed.status_code == 303
            assert "Incident closed" in client.get(f"/incidents/{incident_id}").text
        finally:
            runtime.close()
    finally:
        pg_server.drop_database(name)
