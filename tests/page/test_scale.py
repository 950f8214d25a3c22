"""Models of real size (issue 23, part 3), made here by app.host.synthetic_gguf (random weights of real shapes, no
download): a 1B Q8_0 (1.25 GB) runs on llama.cpp in the page; a 3B Q4_K (1.76 GB), beyond what flare-web's wasm32
memory can hold, is refused for flare before anything loads, within seconds, the limit named."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.host.synthetic_gguf import write
from tests.conftest import DIST

pytestmark = [pytest.mark.browser, pytest.mark.model]
REPO = Path(__file__).resolve().parents[2]
TOKENIZER = DIST / "models" / "smollm2-135m-instruct.q8_0.gguf"


def _bench(model: Path, engines: str, out: Path) -> tuple[dict | None, str, int]:
    cmd = [sys.executable, "-m", "app", "bench", "--model", str(model), "--engines", engines, "--max-tokens", "4",
           "--runs", "1", "--warmup", "0", "--forced-tokens", "0", "--no-perplexity", "--json", str(out)]
    proc = subprocess.run(cmd, check=False, cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "BENCH_SKIP_BUILD": "1"})
    return (json.loads(out.read_text()) if out.exists() else None), proc.stderr + proc.stdout, proc.returncode


def _seconds(line: str) -> float:
    return float(re.match(r"\[\s*([\d.]+)s\]", line).group(1))


def test_a_synthetic_1b_q8_0_runs_on_llama_cpp_in_the_page(tmp_path):
    model = tmp_path / "llama-1b-q8_0.gguf"
    write("1b", "q8_0", model, TOKENIZER)
    data, text, _ = _bench(model, "llamacpp", tmp_path / "r.json")
    assert data is not None, text[-3000:]
    row = data["rows"][0]
    assert row["error"] is None and row["unsupported"] is None, text[-3000:]
    assert len(row["runs"]) == 1 and len(row["runs"][0]["token_ids"]) == 4
    assert data["model"]["size"] > 1_200_000_000
    # Its own memory, counted by the host from the browser's processes: at least the file, which it holds.
    assert row["memory"]["process_own_bytes_peak"] >= data["model"]["size"] * 0.9, row["memory"]


def test_a_model_beyond_flares_wasm32_memory_is_refused_before_loading_with_the_limit_named(tmp_path):
    model = tmp_path / "llama-3b-q4_k.gguf"
    write("3b", "q4_k", model, TOKENIZER)
    data, text, code = _bench(model, "flare-cpu", tmp_path / "r.json")
    # The only engine asked for cannot run: the run ends in words (a failing exit), the limit named, nothing loaded.
    assert code != 0 and data is None, text[-3000:]
    assert "no engine could run: flare-web wasm-cpu: flare-web needs at least" in text
    assert "more than flare-web 0.2.21's wasm32 memory can address (4.00 GiB)" in text
    assert "flare-web wasm-cpu: loaded" not in text and "loading the model" not in text
    lines = [ln for ln in text.splitlines() if re.match(r"\[\s*[\d.]+s\]", ln)]
    ready = next(ln for ln in lines if "prompt (" in ln)  # the tokenizer of record is ready: rows begin
    refused = next(ln for ln in lines if "flare-web wasm-cpu: unsupported" in ln)
    assert _seconds(refused) - _seconds(ready) < 5, (ready, refused)
