"""The benchmark in WebKit from the command line (`--browser webkit`): the builds made for browsers without Memory64
or JSPI run there, and the rows that cannot run say why. Few tokens: WebKit under Xvfb on 2 cores is slow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from app.core import results

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.webkit]


def test_webkit_runs_the_wasm32_reference_flare_and_the_313_compatibility_build(tmp_path):
    from app.host.webkit import WebKitMissing, find_binaries

    try:
        find_binaries()
    except WebKitMissing as err:
        pytest.skip(str(err))
    out = tmp_path / "webkit.json"
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--browser", "webkit", "--engines", "llamacpp,flare-cpu,llamacpp3",
         "--max-tokens", "4", "--runs", "1", "--warmup", "0", "--forced-tokens", "2", "--no-perplexity",
         "--json", str(out), "--timeout", "600"],
        capture_output=True, text=True, timeout=700, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    results.check_result(data)
    env = data["environment"]
    assert env["runtime"] == "webkit" and "AppleWebKit" in env["user_agent"] and env["cross_origin_isolated"] is True
    # What WebKitGTK lacks here, and what it has with JSC_useSharedArrayBuffer=1.
    assert env["features"]["memory64"] is False and env["features"]["jspi"] is False
    assert env["features"]["webgpu"] is False and env["features"]["shared-array-buffer"] is True
    assert data["tokenizer"].startswith("llama.cpp (wllama 2.3.7 wasm32 build")
    assert data["prompt_ids"][:3] == [1, 9690, 198]  # the same ids as in Chromium (tests/page/test_wllama_builds.py)
    # The runtime gave llama.cpp this machine's cores, not WebKit's navigator.hardwareConcurrency (4 below 8 cores).
    assert data["settings"]["llamacpp_threads"] == len(os.sched_getaffinity(0))

    rows = {r["key"]: r for r in data["rows"]}
    assert set(rows) == {"llamacpp-wasm", "flare-cpu", "llamacpp3-webgpu", "llamacpp3-wasm"}
    ref, flare, gpu, compat = (rows[k] for k in ("llamacpp-wasm", "flare-cpu", "llamacpp3-webgpu", "llamacpp3-wasm"))
    for row in (ref, flare, compat):
        assert row["error"] is None and row["unsupported"] is None, (row["key"], row["error"], row["unsupported"])
        assert row["summary"]["decode_tok_s"]["median"] > 0 and len(row["runs"][0]["token_ids"]) >= 2
    assert ref["info"]["build"] == "wasm32" and ref["info"]["version"] == "2.3.7"
    assert ref["correctness"]["forced_top1_agreement"] == 1.0
    assert flare["correctness"]["forced_positions"] == 2
    assert "no WebGPU" in gpu["unsupported"]
    assert compat["info"]["build"] == "compat" and "Asyncify + wasm32" in compat["info"]["build_text"]
    assert compat["correctness"]["greedy_match"] is not None
    assert compat["runs"][0]["token_ids"][:2] == ref["runs"][0]["token_ids"][:2]
    assert "wasm-cpu (wasm32)" in proc.stdout and "wasm-cpu (compat)" in proc.stdout
