"""The harness's own cost: the null engine through the benchmark, `overhead --engine null`, the decode
loop's fast path (app/web/fastloop.py) and its proxies over 10,000 tokens. No timing thresholds here:
the figures are printed and checked for consistency, never against a speed."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from app.core import results
from app.core.report import verdict
from tests.page.helpers import open_bench, result, wait_state

pytestmark = pytest.mark.browser


def run_python(driver, code: str, timeout: float = 300):
    """Run `code` in the booted page's Pyodide (top-level await allowed); its last expression, as JSON."""
    driver.set_script_timeout(timeout)
    out = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        benchPyodide.runPythonAsync(arguments[0]).then((r) => done({ok: String(r)}), (e) => done({error: String(e)}));
    """, code)
    assert "error" not in out, out["error"]
    return json.loads(out["ok"])


@pytest.fixture
def ready_page(chromium, site_url):
    open_bench(chromium, site_url)
    assert wait_state(chromium, {"ready", "error"}, timeout=120) == "ready"
    return chromium


def test_null_engine_runs_through_the_benchmark_hidden_from_the_page(chromium, site_url):
    settings = {"max_tokens": 300, "runs": 2, "warmup": 1, "forced_tokens": 4, "perplexity": True,
                "engines": ["null", "null-5ms"]}
    open_bench(chromium, site_url, settings, autorun=True)
    assert wait_state(chromium, {"done", "error"}, timeout=300) == "done", chromium.find_element("id", "form-error").text
    offered = chromium.execute_script("return [...document.querySelectorAll('input[name=engine]')].map(b => b.value)")
    assert offered and "null" not in offered and "null-5ms" not in offered  # not on the page, still runnable
    data = result(chromium)
    results.check_result(data)
    assert [r["key"] for r in data["rows"]] == ["null", "null-5ms"]
    for row in data["rows"]:
        assert row["error"] is None, row["error"]
        assert row["engine"] == "null (harness ceiling)"  # never mistaken for a model
        assert row["weights"]["format"] == "none (null engine)"
        assert [len(r["token_ids"]) for r in row["runs"]] == [300, 300]
        assert {r["stop_reason"] for r in row["runs"]} == {"max tokens"}
        assert not set(row["runs"][0]["token_ids"]) & set(data["stop_ids"])
        c = row["correctness"]
        assert "forced_top1_agreement" not in c  # no reference in this run: nothing to agree with
        assert c["perplexity"] > 1000  # uniform over the vocabulary: it knows nothing
        assert verdict(row) == "unchecked"  # and against llama.cpp it would be WRONG (top-1 -1), never ok
    assert "null (harness ceiling)" in chromium.find_element("id", "results").text


def test_overhead_null_prints_ceilings_microseconds_and_the_5ms_ratio_last(tmp_path):
    out = tmp_path / "overhead.json"
    proc = subprocess.run(
        [sys.executable, "-m", "app", "overhead", "--engine", "null", "--rounds", "2", "--max-tokens", "3000",
         "--busy-tokens", "20", "--json", str(out), "--timeout", "600"],
        capture_output=True, text=True, timeout=660)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    number = r"([\d,]+(?:\.\d+)?)"
    ceiling = {}
    for loop in ("JS", "Python"):
        line = next(x for x in lines if x.startswith(f"harness ceiling, {loop} loop:"))
        ceiling[loop] = float(re.search(rf"median {number}", line).group(1).replace(",", ""))
    overhead = next(x for x in lines if x.startswith("per-token overhead (Python minus JS):"))
    m = re.search(rf"median (-?[\d.]+), mean (-?[\d.]+) ± ([\d.]+), min (-?[\d.]+), max (-?[\d.]+) us", overhead)
    assert m, overhead
    assert float(m.group(4)) <= float(m.group(1)) <= float(m.group(5))
    last = re.fullmatch(r"ratio of decode tok/s on the 5 ms null engine \(Python / JS\): ([\d.]+)", lines[-1])
    assert last, lines[-1]
    # The printed figures are the JSON's.
    data = json.loads(out.read_text())
    s = data["summary"]
    assert data["engine"] == "null" and len(data["rounds"]) == 2
    assert f"{s['ceiling']['js_decode_tok_s']['median']:,.0f}" == f"{ceiling['JS']:,.0f}"
    assert f"{s['ceiling']['python_decode_tok_s']['median']:,.0f}" == f"{ceiling['Python']:,.0f}"
    assert f"{s['overhead_us_per_token']['median']:.2f}" == m.group(1)
    assert f"{s['busy']['ratio_python_over_js']:.4f}" == last.group(1)
    for r in data["rounds"]:  # each loop decoded every token asked for, the same ids
        assert r["ceiling"]["python"]["derived"]["tokens"] == r["ceiling"]["js"]["derived"]["tokens"] == 3000
        assert r["busy"]["python"]["token_ids"] == r["busy"]["js"]["token_ids"] and len(r["busy"]["js"]["token_ids"]) == 20


LEAK_CHECK = """
import gc, json
import pyodide_js
from app.web import fastloop
from app.web.bench import Controller, one_run
from app.engines.null.engine import NullEngine
from app.engines.protocol import Model

module = pyodide_js._module
module.enable_pyproxy_allocation_tracing()
engine = NullEngine(0.0)
await engine.load(Model(data=None, size=0, name="none", sha256=None, tokenizer_json="", header={}))

def counts():
    gc.collect()
    return {"js_refs": module.hiwire.num_keys(), "pyproxies": module.pyproxy_alloc_map.size}

await one_run(engine, 0, [1, 2, 3], 10_000, Controller(), lambda n: None)  # warm: caches, lazy imports
before, direct = counts(), fastloop.COUNTS["direct"]
run = await one_run(engine, 1, [1, 2, 3], 10_000, Controller(), lambda n: None)
after = counts()
await engine.unload()
json.dumps({"before": before, "after": after, "direct": fastloop.COUNTS["direct"] - direct,
            "tokens": len(run["token_ids"]), "reason": run["stop_reason"]})
"""


def test_no_proxy_leak_over_10000_tokens_and_the_loop_takes_the_direct_path(ready_page):
    got = run_python(ready_page, LEAK_CHECK)
    assert got["tokens"] == 10_000 and got["reason"] == "max tokens"
    # Every await of a token was resumed by its promise directly, not through a browser task.
    assert got["direct"] >= 10_000, got
    # Pyodide's own counts: JS objects Python holds (hiwire refs) and live PyProxies, after as before.
    assert got["after"]["pyproxies"] - got["before"]["pyproxies"] <= 0, got
    assert got["after"]["js_refs"] - got["before"]["js_refs"] <= 2, got  # 10,000 tokens would leave thousands


FASTLOOP_SEMANTICS = """
import asyncio, json
from pyodide.code import run_js
from app.web import fastloop

events = []

async def body():
    events.append(await run_js("() => Promise.resolve(1)")())
    events.append(await asyncio.sleep(0.001, result=2))   # an asyncio timer: through the real loop
    events.append(await asyncio.sleep(0, result=3))        # a bare yield
    events.append(await asyncio.ensure_future(asyncio.sleep(0, result=4)))  # a task of the real loop
    events.append(asyncio.current_task() is not None)
    try:
        await run_js("() => Promise.reject(new Error('boom'))")()
    except Exception as err:
        events.append(type(err).__name__)
    raise ValueError("raised inside")

try:
    await fastloop.run(body())
except ValueError as err:
    events.append(str(err))

async def forever():
    await run_js("() => new Promise(() => {})")()

task = asyncio.ensure_future(fastloop.run(forever()))
await asyncio.sleep(0.01)
task.cancel()
try:
    await task
except asyncio.CancelledError:
    events.append("cancelled")
json.dumps(events)
"""


def test_fastloop_keeps_asyncio_semantics(ready_page):
    assert run_python(ready_page, FASTLOOP_SEMANTICS) == [1, 2, 3, 4, True, "JsException", "raised inside", "cancelled"]
