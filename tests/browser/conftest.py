"""The browser: Debian's headless Chromium driven by Playwright for Python, inside the suite's network namespace.

Every request the page makes goes through `page.route("**/*")`: one whose host is not in 127.0.0.0/8 is
aborted (and recorded), so no page, asset or script can send a packet anywhere else; the namespace has only lo
anyway (run.sh checks). Console errors and uncaught page errors are collected; a test that does not expect any
checks they stay empty.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = os.environ.get("PBXFED_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-default-apps", "--disable-features=Translate",
                 "--dns-prefetch-disable", "--disable-domain-reliability", "--metrics-recording-only"]


def loopback_only(url: str) -> bool:
    """True for http(s) URLs whose host is an address in 127.0.0.0/8, and for data:/blob:/about: URLs."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return False
    try:
        return ipaddress.ip_address(parts.hostname or "") in ipaddress.ip_network("127.0.0.0/8")
    except ValueError:
        return False


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Only inside run.sh's network namespace (only lo): anywhere else the stations would use the host's loopback."""
    if os.environ.get("PBXFED_BROWSER_NETNS"):
        return
    skip = pytest.mark.skip(reason="run through tests/browser/run.sh (its own network namespace)")
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(skip)


@dataclass
class PageLog:
    aborted: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: tests/browser/setup.sh installs Debian's chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright missing: tests/browser/setup.sh")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[tuple[Any, PageLog]]:
    ctx = browser.new_context(viewport={"width": 1360, "height": 1000}, locale="en-US", service_workers="block")
    log = PageLog()

    def guard(route: Any) -> None:
        url = route.request.url
        if loopback_only(url):
            log.requests.append(url)
            route.continue_()
        else:
            log.aborted.append(url)
            route.abort("blockedbyclient")

    ctx.route("**/*", guard)
    pg = ctx.new_page()
    pg.on("console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: log.page_errors.append(str(e)))
    pg.set_default_timeout(20000)
    try:
        yield pg, log
    finally:
        ctx.close()


def shot(pg: Any, name: str, *, full: bool = False) -> Path:
    """A screenshot for docs/screenshots/<name>.png (PNG, kept well under 300 KB)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    pg.evaluate("() => window.scrollTo(0, 0)")
    pg.wait_for_timeout(300)
    pg.screenshot(path=str(path), full_page=full)
    if path.stat().st_size > 280_000:  # a very long page: keep the top of it
        pg.screenshot(path=str(path), full_page=False)
    return path
