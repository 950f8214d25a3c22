"""The benchmark: Python drives each engine token by token, keeps the clock, checks the tokens.

Order: llama.cpp (the reference) first, so its greedy tokens exist when the other rows are
checked against them; then the other engines. A failing row records its error and the others go on.

Everything it needs from the browser (clock, yields, run hygiene, GPU capture, memory, the JS error type)
comes through one `Browser` (app/web/browser), given as an argument or the module-level choice; what each
engine can do is declared in its spec (`engine.spec.drive`), never probed. So this module imports and runs
on the host: tests/host/test_bench_host.py drives whole benchmarks over a fake engine.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from app.core import chat_template, correctness, generation_limits, gpu_errors, model_budget, results, sweeps
from app.core.settings import BenchSettings
from app.engines import HOST_KEYS, memory_refusal, missing_features
from app.engines.protocol import Engine, EngineError, Model
from app.engines.spec import Drive
from app.web import fastloop, gpu_capture
from app.web.browser import BROWSER, Browser
from app.web.gpu_capture import memory_fields
from app.web.tokenizer import Tokenizer

__all__ = ["Benchmark", "Controller", "RunFailed", "Stopped", "check_some_engine_ran", "manifest_assets",
           "memory_fields", "new_result", "one_run", "prepare_prompt", "render_prompt", "run_benchmark",
           "template_source"]

Progress = Callable[[float, str], None]  # (fraction done 0..1, message)
OpenTokenizer = Callable[[Model, dict[str, Any]], Awaitable[Tokenizer]]
MakeEngines = Callable[[list[str], dict[str, Any], BenchSettings], list[Engine]]
IDS_IN = Drive()  # the default drive: prompt ids in, each token stamped by Python's clock on receipt


@dataclass
class Controller:
    """Shared with the page: the Stop button sets stop_requested; the loop checks it every token."""

    stop_requested: bool = False
    stop_requested_ms: float | None = None  # the browser's clock (ms) when Stop was pressed
    browser: Browser = field(default=BROWSER, repr=False, compare=False)

    def request_stop(self) -> None:
        """Ask the running benchmark to stop after the current token (idempotent; the first press is timed)."""
        if not self.stop_requested:
            self.stop_requested = True
            self.stop_requested_ms = self.browser.now_ms()


class Stopped(Exception):
    """The user pressed Stop: the row ends with the runs it has."""


def template_source(model: Model) -> str:
    """How messages name the model's chat template."""
    return f"the chat template of {model.name} (tokenizer.chat_template)"


def render_prompt(settings: BenchSettings, model: Model,
                  budget: chat_template.RenderBudget | None = None) -> chat_template.RenderedPrompt:
    """The text every engine's prompt ids come from: the model's own chat template, or the raw prompt.

    The template renders under `budget` (default chat_template.RenderBudget(): a runaway template ends within
    seconds). Raises chat_template.TemplateError naming the template when it does not render or renders an empty
    prompt (RenderStopped when the budget's `stopped()` says so)."""
    meta = model.metadata
    tokens = meta.get("tokenizer.ggml.tokens") or []

    def token_text(key: str) -> str:
        i = meta.get(key)
        return tokens[i] if isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(tokens) else ""

    return chat_template.render(meta.get("tokenizer.chat_template"), settings.prompt, settings.system or None,
                                bos_token=token_text("tokenizer.ggml.bos_token_id"),
                                eos_token=token_text("tokenizer.ggml.eos_token_id"),
                                source=template_source(model), budget=budget)


async def prepare_prompt(settings: BenchSettings, model: Model, controller: Controller | None = None,
                         browser: Browser | None = None) -> chat_template.RenderedPrompt:
    """render_prompt() as the page runs it: the browser gets its turn while the template renders (where it can
    pause synchronous Python: `Browser.blocking_pause`), and Stop (`controller`) ends the render."""
    browser = BROWSER if browser is None else browser
    budget = chat_template.RenderBudget(
        pause=await browser.blocking_pause(),
        stopped=(lambda: controller.stop_requested) if controller is not None else None)
    return render_prompt(settings, model, budget)


async def new_result(settings: BenchSettings, model: Model, tokenizer: Tokenizer, environment: dict[str, Any],
                     assets: list[dict[str, Any]],
                     rendered: chat_template.RenderedPrompt | None = None) -> dict[str, Any]:
    """An empty result for this model and settings, with the prompt and passage ids every engine gets.

    The prompt is the model's own chat template rendered with jinja2 (`prompt_format` "gguf-template"),
    or the raw text for a model without one ("raw"); its ids, and the passage's, are llama.cpp's
    (`tokenizer`), with the model's BOS rule; `rendered`: the prompt already rendered (else it is rendered here).
    Raises chat_template.TemplateError (a ValueError).
    """
    rendered = render_prompt(settings, model) if rendered is None else rendered
    prompt_ids = await tokenizer.encode(rendered.text)
    passage_ids = await tokenizer.encode(settings.passage)
    controls = chat_template.control_strings(model.metadata)
    typed = chat_template.control_strings_in(settings.prompt + "\n" + (settings.system or ""), controls)
    warnings = [(f"the prompt contains the model's control string(s) {typed}: they are tokenized as control tokens, "
                 "as llama.cpp's server does, and can change the conversation's turns")] if typed else []
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


def _registry_engines(keys: list[str], site: dict[str, Any], settings: BenchSettings) -> list[Engine]:
    from app.engines import make_engines  # imports each engine's module: browser only

    return make_engines(keys, site, settings)


async def run_benchmark(settings: BenchSettings, model: Model, site: dict[str, Any], environment: dict[str, Any],
                        assets: list[dict[str, Any]], progress: Progress, log: Callable[[str], None],
                        controller: Controller, extra: dict[str, Any] | None = None,
                        on_result: Callable[[dict[str, Any]], None] = lambda r: None,
                        on_row: Callable[[], None] = lambda: None, *, browser: Browser | None = None,
                        open_tokenizer: OpenTokenizer | None = None,
                        make_engines: MakeEngines = _registry_engines) -> dict[str, Any]:
    """The whole benchmark for one model, as the page, the Deno runtime and the notebook run it.

    The tokenizer of record is opened (`open_tokenizer(model, site)`; default llama.cpp 2.4 from the site's
    `wllama` pin), the result is created (`extra` merged in) and handed to `on_result` before any row runs (so a
    caller can publish it), every engine of the settings runs (`make_engines(keys, site, settings)`; default the
    registry, app.engines), and the tokenizer is closed. `progress(fraction 0..1, message)`, `log(line)`.
    Returns the result dict (schema: app.core.results). Raises GGUFError, EngineError (llama.cpp cannot open the
    model), chat_template.TemplateError, and the browser's JsException.
    """
    browser = BROWSER if browser is None else browser
    if open_tokenizer is None:
        from app.web.tokenizer import open_tokenizer_of_record

        async def open_tokenizer(m: Model, s: dict[str, Any]) -> Tokenizer:
            return await open_tokenizer_of_record(m, s, browser)

    # The template first: one that fails, runs away or renders nothing is refused before anything loads.
    progress(0, "the chat template renders the prompt")
    rendered = await prepare_prompt(settings, model, controller, browser)
    progress(0, "llama.cpp tokenizes the prompt (the tokenizer of record)")
    tokenizer = await open_tokenizer(model, site)
    try:
        result = await new_result(settings, model, tokenizer, environment, assets, rendered)
        result.update(extra or {})
        log(f"prompt ({result['prompt_format']}): {len(result['prompt_ids'])} ids, passage {len(result['passage_ids'])} ids, "
            f"from {tokenizer.source} (loaded in {tokenizer.load_ms:.0f} ms); stop ids {result['stop_ids']}")
        for warning in result["prompt_warnings"]:
            log(f"warning: {warning}")
        on_result(result)
        bench = Benchmark(settings, model, result["prompt_ids"], result["passage_ids"], progress, log, controller,
                          on_row=on_row, tokenizer=tokenizer, stop_ids=result["stop_ids"], browser=browser)
        # Engines the host process runs (llama.cpp native) never run in the page: `python -m app bench` runs them after.
        here = [k for k in settings.engines if k not in HOST_KEYS]
        if len(here) < len(settings.engines):
            log(f"{', '.join(k for k in settings.engines if k in HOST_KEYS)}: run by the host process "
                "(python -m app bench), not in the page")
        await bench.run(make_engines(here, site, settings), result)
    finally:
        await tokenizer.close()
    return result


def check_some_engine_ran(result: dict[str, Any]) -> None:
    """Raise SettingsError naming each reason when every row was refused before loading."""
    from app.core.settings import SettingsError

    if result["rows"] and all(r.get("unsupported") for r in result["rows"]):
        reasons = "; ".join(f"{r['engine']} {r['backend']}: {r['unsupported']}" for r in result["rows"])
        raise SettingsError(f"no engine could run: {reasons}")


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
                  prompt_text: str | None = None, *, drive: Drive = IDS_IN,
                  browser: Browser | None = None) -> dict[str, Any]:
    """One generation: prefill, then one awaited token at a time, each stamped with the browser's clock (ms).

    `drive` is how the engine is driven (its spec's `Drive`; the default: ids in, Python stamps each token):
    with `drive.takes_text` and a `prompt_text`, prefill gets the text `prompt_ids` came from; with
    `drive.stamps_tokens` a token's time is the engine's `token_time_ms`; with `drive.prefill_is_first_token`
    prefill ends at the first token. `on_token(n tokens so far)` runs with each yield to the browser.

    Stops at the first id in `stop_ids` (not counted, the same set for every engine), at `max_tokens`,
    when the engine ends the stream itself, or on Stop. Returns app.core.results.make_run's record
    (token_ids, token_times_ms in ms, stop_reason, derived figures: TTFT ms, decode tok/s...). Raises RunFailed
    (carrying the partial run, stop_reason 'error' or 'context') when the engine fails mid-run (EngineError or
    the browser's JsException): measured tokens are never lost.

    What a token costs here beyond the engine's own calls (README, "Performance of the harness"): one
    clock call (`performance.now`, looked up once), and the resumption of the loop by the engine's promise,
    which app.web.fastloop makes a microtask instead of a browser task. The progress callback and the
    yield to the browser run every `Yielder.every_ms`, not per token: the page can only paint during the yield.
    """
    browser = BROWSER if browser is None else browser
    yield_to_browser, every_ms = await browser.yielder()  # looked up once, not per yield
    stamps_tokens = drive.stamps_tokens  # read once, not per token
    by_text = prompt_text is not None and drive.takes_text
    failures = (EngineError, browser.JsException)
    now = browser.clock()  # performance.now itself: one FFI call per read, no attribute lookups
    await engine.reset()
    ids: list[int] = []
    times: list[float] = []

    async def timed() -> dict[str, Any]:
        reason = "max tokens"
        start = now()
        end = start
        try:
            if by_text:
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
                    reason = "end token" if engine.ended_at_id in stop_ids else "engine end"
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
        except failures as err:
            message = str(err)
            run = results.make_run(index, len(prompt_ids), start, end, ids, times, stop_reason="context" if _is_context_error(message) else "error", error=message, cold=cold)
            raise RunFailed(message, run) from None
        if drive.prefill_is_first_token and times:
            end = times[0]  # prefill is not a separate call here (the engine runs its own loop)
        return results.make_run(index, len(prompt_ids), start, end, ids, times, stop_reason=reason, cold=cold)

    return await fastloop.run(timed())


class Benchmark:
    """Every engine's row of one result: load, warmups (kept apart), measured runs, correctness, sweeps.

    `prompt_ids` / `passage_ids`: the tokenizer of record's ids of the rendered prompt and the perplexity
    passage. `progress(fraction 0..1, message)` and `log(line)` report; `on_row()` is called whenever a row
    changed (after every run), so a caller can republish the result. `refusals`: engine key -> why it cannot run
    this model (default: the model's header refusals). `stop_ids`: the shared end-of-generation set (default:
    the GGUF's, or none with ignore_eos). `browser`: the seam (default app.web.browser.BROWSER).
    """

    prompt_text: str | None = None  # the rendered prompt (result["prompt_text"]), for engines that take text
    features: dict[str, bool] | None = None  # the environment's "features" (set by run()); None: unknown, no refusal

    def __init__(self, settings: BenchSettings, model: Model, prompt_ids: list[int], passage_ids: list[int],
                 progress: Progress, log: Callable[[str], None], controller: Controller,
                 on_row: Callable[[], None] = lambda: None, refusals: dict[str, str] | None = None,
                 tokenizer: Tokenizer | None = None, stop_ids: list[int] | None = None,
                 browser: Browser | None = None) -> None:
        self.browser = BROWSER if browser is None else browser
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
        self._rows: list[dict[str, Any]] = []
        self._sweep_rows: list[dict[str, Any]] = []
        self._memory_after_load: dict[str, Any] = {}
        self._memory_before_load: dict[str, Any] = {}
        self._memory_floor: dict[str, Any] = {}
        self._row_started_ms = 0.0
        self.adapter: dict[str, Any] | None = None
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
        """Run every engine's row into result["rows"], in order, until done or stopped. Returns `result`."""
        self.total_units = float(self.units_per_engine * len(engines))
        await self.browser.set_adapter_limits(self.settings.webgpu_limits == "adapter")
        result["stop_ids"] = sorted(self.stop_ids)
        self.prompt_text = result.get("prompt_text")
        # What this runtime offers (WebGPU, shader-f16, JSPI, Memory64...): rows needing more are `unsupported`.
        self.features = (result.get("environment") or {}).get("features")
        self.adapter = (result.get("environment") or {}).get("webgpu")  # its limits, for the storage-binding rule
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
        """Why `engine` must not run here, known without awaiting (checked before it loads), or None:
        the model's header refusals, the engine's own `unsupported_reason`, then its context against the prompt."""
        if engine.key in self.refusals:
            return self.refusals[engine.key]
        if reason := engine.unsupported_reason(self.model):
            return reason
        name = f"{engine.engine} {engine.backend}"
        # The teacher-forced check feeds at most max_tokens reference tokens, so this bound covers it too.
        return generation_limits.context_refusal(name, engine.context_tokens(self.model), len(self.prompt_ids),
                                                 self.settings.max_tokens)

    async def _hygiene(self, hidden_before: int) -> dict[str, Any]:
        """What could have spoiled the run: the page hidden (throttled) at any moment of it."""
        changes = await self.browser.visibility_changes() - hidden_before
        hidden = changes > 0 or await self.browser.page_hidden()
        return {"page_hidden": hidden, "visibility_changes": changes}

    def _skip_rest_of_row(self, start_units: float, name: str, message: str) -> None:
        self.units_done = start_units + self.units_per_engine
        self.progress(min(1.0, self.units_done / self.total_units), f"{name}: {message}")

    async def run_engine(self, engine: Engine, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """One engine's row: load, warmups, measured runs, checks. Appended to `rows` at once, marked
        `in_progress` until it ends, and republished (on_row) after every run. Returns the row; an engine's
        failure is the row's `error`, a refusal its `unsupported` (nothing raised for either)."""
        s = self.settings
        row: dict[str, Any] = {
            "key": engine.key, "engine": engine.engine, "backend": engine.backend,
            "is_reference": engine.variant.reference,
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
        """The row's steps: label, refusal (before loading), load, the chat runs, the checks and sweeps, and always
        the close. Stop ends it with the runs it has; an engine error is the row's `error`."""
        name = self._label_row(engine, row)
        start_units = self.units_done
        row["context_tokens"] = engine.context_tokens(self.model)
        if await self._refused(engine, row, name, start_units):
            return row
        await gpu_capture.begin(self.browser, name)
        self._row_started_ms = self.browser.now_ms()
        try:
            await self._load(engine, row, name)
            await self._chat_runs(engine, row, name)
            await self._after_runs(engine, row, name)
        except Stopped:
            row["summary"] = results.summarize_row(row["runs"])
        except (EngineError, self.browser.JsException) as err:
            row["error"] = str(err)
            if row["runs"]:
                row["summary"] = results.summarize_row(row["runs"])
            self.log(f"{name}: ERROR {err}")
            self._skip_rest_of_row(start_units, name, "failed")
        finally:
            await self._close_row(engine, row, name)
        return row

    def _label_row(self, engine: Engine, row: dict[str, Any]) -> str:
        """The row's name in logs ("engine backend"); the opt-in adapter-limits shim shows in its backend."""
        if self.settings.webgpu_limits == "adapter" and engine.backend == "webgpu":
            # The opt-in shim changes how the engine runs: the row says so wherever it appears.
            row["backend"] = "webgpu (adapter limits)"
            row["shims"] = ["webgpu-limits=adapter"]
        return f"{engine.engine} {row['backend']}"

    async def _refused(self, engine: Engine, row: dict[str, Any], name: str, start_units: float) -> bool:
        """Decide before loading whether the engine can run here; a refusal is the row's `unsupported`."""
        refusal = self.refusal(engine)
        if not refusal:  # the model would not fit what the engine can address here: refused before loading
            refusal = memory_refusal(engine.spec, self.model.size, self.model.metadata, self.features,
                                     row.get("context_tokens"))
        if not refusal and engine.variant.backend == "webgpu":  # nor a tensor what the adapter binds at once
            problem = model_budget.storage_binding_problem(int(self.model.header.get("largest_tensor_bytes") or 0),
                                                           self.adapter)
            refusal = f"{engine.engine} {problem}." if problem else None
        if not refusal:
            refusal = await engine.unsupported_reason_async(self.model)  # what only an await can tell (a WebGPU adapter)
        if not refusal and missing_features(engine.variant, self.features):
            # The engine said nothing itself, and the runtime lacked something the spec declares at page load:
            # ask again before refusing (a GPU adapter can answer later than the first probe).
            fresh = await self.browser.runtime_features()
            if fresh is not None and fresh != self.features:
                self.log(f"{name}: the runtime's features asked again: {sorted(k for k, v in fresh.items() if v)}")
                self.features = fresh
            refusal = missing_features(engine.variant, self.features)
        if not refusal:
            return False
        row["unsupported"] = refusal
        self.log(f"{name}: unsupported: {refusal}")
        self._skip_rest_of_row(start_units, name, "unsupported")
        return True

    def _baseline(self, before: dict[str, Any]) -> dict[str, Any]:
        """What a row's own memory is counted from: the least the page held just before any row's engine loaded
        so far. Not simply the figure before this row's load: an unloaded engine's memory (a worker, its WASM
        memory) is given back some time after unload, so that figure can still hold the previous row (seen: the
        flare row after llama.cpp's grew the page by "1 MB")."""
        known = [m for m in (before, self._memory_floor) if "bytes" in m]
        self._memory_floor = min(known, key=lambda m: m["bytes"]) if known else before
        return self._memory_floor

    async def _load(self, engine: Engine, row: dict[str, Any], name: str) -> None:
        """Load the model (phases in ms into row["load"]), record info, weights and the memory after load."""
        self._tick(f"{name}: loading the model")
        self._memory_before_load = self._baseline(await self.browser.measure_memory())
        row["load"] = await engine.load(self.model)
        row["info"] = engine.info()
        row["weights"] = self.weights_of(engine)
        self._memory_after_load = await self.browser.measure_memory()
        phases = ", ".join(f"{k.removesuffix('_ms').replace('_', ' ')} {v:.0f} ms" for k, v in row["load"].items())
        self.log(f"{name}: loaded in {sum(row['load'].values()) / 1000:.2f} s ({phases})")
        self._unit_done(f"{name}: loaded")

    async def _measure(self, engine: Engine, row: dict[str, Any], kind: str, i: int, ids: list[int], n_gen: int,
                       on_token: Callable[[int], None], stop_ids: frozenset[int], prompt_text: str | None) -> dict[str, Any]:
        """One run of `row` into row[kind] ("warmups" or "runs") with its hygiene; the row's summary is
        refreshed and republished. Raises RunFailed after keeping the partial run in row[kind]."""
        cold = kind == "runs" and i == 0 and self.settings.warmup == 0
        hidden_before = await self.browser.visibility_changes()
        try:
            run = await one_run(engine, i, ids, n_gen, self.controller, on_token, stop_ids, cold,
                                prompt_text=prompt_text, drive=engine.spec.drive, browser=self.browser)
        except RunFailed as failed:
            row[kind].append(failed.run)  # the tokens it had are kept, marked with why it stopped
            raise
        run["hygiene"] = await self._hygiene(hidden_before)
        row[kind].append(run)
        row["summary"] = results.summarize_row(row["runs"])
        self.on_row()
        return run

    async def _chat_runs(self, engine: Engine, row: dict[str, Any], name: str) -> None:
        """The chat test's warmups, then its measured runs. Raises EngineError (a run failed) or Stopped."""
        s = self.settings
        for kind, count in (("warmups", s.warmup), ("runs", s.runs)):
            for i in range(count):
                label = f"{name}: {'warmup' if kind == 'warmups' else 'run'} {i + 1}/{count}"

                def on_token(n: int, label: str = label) -> None:
                    # Inside the timed loop: repaint the progress bar at most every 100 ms, not per token.
                    now = self.browser.now_ms()
                    if now - self._last_paint_ms >= 100:
                        self._last_paint_ms = now
                        self._tick(f"{label}, token {n}/{s.max_tokens}", n / s.max_tokens)

                try:
                    run = await self._measure(engine, row, kind, i, self.prompt_ids, s.max_tokens, on_token,
                                              self.stop_ids, self.prompt_text)
                except RunFailed as failed:
                    raise EngineError(f"{label} failed after {len(failed.run['token_ids'])} tokens "
                                      f"({failed.run['stop_reason']}): {failed}") from None
                d = run["derived"]
                self.log(f"{label}: {d['tokens']} tokens ({run['stop_reason']}), TTFT {d['ttft_ms'] or 0:.0f} ms, "
                         f"decode {d['decode_tok_s'] or 0:.2f} tok/s" + (" [cold: no warmup]" if run["cold"] else ""))
                self._unit_done(label)
                if self.controller.stop_requested:
                    raise Stopped

    async def _after_runs(self, engine: Engine, row: dict[str, Any], name: str) -> None:
        """Summary, memory at the end, the answer's text, the correctness checks, then the sweep tests."""
        row["summary"] = results.summarize_row(row["runs"])
        row["memory"] = memory_fields(self._memory_after_load, await self.browser.measure_memory(), self.model.size,
                                      self._memory_before_load)
        row["memory"]["window_ms"] = [self._row_started_ms, self.browser.now_ms()]  # for the host's process memory
        first = row["runs"][0]["token_ids"] if row["runs"] else []
        # What each engine answered, as llama.cpp's text for its ids: one detokenizer for every row.
        row["output_text"] = await (self.tokenizer.decode(first) if self.tokenizer else engine.decode_text(first))
        row["correctness"] = await self.check(engine, row, first)
        if self.sweep_tests:
            await self._sweep(engine, row, name)

    async def _close_row(self, engine: Engine, row: dict[str, Any], name: str) -> None:
        """Always: unload, close the capture bucket (its fields go to the row and its sweep rows), say what it caught."""
        with contextlib.suppress(Exception):  # unloading a failed engine must not hide its error
            await engine.unload()
        row.update(await gpu_capture.end(self.browser))
        gpu_capture.add_gpu_peak(row.get("memory"), row["gpu_devices"])
        for sub in self._sweep_rows:
            # One engine session: what its device reported belongs to every test it ran.
            sub.update(gpu_errors=row["gpu_errors"], console_errors=row["console_errors"], gpu_devices=row["gpu_devices"])
        self._sweep_rows = []
        if row["gpu_errors"]:
            self.log(f"{name}: {gpu_errors.headline(row).splitlines()[0]}")
        if row["console_errors"]:
            self.log(f"{name}: {row['console_errors']['count']} console error(s) during the row: "
                     f"{row['console_errors']['first_messages'][0][:300]}")

    async def _sweep(self, engine: Engine, row: dict[str, Any], name: str) -> None:
        """The sweep tests (ppN, tgN @ dD) on the engine already loaded: one row each, after the chat row.

        Prompts are exactly N (or D) ids of the fixed passage (app.core.sweeps); end-of-generation ids are
        ignored so every engine runs the same length. Correctness is the chat row's (same engine and model).
        A failing test ends the sweep (its row's `error`); Stop raises Stopped."""
        self._sweep_rows = []
        start_units = self.units_done
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
                    self.log(f"{label}: unsupported: {refusal}")
                    continue
                await self._sweep_runs(engine, sub, test, label)
            except EngineError as err:
                sub["error"] = str(err)
                self.log(f"{label}: ERROR {err}")
                break
            finally:
                sub.pop("in_progress", None)
        # Tests refused or left after a failure count as done, so the progress bar ends full.
        done = start_units + len(self.sweep_tests) * (self.settings.warmup + self.settings.runs)
        if self.units_done != done:
            self.units_done = done
            self.progress(min(1.0, done / self.total_units), f"{name}: sweep done")

    async def _sweep_runs(self, engine: Engine, sub: dict[str, Any], test: sweeps.SweepTest, label: str) -> None:
        """One sweep test's warmups and runs into its row `sub`, then its memory. Raises EngineError or Stopped."""
        s = self.settings
        started_ms = self.browser.now_ms()
        bos = self.tokenizer.bos_id if self.tokenizer is not None and self.tokenizer.add_bos else None
        ids = sweeps.prompt_of(test.n_prompt, self.passage_ids, bos)
        for kind, count in (("warmups", s.warmup), ("runs", s.runs)):
            for i in range(count):
                try:
                    run = await self._measure(engine, sub, kind, i, ids, test.n_gen, lambda n: None, frozenset(), None)
                except RunFailed as failed:
                    raise EngineError(f"{label} failed: {failed}") from None
                d = run["derived"]
                figure = (f"prefill {d['prefill_tok_s'] or 0:.1f} tok/s" if test.kind == "pp"
                          else f"decode {d['decode_tok_s'] or 0:.2f} tok/s")
                self._unit_done(f"{label} {kind[:-1]} {i + 1}/{count}: {figure}")
                if self.controller.stop_requested:
                    raise Stopped
        sub["memory"] = memory_fields(self._memory_after_load, await self.browser.measure_memory(), self.model.size,
                                      self._memory_before_load)
        sub["memory"]["window_ms"] = [started_ms, self.browser.now_ms()]
        self.log(f"{label}: " + (f"prefill {sub['summary']['prefill_tok_s']['mean']:.1f} tok/s"
                                 if test.kind == "pp" and sub["summary"]["prefill_tok_s"]
                                 else f"decode {(sub['summary']['decode_tok_s'] or {}).get('mean', 0):.2f} tok/s"))

    def weights_of(self, engine: Engine) -> dict[str, Any]:
        """Which weights a row ran, so a reader sees the rows share them: {format, size (bytes), sha256, ...}."""
        gguf = {"format": "GGUF " + "/".join(sorted(self.model.tensor_types)), "size": self.model.size,
                "sha256": self.model.sha256}
        converted = engine.info().get("weights")  # engines that run converted weights describe them
        if converted:
            return {"format": converted["format"], "size": converted.get("size"), "sha256": converted.get("sha256"),
                    "converted_from_sha256": converted.get("converted_from_gguf_sha256")}
        return gguf

    async def check(self, engine: Engine, row: dict[str, Any], tokens: list[int]) -> dict[str, Any]:
        """The row's correctness against llama.cpp (the reference row, run first): greedy match of `tokens` (the first
        measured run's ids), teacher-forced top-1 agreement over settings.forced_tokens reference tokens (by ids or by
        text prefix, as the engine's spec says), and perplexity of the passage. The reference row sets the
        reference. Returns the `correctness` dict. Raises EngineError / JsException from the engine's calls."""
        s = self.settings
        drive = engine.spec.drive
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
            if k and drive.correctness == "forced-text":
                await self._forced_by_text(engine, c, ref[:k], name)
            elif k and drive.correctness == "forced-ids":
                await self._forced_by_ids(engine, c, ref[:k], name)
            if s.forced_tokens:
                self._unit_done(f"{name}: teacher-forced check done")
        if drive.takes_text:
            return await self._check_text_engine(engine, row, c)
        if s.perplexity and len(self.passage_ids) >= 2 and drive.correctness == "forced-ids":
            await self._perplexity(engine, row, c, name)
        elif s.perplexity and len(self.passage_ids) >= 2:
            self._unit_done(f"{name}: no perplexity (its spec declares no teacher forcing by ids)")
        return c

    async def _forced_by_ids(self, engine: Engine, c: dict[str, Any], ref: list[int], name: str) -> None:
        """Teacher forcing by ids: the engine's own top-1 after prompt_ids + ref[:i], for every i, against ref[i]."""
        k = len(ref)
        self._tick(f"{name}: teacher-forced check over {k} reference tokens")
        started = time.monotonic()
        forced = await engine.teacher_forced(self.prompt_ids, ref)
        c["forced_positions"] = k
        c["forced_top1"] = [t for t, _ in forced]
        c["forced_top1_agreement"] = correctness.top1_agreement([t for t, _ in forced], ref)
        self.log(f"{name}: forced top-1 agreement {c['forced_top1_agreement']:.0%} over {k} tokens "
                 f"({time.monotonic() - started:.1f} s)")

    async def _perplexity(self, engine: Engine, row: dict[str, Any], c: dict[str, Any], name: str) -> None:
        """Perplexity of the fixed passage from the engine's log-probabilities, next to the reference's."""
        self._tick(f"{name}: perplexity of the fixed passage")
        scored = await engine.teacher_forced(self.passage_ids[:1], self.passage_ids[1:])
        c["perplexity_tokens"] = len(scored)
        c["perplexity"] = correctness.perplexity([lp for _, lp in scored])
        if c["perplexity"] is not None and not math.isfinite(c["perplexity"]):
            # A result holds finite numbers only (JSON has no Infinity): say how large instead (random weights do this).
            nll = -math.fsum(lp for _, lp in scored) / len(scored)
            c["perplexity"] = None
            c["perplexity_mean_nll"] = nll if math.isfinite(nll) else None
            c["perplexity_note"] = (f"too large to hold as a number: the passage's mean negative log-likelihood is "
                                    f"{nll:,.0f} nats (perplexity e^{nll:,.0f})" if math.isfinite(nll) else
                                    "infinite: the engine gave a passage token probability 0 (log-probability -inf)")
        if row["is_reference"]:
            self.reference_perplexity = c["perplexity"]
        c["reference_perplexity"] = self.reference_perplexity
        ref_text = "-" if self.reference_perplexity is None else f"{self.reference_perplexity:.2f}"
        own_text = f"{c['perplexity']:.2f}" if c["perplexity"] is not None else c["perplexity_note"]
        self.log(f"{name}: perplexity {own_text} (llama.cpp: {ref_text})")
        self._unit_done(f"{name}: perplexity done")

    # --- engines that take text (spec.drive.takes_text: wllama 3.x, no token-id API) ------------------------
    async def _forced_by_text(self, engine: Engine, c: dict[str, Any], ref: list[int], name: str) -> None:
        """Teacher forcing by text prefix: for position i, the prompt text plus llama.cpp 2.4's text of ref[:i]
        is sent as one max_tokens 1 request; its greedy id is compared with ref[i]. A position counts only where
        that text tokenizes back (llama.cpp 2.4) to exactly prompt_ids + ref[:i] and the engine counted as many
        prompt tokens, so both engines saw the same ids; the others are listed in `forced_skipped` with why."""
        notes = _text_engine_notes(engine)
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
                why = "its result held incomplete UTF-8 (a known limit of this engine): " if step.get("utf8_loss") else ""
                skipped[str(i)] = f"failed step: {why}{str(step['error'])[:200]}"
                continue
            if step.get("prompt_tokens") != len(prefix):
                top1.append(None)
                skipped[str(i)] = f"{engine.engine} counted {step.get('prompt_tokens')} prompt tokens, not {len(prefix)}"
                continue
            top1.append(int(step["id"]))
        counted = [(t, r) for t, r in zip(top1, ref) if t is not None]
        c.update(forced_method=notes.FORCED_METHOD, forced_method_text=notes.FORCED_METHOD_TEXT,
                 forced_positions=len(counted), forced_top1=top1, forced_skipped=skipped,
                 forced_top1_agreement=correctness.top1_agreement([t for t, _ in counted], [r for _, r in counted]))
        figure = "-" if c["forced_top1_agreement"] is None else f"{c['forced_top1_agreement']:.0%}"
        self.log(f"{name}: forced top-1 agreement (text prefix) {figure} over {len(counted)} of {len(ref)} positions "
                 f"({time.monotonic() - started:.1f} s)")

    async def _check_text_engine(self, engine: Engine, row: dict[str, Any], c: dict[str, Any]) -> dict[str, Any]:
        """Once per run: the engine's prompt token count against ours, no cached prompt tokens, and its ids giving its
        own text in llama.cpp 2.4. No perplexity (3.x returns no prompt log-probabilities). Findings go to row["notes"]."""
        notes_of = _text_engine_notes(engine)
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
            notes += notes_of.run_notes(label, g, len(self.prompt_ids), text)
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
        c["perplexity_note"] = notes_of.PERPLEXITY_REASON
        c["reference_perplexity"] = self.reference_perplexity
        if s.perplexity and len(self.passage_ids) >= 2:
            notes.append(f"perplexity {notes_of.PERPLEXITY_REASON}")
            self._unit_done(f"{name}: no perplexity ({notes_of.PERPLEXITY_REASON})")
        row["notes"] = notes
        for note in notes:
            self.log(f"{name}: {note}")
        return c


def _text_engine_notes(engine: Engine) -> Any:
    """The wording of the text-prefix check and the per-run notes of a text engine (pure): the module its spec
    names in `drive.text_notes` (FORCED_METHOD, FORCED_METHOD_TEXT, PERPLEXITY_REASON, run_notes), imported when
    a text engine is checked. Raises ImportError for a spec naming a missing module."""
    import importlib

    return importlib.import_module(engine.spec.drive.text_notes)
