"""bench --runtime deno: the same Python benchmark in Pyodide under Deno (the pinned deno 2.9.6), no browser."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.core import results

pytestmark = [pytest.mark.model]


def test_deno_runs_the_cpu_rows_in_the_same_schema(tmp_path):
    out = tmp_path / "deno.json"
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--runtime", "deno", "--engines", "llamacpp,flare-cpu,flare-webgpu",
         "--max-tokens", "4", "--runs", "1", "--warmup", "0", "--forced-tokens", "0", "--no-perplexity",
         "--json", str(out), "--timeout", "400"],
        capture_output=True, text=True, timeout=500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    results.check_result(data)
    env = data["environment"]
    assert env["runtime"] == "deno" and env["runtime_version"] == "Deno 2.9.6"
    assert env["user_agent"].startswith("Deno/") and env["pyodide"] == "0.29.3"
    rows = {r["key"]: r for r in data["rows"]}
    # The CPU rows ran: llama.cpp (wllama, its pthreads as module workers) and flare's WASM path.
    for key in ("llamacpp-wasm", "flare-cpu"):
        assert rows[key]["error"] is None and len(rows[key]["runs"][0]["token_ids"]) == 4, rows[key].get("error")
    assert rows["llamacpp-wasm"]["output_text"]
    # WebGPU: Deno's (wgpu) adapter is recorded as it is; where it cannot run flare the row and the JSON say why.
    gpu = rows["flare-webgpu"]
    if env["webgpu"] is None:
        assert env["webgpu_absent"]
    if gpu["error"] is not None:
        assert "init_gpu" in gpu["error"] or "adapter" in gpu["error"]
    assert "llama.cpp (wllama)  wasm-cpu" in proc.stdout
