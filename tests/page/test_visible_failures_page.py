"""Every failure visible, in the real page (headless Chromium, WebGPU through SwiftShader):
flare's silent WebGPU failure becomes GPU ERROR with its message, the opt-in limits shim is labelled
and removes it, a WRONG row's bar is drawn apart, and the status text follows the state."""

from __future__ import annotations

import json

import pytest

from tests.page.helpers import fill_tiny_flare_cpu_run, open_bench, result, wait_for, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.model]

TINY = {"runs": 1, "warmup": 0, "perplexity": False}


def bars(driver) -> dict:
    return json.loads(driver.execute_script(
        "return import(new URL('static/charts.js', location.href).href).then(m => m.describeCharts())"))


def verdict_cells(driver) -> dict[str, str]:
    return dict(driver.execute_script(
        "return [...document.querySelectorAll('#results tr[data-row]')].map(tr => [tr.dataset.row, tr.dataset.verdict])"))


def test_flare_webgpu_gpu_error_is_caught_and_a_wrong_row_is_drawn_apart(chromium, site_url):
    # ignore_eos: flare's WebGPU "tokens" are id 0, an end token of llama.cpp's set; run to max tokens to time them.
    settings = {**TINY, "max_tokens": 4, "forced_tokens": 4, "ignore_eos": True,
                "engines": ["llamacpp-wasm", "flare-cpu", "flare-webgpu"]}
    open_bench(chromium, site_url, settings, autorun=True)
    assert wait_state(chromium, {"done", "error"}, timeout=600) == "done", chromium.find_element("id", "form-error").text
    data = result(chromium)
    rows = {r["key"]: r for r in data["rows"]}
    gpu = rows["flare-webgpu"]
    assert gpu["gpu_errors"]["count"] > 0 and gpu["gpu_errors"]["by_kind"].get("validation")
    assert "workgroup storage (16416 bytes)" in gpu["gpu_errors"]["first_messages"][0]
    assert gpu["shims"] == [] and gpu["backend"] == "webgpu"
    # The device flare made was recorded, with the default limit it was held to.
    assert gpu["gpu_devices"] and gpu["gpu_devices"][0]["granted_limits"]["maxComputeWorkgroupStorageSize"] == 16384
    assert gpu["summary"]["decode_tok_s"]["mean"] > 0, "the figures stay in the JSON"
    assert rows["flare-cpu"]["gpu_errors"] is None and rows["llamacpp-wasm"]["gpu_errors"] is None
    verdicts = verdict_cells(chromium)
    assert verdicts["flare-webgpu"] == "GPU ERROR"
    assert verdicts["flare-cpu"] == "WRONG", rows["flare-cpu"]["correctness"]
    # Under the row: the first message; its speeds struck through, never plain.
    page_text = chromium.find_element("id", "results").text
    assert "workgroup storage (16416 bytes)" in page_text
    struck = chromium.execute_script(
        "return [...document.querySelectorAll('#results tr[data-row=\"flare-webgpu\"] td.invalid s')].length")
    assert struck >= 3
    # Charts: the GPU ERROR row has no bar, the WRONG row is grey and hatched, the reference is coloured.
    decode = {b["label"]: b for b in bars(chromium)["chart-decode"]}
    gpu_bar = next(b for label, b in decode.items() if label.startswith("flare-web webgpu"))
    assert gpu_bar["value"] is None and "GPU ERROR" in gpu_bar["label"]
    wrong_bar = next(b for label, b in decode.items() if label.startswith("flare-web wasm-cpu"))
    assert wrong_bar["hatched"] and "WRONG" in wrong_bar["label"] and wrong_bar["value"] > 0
    ref_bar = next(b for label, b in decode.items() if label.startswith("llama.cpp"))
    assert not ref_bar["hatched"] and ref_bar["color"] != wrong_bar["color"]
    assert list(decode)[-1].startswith("flare-web webgpu"), "rows without a result come last"


def test_adapter_limits_shim_is_labelled_and_flare_then_computes(chromium, site_url):
    # With the shim flare really computes under SwiftShader (about 10 s a token here): two tokens are enough.
    settings = {**TINY, "max_tokens": 2, "forced_tokens": 0, "engines": ["flare-webgpu"], "webgpu_limits": "adapter"}
    open_bench(chromium, site_url, settings, autorun=True)
    assert wait_state(chromium, {"done", "error"}, timeout=400) == "done", chromium.find_element("id", "form-error").text
    row = result(chromium)["rows"][0]
    assert row["gpu_errors"] is None, row["gpu_errors"]
    assert row["backend"] == "webgpu (adapter limits)" and row["shims"] == ["webgpu-limits=adapter"]
    device = row["gpu_devices"][0]
    assert device["adapter_limits_shim"] is True
    assert device["granted_limits"]["maxComputeWorkgroupStorageSize"] > 16384
    assert "maxComputeWorkgroupStorageSize" in device["raised_limits"]
    assert "webgpu (adapter limits)" in chromium.find_element("id", "results").text


def test_status_follows_the_state_after_an_error_and_a_second_run(chromium, site_url):
    open_bench(chromium, site_url, {"max_tokens": "lots"})  # a bad settings query: error shown, page ready
    assert wait_state(chromium, {"ready", "error"}, timeout=120) == "ready"
    assert "settings in the URL" in chromium.find_element("id", "form-error").text
    assert not chromium.find_element("id", "run").get_attribute("disabled")
    chromium.execute_script("document.getElementById('runs').value = 'x'")
    chromium.find_element("id", "run").click()
    wait_state(chromium, {"error"}, timeout=30)
    assert chromium.find_element("id", "status").text == "Error"
    assert "runs must be a whole number" in chromium.find_element("id", "form-error").text
    fill_tiny_flare_cpu_run(chromium)
    chromium.find_element("id", "run").click()
    wait_for(chromium, "return document.documentElement.dataset.state !== 'error'", timeout=30)
    # From the moment the second run starts, nothing of the first error is left on the page.
    assert chromium.find_element("id", "form-error").get_attribute("hidden") is not None
    assert chromium.find_element("id", "status").text in ("Running…", "Done")
    assert wait_state(chromium, {"done", "error"}, timeout=180) == "done"
    assert chromium.find_element("id", "status").text == "Done"
    assert chromium.find_element("id", "progress-text").text == "done"
    assert chromium.find_element("id", "form-error").get_attribute("hidden") is not None
    # The charts' area exists only once a figure does.
    assert chromium.execute_script("return document.getElementById('charts').hidden") is False
    chromium.find_element("id", "clear").click()
    assert chromium.execute_script("return document.getElementById('charts').hidden") is True
    assert chromium.find_element("id", "status").text == "Ready"
