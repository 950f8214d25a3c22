"""The benchmark: Python drives each engine token by token, keeps the clock, checks the tokens.

Order: llama.cpp (the reference) first, so its greedy tokens exist when the other rows are
checked against them; then each flare backend. A failing row records its error and the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyodide.ffi import JsException  # type: ignore[import-not-found]

from app.core import correctness, results
from app.core.chat import chatml
from app.core.settings import BenchSettings
from app.web import jsbridge
from app.web.engines.base import Engine, EngineError, Model

Progress = Callable[[float, str], None]


@dataclass
class Controller:
    """Shared with the page: the Stop button sets stop_requested; the loop checks it every token."""

    stop_requested: bool = False
    stop_requested_ms: float | None = None  # performance.now() when Stop was pressed

    def request_stop(self) -> None:
        if not self.stop_requested:
            self.stop_requested = True
            self.stop_requested_ms = jsbridge.now_ms()


class Stopped(Exception):
    pass


def prompt_text(settings: BenchSettings, vocab_has_chatml: bool = True) -> str:
    if vocab_has_chatml:
        return chatml(settings.prompt, settings.system or None)
    return f"{settings.system}\n\n{settings.prompt}" if settings.system else settings.prompt


_yielder: Any = None


async def yield_to_browser() -> None:
    global _yielder
    if _yielder is None:
        _yielder = await jsbridge.import_module("static/yield.js")
    await _yielder.yieldToBrowser()


async def one_run(engine: Engine, index: int, prompt_ids: list[int], max_tokens: int,
                  controller: Controller, on_token: Callable[[int], None]) -> dict[str, Any]:
    if _yielder is None:
        await yield_to_browser()
    every_ms = float(_yielder.YIELD_EVERY_MS)
    await engine.reset()
    ids: list[int] = []
    times: list[float] = []
    stopped = False
    start = jsbridge.now_ms()
    await engine.prefill(prompt_ids, max_tokens)
    end = jsbridge.now_ms()
    last_yield = end
    while len(ids) < max_tokens:
        token = await engine.next_token()
        stamp = jsbridge.now_ms()
        if token is None:
            break
        if getattr(engine, "stamps_tokens", False):
            stamp = engine.token_time_ms  # the engine's own record of when the id was produced
        ids.append(token)
        times.append(stamp)
        on_token(len(ids))
        if stamp - last_yield >= every_ms:
            # Let clicks (Stop) and painting through; see web/static/yield.js.
            await _yielder.yieldToBrowser()
            last_yield = jsbridge.now_ms()
        if controller.stop_requested:
            await engine.stop()
            stopped = True
            break
    if getattr(engine, "prefill_is_first_token", False) and times:
        end = times[0]  # prefill is not a separate call here (see engines/tjs_engine.py)
    return results.make_run(index, len(prompt_ids), start, end, ids, times, stopped)


class Benchmark:
    def __init__(self, settings: BenchSettings, model: Model, prompt_ids: list[int], passage_ids: list[int],
                 progress: Progress, log: Callable[[str], None], controller: Controller,
                 on_row: Callable[[], None] = lambda: None) -> None:
        self.on_row = on_row
        self.settings = settings
        self.model = model
        self.prompt_ids = prompt_ids
        self.passage_ids = passage_ids
        self.progress = progress
        self.log = log
        self.controller = controller
        self.reference_tokens: list[int] | None = None
        self.reference_perplexity: float | None = None
        s = settings
        self.units_per_engine = 1 + s.warmup + s.runs + (1 if s.forced_tokens else 0) + (1 if s.perplexity else 0)
        self.units_done = 0.0
        self.total_units = 1.0

    def _tick(self, message: str, fraction_of_unit: float = 1.0) -> None:
        self.progress(min(1.0, (self.units_done + fraction_of_unit) / self.total_units), message)

    def _unit_done(self, message: str) -> None:
        self.units_done += 1
        self.progress(min(1.0, self.units_done / self.total_units), message)

    async def run(self, engines: list[Engine], result: dict[str, Any]) -> dict[str, Any]:
        self.total_units = float(self.units_per_engine * len(engines))
        for engine in engines:
            row = await self.run_engine(engine)
            result["rows"].append(row)
            self.on_row()  # rows appear as they finish: nothing measured is lost if a later row fails
            if self.controller.stop_requested:
                result["stopped_by_user"] = True
                result["stop_requested_ms"] = self.controller.stop_requested_ms
                self.log("stopped: finished runs are kept")
                break
        return result

    async def run_engine(self, engine: Engine) -> dict[str, Any]:
        s = self.settings
        name = f"{engine.engine} {engine.backend}"
        row: dict[str, Any] = {
            "key": engine.key, "engine": engine.engine, "backend": engine.backend,
            "is_reference": engine.key == "llamacpp-wasm",
            "load": {}, "warmups": [], "runs": [], "summary": None, "correctness": None,
            "info": {}, "output_text": "", "error": None,
        }
        start_units = self.units_done
        try:
            self._tick(f"{name}: loading the model")
            row["load"] = await engine.load(self.model)
            row["info"] = engine.info()
            row["weights"] = self.weights_of(engine)
            self.log(f"{name}: loaded in {sum(row['load'].values()) / 1000:.2f} s {row['load']}")
            self._unit_done(f"{name}: loaded")
            for kind, count in (("warmups", s.warmup), ("runs", s.runs)):
                for i in range(count):
                    label = f"{name}: {'warmup' if kind == 'warmups' else 'run'} {i + 1}/{count}"

                    def on_token(n: int, label: str = label) -> None:
                        self._tick(f"{label}, token {n}/{s.max_tokens}", n / s.max_tokens)

                    run = await one_run(engine, i, self.prompt_ids, s.max_tokens, self.controller, on_token)
                    row[kind].append(run)
                    d = run["derived"]
                    self.log(f"{label}: {d['tokens']} tokens, TTFT {d['ttft_ms'] or 0:.0f} ms, "
                             f"decode {d['decode_tok_s'] or 0:.2f} tok/s" + (" (stopped)" if run["stopped"] else ""))
                    self._unit_done(label)
                    if self.controller.stop_requested:
                        raise Stopped
            row["summary"] = results.summarize_row(row["runs"])
            first = row["runs"][0]["token_ids"] if row["runs"] else []
            row["output_text"] = await _maybe_await(getattr(engine, "decode_text")(first))
            row["correctness"] = await self.check(engine, row, first)
        except Stopped:
            row["summary"] = results.summarize_row(row["runs"])
        except (EngineError, JsException) as err:
            row["error"] = str(err)
            self.log(f"{name}: ERROR {err}")
            # Skip the bar past this row's remaining steps.
            self.units_done = start_units + self.units_per_engine
            self.progress(min(1.0, self.units_done / self.total_units), f"{name}: failed")
        finally:
            try:
                await engine.unload()
            except Exception:  # noqa: BLE001 - unloading a failed engine must not hide its error
                pass
        return row

    def weights_of(self, engine: Engine) -> dict[str, Any]:
        """Which weights a row ran, so a reader sees the rows share them."""
        gguf = {"format": "GGUF " + "/".join(sorted(self.model.tensor_types)), "size": self.model.size,
                "sha256": self.model.sha256}
        converted = (engine.info().get("weights") or {}) if engine.key.startswith("transformersjs") else None
        if converted:
            return {"format": converted["format"], "size": converted.get("size"), "sha256": converted.get("sha256"),
                    "converted_from_sha256": converted.get("converted_from_gguf_sha256")}
        return gguf

    async def check(self, engine: Engine, row: dict[str, Any], tokens: list[int]) -> dict[str, Any]:
        s = self.settings
        name = f"{engine.engine} {engine.backend}"
        c: dict[str, Any] = {"reference": "llama.cpp (wllama) greedy on the same GGUF and prompt ids"}
        if row["is_reference"]:
            self.reference_tokens = tokens
        ref = self.reference_tokens
        runs = row["runs"]
        c["runs_identical"] = all(r["token_ids"] == runs[0]["token_ids"] for r in runs if not r["stopped"])
        if ref is None:
            c["note"] = "llama.cpp was not run, so there is no reference to check against"
        else:
            c["greedy_match"], c["first_divergence"] = correctness.greedy_agreement(ref, tokens)
            k = min(s.forced_tokens, len(ref))
            if k:
                self._tick(f"{name}: teacher-forced check over {k} reference tokens")
                started = time.monotonic()
                forced = await engine.teacher_forced(self.prompt_ids, ref[:k])
                c["forced_positions"] = k
                c["forced_top1"] = [t for t, _ in forced]
                c["forced_top1_agreement"] = correctness.top1_agreement([t for t, _ in forced], ref[:k])
                self.log(f"{name}: forced top-1 agreement {c['forced_top1_agreement']:.0%} over {k} tokens "
                         f"({time.monotonic() - started:.1f} s)")
            if s.forced_tokens:
                self._unit_done(f"{name}: teacher-forced check done")
        if s.perplexity and len(self.passage_ids) >= 2:
            self._tick(f"{name}: perplexity of the fixed passage")
            scored = await engine.teacher_forced(self.passage_ids[:1], self.passage_ids[1:])
            c["perplexity_tokens"] = len(scored)
            c["perplexity"] = correctness.perplexity([lp for _, lp in scored])
            if row["is_reference"]:
                self.reference_perplexity = c["perplexity"]
            c["reference_perplexity"] = self.reference_perplexity
            self.log(f"{name}: perplexity {c['perplexity']:.4g} (llama.cpp: {self.reference_perplexity})")
            self._unit_done(f"{name}: perplexity done")
        return c


async def _maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value
