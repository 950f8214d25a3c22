"""llama.cpp's thread count is a setting: 0 (the default) uses every core the page may use, and the
row records both what was asked and what llama.cpp runs with."""

from __future__ import annotations

import pytest

from tests.page.helpers import open_bench, result, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.model]

SHORT = {"max_tokens": 2, "runs": 1, "warmup": 0, "forced_tokens": 0, "perplexity": False, "engines": ["llamacpp-wasm"]}


def llamacpp_info(driver, site_url, settings) -> dict:
    open_bench(driver, site_url, settings, autorun=True)
    assert wait_state(driver, {"done", "error"}, timeout=300) == "done", driver.find_element("id", "form-error").text
    row = result(driver)["rows"][0]
    assert row["error"] is None, row["error"]
    return row["info"]


def test_default_uses_every_core_the_page_may_use(chromium, site_url):
    info = llamacpp_info(chromium, site_url, SHORT)
    cores = chromium.execute_script("return crossOriginIsolated ? navigator.hardwareConcurrency : 1")
    assert chromium.execute_script("return document.getElementById('llamacpp_threads').value") == "0"
    assert info["threads_requested"] == 0
    assert info["threads"] == cores
    assert info["multithread"] is (cores > 1)


def test_one_thread_when_asked_for_one(chromium, site_url):
    info = llamacpp_info(chromium, site_url, {**SHORT, "llamacpp_threads": 1})
    # The page's form shows the setting it ran with.
    assert chromium.execute_script("return document.getElementById('llamacpp_threads').value") == "1"
    assert info["threads_requested"] == 1 and info["threads"] == 1 and info["multithread"] is False
