"""The overhead page: the same flare engine decoded by the JS loop and the Python loop, interleaved."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

from app.core import results
from app.core.chat import chatml
from app.core.overhead import overhead_summary
from app.core.settings import DEFAULT_PROMPT
from app.web import dom, jsbridge, modelsource
from app.web.bench import Controller, one_run
from app.web.engines.flare_engine import FlareEngine


async def measure(site: dict[str, Any], manifest: dict[str, Any], rounds: int, max_tokens: int) -> dict[str, Any]:
    files = {f["path"]: f for f in manifest["files"]}
    model, _ = await modelsource.site_model(site["model"], files)
    engine = FlareEngine(site["flare"], webgpu=False)
    await engine.load(model)
    loop = await jsbridge.import_module("static/flare_js_loop.js")
    prompt_ids = [int(x) for x in engine.tokenizer.encode(chatml(DEFAULT_PROMPT)).to_py()]
    js_prompt = js.Uint32Array.new(to_js(prompt_ids))
    py_rates, js_rates, rounds_out = [], [], []
    # One untimed pass of each loop first: the first decode of a fresh instance is slower.
    await one_run(engine, -1, prompt_ids, max_tokens, Controller(), lambda n: None)
    await loop.jsDecodeLoop(engine.handle, js_prompt, max_tokens)
    for i in range(rounds):
        order = ("js", "python") if i % 2 == 0 else ("python", "js")  # neither loop always goes first
        record: dict[str, Any] = {"round": i + 1, "order": list(order)}
        for which in order:
            if which == "python":
                run = await one_run(engine, i, prompt_ids, max_tokens, Controller(), lambda n: None)
            else:
                raw = (await loop.jsDecodeLoop(engine.handle, js_prompt, max_tokens)).to_py()
                run = results.make_run(i, len(prompt_ids), raw["prefill_start_ms"], raw["prefill_end_ms"],
                                       [int(t) for t in raw["token_ids"]], list(raw["token_times_ms"]))
            record[which] = run
        if record["python"]["token_ids"] != record["js"]["token_ids"]:
            raise RuntimeError("the two loops produced different tokens: they are not decoding the same thing")
        py_rates.append(record["python"]["derived"]["decode_tok_s"])
        js_rates.append(record["js"]["derived"]["decode_tok_s"])
        rounds_out.append(record)
        dom.log(f"round {i + 1}/{rounds}: JS {js_rates[-1]:.2f} tok/s, Python {py_rates[-1]:.2f} tok/s")
        dom.element("progress").value = (i + 1) / rounds
    await engine.unload()
    summary = overhead_summary(py_rates, js_rates)
    return {"schema": "browser-llm-bench/overhead", "schema_version": 1, "max_tokens": max_tokens,
            "prompt_ids": prompt_ids, "rounds": rounds_out, "summary": summary}


def render(out: dict[str, Any]) -> None:
    s = out["summary"]
    rows = "".join(
        f"<tr><td>{r['round']}</td><td>{r['js']['derived']['decode_tok_s']:.2f}</td>"
        f"<td>{r['python']['derived']['decode_tok_s']:.2f}</td><td>{ratio:.3f}</td></tr>"
        for r, ratio in zip(out["rounds"], s["per_round_ratio"]))
    dom.element("results").innerHTML = (
        "<table><thead><tr><th>round</th><th>JS loop tok/s</th><th>Python loop tok/s</th><th>Python / JS</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p><b>ratio of median decode tok/s (Python / JS): "
        f"{s['ratio_python_over_js']:.3f}</b></p>")


async def boot(site_proxy: Any, timings_proxy: Any) -> None:
    site = site_proxy.to_py()
    manifest = json.loads(await jsbridge.fetch_text("manifest.json"))
    query = parse_qs(str(js.location.search).lstrip("?"))
    try:
        rounds = int(query.get("rounds", ["5"])[0])
        max_tokens = int(query.get("max_tokens", ["48"])[0])
        if not (1 <= rounds <= 50 and 2 <= max_tokens <= 1024):
            raise ValueError("rounds must be 1-50 and max_tokens 2-1024")
    except ValueError as err:
        dom.show_error(f"bad query: {err}")
        return

    async def go() -> None:
        dom.set_state("running")
        dom.element("run").disabled = True
        try:
            out = await measure(site, manifest, rounds, max_tokens)
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
    if query.get("autorun") == ["1"]:
        await go()
