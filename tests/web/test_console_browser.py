"""The console in a real browser against the real service: headless Chromium (Debian's ``chromium`` and
``chromium-driver``) driven by Selenium, and ``python -m ai_service.main`` in a subprocess on a loopback port over
a database holding the sample knowledge base, with one triage worker.

An on-call engineer signs in, sees the alert arrive in the queue (and a second one appear without reloading),
opens it, accepts the plan, says a step fixed it, and finds the signature whose history the plan used with one
more confirmed fix; the same alert from another instance then gets a plan whose step shows its track record.
Every page is photographed (desktop 1280x900, and the incident page at phone width 390x844) into
``artifacts/screenshots/``; with ``NOCAI_README_SCREENSHOT=1`` the desktop incident page also replaces
``docs/images/incident-page.png``, the README's picture. Skipped, saying why, where Chromium or its driver is not
installed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import PYTHON, REPO_ROOT, PgServer
from tests.support.waiting import free_port, wait_for
from tests.web.test_console import make_tokens, sample_kb_template, sample_payload, with_instance

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = REPO_ROOT / "artifacts" / "screenshots"
README_IMAGE = REPO_ROOT / "docs" / "images" / "incident-page.png"
DESKTOP = (1280, 900)
PHONE = (390, 844)
WAIT = 30.0

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason=f"headless Chromium is not installed ({CHROMIUM}, {CHROMEDRIVER}): "
    "apt-get install chromium chromium-driver (.ci/run does it on a CI machine)",
)


@dataclass
class Live:
    """The service as an operator runs it: its address, its database and a token per person."""

    base: str
    tokens: dict[str, str]
    log: Path

    def send(self, payload: dict[str, Any]) -> str:
        """POST an Alertmanager webhook; the id of the (one) incident it opened."""
        response = httpx.post(
            f"{self.base}/api/v1/alerts",
            json=payload,
            headers={"Authorization": f"Bearer {self.tokens['ingest']}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        incident_id: str = response.json()["alerts"][0]["incident_id"]
        return incident_id

    def triaged(self, incident_id: str) -> dict[str, Any]:
        """The incident once a worker has triaged it (bounded wait)."""

        def check() -> dict[str, Any] | None:
            response = httpx.get(
                f"{self.base}/api/v1/incidents/{incident_id}",
                headers={"Authorization": f"Bearer {self.tokens['viewer']}"},
                timeout=30,
            )
            detail: dict[str, Any] = response.json()
            return detail if detail.get("triage") is not None else None

        return wait_for(check, timeout=90, what=f"the triage of incident {incident_id}", every=0.2)


@pytest.fixture(scope="module")
def live(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """``python -m ai_service.main`` on a free loopback port, one worker, a clone of the sample knowledge base."""
    name = pg_server.create_database(template=sample_kb_template(pg_server))
    url = pg_server.url(name)
    folder = tmp_path_factory.mktemp("browser-service")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOCAI_") and k != "DATABASE_URL"}
    env.update(
        DATABASE_URL=url,
        NOCAI_HOST="127.0.0.1",
        NOCAI_PORT=str(port),
        NOCAI_WORKERS="1",
        NOCAI_DATA_DIR=str(folder / "data"),
        NOCAI_LOG_FORMAT="text",
        NOCAI_WORK_POLL_SECONDS="0.5",
        PYTHONPATH=str(REPO_ROOT),
    )
    log = folder / "service.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [PYTHON, "-m", "ai_service.main"], cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"the service exited with {process.returncode}:\n{log.read_text(errors='replace')}")
            try:
                return httpx.get(f"{base}/api/v1/health/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout=90, what="the service to be ready", every=0.2)
        yield Live(base=base, tokens=make_tokens(url), log=log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        pg_server.drop_database(name)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="nocai-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def viewport(driver: WebDriver, size: tuple[int, int], *, mobile: bool = False) -> None:
    """The page's viewport exactly ``size`` CSS pixels (whatever the window's frame takes)."""
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
    )


def shoot(driver: WebDriver, name: str, shots: list[Path]) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(str(path)), path
    shots.append(path)
    return path


def no_sideways_scroll(driver: WebDriver) -> None:
    """The page is no wider than the viewport (only a ``<pre>`` of commands may scroll sideways inside)."""
    wide, inner = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert wide <= inner, f"{driver.current_url}: the page is {wide}px wide in a {inner}px viewport"


def wait(driver: WebDriver, condition: Callable[[Any], Any], what: str) -> Any:
    return WebDriverWait(driver, WAIT, poll_frequency=0.2).until(condition, message=what)


def test_an_on_call_engineer_works_an_incident_in_a_real_browser(live: Live, browser: WebDriver) -> None:
    shots: list[Path] = []
    driver = browser
    viewport(driver, DESKTOP)
    first = live.send(with_instance(sample_payload(), "10.0.4.12:9187"))
    live.triaged(first)

    # Sign in with a responder's token (policy role sre: the REVIEW band's approvers).
    driver.get(f"{live.base}/")
    wait(driver, ec.url_contains("/sign-in"), "a stranger is sent to sign in")
    shoot(driver, "sign-in", shots)
    driver.find_element(By.ID, "token").send_keys(live.tokens["sre"])
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    row = wait(
        driver,
        ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-incident="{first}"]')),
        "the queue shows the incident",
    )
    assert "Postgresql too many connections" in row.text and "REVIEW" in row.text and "triaged" in row.text
    session = driver.get_cookie("nocai_session")
    assert session is not None and session["httpOnly"] and session["sameSite"] == "Strict"
    assert driver.execute_script("return document.cookie").find("nocai_session") == -1

    # The queue is live: an alert that arrives now appears without a reload.
    disk = live.send(with_instance(sample_payload("am_disk_full.json"), "node-7:9100"))
    wait(
        driver,
        ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-incident="{disk}"]')),
        "the live queue shows a new alert without reloading",
    )
    live.triaged(disk)
    wait(
        driver,
        lambda d: "triaged" in d.find_element(By.CSS_SELECTOR, f'tr[data-incident="{disk}"]').text,
        "the live queue shows its triage",
    )
    shoot(driver, "queue", shots)
    viewport(driver, PHONE, mobile=True)
    no_sideways_scroll(driver)
    shoot(driver, "queue-phone", shots)
    viewport(driver, DESKTOP)

    # The incident page: alert, triage and why, evidence, the plan.
    driver.find_element(By.CSS_SELECTOR, f'tr[data-incident="{first}"] a.incident-link').click()
    wait(driver, ec.presence_of_element_located((By.ID, "plan")), "the incident page")
    assert "needs-review" in driver.find_element(By.ID, "triage").text
    page = shoot(driver, "incident", shots)
    if os.environ.get("NOCAI_README_SCREENSHOT") == "1":
        shutil.copyfile(page, README_IMAGE)
    viewport(driver, PHONE, mobile=True)
    driver.refresh()
    wait(driver, ec.presence_of_element_located((By.ID, "plan")), "the incident page on a phone")
    no_sideways_scroll(driver)
    shoot(driver, "incident-phone", shots)
    viewport(driver, DESKTOP)
    driver.refresh()

    lent = driver.find_element(By.CSS_SELECTOR, "a[data-used-signature]")
    signature_url = lent.get_attribute("href")
    assert signature_url
    driver.get(signature_url)
    fixes_before = int(driver.find_element(By.CSS_SELECTOR, "[data-fixes]").text)
    driver.back()

    # Accept the plan (as an SRE), then say its first step fixed it.
    wait(driver, ec.element_to_be_clickable((By.CSS_SELECTOR, "button[data-action=accept]")), "accept").click()
    flash = wait(driver, ec.presence_of_element_located((By.ID, "flash")), "the acceptance's flash")
    assert "Plan accepted" in flash.text
    assert driver.find_element(By.CSS_SELECTOR, ".plan-state .badge").text == "accepted"
    step = driver.find_element(By.CSS_SELECTOR, "ol.steps > li.step")
    step_id = (step.get_attribute("id") or "").removeprefix("step-")
    step.find_element(By.CSS_SELECTOR, "button[value=fixed_it]").click()
    # The acceptance's flash is still on screen until the form's answer replaces the page: wait for it to go.
    wait(driver, ec.staleness_of(flash), "the page after the step's feedback")
    flash = wait(driver, ec.presence_of_element_located((By.ID, "flash")), "the feedback's flash")
    assert f"{step_id}: “fixed it” recorded" in flash.text
    assert "one more confirmed fix for" in flash.text and "fixed it 1 of 1 time" in flash.text
    shoot(driver, "incident-after-feedback", shots)

    # The signature whose history the plan used counts one more confirmed fix.
    driver.find_element(By.CSS_SELECTOR, "a[data-used-signature]").click()
    fixes = wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, "[data-fixes]")), "the signature page")
    assert int(fixes.text) == fixes_before + 1
    shoot(driver, "signature", shots)

    # The same alert from another instance: its plan shows the step's track record.
    second = live.send(with_instance(sample_payload(), "10.0.4.99:9187"))
    assert second != first
    live.triaged(second)
    driver.get(f"{live.base}/")
    wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-incident="{second}"]')), "the second one")
    driver.find_element(By.CSS_SELECTOR, f'tr[data-incident="{second}"] a.incident-link').click()
    track = wait(
        driver,
        ec.presence_of_element_located((By.CSS_SELECTOR, f'li[id="step-{step_id}"] [data-track]')),
        "the step on the second incident's plan",
    )
    assert "fixed it 1 of 1 time" in track.text
    shoot(driver, "incident-second", shots)

    # The first incident is over: closing it by hand ends its time to resolve now.
    driver.get(f"{live.base}/incidents/{first}")
    driver.find_element(By.CSS_SELECTOR, "form.close-form input[name=notes]").send_keys("idle sessions terminated")
    driver.find_element(By.CSS_SELECTOR, "form.close-form button").click()
    flash = wait(driver, ec.presence_of_element_located((By.ID, "flash")), "the closing's flash")
    assert "Incident closed" in flash.text
    assert driver.find_element(By.CSS_SELECTOR, ".badges .status").text == "resolved"

    # The other pages, each photographed; none is wider than a phone.
    for name, path in (
        ("knowledge", "/knowledge?q=FATAL%3A+sorry%2C+too+many+clients+already"),
        ("runbook", f"/knowledge/runbooks/{step_id.rsplit('-S', 1)[0]}"),
        ("drafts", "/knowledge/drafts"),
        ("insights", "/insights"),
        ("insights-weekly", "/insights?every=week&days=90"),
    ):
        viewport(driver, DESKTOP)
        driver.get(f"{live.base}{path}")
        wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, "main.page")), name)
        assert "Traceback" not in driver.page_source
        shoot(driver, name, shots)
        viewport(driver, PHONE, mobile=True)
        driver.refresh()
        no_sideways_scroll(driver)
    viewport(driver, DESKTOP)

    # No script error and no Content-Security-Policy violation on any page (the missing favicon aside).
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]
    ]
    assert problems == []

    for path in shots:
        print(f"screenshot: {path}")
    if os.environ.get("NOCAI_README_SCREENSHOT") == "1":
        print(f"screenshot: {README_IMAGE}")
