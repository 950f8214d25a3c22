"""Inputs from the field, in the real page and through the CLI (issue: hostile headers, prompts past the
context, an edited end-of-generation id)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys

import pytest

from tests.host.test_gguf_header import nested_array_file
from tests.page.helpers import open_bench, result, wait_for, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.model]

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_a_prompt_past_the_context_is_refused_before_anything_loads(chromium, site_url):
    settings = {"prompt": "\U0001F642" * 2500, "max_tokens": 64, "runs": 1, "warmup": 0, "forced_tokens": 0,
                "perplexity": False, "engines": ["llamacpp-wasm"]}
    open_bench(chromium, site_url, settings, autorun=True)
    assert wait_state(chromium, {"done", "error"}, timeout=120) == "error"
    message = chromium.find_element("id", "form-error").text
    assert "no engine could run" in message and "context of 2048 tokens" in message, message
    row = result(chromium)["rows"][0]
    assert row["unsupported"] and row["load"] == {} and row["runs"] == [], "refused before it loaded"
    tokens = len(result(chromium)["prompt_ids"])
    assert f"the prompt ({tokens} tokens) plus max tokens (64) is {tokens + 64} tokens" in row["unsupported"]
    assert chromium.find_element("id", "status").text == "Error"
    assert not chromium.find_element("id", "run").get_attribute("disabled"), "the page stays usable"


def test_a_hostile_header_picked_on_the_page_ends_in_error_with_words(chromium, site_url, tmp_path):
    open_bench(chromium, site_url)
    wait_state(chromium, {"ready"}, timeout=120)
    deep = tmp_path / "deep.gguf"
    deep.write_bytes(nested_array_file(5000))
    chromium.execute_script("const s = document.getElementById('model-choice'); s.value = 'file'; s.dispatchEvent(new Event('change'))")
    chromium.find_element("id", "model-file").send_keys(str(deep))
    chromium.find_element("id", "run").click()
    assert wait_state(chromium, {"error", "done"}, timeout=60) == "error"
    wait_for(chromium, "return document.getElementById('form-error').textContent.includes('nested more than 4 levels')")
    assert chromium.find_element("id", "status").text == "Error"


def _with_eos(src, dst, new_eos: int) -> None:
    """A copy of the model whose tokenizer.ggml.eos_token_id (a uint32 in the header) is `new_eos`."""
    shutil.copyfile(src, dst)
    key = b"tokenizer.ggml.eos_token_id"
    with open(dst, "r+b") as f:
        head = f.read(4 << 20)
        at = head.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)
        assert struct.unpack_from("<I", head, at)[0] == 4, "value type uint32"
        f.seek(at + 4)
        f.write(struct.pack("<I", new_eos))


def test_an_edited_end_token_is_the_stop_set_of_every_engine(dist, tmp_path):
    model = tmp_path / "eos-newline.gguf"
    _with_eos(dist / "models" / "smollm2-135m-instruct.q8_0.gguf", model, 198)  # 198: "\n" (Ċ)
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--model", str(model), "--engines", "llamacpp,flare-cpu",
         "--max-tokens", "24", "--runs", "1", "--warmup", "1", "--forced-tokens", "0", "--no-perplexity",
         "--json", str(out), "--timeout", "600"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=700)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    # llama.cpp's end-of-generation set for this file: its EOS (198) plus the turn-ending tokens it recognises.
    assert 198 in data["stop_ids"]
    for row in data["rows"]:
        for run in row["runs"] + row["warmups"]:
            assert not set(data["stop_ids"]) & set(run["token_ids"]), (row["key"], run["token_ids"])
            assert run["stop_reason"] in ("end token", "engine end", "max tokens")
            if len(run["token_ids"]) < 24:
                assert run["stop_reason"] in ("end token", "engine end"), run
    counts = {len(r["runs"][0]["token_ids"]) for r in data["rows"]}
    if len(counts) > 1:
        assert "different numbers of tokens" in proc.stdout, proc.stdout
