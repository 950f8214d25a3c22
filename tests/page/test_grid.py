"""bench --grid: a standalone Selenium Grid from the pinned jar on loopback, two sessions at once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from app.core import compare, results

pytestmark = [pytest.mark.browser, pytest.mark.model]


@pytest.fixture(scope="module")
def grid():
    if shutil.which("java") is None:
        pytest.skip("Java is needed for the Selenium Grid (CI installs openjdk-17-jre-headless)")
    from app.host.grid import start_standalone

    with start_standalone(max_sessions=2) as g:
        yield g


def test_two_grid_sessions_run_the_benchmark_and_merge(grid, tmp_path):
    out = tmp_path / "grid.json"
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--grid", grid.url, "--grid-browsers", "2", "--engines", "llamacpp,flare-cpu",
         "--max-tokens", "4", "--runs", "1", "--warmup", "0", "--forced-tokens", "0", "--no-perplexity",
         "--json", str(out), "--timeout", "600"],
        capture_output=True, text=True, timeout=700,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Each node's own result, as the page published it, with the node that ran it.
    nodes = [json.loads((tmp_path / f"grid.n{i}.json").read_text()) for i in (1, 2)]
    for i, node_result in enumerate(nodes, 1):
        results.check_result(node_result)
        assert [r["key"] for r in node_result["rows"]] == ["llamacpp-wasm", "flare-cpu"]
        assert all(r["runs"] and r["error"] is None for r in node_result["rows"])
        node = node_result["node"]
        assert node["session"] == i and node["browser"] == "chrome" and node["platform"] == "linux"
        assert node["node_uri"].startswith("http://127.0.0.1:"), node
        assert "HeadlessChrome" in node["user_agent"]
    # The merged set: one result JSON of the same schema, every node's rows labelled with the node.
    merged = json.loads(out.read_text())
    results.check_result(merged)
    assert merged["environment"]["runtime"] == "grid" and len(merged["environment"]["nodes"]) == 2
    assert [r["backend"] for r in merged["rows"]] == [
        "wasm-cpu [n1 chrome 156 linux]", "wasm-cpu [n1 chrome 156 linux]",
        "wasm-cpu [n2 chrome 156 linux]", "wasm-cpu [n2 chrome 156 linux]"] or all(
        r["node"]["label"] in r["backend"] for r in merged["rows"])
    assert {r["node"]["label"].split()[0] for r in merged["rows"]} == {"n1", "n2"}
    # compare reads it: a set against itself matches all four rows, each node's with the same node's.
    assert len(compare.compare(merged, merged)["rows"]) == 4
    assert "n1 chrome" in proc.stdout and "n2 chrome" in proc.stdout
