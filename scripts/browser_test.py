"""The approval page in a real headless Chromium: the link from the email opens the page, the
page and its headers are checked, Approve is clicked and the workflow resumes; a plain GET of
every link in the email (what a mail scanner does) leaves the approval PENDING; Reject without a
reason is held back by the browser, with one it fails the workflow; a group quorum asked for by
the release manager shows each group's progress, counts a member of both groups once and never
mails the requester a link, and a request only the requester could approve is refused.
JavaScript is switched off in the browser: the page must work without it.

Runs with .tools/browser's Python (selenium); scripts/browser_test.sh installs what it needs.
It starts `sandbox.py run --only approvals --serve --json` (the sandbox, the real binaries, the local HTTP API)
and stops it at the end. --screenshots DIR saves the email and the pages as PNG (the ones in
docs/images/ are made this way).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
MANAGER = "release.manager@example.com"
QA, SECURITY = "qa.lead@example.com", "security.lead@example.com"  # the sandbox's ApproverGroups


def target_dir() -> Path:
    configured = os.environ.get("CARGO_TARGET_DIR")
    return Path(configured) if configured else ROOT / "target"


def call(method: str, url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        if error.code != 422:  # a refused approval request answers 422 with its reason
            raise
        return json.loads(error.read())


def plain_get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def hrefs(html: str) -> list[str]:
    return [rest.split('"', 1)[0].replace("&amp;", "&") for rest in html.split('href="')[1:]]


class Checks:
    def __init__(self) -> None:
        self.passed = self.failed = 0

    def check(self, ok: bool, title: str, detail: str = "") -> bool:
        self.passed, self.failed = self.passed + bool(ok), self.failed + (not ok)
        print(f"{'ok' if ok else 'FAIL'} - browser: {title}" + (f"\n    {detail}" if detail and not ok else ""), flush=True)
        return ok


def chromium(profile: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={profile}", "--window-size=1000,900"):
        options.add_argument(arg)
    # No JavaScript at all: the page must work without it.
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(options=options, service=service)


def document_headers(driver: webdriver.Chrome, url_prefix: str) -> dict:
    """The response headers of the last document loaded from `url_prefix` (Chrome's network log)."""
    found = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") != "Network.responseReceived":
            continue
        response = message["params"]["response"]
        if message["params"].get("type") == "Document" and response["url"].startswith(url_prefix):
            found = {k.lower(): v for k, v in response["headers"].items()}
    return found


def run(api: str, shots: Path | None, checks: Checks, profile: Path) -> None:
    def shot(driver, name: str) -> None:
        if shots:
            shots.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(shots / name))

    release = call("POST", f"{api}/_sandbox/releases", {"approvers": [MANAGER], "release": "orders-api 2.3", "changedResources": 42})
    execution = release["executionArn"]
    email = release["emails"].get(MANAGER) or {}
    link = email.get("link")
    if not checks.check(bool(link), "the email to the release manager carries an approval link", json.dumps(release)[:300]):
        return

    # A mail scanner follows every link in the email.
    ours = [h for h in hrefs(email["html"]) if h.startswith(api)]
    statuses = {plain_get(h) for h in ours for _ in range(3)}
    state = call("GET", f"{api}/_sandbox/approvals?link={urllib.parse.quote(link)}")["state"]
    running = call("GET", f"{api}/_sandbox/executions?arn={urllib.parse.quote(execution)}")["status"]
    checks.check(statuses == {200} and state == "PENDING" and running == "RUNNING",
                 "a plain GET of every link in the email (a mail scanner) leaves it PENDING",
                 f"GETs answered {statuses}; approval {state}; execution {running}")

    driver = chromium(profile)
    try:
        version = driver.capabilities.get("browserVersion", "unknown")
        print(f"browser: Chromium {version}", flush=True)
        if shots and shots.resolve() == ROOT / "docs" / "images":
            caption(version)
        driver.set_page_load_timeout(60)
        # The email as a mail client shows it.
        driver.get("data:text/html;base64," + base64.b64encode(email["html"].encode()).decode())
        checks.check("Review and decide" in driver.page_source, "the email renders with its button")
        shot(driver, "approval-email.png")

        driver.get(link)
        title = driver.title
        h1 = driver.find_element(By.TAG_NAME, "h1").text
        body = driver.find_element(By.TAG_NAME, "body").text
        checks.check("Approve release orders-api 2.3" in title and h1 == "Approve release orders-api 2.3",
                     "the link opens the approval page", f"title {title!r}, h1 {h1!r}")
        checks.check("Release orders-api 2.3 changes 42 resources." in body and "changedResources" in body
                     and "Execution" in body, "the page shows the summary, the details and the links", body[:400])
        buttons = [b.text for b in driver.find_elements(By.TAG_NAME, "button")]
        checks.check(len(buttons) == 2 and buttons[0].startswith("Approve: ") and buttons[1].startswith("Reject: ")
                     and "I reviewed this release" in body,
                     "the page has Approve and Reject, each saying what it does, and an \"I reviewed this release\" box",
                     str(buttons))
        headers = document_headers(driver, api)
        csp = headers.get("content-security-policy", "")
        checks.check("default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
                     and headers.get("referrer-policy") == "no-referrer" and headers.get("x-frame-options") == "DENY"
                     and headers.get("cache-control") == "no-store",
                     "the page's headers: Content-Security-Policy, Referrer-Policy, X-Frame-Options, Cache-Control",
                     json.dumps(headers))
        shot(driver, "approval-page.png")
        driver.set_window_size(390, 844)
        driver.get(link)
        width = driver.find_element(By.TAG_NAME, "main").size["width"]
        approve = driver.find_element(By.CSS_SELECTOR, "button.approve")
        checks.check(width <= 390 and approve.size["width"] <= 390 and approve.is_displayed(),
                     "on a phone-sized screen (390 px) the page fits and the buttons show", f"main {width}px")
        shot(driver, "approval-page-phone.png")
        driver.set_window_size(1000, 900)

        # Scanners and previews decide nothing: Approve without the tick is held back by the
        # browser, and a program that submits each form as it comes (no tick, no reason) is refused.
        driver.get(link)
        driver.find_element(By.CSS_SELECTOR, "button.approve").click()
        time.sleep(0.5)
        held_back = driver.find_element(By.TAG_NAME, "h1").text.startswith("Approve release")
        answers = []
        for index in (0, 1):
            driver.get(link)
            driver.execute_script(f"document.forms[{index}].submit()")  # bypasses the browser's checks
            time.sleep(0.5)
            answers.append(driver.find_element(By.TAG_NAME, "h1").text)
        state = call("GET", f"{api}/_sandbox/approvals?link={urllib.parse.quote(link)}")["state"]
        checks.check(held_back and state == "PENDING" and not any(a in ("Approved", "Rejected") for a in answers),
                     "forms submitted without a person's input (no tick, no reason) change nothing",
                     f"held back: {held_back}; pages {answers}; approval {state}")

        driver.get(link)
        driver.find_element(By.ID, "approve-comment").send_keys("Change set reviewed.")
        driver.find_element(By.ID, "reviewed").click()
        driver.find_element(By.CSS_SELECTOR, "button.approve").click()
        WebDriverWait(driver, 30).until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Approved"))
        checks.check(MANAGER in driver.find_element(By.TAG_NAME, "body").text, "clicking Approve shows who approved")
        shot(driver, "approval-approved.png")
        done = wait_for(api, execution)
        output = json.loads(done.get("output") or "{}").get("approval") or {}
        checks.check(done["status"] == "SUCCEEDED" and output.get("approver") == MANAGER
                     and output.get("comment") == "Change set reviewed.",
                     "the workflow resumes: the execution SUCCEEDED with the approver in its output", json.dumps(done))

        driver.get(link)
        checks.check("Already approved" in driver.find_element(By.TAG_NAME, "h1").text,
                     "opening the link again says it is already approved")

        # Reject: the browser holds the form back without a reason; with one, the workflow fails.
        release = call("POST", f"{api}/_sandbox/releases", {"approvers": [MANAGER], "release": "orders-api 2.4", "changedResources": 57})
        link = release["emails"][MANAGER]["link"]
        driver.get(link)
        driver.find_element(By.CSS_SELECTOR, "button.reject").click()
        time.sleep(0.5)
        state = call("GET", f"{api}/_sandbox/approvals?link={urllib.parse.quote(link)}")["state"]
        checks.check(driver.find_element(By.TAG_NAME, "h1").text.startswith("Approve release") and state == "PENDING",
                     "Reject without a reason is held back by the browser (nothing is sent)", f"approval {state}")
        driver.find_element(By.ID, "reject-reason").send_keys("Error budget exhausted this week.")
        driver.find_element(By.CSS_SELECTOR, "button.reject").click()
        WebDriverWait(driver, 30).until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Rejected"))
        shot(driver, "approval-rejected.png")
        done = wait_for(api, release["executionArn"])
        checks.check(done["status"] == "FAILED" and done.get("error") == "ApprovalRejected"
                     and "Error budget exhausted" in (done.get("cause") or ""),
                     "Reject with a reason fails the execution with ApprovalRejected and the reason", json.dumps(done))

        groups(api, driver, shot, checks)
    finally:
        driver.quit()


def groups(api: str, driver: webdriver.Chrome, shot, checks: Checks) -> None:
    """Approver groups and the requester: one approval from each of release and security, asked
    for by the release manager (a member of release). qa.lead is in both groups, one person and one
    vote; the requester gets no link; a request the requester alone could approve is refused."""
    refused = call("POST", f"{api}/_sandbox/releases", {"approvers": [MANAGER], "requestedBy": MANAGER, "release": "orders-api 2.5"})
    reason = (refused.get("refused") or {}).get("reason") or ""
    checks.check((refused.get("refused") or {}).get("errorType") == "ApprovalRequestInvalid" and MANAGER in reason
                 and not refused.get("emails"),
                 "the release manager asking only themselves to approve their release is refused, and nobody is emailed",
                 json.dumps(refused)[:400])

    release = call("POST", f"{api}/_sandbox/releases", {
        "approvers": ["group:release", "group:security"], "requiredApprovals": {"release": 1, "security": 1},
        "requestedBy": MANAGER, "release": "orders-api 2.6", "changedResources": 12})
    emails = release.get("emails") or {}
    if not checks.check(sorted(emails) == [QA, SECURITY] and all(e.get("link") for e in emails.values()),
                        "a release asking the release and security groups emails their members but not the requester",
                        f"emails to {sorted(emails)}; {json.dumps(release)[:300]}"):
        return
    driver.get(emails[QA]["link"])
    body = driver.find_element(By.TAG_NAME, "body").text
    checks.check("Group release 0 of 1: 1 more needed" in body and "Group security 0 of 1: 1 more needed" in body,
                 "the page shows what each group still needs", body[:600])
    driver.find_element(By.ID, "reviewed").click()
    driver.find_element(By.CSS_SELECTOR, "button.approve").click()
    WebDriverWait(driver, 30).until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "recorded"))
    body = driver.find_element(By.TAG_NAME, "body").text
    running = call("GET", f"{api}/_sandbox/executions?arn={urllib.parse.quote(release['executionArn'])}")["status"]
    checks.check(running == "RUNNING" and "1 more from" in body and QA in body,
                 "qa.lead, a member of both groups, approves: one vote for one group, the release still waits for the other",
                 f"execution {running}; page {body[:500]}")
    shot(driver, "approval-groups.png")
    driver.get(emails[SECURITY]["link"])
    driver.find_element(By.ID, "reviewed").click()
    driver.find_element(By.CSS_SELECTOR, "button.approve").click()
    WebDriverWait(driver, 30).until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Approved"))
    done = wait_for(api, release["executionArn"])
    output = json.loads(done.get("output") or "{}").get("approval") or {}
    checks.check(done["status"] == "SUCCEEDED" and sorted(output.get("approvedBy") or []) == [QA, SECURITY],
                 "security.lead's approval meets both quorums: the execution SUCCEEDED with both approvers, not the requester",
                 json.dumps(done)[:500])


CAPTION = re.compile(r"(<!-- browser-caption -->).*?(<!-- /browser-caption -->)", re.S)


def caption(version: str) -> None:
    """Names the Chromium that took the screenshots in docs/approvals.md's caption."""
    doc = ROOT / "docs" / "approvals.md"
    text = doc.read_text()
    doc.write_text(CAPTION.sub(lambda m: f"{m[1]}Screenshots taken by `scripts/browser_test.sh --screenshots docs/images` "
                                         f"in headless Chromium {version} (Debian).{m[2]}", text))


def wait_for(api: str, execution: str) -> dict:
    for _ in range(300):
        done = call("GET", f"{api}/_sandbox/executions?arn={urllib.parse.quote(execution)}")
        if done["status"] != "RUNNING":
            return done
        time.sleep(0.1)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--screenshots", type=Path, help="save the email and the pages as PNG here")
    args = parser.parse_args()
    python = ROOT / ".tools" / "sandbox" / "bin" / "python"
    server = subprocess.Popen([str(python), str(ROOT / "scripts" / "sandbox.py"), "run", "--only", "approvals", "--serve",
                               "--no-build", "--json", "--parent-pid", str(os.getpid())],
                              cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
    profile = target_dir() / "tollgate" / f"browser-profile-{uuid.uuid4().hex[:8]}"
    checks = Checks()
    try:
        line = server.stdout.readline() if server.stdout else b""
        if not line:
            print("the approvals sandbox did not start (scripts/sandbox.py run --only approvals --serve); its errors are above", file=sys.stderr)
            return 1
        urls = json.loads(line)
        print(f"approval API {urls['api']}, AWS {urls['aws']}, function log {urls['log']}", flush=True)
        run(urls["api"], args.screenshots, checks, profile)
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        shutil.rmtree(profile, ignore_errors=True)
    print(f"browser: {checks.passed} passed, {checks.failed} failed", flush=True)
    return 1 if checks.failed or not checks.passed else 0


if __name__ == "__main__":
    sys.exit(main())
