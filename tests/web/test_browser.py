"""The web interface in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright) against a real `cix serve` on a loopback port.

Skipped, with the reason, where Chromium or Playwright is missing; under CI=true that is a
failure instead. The test also takes the screenshots of docs/screenshots/ (1280×800).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cix.demo import prepare
from cix.demo_cast import CANADA
from tests.live_node import LiveNode
from tests.requirements import missing

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("web-browser")]

CHROMIUM = os.environ.get("CIX_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def _browser_or_skip() -> Any:
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        reason = f"playwright is not installed ({exc})"
    if reason is None and not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        reason = f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CIX_TEST_CHROMIUM)"
    if reason is not None:
        missing(reason)
    return sync_playwright


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveNode, dict[str, str]]]:
    """The Canadian demonstration node, seeded and served; its people's API tokens."""
    (demo,) = prepare(tmp_path_factory.mktemp("web") / "demo", nations=(CANADA,), base_port=0)
    live = LiveNode.start(demo.data_dir, timeout=60)
    try:
        yield live, demo.tokens
    finally:
        live.stop()


@pytest.fixture
def page(served: tuple[LiveNode, dict[str, str]]) -> Iterator[Any]:
    """A fresh 1280×800 page of headless Chromium; fails the test on any CSP violation."""
    sync_playwright = _browser_or_skip()
    violations: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(
            viewport={"width": 1280, "height": 800}, accept_downloads=True
        )
        tab = context.new_page()
        tab.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        try:
            yield tab
        finally:
            browser.close()
    assert violations == [], violations


def _axe_source() -> str:
    """axe-core's script, as the axe-playwright-python package ships it."""
    spec = importlib.util.find_spec("axe_playwright_python")
    if spec is None or spec.origin is None:
        missing("axe-playwright-python is not installed (pip install -e '.[test]')")
    return Path(spec.origin).with_name("axe.min.js").read_text("utf-8")


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=False)


def test_sign_in_upload_see_it_listed_under_its_banner_and_open_it(
    served: tuple[LiveNode, dict[str, str]], page: Any
) -> None:
    live, tokens = served
    page.goto(f"{live.url}/")
    assert page.url.endswith("/ui/sign-in")
    assert page.inner_text("#banner-top") == "UNCLASSIFIED"
    _shot(page, "sign-in.png")
    page.fill("#token", tokens["dnd-pm"])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/documents")

    page.click("text=Upload")
    page.fill("#title", "CPSP hull acoustic trials <draft>")
    page.select_option("#level", "kor-can:S")
    page.check("input[name=rel][value=KOR]")
    page.check("input[name=programme][value=CPSP]")
    page.set_input_files(
        "#file", files=[{"name": "trials.txt", "mimeType": "text/plain", "buffer": b"trial data\n"}]
    )
    _shot(page, "upload.png")
    page.click("text=Seal and register")
    page.wait_for_url("**/ui/documents/*")
    banner = page.locator("#banner-top")
    assert banner.inner_text() == "SECRET"
    assert "banner-secret" in (banner.get_attribute("class") or "")
    assert page.inner_text("#banner-bottom") == "SECRET"
    heading = page.inner_text("h1")
    assert heading == "(S//CPSP//REL TO CAN, KOR) CPSP hull acoustic trials <draft>"
    _shot(page, "document.png")

    page.click("text=Documents")
    page.wait_for_url("**/ui/documents")
    row = page.locator("tr", has_text="CPSP hull acoustic trials <draft>")
    assert "(S//CPSP//REL TO CAN, KOR)" in row.inner_text()
    assert page.inner_text("#banner-top") == "SECRET"
    _shot(page, "documents.png")

    # The search swaps the table with htmx; the banners follow the table's level.
    page.fill("#q", "no such title")
    page.click("text=Search")
    page.wait_for_selector("#doc-table >> text=No documents")
    assert page.url.endswith("/ui/documents")  # swapped in place, not navigated
    assert page.inner_text("#banner-top") == "UNCLASSIFIED"
    assert page.inner_text("#banner-bottom") == "UNCLASSIFIED"
    page.fill("#q", "hull acoustic")
    page.click("text=Search")
    page.wait_for_selector("#doc-table >> text=CPSP hull acoustic trials")
    assert page.inner_text("#banner-top") == "SECRET"

    page.click("text=CPSP hull acoustic trials <draft>")
    page.wait_for_url("**/ui/documents/*")
    with page.expect_download() as download:
        page.click("text=Download")
    saved = download.value.path()
    assert Path(saved).read_bytes() == b"trial data\n"

    # No layout break on a 390-pixel-wide window: nothing wider than the window.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.url}/ui/documents")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 800})

    page.click("text=Sign out")
    page.wait_for_url("**/ui/sign-in")
    page.goto(f"{live.url}/ui/documents")
    assert page.url.endswith("/ui/sign-in")

    # The auditor reads the node's real log: the upload is there, under the top banner.
    page.fill("#token", tokens["dnd-auditor"])
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/documents")
    page.click("text=Audit log")
    page.fill("#a-actor", "dnd-pm")
    page.select_option("#a-decision", "permit")
    page.click("text=Filter")
    page.wait_for_url("**/ui/audit?*")
    assert page.inner_text("#banner-top") == "TOP SECRET"
    assert page.locator("tr", has_text="register").count() >= 1
    _shot(page, "audit.png")


def test_every_page_has_no_serious_accessibility_violation(
    served: tuple[LiveNode, dict[str, str]],
) -> None:
    live, tokens = served
    sync_playwright = _browser_or_skip()
    axe = _axe_source()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        # axe is injected by the test: this context alone lets the page run it (the CSP
        # itself is checked by the test above and by the in-process tests).
        context = browser.new_context(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        page = context.new_page()
        found: dict[str, list[str]] = {}

        def check(url: str) -> None:
            page.goto(f"{live.url}{url}")
            page.add_script_tag(content=axe)
            result = page.evaluate(
                "async () => await axe.run(document, {resultTypes: ['violations']})"
            )
            assert result["testEngine"]["name"] == "axe-core"  # it ran
            serious = [
                f"{v['id']}: {v['help']}"
                for v in result["violations"]
                if v.get("impact") in ("serious", "critical")
            ]
            if serious:
                found[url] = serious

        def sign_in(person: str) -> None:
            page.goto(f"{live.url}/ui/sign-in")
            page.fill("#token", tokens[person])
            page.click("button[type=submit]")
            page.wait_for_url("**/ui/documents")

        try:
            check("/ui/sign-in")
            sign_in("dnd-pm")
            for url in ("/ui/documents", "/ui/documents/new", "/ui/people", "/ui/people/dnd-pm",
                        "/ui/organisations", "/ui/programmes", "/ui/people/new",
                        "/ui/organisations/new", "/ui/programmes/new", "/ui/memberships/new",
                        "/ui/transmissions", "/ui/consents",
                        "/ui/documents/" + "0" * 32):  # fmt: skip
                check(url)
            first = page.goto(f"{live.url}/ui/documents")
            assert first is not None
            link = page.locator("#doc-table a").first
            if link.count():
                check(link.get_attribute("href") or "/ui/documents")
            page.click("text=Sign out")
            sign_in("dnd-auditor")
            check("/ui/audit")
        finally:
            browser.close()
    assert found == {}, found
