"""python -m app bench end to end: build check, headless page, table, JSON (a few tokens)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from app.core import results

pytestmark = [pytest.mark.browser, pytest.mark.model]


def test_bench_command_prints_all_rows_and_writes_consistent_json(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--max-tokens", "4", "--runs", "1", "--warmup", "0",
         "--forced-tokens", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == ["engine", "backend"]
    body = "\n".join(lines)
    for engine_backend in ("llama.cpp (wllama)  wasm-cpu", "flare-web           wasm-cpu", "flare-web           webgpu"):
        assert engine_backend in body
    assert "reference" in body and ("WRONG" in body or "ok" in body)
    # Progress was shown: the page's log lines, each stamped with the seconds since the start.
    assert re.search(r"^\[\s*\d+\.\ds\] ", proc.stderr, re.M) and "loaded in" in proc.stderr
    data = json.loads(out.read_text())
    results.check_result(data)
    assert [r["key"] for r in data["rows"]] == ["llamacpp-wasm", "flare-cpu", "flare-webgpu"]
    for row in data["rows"]:
        if row["error"] is None:
            assert row["correctness"]["perplexity"] > 0
    assert data["rows"][0]["correctness"]["perplexity"] < 50, "llama.cpp on SmolLM2 must find plain English likely"


def test_bench_with_a_gguf_given_on_the_command_line(tmp_path, dist):
    # A model from disk goes through the same path as a file picked in the page: header read in
    # Python, tokenizer.json built in the browser from the file's own vocabulary, sha256 computed there.
    model = tmp_path / "my-model.gguf"
    model.write_bytes((dist / "models/smollm2-135m-instruct.q8_0.gguf").read_bytes())
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--model", str(model), "--engines", "llamacpp,flare-cpu",
         "--max-tokens", "3", "--runs", "1", "--warmup", "0", "--forced-tokens", "0", "--no-perplexity", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    import hashlib

    assert data["model"]["name"] == "my-model.gguf"
    assert data["model"]["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert data["model_fetch"]["source"] == "local file"
    assert data["prompt_ids"][:12] == [1, 9690, 198, 2683, 359, 253, 5356, 11173, 30, 2, 198, 1]
    assert all(row["error"] is None for row in data["rows"])
