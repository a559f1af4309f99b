"""The demo page in real Chromium: a like or dislike changes the next load of the feed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
try:
    import playwright.sync_api as playwright
except ImportError:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI"):
        raise
    pytest.skip("playwright not installed", allow_module_level=True)

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the browser tests")
    pytest.skip("chromium not installed", allow_module_level=True)

LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`tactful demo` as a real process, exactly as the README starts it."""
    data = tmp_path_factory.mktemp("demo")
    port = free_port()
    cmd = [sys.executable, "-m", "tactful.cli.main", "demo", "--port", str(port), "--people", "40"]
    proc = subprocess.Popen(
        [*cmd, "--data-dir", str(data)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"demo exited early: {proc.stdout.read() if proc.stdout else ''}")
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise RuntimeError("demo did not start in time")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


def feed_ids(page) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.get_attribute("data-item") for c in page.locator("#feed article").all()]


def test_feed_like_and_dislike_show_on_next_load(demo_server: str, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(f"{demo_server}/?user=visitor-1")
    assert page.locator("#engagement").inner_text() == "new"
    first = feed_ids(page)
    assert len(first) >= 6
    assert page.locator("#feed article").first.locator(".reasons li").count() >= 1

    # Dislike the top card: it is gone after the redirect reloads the feed.
    target = first[0]
    page.locator(f'article[data-item="{target}"] button.dislike').click()
    page.wait_for_load_state("load")
    assert target not in feed_ids(page)
    assert target in page.locator("aside").inner_text()

    # Like another card: the profile panel shows the new interest on the next load.
    liked = feed_ids(page)[0]
    page.locator(f'article[data-item="{liked}"] button.like').click()
    page.wait_for_load_state("load")
    panel = page.locator("#interests").inner_text()
    assert "genre:" in panel and "1 positive signals" in page.locator("aside").inner_text()
    page.screenshot(path=str(tmp_path / "feed.png"), full_page=True)


def test_feed_for_a_listener_shows_personal_reasons(demo_server: str, browser) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page()
    page.goto(f"{demo_server}/")
    listener = page.locator(".people a").first.inner_text()
    page.goto(f"{demo_server}/?user={listener}")
    assert page.locator("#engagement").inner_text() in {"warming", "engaged"}
    codes = {li.get_attribute("data-code") for li in page.locator(".reasons li").all()}
    assert codes - {"popular", "trending"}, codes
