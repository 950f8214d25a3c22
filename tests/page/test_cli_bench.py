"""python -m app bench end to end: build check, headless page, table, JSON (a few tokens)."""

from __future__ import annotations

import json
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
    assert "[   " in proc.stderr and "loaded in" in proc.stderr  # progress was shown
    data = json.loads(out.read_text())
    results.check_result(data)
    assert [r["key"] for r in data["rows"]] == ["llamacpp-wasm", "flare-cpu", "flare-webgpu"]
    for row in data["rows"]:
        if row["error"] is None:
            assert row["correctness"]["perplexity"] > 0
    assert data["rows"][0]["correctness"]["perplexity"] < 50, "llama.cpp on SmolLM2 must find plain English likely"
