"""The real page: dist/ served with COOP/COEP, opened in headless Chromium."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.browser


def wait_for_state(driver, states, timeout=90):
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = driver.execute_script("return document.documentElement.dataset.state")
        if state in states:
            return state
        time.sleep(0.1)
    raise AssertionError(f"page state stayed {state!r} for {timeout} s")


def test_page_reaches_ready_and_is_cross_origin_isolated(browser, site_url):  # in every browser (conftest)
    browser.get(site_url)
    state = wait_for_state(browser, {"ready", "error"})
    error = browser.find_element("id", "error").text
    assert state == "ready", f"page error: {error}"
    assert browser.execute_script("return self.crossOriginIsolated") is True
    # Each row's cells joined by a space: WebKit's element text runs a row's cells together ("Python3.13.2").
    env = browser.execute_script(
        "return [...document.querySelectorAll('#env-table tr')]"
        ".map(tr => [...tr.children].map(c => c.textContent.trim()).join(' ')).join('\\n')")
    assert "Python 3.13" in env and "Pyodide 0.29.3" in env and "flare-web 0.2.21" in env
    assert "crossOriginIsolated yes" in env
    ready_ms = float(browser.execute_script("return document.documentElement.dataset.readyMs"))
    assert 0 < ready_ms < 90_000
