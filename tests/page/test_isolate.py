"""One engine's crash does not cost the others (issue 23, part 4): with --isolate each engine runs in a page of its
own, so when the browser's renderer dies under one engine (killed here from outside mid-row, as the kernel's OOM
killer would), that engine's row says so and the rows after it still run; the rows before it are kept."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.host.chromium import descendants

pytestmark = [pytest.mark.browser, pytest.mark.model]
REPO = Path(__file__).resolve().parents[2]


def _renderers_below(pid: int) -> list[int]:
    out = []
    for child in descendants(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"--type=renderer" in cmdline:
            out.append(child)
    return out


def test_a_renderer_killed_under_one_engine_costs_only_its_row(tmp_path):
    out = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "app", "bench", "--isolate", "--engines", "llamacpp,flare-cpu,null",
           "--max-tokens", "64", "--runs", "2", "--warmup", "0", "--forced-tokens", "2", "--no-perplexity",
           "--ignore-eos", "--json", str(out)]
    env = {**os.environ, "BENCH_SKIP_BUILD": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines, killed = [], []
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        lines.append(line.rstrip())
        if not killed and line.startswith("[flare-cpu]") and "flare-web wasm-cpu: run 1/2" in line:
            killed = _renderers_below(proc.pid)
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
        assert time.monotonic() < deadline, "\n".join(lines[-30:])
    proc.wait(timeout=60)
    text = "\n".join(lines)
    assert killed, "the flare page never reached its first run:\n" + text[-3000:]
    data = json.loads(out.read_text())
    rows = {r["key"]: r for r in data["rows"] if r.get("test", "chat") == "chat"}
    assert list(rows) == ["llamacpp-wasm", "flare-cpu", "null"], text[-3000:]
    assert rows["llamacpp-wasm"]["error"] is None and len(rows["llamacpp-wasm"]["runs"]) == 2
    assert rows["flare-cpu"]["error"].startswith("the page died while this engine ran, in its own page (--isolate)")
    assert rows["null"]["error"] is None and len(rows["null"]["runs"]) == 2, "the engine after the crash still ran"
    assert "isolate" in data["environment"]["isolation"]
    assert data["settings"]["engines"] == ["llamacpp-wasm", "flare-cpu", "null"]
    assert "flare-web" in text and "ERROR" in text  # the table shows the dead row as an error, not as missing
