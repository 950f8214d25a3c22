"""Every page action ends by itself or by Stop, and settings of any length reach the page (issue 19, parts 1 and 2),
in the real Chromium: a runaway chat template leaves the page drawing and Stop ends it; a template too deep to parse
or rendering nothing is refused in words; a model URL that never answers times out, Stop aborts it, errors name the
URL; `#settings=` carries a 32,000-character prompt where `?settings=` gets a 414 page in words; a 32,000-character
prompt in Japanese reaches the page and Deno through `bench` and is refused for its token count; the compare page and
the notebook's import end in words on hostile files and stay usable."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from tests.host import synthetic as syn
from tests.host.test_actions_end import BRACKETS, EMPTY, JAPANESE, RUNAWAY, SLOW_STEPS
from tests.page.helpers import open_bench, wait_for, wait_state

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
TINY = {"max_tokens": 2, "runs": 1, "warmup": 0, "forced_tokens": 0, "perplexity": False, "engines": ["llamacpp-wasm"]}


def _template_gguf(path: Path, template: str) -> Path:
    from tests.host.test_gguf_header import VT, gguf_file

    gguf_file(path, [("tokenizer.chat_template", template, VT.STRING, None)])
    return path


def _form_error(driver) -> str:
    return driver.find_element("id", "form-error").text


def _run_picked(driver, path: Path) -> None:
    """Pick `path` as the model (llama.cpp only), press Run and wait until the run has begun."""
    driver.execute_script(
        "const s = document.getElementById('model-choice'); s.value = 'file'; s.dispatchEvent(new Event('change'));"
        "for (const b of document.querySelectorAll('input[name=engine]')) b.checked = b.value === 'llamacpp-wasm';"
        "document.getElementById('log').textContent = '';")
    driver.find_element("id", "model-file").send_keys(str(path))
    driver.find_element("id", "run").click()
    wait_for(driver, "return document.getElementById('log').textContent.includes('model ')", 30)


def _ended(driver, timeout: float) -> str:
    wait_for(driver, "return document.documentElement.dataset.state !== 'running'", timeout)
    return driver.execute_script("return document.documentElement.dataset.state")


def test_a_runaway_template_leaves_the_page_drawing_stop_ends_it_and_the_budget_names_it(chromium, site_url, tmp_path):
    open_bench(chromium, site_url)
    assert wait_state(chromium, {"ready", "error"}, timeout=120) == "ready"
    # Few, slow steps: the render runs until its 5 s budget unless stopped; the page keeps answering meanwhile.
    _run_picked(chromium, _template_gguf(tmp_path / "slow.gguf", SLOW_STEPS))
    wait_for(chromium, "return document.getElementById('progress-text').textContent.includes('chat template renders')", 10)
    started = time.monotonic()
    assert chromium.execute_script("return document.documentElement.dataset.state") == "running"
    assert time.monotonic() - started < 1, "the page answers while the template renders"
    chromium.find_element("id", "stop").click()
    assert _ended(chromium, 5) == "error" and time.monotonic() - started < 4
    assert chromium.find_element("id", "status").text == "Stopped"
    assert "stopped while the chat template of slow.gguf (tokenizer.chat_template) rendered" in _form_error(chromium)
    assert not chromium.find_element("id", "run").get_attribute("disabled")
    cases = [(RUNAWAY, "did not finish rendering within its budget"), (BRACKETS, "is nested too deeply to parse"),
             (EMPTY, "rendered an empty prompt")]
    for n, (template, words) in enumerate(cases):
        _run_picked(chromium, _template_gguf(tmp_path / f"t{n}.gguf", template))
        assert _ended(chromium, 30) == "error", template[:40]
        message = _form_error(chromium)
        assert message.startswith(f"the chat template of t{n}.gguf (tokenizer.chat_template)") and words in message
        assert "llama.cpp tokenizes" not in chromium.find_element("id", "progress-text").text, "before anything loads"
        assert chromium.execute_script("return window.benchResultJSON") is None


def test_a_model_url_that_never_answers_times_out_stop_aborts_it_and_errors_name_the_url(chromium, site_url):
    silent = socket.socket()  # accepts connections (the backlog) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    never = f"http://127.0.0.1:{silent.getsockname()[1]}/never.gguf"
    try:
        chromium.get(site_url + "index.html?" + urllib.parse.urlencode({"settings": json.dumps(TINY), "fetch_timeout": "2"}))
        assert wait_state(chromium, {"ready", "error"}, timeout=120) == "ready"

        def run_to_the_end(url: str) -> float:
            started = time.monotonic()
            chromium.set_script_timeout(30)
            chromium.execute_async_script("benchPage.run_from_form(arguments[0]).then(() => arguments[1]())", url)
            return time.monotonic() - started

        assert run_to_the_end(never) < 10
        assert chromium.execute_script("return document.documentElement.dataset.state") == "error"
        assert _form_error(chromium) == f"GET {never}: no answer from the server for 2 s; gave up"
        chromium.execute_script("benchPage.run_from_form(arguments[0])", never)
        wait_for(chromium, "return document.documentElement.dataset.state === 'running'", 10)
        time.sleep(0.5)
        started = time.monotonic()
        chromium.find_element("id", "stop").click()
        assert _ended(chromium, 5) == "error" and time.monotonic() - started < 2
        assert chromium.find_element("id", "status").text == "Stopped"
        assert _form_error(chromium) == f"GET {never}: stopped: nothing was measured"
        assert not chromium.find_element("id", "run").get_attribute("disabled")
        run_to_the_end("http://127.0.0.1:1/refused.gguf")
        assert chromium.execute_script("return document.documentElement.dataset.state") == "error"
        assert _form_error(chromium).startswith("GET http://127.0.0.1:1/refused.gguf failed: Failed to fetch (")
    finally:
        silent.close()


def test_settings_of_any_length_travel_in_the_fragment_and_a_too_long_query_is_answered_in_words(chromium, site_url):
    settings = {**TINY, "prompt": JAPANESE, "system": JAPANESE}
    chromium.get(site_url + "index.html#settings=" + urllib.parse.quote(json.dumps(settings)))
    assert wait_state(chromium, {"ready", "error"}, timeout=120) == "ready", _form_error(chromium)
    assert chromium.execute_script("return document.getElementById('prompt').value") == JAPANESE
    assert chromium.execute_script("return document.getElementById('system').value") == JAPANESE
    chromium.get(site_url + "index.html?" + urllib.parse.urlencode({"settings": json.dumps(settings)}))
    body = chromium.find_element("tag name", "body").text
    assert "414" in body and "This link is too long" in body and "#settings=" in body
    chromium.get(site_url + "index.html?settings_url=" + urllib.parse.quote("http://127.0.0.1:1/s.json"))
    assert wait_state(chromium, {"ready", "error"}, timeout=120) == "ready"
    assert "settings_url must be a path on this site" in _form_error(chromium)


@pytest.mark.model
@pytest.mark.parametrize("runtime", ["chromium", "deno"])
def test_a_32000_character_japanese_prompt_reaches_the_runtime_and_is_refused_for_its_tokens(runtime, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--runtime", runtime, "--prompt", JAPANESE, "--system", JAPANESE,
         "--engines", "llamacpp", "--runs", "1", "--warmup", "0", "--max-tokens", "2", "--forced-tokens", "0",
         "--no-perplexity", "--json", str(tmp_path / "r.json"), "--timeout", "240"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "no engine could run" in proc.stderr and "more than llama.cpp (wllama) wasm-cpu's context" in proc.stderr
    assert "starting Chromium" not in proc.stderr and "gave up" not in proc.stderr


def test_the_compare_page_ends_in_words_on_hostile_files_and_compares_again(chromium, site_url, tmp_path):
    from tests.page.test_compare_page import choose, open_page

    good = syn.result([syn.row(run_list=syn.runs(20.0, 5, seed=1))])
    nan = syn.result([syn.row(run_list=syn.runs(15.0, 5, seed=2))])
    for run in nan["rows"][0]["runs"]:
        run["token_times_ms"] = [float("nan")] * len(run["token_times_ms"])
    deep = "[" * 200_000 + "]" * 200_000
    open_page(chromium, site_url)
    for n, bad in enumerate((json.dumps(nan), deep)):
        (tmp_path / str(n)).mkdir()
        choose(chromium, tmp_path / str(n), good, bad)
        assert wait_state(chromium, {"done", "error"}, timeout=60) == "error"
        message = wait_for(chromium, "return document.getElementById('error').textContent")
        assert "new.json" in message or "cannot be compared" in message, message
        assert chromium.find_element("id", "status").text == "Error"
    (tmp_path / "ok").mkdir()
    choose(chromium, tmp_path / "ok", good, good)
    assert wait_state(chromium, {"done", "error"}, timeout=60) == "done", chromium.find_element("id", "error").text


def test_the_notebook_refuses_a_notebook_nested_100000_deep_in_words_and_stays_usable(chromium, site_url, tmp_path):
    from tests.page.test_notebook import open_fresh_notebook, run_cell

    open_fresh_notebook(chromium, site_url, cells=["1 + 1"])
    deep = tmp_path / "deep.ipynb"
    deep.write_text('{"nbformat": 4, "nbformat_minor": 5, "cells": [], "metadata": ' + '{"a": ' * 100_000 + "1"
                    + "}" * 100_001)
    chromium.find_element("id", "nb-import").send_keys(str(deep))
    message = wait_for(chromium, "const e = document.getElementById('error'); return !e.hidden && e.textContent", 30)
    assert message.startswith("Import failed: not a notebook this page can read: the file nests arrays or objects "
                              "100,00"), message
    assert "The notebook is as it was" in message
    assert chromium.execute_script("return document.documentElement.dataset.state") == "ready"
    assert run_cell(chromium, 0)["outputs"][0]["data"]["text/plain"] == "2", "the kernel lives on"
