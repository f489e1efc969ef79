"""The lab in a real browser: headless Chromium (Debian's package, driven by Playwright) on a live
``rnnkit serve`` of a tiny trained run. Without the browser the test fails; it never skips (.ci/run
installs Debian's chromium)."""
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit.serve import Limits

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing that reaches out to Google's hosts (the machine has no network).
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PRIME = 'Anna said "'
LENGTH = 80


@pytest.fixture(scope="module")
def lab_url(lm_run):
    """A live ``rnnkit serve`` of the tiny run on a free loopback port."""
    server = subprocess.Popen([sys.executable, "-m", "rnnkit", "serve", str(lm_run), "--port", "0", "--threads", "1"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [server.stdout.readline(), server.stdout.readline()]
        address = re.fullmatch(r"rnnkit lab: (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops it\)\n", lines[1])
        assert address, f"rnnkit serve printed {lines!r}; stderr: {server.stderr.read() if server.poll() else ''}"
        yield address[1]
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 130                           # Ctrl-C stops it, as for every command


@pytest.fixture(scope="module")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"the browser test needs Debian's chromium at {CHROMIUM} (apt-get install -y chromium; .ci/run "
                    "installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # a first launch on a busy machine (font cache, new profile) can take longer than Playwright's 30 s
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, timeout=180_000)
        yield chromium
        chromium.close()


def colours(page):
    return page.locator("#text span.piece").evaluate_all("spans => spans.map(s => s.style.backgroundColor)")


def test_the_page_streams_colours_recolours_and_explains(lab_url, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.goto(lab_url)
    page.fill("#prime", PRIME)
    page.fill("#length", str(LENGTH))
    page.fill("#seed", "4")
    page.click("#generate")
    page.wait_for_selector("#text[data-state=done]", timeout=30_000)

    text = page.text_content("#text")
    assert text.startswith(PRIME) and len(text) == len(PRIME) + LENGTH
    assert page.locator("#text span.piece").count() == len(text)             # one coloured span per character
    before = colours(page)
    assert all(before) and len(set(before)) > 5
    assert page.locator("#text span.given").count() == len(PRIME)
    assert re.fullmatch(rf"{len(text)} pieces in \d+\.\d+ s", page.text_content("#status"))

    page.wait_for_selector("#units button")
    choices = [b for b in page.locator("#units button").all() if b.get_attribute("data-unit") != "0"]
    unit = choices[0].get_attribute("data-unit")
    choices[0].click()
    page.wait_for_selector(f'#text[data-coloured="0/c/{unit}"]', timeout=30_000)
    after = colours(page)
    assert len(after) == len(text) and all(after) and after != before        # another unit, other colours
    assert page.input_value("#unit") == unit

    page.hover("#text span.piece >> nth=20")
    assert page.locator("#tooltip").is_visible() and page.locator("#tooltip tr").count() == 5

    page.wait_for_selector("#gradient-map[data-rows]", timeout=30_000)       # drawn after the generation
    shown = min(len(text) - 1, Limits().max_gradient_tokens)                # the last predictions of the text
    assert page.get_attribute("#gradient-map", "data-rows") == str(shown)
    screenshot = Path(tmp_path) / "lab.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000
    print(f"screenshot: {screenshot}")
    assert problems == []
