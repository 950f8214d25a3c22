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

from app.core import chat_template, correctness, generation_limits, gpu_errors, results, sweeps, wllama3
from app.core.engine_catalog import REFERENCE_KEY
from app.core.settings import BenchSettings
from app.web import gpu_capture, jsbridge
from app.web.engines.base import Engine, EngineError, Model
from app.web.tokenizer import LlamaCppTokenizer

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


def render_prompt(settings: BenchSettings, model: Model) -> chat_template.RenderedPrompt:
    """The text every engine's prompt ids come from: the model's own chat template, or the raw prompt.

    Raises chat_template.TemplateError when the template does not render."""
    meta = model.metadata
    tokens = meta.get("tokenizer.ggml.tokens") or []

    def token_text(key: str) -> str:
        i = meta.get(key)
        return tokens[i] if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(tokens) else ""

    return chat_template.render(meta.get("tokenizer.chat_template"), settings.prompt, settings.system or None,
                                bos_token=token_text("tokenizer.ggml.bos_token_id"),
                                eos_token=token_text("tokenizer.ggml.eos_token_id"))


def make_engines(keys: list[str], site: dict[str, Any], settings: BenchSettings) -> list[Engine]:
    """The engines asked for, llama.cpp (the reference) first (app/web/engines/registry.py)."""
    from app.web.engines.registry import make_engines as made

    return made(keys, site, settings)


async def new_result(settings: BenchSettings, model: Model, tokenizer: LlamaCppTokenizer, environment: dict[str, Any],
                     assets: list[dict[str, Any]]) -> dict[str, Any]:
    """An empty result for this model and settings, with the prompt and passage ids every engine gets.

    The prompt is the model's own chat template rendered with jinja2 (`prompt_format` "gguf-template"),
    or the raw text for a model without one ("raw"); its ids, and the passage's, are llama.cpp's
    (`tokenizer`), with the model's BOS rule. Raises chat_template.TemplateError (a ValueError).
    """
    rendered = render_prompt(settings, model)
    prompt_ids = await tokenizer.encode(rendered.text)
    passage_ids = await tokenizer.encode(settings.passage)
    controls = chat_template.control_strings(model.metadata)
    typed = chat_template.control_strings_in(settings.prompt + "\n" + (settings.system or ""), controls)
    warnings = [f"the prompt contains the model's control string(s) {typed}: they are tokenized as control tokens, "
                "as llama.cpp's server does, and can change the conversation's turns"] if typed else []
    result = results.new_result(settings.to_dict(), environment, assets,
                                {"name": model.name, "size": model.size, "sha256": model.sha256, "header": model.header})
    stop_ids = [] if settings.ignore_eos else tokenizer.eog_ids
    result.update(prompt_text=rendered.text, prompt_format=rendered.format, prompt_ids=prompt_ids,
                  passage_ids=passage_ids, tokenizer=tokenizer.source,
                  bos={"id": tokenizer.bos_id, "add_bos_token": tokenizer.add_bos,
                       "template_wrote_bos": rendered.starts_with_bos_text},
                  stop_ids=stop_ids, prompt_warnings=warnings, stopped_by_user=False)
    return result


def manifest_assets(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every pin and every served file (path, sha256, pin) of the site: what a result records as its assets."""
    return manifest["site"]["pins"] + [{"path": f["path"], "sha256": f["sha256"], "pin": f["pin"]} for f in manifest["files"]]


async def run_benchmark(settings: BenchSettings, model: Model, site: dict[str, Any], environment: dict[str, Any],
                        assets: list[dict[str, Any]], progress: Progress, log: Callable[[str], None],
                        controller: Controller, extra: dict[str, Any] | None = None,
                        on_result: Callable[[dict[str, Any]], None] = lambda r: None,
                        on_row: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """The whole benchmark for one model, as the page, the Deno runtime and the notebook run it.

    llama.cpp is opened as the tokenizer of record, the result is created (`extra` merged in) and handed to
    `on_result` before any row runs (so a caller can publish it), every engine of the settings runs, and the
    tokenizer is closed. Returns the result dict (schema: app.core.results). Raises GGUFError, EngineError
    (llama.cpp cannot open the model), chat_template.TemplateError, JsException.
    """
    progress(0, "llama.cpp tokenizes the prompt (the tokenizer of record)")
    tokenizer = await LlamaCppTokenizer.open(model, site["wllama"]["version"])
    try:
        result = await new_result(settings, model, tokenizer, environment, assets)
        result.update(extra or {})
        log(f"prompt ({result['prompt_format']}): {len(result['prompt_ids'])} ids, passage {len(result['passage_ids'])} ids, "
            f"from {tokenizer.source} (loaded in {tokenizer.load_ms:.0f} ms); stop ids {result['stop_ids']}")
        for warning in result["prompt_warnings"]:
            log(f"warning: {warning}")
        on_result(result)
        bench = Benchmark(settings, model, result["prompt_ids"], result["passage_ids"], progress, log, controller,
                          on_row=on_row, tokenizer=tokenizer, stop_ids=result["stop_ids"])
        await bench.run(make_engines(settings.engines, site, settings), result)
    finally:
        await tokenizer.close()
    return result


def check_some_engine_ran(result: dict[str, Any]) -> None:
    """Raise SettingsError naming each reason when every row was refused before loading."""
    from app.core.settings import SettingsError

    if result["rows"] and all(r.get("unsupported") for r in result["rows"]):
        reasons = "; ".join(f"{r['engine']} {r['backend']}: {r['unsupported']}" for r in result["rows"])
        raise SettingsError(f"no engine could run: {reasons}")


_yielder: Any = None


async def _yield_module() -> Any:
    global _yielder
    if _yielder is None:
        _yielder = await jsbridge.import_module("static/yield.js")
    return _yielder


def memory_fields(after_load: dict[str, Any], at_end: dict[str, Any], model_bytes: int) -> dict[str, Any]:
    """A row's memory: the page's bytes (performance.measureUserAgentSpecificMemory) after load and at the
    end of the runs, their peak and its ratio to the model file's size; `error` says why a figure is missing."""
    values = [m["bytes"] for m in (after_load, at_end) if "bytes" in m]
    peak = max(values) if values else None
    errors = sorted({m["error"] for m in (after_load, at_end) if "error" in m})
    return {"page_bytes_after_load": after_load.get("bytes"), "page_bytes_at_end": at_end.get("bytes"),
            "page_bytes_peak": peak, "peak_to_model": peak / model_bytes if peak and model_bytes else None,
            "error": "; ".join(errors) or None}


class RunFailed(Exception):
    """A run ended in an engine error; `run` holds the tokens and timestamps it had."""

    def __init__(self, message: str, run: dict[str, Any]) -> None:
        super().__init__(message)
        self.run = run


def _is_context_error(message: str) -> bool:
    text = message.lower()
    return any(k in text for k in ("context", "n_ctx", "kv cache", "no kv slot", "failed to find a memory slot"))


async def one_run(engine: Engine, index: int, prompt_ids: list[int], max_tokens: int,
                  controller: Controller, on_token: Callable[[int], None],
                  stop_ids: frozenset[int] = frozenset(), cold: bool = False,
                  prompt_text: str | None = None) -> dict[str, Any]:
    """One generation: prefill, then one awaited token at a time, each stamped with performance.now() (ms).

    Stops at the first id in `stop_ids` (not counted, the same set for every engine), at `max_tokens`,
    when the engine ends the stream itself, or on Stop. Raises RunFailed (carrying the partial run,
    stop_reason 'error' or 'context') when the engine fails mid-run: measured tokens are never lost.

    What a token costs here beyond the engine's own calls (README, "Performance of the harness"): one
    `performance.now()` call (looked up once), and the resumption of the loop by the engine's promise,
    which app.web.fastloop makes a microtask instead of a browser task. The progress callback and the
    yield to the browser run every YIELD_EVERY_MS, not per token: the page can only paint during the yield.
    """
    from app.web import fastloop  # noqa: PLC0415 - the loop's machinery, kept with the loop

    yielder = await _yield_module()
    every_ms = float(yielder.YIELD_EVERY_MS)
    yield_to_browser = yielder.yieldToBrowser  # looked up once, not per yield
    stamps_tokens = getattr(engine, "stamps_tokens", False)  # looked up once, not per token
    now = fastloop.clock()  # performance.now itself: one FFI call per read, no attribute lookups
    await engine.reset()
    ids: list[int] = []
    times: list[float] = []

    async def timed() -> dict[str, Any]:
        reason = "max tokens"
        start = now()
        end = start
        try:
            if prompt_text is not None and getattr(engine, "takes_text", False):
                # Text in (wllama 3.x): the rendered text `prompt_ids` came from; the check compares its counts.
                await engine.prefill_text(prompt_text, max_tokens)
            else:
                await engine.prefill(prompt_ids, max_tokens)
            end = now()
            last_yield = end
            while len(ids) < max_tokens:
                token = await engine.next_token()
                stamp = now()
                if token is None:
                    # An engine that ended its stream itself at an id of the shared stop set (flare's EOS) stopped where
                # the others do; anything else is the engine's own early end.
                    reason = "end token" if getattr(engine, "ended_at_id", None) in stop_ids else "engine end"
                    break
                if token in stop_ids:
                    reason = "end token"
                    break
                if stamps_tokens:
                    stamp = engine.token_time_ms  # the engine's own record of when the id was produced
                ids.append(token)
                times.append(stamp)
                if stamp - last_yield >= every_ms:
                    on_token(len(ids))  # progress, painted during the yield that follows
                    # Let clicks (Stop) and painting through; see web/static/yield.js.
                    await yield_to_browser()
                    last_yield = now()
                if controller.stop_requested:
                    await engine.stop()
                    reason = "user"
                    break
        except (EngineError, JsException) as err:
            message = str(err)
            run = results.make_run(index, len(prompt_ids), start, end, ids, times, stop_reason="context" if _is_context_error(message) else "error", error=message, cold=cold)
            raise RunFailed(message, run) from None
        if getattr(engine, "prefill_is_first_token", False) and times:
            end = times[0]  # prefill is not a separate call here (see engines/tjs_engine.py)
        return results.make_run(index, len(prompt_ids), start, end, ids, times, stop_reason=reason, cold=cold)

    return await fastloop.run(timed())


class Benchmark:
    prompt_text: str | None = None  # the rendered prompt (result["prompt_text"]), for engines that take text

    def __init__(self, settings: BenchSettings, model: Model, prompt_ids: list[int], passage_ids: list[int],
                 progress: Progress, log: Callable[[str], None], controller: Controller,
                 on_row: Callable[[], None] = lambda: None, refusals: dict[str, str] | None = None,
                 tokenizer: LlamaCppTokenizer | None = None, stop_ids: list[int] | None = None) -> None:
        self.on_row = on_row
        # engine key -> why it cannot run this model (header values it cannot honour), decided before loading
        self.refusals = dict(model.refusals if refusals is None else refusals)
        # The same end-of-generation ids for every engine: llama.cpp's set for the model (the result's stop_ids);
        # without a tokenizer of record, the GGUF's EOS/EOT/EOM. Empty with ignore_eos: every row runs to max tokens.
        self.tokenizer = tokenizer
        self.stop_ids = frozenset(stop_ids if stop_ids is not None else
                                  (() if settings.ignore_eos else model.limits.get("stop_ids") or ()))
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
        self.sweep_tests = sweeps.tests(s.n_prompt, s.n_gen, s.depth)
        self._sweep_rows: list[dict[str, Any]] = []
        self._memory_after_load: dict[str, Any] = {}
        self.units_per_engine = (1 + s.warmup + s.runs + (1 if s.forced_tokens else 0) + (1 if s.perplexity else 0)
                                 + len(self.sweep_tests) * (s.warmup + s.runs))
        self.units_done = 0.0
        self.total_units = 1.0
        self._last_paint_ms = 0.0

    def _tick(self, message: str, fraction_of_unit: float = 1.0) -> None:
        self.progress(min(1.0, (self.units_done + fraction_of_unit) / self.total_units), message)

    def _unit_done(self, message: str) -> None:
        self.units_done += 1
        self.progress(min(1.0, self.units_done / self.total_units), message)

    async def run(self, engines: list[Engine], result: dict[str, Any]) -> dict[str, Any]:
        self.total_units = float(self.units_per_engine * len(engines))
        self.hygiene = await jsbridge.import_module("static/run_hygiene.js")
        await gpu_capture.set_adapter_limits(self.settings.webgpu_limits == "adapter")
        result["stop_ids"] = sorted(self.stop_ids)
        self.prompt_text = result.get("prompt_text")
        for engine in engines:
            # The row is in the result from its start and republished after every run, so a run that hangs
            # or times out later loses nothing already measured.
            await self.run_engine(engine, result["rows"])
            self.on_row()
            if self.controller.stop_requested:
                result["stopped_by_user"] = True
                result["stop_requested_ms"] = self.controller.stop_requested_ms
                self.log("stopped: finished runs are kept")
                break
        return result

    def refusal(self, engine: Engine) -> str | None:
        """Why `engine` must not run here (checked before it loads), or None."""
        if engine.key in self.refusals:
            return self.refusals[engine.key]
        own = getattr(engine, "unsupported_reason", None)
        if own is not None and (reason := own(self.model)):
            return reason
        name = f"{engine.engine} {engine.backend}"
        # The teacher-forced check feeds at most max_tokens reference tokens, so this bound covers it too.
        return generation_limits.context_refusal(name, engine.context_tokens(self.model), len(self.prompt_ids),
                                                 self.settings.max_tokens)

    def _hygiene(self, hidden_before: int) -> dict[str, Any]:
        """What could have spoiled the run: the page hidden (throttled) at any moment of it."""
        changes = int(self.hygiene.visibilityChanges()) - hidden_before
        hidden = changes > 0 or bool(self.hygiene.pageHidden())
        return {"page_hidden": hidden, "visibility_changes": changes}

    def _skip_rest_of_row(self, start_units: float, name: str, message: str) -> None:
        self.units_done = start_units + self.units_per_engine
        self.progress(min(1.0, self.units_done / self.total_units), f"{name}: {message}")

    async def run_engine(self, engine: Engine, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """One engine's row: load, warmups, measured runs, checks. Appended to `rows` at once, marked
        `in_progress` until it ends, and republished (on_row) after every run."""
        s = self.settings
        row: dict[str, Any] = {
            "key": engine.key, "engine": engine.engine, "backend": engine.backend,
            "is_reference": engine.key == REFERENCE_KEY,
            "load": {}, "warmups": [], "runs": [], "summary": None, "correctness": None,
            "info": {}, "output_text": "", "error": None, "unsupported": None, "shims": [],
            "gpu_errors": None, "console_errors": None, "gpu_devices": [], "in_progress": True,
        }
        row.update(test="chat", n_prompt=len(self.prompt_ids), n_gen=s.max_tokens, n_depth=0)
        self._rows = rows if rows is not None else []
        self._rows.append(row)
        try:
            return await self._run_row(engine, row)
        finally:
            row.pop("in_progress", None)

    async def _run_row(self, engine: Engine, row: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        if s.webgpu_limits == "adapter" and engine.backend == "webgpu":
            # The opt-in shim changes how the engine runs: the row says so wherever it appears.
            row["backend"] = "webgpu (adapter limits)"
            row["shims"] = ["webgpu-limits=adapter"]
        name = f"{engine.engine} {row['backend']}"
        start_units = self.units_done
        row["context_tokens"] = engine.context_tokens(self.model)
        refusal = self.refusal(engine)
        if not refusal and (probe := getattr(engine, "unsupported_reason_async", None)) is not None:
            refusal = await probe(self.model)  # what only an await can tell (a WebGPU adapter's features)
        if refusal:
            row["unsupported"] = refusal
            self.log(f"{name}: not run: {refusal}")
            self._skip_rest_of_row(start_units, name, "not run")
            return row
        await gpu_capture.begin(name)
        try:
            self._tick(f"{name}: loading the model")
            row["load"] = await engine.load(self.model)
            row["info"] = engine.info()
            row["weights"] = self.weights_of(engine)
            memory_after_load = self._memory_after_load = await gpu_capture.measure_memory()
            phases = ", ".join(f"{k.removesuffix('_ms').replace('_', ' ')} {v:.0f} ms" for k, v in row["load"].items())
            self.log(f"{name}: loaded in {sum(row['load'].values()) / 1000:.2f} s ({phases})")
            self._unit_done(f"{name}: loaded")
            for kind, count in (("warmups", s.warmup), ("runs", s.runs)):
                for i in range(count):
                    label = f"{name}: {'warmup' if kind == 'warmups' else 'run'} {i + 1}/{count}"

                    def on_token(n: int, label: str = label) -> None:
                        # Inside the timed loop: repaint the progress bar at most every 100 ms, not per token.
                        now = jsbridge.now_ms()
                        if now - self._last_paint_ms >= 100:
                            self._last_paint_ms = now
                            self._tick(f"{label}, token {n}/{s.max_tokens}", n / s.max_tokens)

                    cold = kind == "runs" and i == 0 and s.warmup == 0
                    hidden_before = int(self.hygiene.visibilityChanges())
                    try:
                        run = await one_run(engine, i, self.prompt_ids, s.max_tokens, self.controller, on_token,
                                            self.stop_ids, cold, prompt_text=self.prompt_text)
                    except RunFailed as failed:
                        row[kind].append(failed.run)  # the tokens it had are kept, marked with why it stopped
                        raise EngineError(f"{label} failed after {len(failed.run['token_ids'])} tokens "
                                          f"({failed.run['stop_reason']}): {failed}") from None
                    run["hygiene"] = self._hygiene(hidden_before)
                    row[kind].append(run)
                    row["summary"] = results.summarize_row(row["runs"])
                    self.on_row()
                    d = run["derived"]
                    self.log(f"{label}: {d['tokens']} tokens ({run['stop_reason']}), TTFT {d['ttft_ms'] or 0:.0f} ms, "
                             f"decode {d['decode_tok_s'] or 0:.2f} tok/s" + (" [cold: no warmup]" if cold else ""))
                    self._unit_done(label)
                    if self.controller.stop_requested:
                        raise Stopped
            row["summary"] = results.summarize_row(row["runs"])
            row["memory"] = memory_fields(memory_after_load, await gpu_capture.measure_memory(), self.model.size)
            first = row["runs"][0]["token_ids"] if row["runs"] else []
            # What each engine answered, as llama.cpp's text for its ids: one detokenizer for every row.
            row["output_text"] = await (self.tokenizer.decode(first) if self.tokenizer else engine.decode_text(first))
            row["correctness"] = await self.check(engine, row, first)
            if self.sweep_tests:
                await self._sweep(engine, row, name)
        except Stopped:
            row["summary"] = results.summarize_row(row["runs"])
        except (EngineError, JsException) as err:
            row["error"] = str(err)
            if row["runs"]:
                row["summary"] = results.summarize_row(row["runs"])
            self.log(f"{name}: ERROR {err}")
            self._skip_rest_of_row(start_units, name, "failed")
        finally:
            try:
                await engine.unload()
            except Exception:  # noqa: BLE001 - unloading a failed engine must not hide its error
                pass
            row.update(await gpu_capture.end())
            if row.get("memory") is not None:
                gpu_peaks = [d["buffer_bytes_peak"] for d in row["gpu_devices"] if d.get("buffer_bytes_peak")]
                row["memory"]["gpu_buffer_bytes_peak"] = max(gpu_peaks) if gpu_peaks else None
            for sub in self._sweep_rows:
                # One engine session: what its device reported belongs to every test it ran.
                sub.update(gpu_errors=row["gpu_errors"], console_errors=row["console_errors"], gpu_devices=row["gpu_devices"])
            self._sweep_rows = []
            if row["gpu_errors"]:
                self.log(f"{name}: {gpu_errors.headline(row).splitlines()[0]}")
            if row["console_errors"]:
                self.log(f"{name}: {row['console_errors']['count']} console error(s) during the row: "
                         f"{row['console_errors']['first_messages'][0][:300]}")
        return row

    async def _sweep(self, engine: Engine, row: dict[str, Any], name: str) -> None:
        """The sweep tests (ppN, tgN @ dD) on the engine already loaded: one row each, after the chat row.

        Prompts are exactly N (or D) ids of the fixed passage (app.core.sweeps); end-of-generation ids are
        ignored so every engine runs the same length. Correctness is the chat row's (same engine and model)."""
        s = self.settings
        bos = self.tokenizer.bos_id if self.tokenizer is not None and self.tokenizer.add_bos else None
        self._sweep_rows = []
        for test in self.sweep_tests:
            sub = {k: row.get(k) for k in ("key", "engine", "backend", "is_reference", "load", "info", "weights", "shims",
                                           "context_tokens")}
            sub.update(test=test.name, n_prompt=test.n_prompt, n_gen=test.n_gen, n_depth=test.n_depth, warmups=[],
                       runs=[], summary=None, correctness=row["correctness"], correctness_from="chat", output_text="",
                       error=None, unsupported=None, gpu_errors=None, console_errors=None, gpu_devices=[],
                       in_progress=True)
            self._rows.append(sub)
            self._sweep_rows.append(sub)
            label = f"{name} {test.name}"
            try:
                refusal = generation_limits.context_refusal(name, row.get("context_tokens"), test.n_prompt, test.n_gen)
                if refusal:
                    sub["unsupported"] = refusal
                    self.log(f"{label}: not run: {refusal}")
                    continue
                ids = sweeps.prompt_of(test.n_prompt, self.passage_ids, bos)
                for kind, count in (("warmups", s.warmup), ("runs", s.runs)):
                    for i in range(count):
                        hidden_before = int(self.hygiene.visibilityChanges())
                        try:
                            run = await one_run(engine, i, ids, test.n_gen, self.controller, lambda n: None, frozenset(),
                                                kind == "runs" and i == 0 and s.warmup == 0)
                        except RunFailed as failed:
                            sub[kind].append(failed.run)
                            raise EngineError(f"{label} failed: {failed}") from None
                        run["hygiene"] = self._hygiene(hidden_before)
                        sub[kind].append(run)
                        sub["summary"] = results.summarize_row(sub["runs"])
                        self.on_row()
                        d = run["derived"]
                        figure = (f"prefill {d['prefill_tok_s'] or 0:.1f} tok/s" if test.kind == "pp"
                                  else f"decode {d['decode_tok_s'] or 0:.2f} tok/s")
                        self._unit_done(f"{label} {kind[:-1]} {i + 1}/{count}: {figure}")
                        if self.controller.stop_requested:
                            raise Stopped
                sub["memory"] = memory_fields(self._memory_after_load, await gpu_capture.measure_memory(), self.model.size)
                self.log(f"{label}: " + (f"prefill {sub['summary']['prefill_tok_s']['mean']:.1f} tok/s"
                                         if test.kind == "pp" and sub["summary"]["prefill_tok_s"]
                                         else f"decode {(sub['summary']['decode_tok_s'] or {}).get('mean', 0):.2f} tok/s"))
            except EngineError as err:
                sub["error"] = str(err)
                self.log(f"{label}: ERROR {err}")
                break
            finally:
                sub.pop("in_progress", None)

    def weights_of(self, engine: Engine) -> dict[str, Any]:
        """Which weights a row ran, so a reader sees the rows share them."""
        gguf = {"format": "GGUF " + "/".join(sorted(self.model.tensor_types)), "size": self.model.size,
                "sha256": self.model.sha256}
        converted = engine.info().get("weights")  # engines that run converted weights describe them
        if converted:
            return {"format": converted["format"], "size": converted.get("size"), "sha256": converted.get("sha256"),
                    "converted_from_sha256": converted.get("converted_from_gguf_sha256")}
        return gguf

    async def check(self, engine: Engine, row: dict[str, Any], tokens: list[int]) -> dict[str, Any]:
        s = self.settings
        name = f"{engine.engine} {row['backend']}"
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
            if k and getattr(engine, "takes_text", False):
                await self._forced_by_text(engine, c, ref[:k], name)
            elif k:
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
        if getattr(engine, "takes_text", False):
            return await self._check_text_engine(engine, row, c)
        if s.perplexity and len(self.passage_ids) >= 2:
            self._tick(f"{name}: perplexity of the fixed passage")
            scored = await engine.teacher_forced(self.passage_ids[:1], self.passage_ids[1:])
            c["perplexity_tokens"] = len(scored)
            c["perplexity"] = correctness.perplexity([lp for _, lp in scored])
            if row["is_reference"]:
                self.reference_perplexity = c["perplexity"]
            c["reference_perplexity"] = self.reference_perplexity
            ref_text = "-" if self.reference_perplexity is None else f"{self.reference_perplexity:.2f}"
            self.log(f"{name}: perplexity {c['perplexity']:.2f} (llama.cpp: {ref_text})")
            self._unit_done(f"{name}: perplexity done")
        return c

    # --- engines that take text (wllama 3.x: no token-id API) ---------------------------------------------
    async def _forced_by_text(self, engine: Engine, c: dict[str, Any], ref: list[int], name: str) -> None:
        """Teacher forcing by text prefix: for position i, the prompt text plus llama.cpp 2.4's text of ref[:i]
        is sent as one max_tokens 1 request; its greedy id is compared with ref[i]. A position counts only where
        that text tokenizes back (llama.cpp 2.4) to exactly prompt_ids + ref[:i] and 3.13 counted as many prompt
        tokens, so both engines saw the same ids; the others are listed in `forced_skipped` with why."""
        self._tick(f"{name}: teacher-forced check by text prefix over {len(ref)} reference tokens")
        started = time.monotonic()
        top1: list[int | None] = []
        skipped: dict[str, str] = {}
        for i in range(len(ref)):
            if self.prompt_text is None or self.tokenizer is None:
                top1.append(None)
                skipped[str(i)] = "no prompt text or tokenizer of record in this run"
                continue
            prefix = self.prompt_ids + ref[:i]
            text = self.prompt_text + await self.tokenizer.decode(ref[:i])
            if await self.tokenizer.encode(text) != prefix:
                top1.append(None)
                skipped[str(i)] = "its prefix text does not tokenize back to the reference ids"
                continue
            step = await engine.forced_step(text)
            if "error" in step:
                top1.append(None)
                why = "its result held incomplete UTF-8 (a known wllama 3.x limit): " if step.get("utf8_loss") else ""
                skipped[str(i)] = f"failed step: {why}{str(step['error'])[:200]}"
                continue
            if step.get("prompt_tokens") != len(prefix):
                top1.append(None)
                skipped[str(i)] = f"3.13 counted {step.get('prompt_tokens')} prompt tokens, not {len(prefix)}"
                continue
            top1.append(int(step["id"]))
        counted = [(t, r) for t, r in zip(top1, ref) if t is not None]
        c.update(forced_method=wllama3.FORCED_METHOD, forced_method_text=wllama3.FORCED_METHOD_TEXT,
                 forced_positions=len(counted), forced_top1=top1, forced_skipped=skipped,
                 forced_top1_agreement=correctness.top1_agreement([t for t, _ in counted], [r for _, r in counted]))
        figure = "-" if c["forced_top1_agreement"] is None else f"{c['forced_top1_agreement']:.0%}"
        self.log(f"{name}: forced top-1 agreement (text prefix) {figure} over {len(counted)} of {len(ref)} positions "
                 f"({time.monotonic() - started:.1f} s)")

    async def _check_text_engine(self, engine: Engine, row: dict[str, Any], c: dict[str, Any]) -> dict[str, Any]:
        """Once per run: 3.13's prompt token count against ours, no cached prompt tokens, and its ids giving its own
        text in llama.cpp 2.4. No perplexity (3.x returns no prompt log-probabilities). Findings go to row["notes"]."""
        s = self.settings
        name = f"{engine.engine} {row['backend']}"
        generations = await engine.take_generations()
        labels = ([f"warmup {i + 1}" for i in range(len(row["warmups"]))]
                  + [f"run {i + 1}" for i in range(len(row["runs"]))])
        eog = set(self.tokenizer.eog_ids) if self.tokenizer is not None else set(self.stop_ids)
        notes: list[str] = []
        checked = []
        for label, g in zip(labels, generations):
            text = None
            if self.tokenizer is not None:
                text = await self.tokenizer.decode([t for t in g["ids"] if t not in eog])
            notes += wllama3.run_notes(label, g, len(self.prompt_ids), text)
            checked.append({"run": label, "prompt_tokens": g["prompt_tokens"], "cached_tokens": g["cached_tokens"],
                            "ids_give_text": None if text is None else text == g["text"],
                            "times_clamped_to_arrival": g["clamped"]})
        c["text_engine_runs"] = checked
        c["expected_prompt_tokens"] = len(self.prompt_ids)
        skipped = c.get("forced_skipped") or {}
        if skipped:
            first = next(iter(skipped.items()))
            notes.append(f"teacher-forced by text prefix: {len(skipped)} of {len(c.get('forced_top1') or [])} positions "
                         f"not counted (position {first[0]}: {first[1]})")
        c["perplexity"] = None
        c["perplexity_note"] = wllama3.PERPLEXITY_REASON
        c["reference_perplexity"] = self.reference_perplexity
        if s.perplexity and len(self.passage_ids) >= 2:
            notes.append(f"perplexity {wllama3.PERPLEXITY_REASON}")
            self._unit_done(f"{name}: no perplexity ({wllama3.PERPLEXITY_REASON})")
        row["notes"] = notes
        for note in notes:
            self.log(f"{name}: {note}")
        return c
