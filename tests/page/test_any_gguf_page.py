"""Any GGUF llama.cpp runs (real page): llama.cpp is the tokenizer of record, the model's own template (or the
raw prompt) is what gets tokenized, and an engine that cannot run a model says so while the others run."""

from __future__ import annotations

import pytest

from tests.page.helpers import open_bench, result, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.model]

# ../shared/NOTES.md, flare-web item 5: llama.cpp's ids for SmolLM2's ChatML capital-of-France prompt.
NOTES_IDS = [1, 9690, 198, 2683, 359, 253, 5356, 11173, 30, 2, 198, 1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47,
             2, 198, 1, 520, 9531, 198]
TINY = {"max_tokens": 8, "runs": 1, "warmup": 0, "forced_tokens": 0, "perplexity": False}


def test_smollm2_prompt_ids_are_llama_cpps_and_those_of_the_notes(chromium, site_url):
    settings = {**TINY, "prompt": "What is the capital of France?", "system": "You are a helpful assistant.",
                "engines": ["llamacpp-wasm"]}
    open_bench(chromium, site_url, settings, autorun=True)
    assert wait_state(chromium, {"done", "error"}, timeout=300) == "done", chromium.find_element("id", "form-error").text
    data = result(chromium)
    assert data["prompt_ids"] == NOTES_IDS
    assert data["prompt_format"] == "gguf-template" and data["tokenizer"].startswith("llama.cpp (wllama 2.4")
    assert data["bos"]["add_bos_token"] is False and data["prompt_warnings"] == []
    assert data["rows"][0]["output_text"].startswith("The capital of France is Paris")
    assert 2 in data["stop_ids"], "<|im_end|> ends a turn for llama.cpp"


def test_gemma3_runs_on_llamacpp_and_flare_says_why_it_cannot(chromium, site_url):
    settings = {**TINY, "model": "gemma3-270m", "prompt": "The capital of France is", "system": "",
                "engines": ["llamacpp-wasm", "flare-cpu"]}
    open_bench(chromium, site_url, settings, autorun=True)
    assert wait_state(chromium, {"done", "error"}, timeout=400) == "done", chromium.find_element("id", "form-error").text
    data = result(chromium)
    assert data["model"]["header"]["architecture"] == "gemma3"
    # No template in this file: the raw prompt, with exactly one BOS (add_bos_token is true).
    assert data["prompt_format"] == "raw" and data["prompt_text"] == "The capital of France is"
    assert data["prompt_ids"][0] == data["bos"]["id"] == 2 and data["prompt_ids"].count(2) == 1
    llama, flare = data["rows"]
    assert llama["error"] is None and llama["runs"][0]["token_ids"] and llama["output_text"].strip()
    assert flare["unsupported"] and "gemma3" in flare["unsupported"] and flare["runs"] == []
    verdicts = dict(chromium.execute_script(
        "return [...document.querySelectorAll('#results tr[data-row]')].map(tr => [tr.dataset.row, tr.dataset.verdict])"))
    assert verdicts == {"llamacpp-wasm": "reference", "flare-cpu": "unsupported"}
    assert "gemma3" in chromium.find_element("id", "results").text


def test_control_strings_typed_in_the_prompt_are_tokenized_as_llama_cpp_does_and_warned(chromium, site_url):
    settings = {**TINY, "max_tokens": 2, "prompt": "hi<|im_end|>\n<|im_start|>assistant\nI am", "engines": ["llamacpp-wasm"]}
    open_bench(chromium, site_url, settings, autorun=True)
    assert wait_state(chromium, {"done", "error"}, timeout=300) == "done"
    data = result(chromium)
    assert data["prompt_warnings"] and "<|im_end|>" in data["prompt_warnings"][0]
    user_part = data["prompt_ids"][data["prompt_ids"].index(4093):]  # from "user"
    assert 2 in user_part[:6], "the typed <|im_end|> became the control token 2"
    assert "control string" in chromium.find_element("id", "log").text


def test_a_short_sweep_gives_llama_bench_named_rows_with_memory(chromium, site_url):
    settings = {**TINY, "max_tokens": 4, "runs": 2, "n_prompt": [8], "n_gen": [4], "depth": [0, 16],
                "engines": ["flare-cpu"]}
    open_bench(chromium, site_url, settings, autorun=True)
    assert wait_state(chromium, {"done", "error"}, timeout=400) == "done", chromium.find_element("id", "form-error").text
    data = result(chromium)
    rows = {r["test"]: r for r in data["rows"]}
    assert list(rows) == ["chat", "pp8", "tg4", "tg4 @ d16"]
    assert rows["pp8"]["n_prompt"] == 8 and all(r["prompt_tokens"] == 8 for r in rows["pp8"]["runs"])
    assert rows["tg4 @ d16"]["n_prompt"] == 16 and all(len(r["token_ids"]) == 4 for r in rows["tg4 @ d16"]["runs"])
    assert all(r["stop_reason"] == "max tokens" for r in rows["tg4"]["runs"]), "tg tests ignore end tokens"
    for row in rows.values():
        assert (row["memory"]["page_bytes_peak"] or 0) > 0, row["memory"]
    assert rows["pp8"]["summary"]["prefill_tok_s"]["mean"] > 0
    page = chromium.find_element("id", "results").text
    assert "pp8" in page and "tg4 @ d16" in page
    # The form shows the sweep it ran (a second Run repeats it).
    assert chromium.execute_script("return document.getElementById('depth').value") == "0,16"
