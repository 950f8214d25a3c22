"""The benchmark in the real page (headless Chromium): table and JSON agree with their timestamps,
Stop keeps finished runs, bad files get words, not panics."""

from __future__ import annotations

import os
import statistics
import time

import pytest

from app.core import report, results
from tests.page.helpers import fill_tiny_flare_cpu_run, open_bench, result, wait_for, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.model]


def table_rows(driver) -> dict[str, list[str]]:
    rows = driver.execute_script(
        "return [...document.querySelectorAll('#results table.results tbody tr[data-row]')]"
        ".map(tr => [tr.dataset.row, [...tr.children].map(td => td.textContent)])")
    return {key: cells for key, cells in rows}


def test_short_benchmark_table_and_json_agree_with_their_timestamps(browser, site_url):  # every browser
    settings = {"max_tokens": 6, "runs": 2, "warmup": 1, "forced_tokens": 3, "perplexity": False,
                "engines": ["llamacpp-wasm", "flare-cpu"]}
    if browser.bench_browser == "webkit":
        # WebKit says navigator.hardwareConcurrency 4 below 8 cores: "every core" would start 4 llama.cpp threads
        # on a 2-core machine, which crawl (the webkit runtime does the same: app/host/runtimes/webkit.py).
        settings["llamacpp_threads"] = len(os.sched_getaffinity(0))
    open_bench(browser, site_url, settings, autorun=True)
    assert wait_state(browser, {"done", "error"}, timeout=400) == "done", browser.find_element("id", "form-error").text
    data = result(browser)
    results.check_result(data)  # every derived figure recomputed from the raw timestamps
    assert [r["key"] for r in data["rows"]] == ["llamacpp-wasm", "flare-cpu"]
    assert data["prompt_ids"][:3] == [1, 9690, 198] and data["environment"]["cross_origin_isolated"] is True
    assert any(a.get("name") == "@sauravpanda/flare" and a.get("sha256") for a in data["assets"])
    table = table_rows(browser)
    for row in data["rows"]:
        assert row["error"] is None, row["error"]
        assert len(row["warmups"]) == 1 and len(row["runs"]) == 2
        rates, ttfts = [], []
        for run in row["runs"]:
            t = run["token_times_ms"]
            assert len(t) == len(run["token_ids"]) >= 2
            rates.append((len(t) - 1) / ((t[-1] - t[0]) / 1000))  # decode tok/s, by definition
            ttfts.append(t[0] - run["prefill_start_ms"])
        cells = table[row["key"]]
        col = {name: i for i, name in enumerate(report.COLUMNS)}
        assert cells[col["decode tok/s"]].startswith(f"{statistics.fmean(rates):.2f} ± {statistics.stdev(rates):.2f}"), cells
        assert cells[col["TTFT ms"]].startswith(f"{statistics.fmean(ttfts):.0f}"), cells
        assert cells[col["tokens"]].startswith(str(len(row["runs"][0]["token_ids"])))
        # Memory: the page's bytes after load and at the end, measured by the browser.
        memory = row["memory"]
        if browser.bench_browser in ("firefox", "webkit"):  # no measureUserAgentSpecificMemory(): said, not guessed
            assert memory["page_bytes_peak"] is None and "measureUserAgentSpecificMemory" in memory["error"]
            assert cells[col["memory MB"]] == "-"
        elif row is data["rows"][0] or memory["page_bytes_peak"] is not None:
            # Every row measured before any worker of the page ended has figures: its own and the page's.
            assert (memory["page_bytes_after_load"] or 0) > 0 and memory["page_bytes_peak"] >= memory["page_bytes_after_load"], (row["key"], memory)
            assert memory["peak_to_model"] > 0 and memory["engine_bytes_peak"] is not None, (row["key"], memory)
            assert cells[col["memory MB"]] != "-"
        else:
            # Chromium 156 stops answering once a worker of the page has ended (the reference's wllama worker, at
            # its unload): the row says so, and the table shows no figure rather than a wrong one.
            assert "stops answering once a worker of the page has ended" in memory["error"], (row["key"], memory)
            assert cells[col["memory MB"]] == "-"
        assert all(run["hygiene"] == {"page_hidden": False, "visibility_changes": 0} for run in row["runs"])
    flare = data["rows"][1]
    assert flare["correctness"]["forced_positions"] == 3
    assert table["flare-cpu"][2] in ("ok", "DEGRADED", "WRONG")  # a verdict, always shown, next to the name
    reference = data["rows"][0]
    assert reference["correctness"]["forced_top1_agreement"] == 1.0, "llama.cpp must agree with its own greedy tokens"
    # The row says which wllama build ran: 2.3.7's wasm32 build where the browser lacks Memory64 (WebKit), else 2.4.0's.
    build = "memory64" if data["environment"]["features"]["memory64"] else "wasm32"
    assert reference["info"]["build"] == build and f"wasm-cpu ({build})" in table["llamacpp-wasm"][1]
    assert data["tokenizer"].startswith("llama.cpp (wllama 2.4.0" if build == "memory64" else "llama.cpp (wllama 2.3.7")
    # Charts were drawn by Chart.js.
    assert browser.execute_script("return !!Chart.getChart(document.getElementById('chart-decode'))")


def test_stop_ends_within_a_token_and_keeps_finished_runs(chromium, site_url):
    # Long runs (llama.cpp to 200 tokens, end tokens ignored) so that Stop lands inside the second run.
    settings = {"max_tokens": 200, "runs": 3, "warmup": 0, "forced_tokens": 0, "perplexity": False, "ignore_eos": True,
                "engines": ["llamacpp-wasm"]}
    open_bench(chromium, site_url, settings, autorun=True)
    wait_for(chromium, "return document.getElementById('log').textContent.includes('run 1/3:')", timeout=300, poll=0.05)
    clicked = time.monotonic()
    chromium.find_element("id", "stop").click()
    assert wait_state(chromium, {"done", "error"}, timeout=60) == "done"
    assert time.monotonic() - clicked < 10
    data = result(chromium)
    runs = data["rows"][0]["runs"]
    assert data["stopped_by_user"] is True and len(runs) >= 2
    assert all(r["stopped"] is False and r["token_ids"] for r in runs[:-1]), "finished runs are kept whole"
    stopped = runs[-1]
    assert stopped["stopped"] is True and stopped["stop_reason"] == "user" and len(stopped["token_ids"]) < 200
    # Within one token: at most one token id arrived after Stop was pressed.
    after = [t for t in stopped["token_times_ms"] if t >= data["stop_requested_ms"]]
    assert len(after) <= 1, (data["stop_requested_ms"], stopped["token_times_ms"][-3:])
    assert data["rows"][0]["summary"]["decode_tok_s"]["n"] == len(runs) - 1  # the stopped run is kept, not summarised
    assert not chromium.find_element("id", "run").get_attribute("disabled")


def test_bad_files_and_settings_get_clear_errors_and_the_page_stays_usable(chromium, site_url, tmp_path, q4_1_model):
    open_bench(chromium, site_url)
    wait_state(chromium, {"ready"}, timeout=120)
    chromium.execute_script("const s = document.getElementById('model-choice'); s.value = 'file'; s.dispatchEvent(new Event('change'))")
    bogus = tmp_path / "notes.gguf"
    bogus.write_text("not a model at all")
    chromium.find_element("id", "model-file").send_keys(str(bogus))
    chromium.find_element("id", "run").click()
    wait_state(chromium, {"error"}, timeout=60)
    assert "not a GGUF file" in chromium.find_element("id", "form-error").text
    chromium.find_element("id", "model-file").send_keys(str(q4_1_model))
    # flare alone cannot run Q4_1: every row is unsupported and the page says why (llama.cpp would run it).
    chromium.execute_script("for (const b of document.querySelectorAll('input[name=engine]')) b.checked = b.value === 'flare-cpu';")
    chromium.find_element("id", "run").click()
    wait_for(chromium, "return document.getElementById('form-error').textContent.includes('Q4_1')", timeout=120)
    # Bad settings: named, and nothing runs.
    chromium.execute_script("document.getElementById('model-choice').value = 'smollm2-135m'")
    chromium.execute_script("document.getElementById('max_tokens').value = '0'")
    chromium.find_element("id", "run").click()
    wait_for(chromium, "return document.getElementById('form-error').textContent.includes('max_tokens must be between 1 and 2048')")
    # Still usable: a real run goes through afterwards.
    fill_tiny_flare_cpu_run(chromium)
    chromium.find_element("id", "run").click()
    wait_state(chromium, {"running", "done"}, timeout=30)  # the error state of the step before is gone
    assert wait_state(chromium, {"done", "error"}, timeout=120) == "done", chromium.find_element("id", "form-error").text
    assert result(chromium)["rows"][0]["runs"][0]["token_ids"]


def test_flare_async_prefill_option_gives_the_same_tokens(chromium, site_url):
    base = {"max_tokens": 4, "runs": 1, "warmup": 0, "forced_tokens": 0, "perplexity": False, "engines": ["flare-cpu"]}
    tokens = {}
    for async_prefill in (False, True):
        open_bench(chromium, site_url, {**base, "async_prefill": async_prefill}, autorun=True)
        assert wait_state(chromium, {"done", "error"}, timeout=180) == "done"
        row = result(chromium)["rows"][0]
        assert row["info"]["prefill"] == ("begin_stream_with_params_async" if async_prefill else "begin_stream_with_params")
        tokens[async_prefill] = row["runs"][0]["token_ids"]
    assert tokens[True] == tokens[False] and len(tokens[True]) == 4
