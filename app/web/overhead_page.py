"""The overhead page: one engine decoded by a plain JS loop and by the benchmark's Python loop
(app.web.bench.one_run), interleaved, several rounds in one page.

`engine=flare` (the default): flare-web's WASM CPU path on the embedded model; with `webgpu=1` its WebGPU path,
with the adapter-limits shim (without it Dawn refuses flare's attention pipeline and the GPU computes nothing),
labelled in the output (`backend`, `shims`). `engine=null`: the null
engine (app/engines/null/engine.js), first answering at once (each loop's ceiling, and the Python loop's
cost per token in µs), then busy-waiting 5 ms a token (a 200 tok/s engine: the ratio that matters).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

from app.core import results
from app.core.chat import chatml
from app.core.overhead import null_summary, overhead_summary
from app.core.settings import DEFAULT_PROMPT
from app.web import dom, jsbridge, modelsource
from app.web.bench import Controller, one_run
from app.engines.flare import SPEC as FLARE
from app.engines.protocol import Model

SCHEMA_VERSION = 2
JS_LOOP = "engines/flare/js_loop.js"  # flare's streaming API driven by a plain JavaScript loop
BUSY_MS = 5.0
NULL_PROMPT_IDS = list(range(1, 28))  # 27 placeholder ids, the length of the usual chat prompt
MAX_TOKENS = {"flare": 1024, "null": 200_000}
DEFAULT_MAX_TOKENS = {"flare": 48, "null": 20_000}
RAW_KEPT = 2048  # a null-engine run longer than this keeps its derived figures, not every id and timestamp


async def _pair(engine: Any, loop: Any, prompt_ids: list[int], js_prompt: Any, max_tokens: int, index: int,
                order: tuple[str, str]) -> dict[str, Any]:
    """Both loops once over `engine`, in `order`; the two runs produce the same ids or this raises."""
    record: dict[str, Any] = {}
    for which in order:
        if which == "python":
            run = await one_run(engine, index, prompt_ids, max_tokens, Controller(), lambda n: None)
        else:
            raw = (await loop.jsDecodeLoop(engine.handle, js_prompt, max_tokens)).to_py()
            run = results.make_run(index, len(prompt_ids), raw["prefill_start_ms"], raw["prefill_end_ms"],
                                   [int(t) for t in raw["token_ids"]], list(raw["token_times_ms"]))
        record[which] = run
    if record["python"]["token_ids"] != record["js"]["token_ids"]:
        raise RuntimeError("the two loops produced different tokens: they are not decoding the same thing")
    if max_tokens > RAW_KEPT:
        for run in record.values():
            run["raw_dropped"] = f"{len(run['token_ids'])} ids and timestamps (placeholders of the null engine)"
            run["token_ids"], run["token_times_ms"] = [], []
    return record


def _flare_variant(webgpu: bool) -> Any:
    """flare's variant of that backend, from its spec (its keys live in its folder)."""
    return next(v for v in FLARE.variants if (v.backend == "webgpu") == webgpu)


async def measure_flare(site: dict[str, Any], manifest: dict[str, Any], rounds: int, max_tokens: int,
                        webgpu: bool = False) -> dict[str, Any]:
    """Both loops over flare's CPU path (or, `webgpu`, its WebGPU path with the adapter-limits shim), `rounds`
    rounds of `max_tokens` tokens; the record the overhead command prints. Raises EngineError when flare cannot load."""
    from app.engines.flare.engine import FlareEngine
    from app.web.browser import BROWSER

    files = {f["path"]: f for f in manifest["files"]}
    model, _ = await modelsource.site_model(site["model"], files)
    if webgpu:
        await BROWSER.set_adapter_limits(True)  # the opt-in shim: flare's pipelines validate only with it (Dawn)
    engine = FlareEngine(site["flare"], webgpu=webgpu)
    await engine.load(model)
    loop = await jsbridge.import_module(JS_LOOP)
    prompt_ids = [int(x) for x in engine.tokenizer.encode(chatml(DEFAULT_PROMPT)).to_py()]
    js_prompt = js.Uint32Array.new(to_js(prompt_ids))
    py_rates, js_rates, rounds_out = [], [], []
    # One untimed pass of each loop first: the first decode of a fresh instance is slower.
    await _pair(engine, loop, prompt_ids, js_prompt, max_tokens, -1, ("python", "js"))
    for i in range(rounds):
        order = ("js", "python") if i % 2 == 0 else ("python", "js")  # neither loop always goes first
        record = {"round": i + 1, "order": list(order), **await _pair(engine, loop, prompt_ids, js_prompt, max_tokens, i, order)}
        py_rates.append(record["python"]["derived"]["decode_tok_s"])
        js_rates.append(record["js"]["derived"]["decode_tok_s"])
        rounds_out.append(record)
        dom.log(f"round {i + 1}/{rounds}: JS {js_rates[-1]:.2f} tok/s, Python {py_rates[-1]:.2f} tok/s")
        dom.element("progress").value = (i + 1) / rounds
    engine_info = engine.info()
    await engine.unload()
    return {"schema": "browser-llm-bench/overhead", "schema_version": SCHEMA_VERSION, "engine": _flare_variant(webgpu).key,
            "backend": "webgpu (adapter limits)" if webgpu else "wasm-cpu", "shims": ["webgpu-limits=adapter"] if webgpu else [],
            "engine_info": engine_info,
            "max_tokens": max_tokens, "prompt_ids": prompt_ids, "rounds": rounds_out,
            "summary": overhead_summary(py_rates, js_rates)}


async def measure_null(rounds: int, max_tokens: int, busy_tokens: int) -> dict[str, Any]:
    from app.engines.null.engine import NullEngine

    model = Model(data=None, size=0, name="none (null engine)", sha256=None, tokenizer_json="", header={})
    ceiling, busy = NullEngine(0.0), NullEngine(BUSY_MS)
    for engine in (ceiling, busy):
        await engine.load(model)
    loop = await jsbridge.import_module(JS_LOOP)
    js_prompt = js.Uint32Array.new(to_js(NULL_PROMPT_IDS))
    rates: dict[str, list[float]] = {"ceiling_python": [], "ceiling_js": [], "busy_python": [], "busy_js": []}
    itl_p50: dict[str, list[float]] = {"python": [], "js": []}  # the busy runs' median inter-token intervals
    rounds_out = []
    # Untimed passes first: JIT and caches warm for both loops.
    for _ in range(2):
        await _pair(ceiling, loop, NULL_PROMPT_IDS, js_prompt, max_tokens, -1, ("python", "js"))
    await _pair(busy, loop, NULL_PROMPT_IDS, js_prompt, min(busy_tokens, 20), -1, ("python", "js"))
    for i in range(rounds):
        order = ("js", "python") if i % 2 == 0 else ("python", "js")  # neither loop always goes first
        record: dict[str, Any] = {"round": i + 1, "order": list(order)}
        for name, engine, n in (("ceiling", ceiling, max_tokens), ("busy", busy, busy_tokens)):
            pair = await _pair(engine, loop, NULL_PROMPT_IDS, js_prompt, n, i, order)
            record[name] = pair
            for which in ("python", "js"):
                rates[f"{name}_{which}"].append(pair[which]["derived"]["decode_tok_s"])
                if name == "busy":
                    itl_p50[which].append(pair[which]["derived"]["itl_p50_ms"])
        rounds_out.append(record)
        dom.log(f"round {i + 1}/{rounds}: null engine JS {rates['ceiling_js'][-1]:,.0f} tok/s, Python "
                f"{rates['ceiling_python'][-1]:,.0f} tok/s; {BUSY_MS:g} ms engine JS {rates['busy_js'][-1]:.2f}, "
                f"Python {rates['busy_python'][-1]:.2f} tok/s")
        dom.element("progress").value = (i + 1) / rounds
    for engine in (ceiling, busy):
        await engine.unload()
    summary = null_summary(rates["ceiling_python"], rates["ceiling_js"], rates["busy_python"], rates["busy_js"], BUSY_MS,
                           itl_p50["python"], itl_p50["js"])
    return {"schema": "browser-llm-bench/overhead", "schema_version": SCHEMA_VERSION, "engine": "null",
            "max_tokens": max_tokens, "busy_tokens": busy_tokens, "busy_ms": BUSY_MS,
            "prompt_ids": NULL_PROMPT_IDS, "rounds": rounds_out, "summary": summary}


def render(out: dict[str, Any]) -> None:
    s = out["summary"]
    if out.get("engine") == "null":
        rows = "".join(
            f"<tr><td>{r['round']}</td><td>{r['ceiling']['js']['derived']['decode_tok_s']:,.0f}</td>"
            f"<td>{r['ceiling']['python']['derived']['decode_tok_s']:,.0f}</td><td>{us:.2f}</td>"
            f"<td>{r['busy']['js']['derived']['decode_tok_s']:.2f}</td><td>{r['busy']['python']['derived']['decode_tok_s']:.2f}</td>"
            f"<td>{ratio:.4f}</td></tr>"
            for r, us, ratio in zip(out["rounds"], s["overhead_us_per_token"]["samples"], s["busy"]["per_round_ratio"]))
        dom.element("results").innerHTML = (
            "<table><thead><tr><th>round</th><th>null: JS tok/s</th><th>null: Python tok/s</th><th>µs/token (Py − JS)</th>"
            f"<th>{BUSY_MS:g} ms: JS tok/s</th><th>{BUSY_MS:g} ms: Python tok/s</th><th>Python / JS</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p><b>per-token overhead: median {s['overhead_us_per_token']['median']:.2f} µs; "
            f"ratio of median decode tok/s on the {BUSY_MS:g} ms engine (Python / JS): "
            f"{s['busy']['ratio_python_over_js']:.4f}</b></p>")
        return
    rows = "".join(
        f"<tr><td>{r['round']}</td><td>{r['js']['derived']['decode_tok_s']:.2f}</td>"
        f"<td>{r['python']['derived']['decode_tok_s']:.2f}</td><td>{ratio:.3f}</td></tr>"
        for r, ratio in zip(out["rounds"], s["per_round_ratio"]))
    dom.element("results").innerHTML = (
        "<table><thead><tr><th>round</th><th>JS loop tok/s</th><th>Python loop tok/s</th><th>Python / JS</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p><b>ratio of median decode tok/s (Python / JS): "
        f"{s['ratio_python_over_js']:.3f}</b></p>")


def parse_query(search: str) -> dict[str, Any]:
    """engine, rounds, max_tokens, busy_tokens from the page's query; ValueError says what is wrong."""
    query = parse_qs(search.lstrip("?"))
    webgpu = query.get("webgpu") == ["1"]
    engine = query.get("engine", ["flare"])[0]
    if engine not in MAX_TOKENS:
        raise ValueError(f"engine must be one of {', '.join(MAX_TOKENS)}, not {engine!r}")
    rounds = int(query.get("rounds", ["5"])[0])
    max_tokens = int(query.get("max_tokens", [str(DEFAULT_MAX_TOKENS[engine])])[0])
    busy_tokens = int(query.get("busy_tokens", ["200"])[0])
    if not 1 <= rounds <= 50:
        raise ValueError("rounds must be 1-50")
    if not 2 <= max_tokens <= MAX_TOKENS[engine]:
        raise ValueError(f"max_tokens must be 2-{MAX_TOKENS[engine]} for the {engine} engine")
    if not 2 <= busy_tokens <= 10_000:
        raise ValueError("busy_tokens must be 2-10000")
    if webgpu and engine != "flare":
        raise ValueError("webgpu=1 goes with engine=flare only")
    return {"engine": engine, "webgpu": webgpu, "rounds": rounds, "max_tokens": max_tokens, "busy_tokens": busy_tokens,
            "autorun": query.get("autorun") == ["1"]}


async def boot(site_proxy: Any, timings_proxy: Any) -> None:
    site = site_proxy.to_py()
    try:
        q = parse_query(str(js.location.search))
    except ValueError as err:
        dom.show_error(f"bad query: {err}")
        return

    async def go() -> None:
        dom.set_state("running")
        dom.element("run").disabled = True
        try:
            if q["engine"] == "null":
                out = await measure_null(q["rounds"], q["max_tokens"], q["busy_tokens"])
            else:
                manifest = json.loads(await jsbridge.fetch_text("manifest.json"))
                out = await measure_flare(site, manifest, q["rounds"], q["max_tokens"], q["webgpu"])
            render(out)
            js.window.benchOverheadJSON = json.dumps(out)
            dom.set_status("Done")
            dom.set_state("done")
        except Exception as err:  # noqa: BLE001 - shown on the page, in words
            dom.show_error(f"overhead measurement failed: {err}")
        finally:
            dom.element("run").disabled = False

    handler = create_proxy(lambda e: asyncio.ensure_future(go()))
    dom.element("run").addEventListener("click", handler)
    dom.element("run").disabled = False
    dom.set_status("Python ready")
    dom.set_state("ready")
    if q["autorun"]:
        await go()
