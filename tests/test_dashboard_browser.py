"""Real-browser test: `caption-audit dashboard` served on 127.0.0.1, driven by Chromium.

The run is built by the real pipeline from the bundled demo sample with hostile strings in
every field (tests/dashboard_fixture.audit_hostile_demo), so no shared data is needed. Every
request the page makes is recorded: none may go to a host named in the data, and no
``<a href>`` or ``<img src>`` may come from the data.

Needs Debian's chromium (``apt-get install -y chromium``) and the ``playwright`` package;
never runs ``playwright install``. Screenshots go to ``$CAPTION_AUDIT_ARTIFACTS``
(default tests/artifacts/).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dashboards.render import WORD_JOINER
from tests.dashboard_fixture import HOSTILE_HOSTS, HOSTILE_IMG, HOSTILE_LINK, audit_hostile_demo

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("CAPTION_AUDIT_ARTIFACTS", REPO / "tests" / "artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium not found on PATH (CI: apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (pip) is not installed")
    pytest.importorskip("streamlit")
    root = tmp_path_factory.mktemp("browser")
    hostile = audit_hostile_demo(root)  # the evil captions sit on image 900005
    run, image, extra = hostile["run"], "900005", ["--images", str(hostile["images"])]
    port = _free_port()
    log = open(root / "streamlit.log", "w")  # noqa: SIM115
    cmd = [sys.executable, "-m", "caption_audit.cli", "dashboard", str(run), "--port", str(port), *extra]
    proc = subprocess.Popen(cmd,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"dashboard did not start: {(root / 'streamlit.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield url, image
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    log.close()


@pytest.fixture(scope="module")
def requests_seen() -> list[str]:
    return []


@pytest.fixture(scope="module")
def page(requests_seen):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1500, "height": 1800})
        pg.on("request", lambda r: requests_seen.append(r.url))
        pg.set_default_timeout(45_000)
        yield pg
        browser.close()


def assert_no_leak(page, requests_seen: list[str]) -> None:
    """No request to a host from the data, and no link or image element built from it."""
    leaked = [u for u in requests_seen if any(h in u for h in HOSTILE_HOSTS)]
    assert not leaked, leaked
    for h in HOSTILE_HOSTS:
        links = page.locator(f'a[href*="{h}"]')
        assert links.count() == 0, links.first.evaluate("e => e.outerHTML + \" IN \" + e.closest(\"[data-testid]\").outerHTML.slice(0, 800)")
        assert page.locator(f'img[src*="{h}"]').count() == 0


def test_overview_renders(server, page, requests_seen):
    url, image = server
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text("CHAIR-i").first.wait_for()
    page.locator('[data-testid="stVegaLiteChart"]').first.wait_for()
    headings = [t.replace(WORD_JOINER, "").strip() for t in page.locator("h3").all_inner_texts()]
    for src in ("coco", HOSTILE_LINK, HOSTILE_IMG):  # hostile source names shown as plain text
        assert src in headings, headings
    assert page.locator('[data-testid="stMetricValue"]').count() >= 10
    page.get_by_text("Metric definitions").click()
    page.wait_for_timeout(1500)
    assert_no_leak(page, requests_seen)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_overview.png"))


def test_image_browser_highlights_and_never_executes_caption_html(server, page, requests_seen):
    url, image = server
    page.goto(f"{url}/?page=Image+browser&image={image}", wait_until="domcontentloaded")
    page.locator(".ca-caption .ca-mention.ca-hallucinated").first.wait_for()
    page.locator('[data-testid="stImage"] img').first.wait_for()
    assert page.locator(".ca-caption .ca-mention.ca-supported").count() >= 1
    title = page.locator(".ca-caption .ca-mention.ca-hallucinated").first.get_attribute("title")
    assert title.startswith("hallucinated: ")
    # the evil captions are visible as text ...
    page.get_by_text("<script>window.__pwned=1</script>", exact=False).first.wait_for()
    page.get_by_text('<img src=x onerror="window.__pwned=1">', exact=False).first.wait_for()
    # ... and never became markup or ran
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("script:has-text('__pwned')").count() == 0
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None
    page.wait_for_timeout(500)
    assert HOSTILE_LINK in page.locator("body").inner_text().replace(WORD_JOINER, "")  # as text
    for other in ("900001", "900002", "900003", "900004"):  # '..', absolute, symlink, hostile name
        page.goto(f"{url}/?page=Image+browser&image={other}", wait_until="domcontentloaded")
        page.locator('[data-testid="stImage"] img').first.wait_for()
        if other != "900004":  # the secret outside --images is refused: a placeholder
            page.get_by_text(f"for image id {other}").first.wait_for()
    assert_no_leak(page, requests_seen)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard_image_browser.png"))
