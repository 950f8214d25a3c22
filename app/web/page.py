"""The benchmark page's Python side: boot.js hands over here once `app` is installed.

The page only renders; settings, engines, clock, statistics and the result all live in Python.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, create_proxy, to_js  # type: ignore[import-not-found]

from app.core import model_budget
from app.core.chat_template import RenderStopped, TemplateError
from app.core.gguf_header import GGUFError
from app.core.result_schema import ResultSchemaError, validate as validate_result
from app.core.settings import BenchSettings, SettingsError, settings_from_json, shown
from app.web import dom, environment, fetch as fetching, jsbridge
from app import engines as engine_registry
from app.engines.protocol import EngineError

# What a run, the table and the charts need, imported when the page is ready rather than before: the
# first paint does not need them, and they (statistics, the engines...) were ~40% of the page's Python
# import time (README, "Performance of the harness"). _import_for_runs() binds them here.
report: Any = None
chart_data: Any = None
modelsource: Any = None
Controller: Any = None
run_benchmark: Any = None
manifest_assets: Any = None
check_some_engine_ran: Any = None


def _import_for_runs() -> None:
    global report, chart_data, modelsource, Controller, run_benchmark, manifest_assets, check_some_engine_ran
    if run_benchmark is not None:
        return
    from app.core import report
    from app.core.chartdata import chart_data
    from app.web import modelsource
    from app.web.bench import Controller, check_some_engine_ran, manifest_assets, run_benchmark


INT_FIELDS = ("max_tokens", "runs", "warmup", "forced_tokens", "llamacpp_threads")
BOOL_FIELDS = ("perplexity", "async_prefill", "ignore_eos")
LIST_FIELDS = ("n_prompt", "n_gen", "depth")  # comma-separated whole numbers


def _adapter_text(adapter: dict[str, Any] | None) -> str:
    if adapter is None:
        return "none (navigator.gpu missing or requestAdapter() returned null)"
    if "error" in adapter:
        return f"requestAdapter() failed: {adapter['error']}"
    kind = "fallback (software)" if adapter["is_fallback_adapter"] else "hardware"
    name = " ".join(x for x in (adapter["vendor"], adapter["architecture"], adapter["description"]) if x) or "unnamed"
    return f"{name} - {kind}, maxStorageBufferBindingSize {adapter['max_storage_buffer_binding_size'] >> 20} MiB"


def model_facts_text(site: dict[str, Any], model_id: str, features: dict[str, bool] | None = None) -> str:
    """One line of facts about an embedded model for the page's model box ("" for a picked file), with the engines
    its size fits and those it is too big for here (app.core.model_budget)."""
    info = next((m for m in site.get("models") or [] if m.get("id") == model_id), None)
    if info is None:
        return "" if model_id != "file" else "Any GGUF: its header is checked before any engine sees it."
    f = info.get("facts") or {}
    fit = model_budget.fit_words(int(info.get("size") or 0), {}, features,
                                 [(spec.title, spec.can_run.memory_problems) for spec in engine_registry.SPECS
                                  if spec.can_run.memory_problems is not None])
    mix = ", ".join(f"{k} {v}" for k, v in (f.get("quantization_mix") or f.get("tensor_types") or {}).items())
    parts = [f"architecture {f.get('architecture', '?')}", f"{info.get('size', 0) / 1e6:.0f} MB",
             f"context {f.get('context_length', '?')}", f"tensors {mix}" if mix else "",
             "chat template in the file" if f.get("has_chat_template") else "no chat template (raw prompt)", fit]
    return " · ".join(p for p in parts if p)


class BenchPage:
    def __init__(self, site: dict[str, Any], manifest: dict[str, Any], env: dict[str, Any]) -> None:
        self.site = site
        self.manifest = manifest
        self.files = {f["path"]: f for f in manifest["files"]}
        self.env = env
        self.controller: Any = None  # a run's app.web.bench.Controller (Stop is enabled only while one runs)
        self.abort: Any = None  # a run's AbortController: Stop ends a model fetch at once
        self.result: dict[str, Any] | None = None
        self.running = False
        self._proxies: list = []
        self.charts: Any = None

    # --- wiring -------------------------------------------------------------------------
    def on(self, element_id: str, event: str, handler) -> None:
        proxy = create_proxy(handler)
        self._proxies.append(proxy)
        dom.element(element_id).addEventListener(event, proxy)

    def wire(self) -> None:
        self.on("run", "click", lambda e: asyncio.ensure_future(self.run_from_form()))
        self.on("stop", "click", lambda e: self.stop())
        self.on("clear", "click", lambda e: self.clear())
        self.on("export", "click", lambda e: self.export())
        self.on("clear-cache", "click", lambda e: asyncio.ensure_future(self.forget_cache()))
        self.on("model-choice", "change", lambda e: self._toggle_file())

    def _toggle_file(self) -> None:
        choice = str(dom.element("model-choice").value)
        dom.element("model-file-label").hidden = choice != "file"
        dom.element("model-facts").textContent = model_facts_text(self.site, choice, self.env.get("features"))

    def set_buttons(self) -> None:
        dom.element("run").disabled = self.running
        dom.element("stop").disabled = not self.running
        dom.element("clear").disabled = self.running or self.result is None
        dom.element("export").disabled = self.result is None
        dom.element("clear-cache").disabled = self.running

    # --- form <-> settings --------------------------------------------------------------
    def fill_form(self, s: BenchSettings) -> None:
        dom.element("prompt").value = s.prompt
        dom.element("system").value = s.system
        for name in INT_FIELDS:
            dom.element(name).value = str(getattr(s, name))
        for name in BOOL_FIELDS:
            dom.element(name).checked = bool(getattr(s, name))
        for name in LIST_FIELDS:
            dom.element(name).value = ",".join(str(v) for v in getattr(s, name))
        dom.element("webgpu_limits").checked = s.webgpu_limits == "adapter"
        dom.element("model-choice").value = s.model
        self._toggle_file()
        for box in js.document.querySelectorAll("input[name=engine]"):
            box.checked = box.value in s.engines

    def read_form(self) -> BenchSettings:
        data: dict[str, Any] = {"prompt": str(dom.element("prompt").value), "system": str(dom.element("system").value)}
        for name in INT_FIELDS:
            raw = str(dom.element(name).value).strip()
            try:
                data[name] = int(raw)
            except ValueError:
                raise SettingsError(f"{name.replace('_', ' ')} must be a whole number, not {raw!r}") from None
        for name in BOOL_FIELDS:
            data[name] = bool(dom.element(name).checked)
        data["engines"] = [str(b.value) for b in js.document.querySelectorAll("input[name=engine]") if b.checked]
        for name in LIST_FIELDS:
            raw = str(dom.element(name).value).replace(" ", "")
            try:
                # Blank: no sweep. Anything else must be numbers only: ',' or '32,,64' is not taken as nothing.
                data[name] = [int(x) for x in raw.split(",")] if raw else []
            except ValueError:
                raise SettingsError(f"{name.replace('_', ' ')} must be comma-separated whole numbers, like 32,128, "
                                    f"not {shown(raw)}") from None
        data["webgpu_limits"] = "adapter" if dom.element("webgpu_limits").checked else "default"
        data["model"] = str(dom.element("model-choice").value)
        return BenchSettings.from_dict(data)

    def form_error(self, message: str | None) -> None:
        node = dom.element("form-error")
        node.hidden = message is None
        node.textContent = message or ""

    def set_state(self, state: str, status: str, error: str | None = None) -> None:
        """Every state change sets status, form error and page state together, so none of them is stale."""
        self.form_error(error)
        if state != "error":
            boot_error = dom.element("error")
            boot_error.hidden = True
            boot_error.textContent = ""
        dom.set_status(status)
        dom.set_state(state)
        self.set_buttons()

    def progress(self, fraction: float, message: str) -> None:
        dom.element("progress").value = fraction
        dom.element("progress-text").textContent = message
        js.document.documentElement.dataset.progress = f"{fraction:.3f}"

    # --- actions ------------------------------------------------------------------------
    async def run_from_form(self, model_url: str | None = None) -> None:
        if self.running:
            return
        try:
            settings = self.read_form()
        except SettingsError as err:
            self.progress(0, "")
            self.set_state("error", "Error", str(err))
            return
        await self.run(settings, model_url)

    async def load_model(self, settings: BenchSettings, model_url: str | None):
        signal = self.abort.signal if self.abort is not None else None
        if model_url:
            return await modelsource.served_file_model(model_url, signal)
        if settings.model == "file":
            files = dom.element("model-file").files
            if not files or files.length == 0:
                raise GGUFError("no GGUF file chosen: pick one, or choose an embedded model")
            return await modelsource.picked_model(files.item(0))
        return await modelsource.site_model(modelsource.find_site_model(self.site, settings.model), self.files, signal)

    async def run(self, settings: BenchSettings, model_url: str | None = None) -> None:
        _import_for_runs()
        self.running = True
        self.controller = Controller()
        self.abort = js.AbortController.new()
        self.progress(0, "loading the model bytes")
        self.set_state("running", "Running…")
        try:
            model, fetch = await self.load_model(settings, model_url)
            dom.log(f"model {model.name}: {model.size / 1e6:.1f} MB from {fetch['source']} in {fetch['fetch_ms']:.0f} ms, "
                    f"tensors {model.tensor_types}")
            result = await run_benchmark(
                settings, model, self.site, self.env, manifest_assets(self.manifest), self.progress, dom.log,
                self.controller, extra={"created": str(js.Date.new().toISOString()), "model_fetch": fetch},
                on_result=self._keep, on_row=self.render)
            self.render()
            check_some_engine_ran(result)
            validate_result(result)  # the v3 JSON Schema the host checks too (app/core/result_schema_v3.json)
            stopped = result["stopped_by_user"]
            self.progress(1, "stopped: finished runs kept" if stopped else "done")
            self.running = False
            self.set_state("done", "Stopped" if stopped else "Done")
        except (fetching.FetchStopped, RenderStopped) as err:
            # Stop before anything was measured: said as such, and the page is ready for the next run.
            self._fail(f"{err}: nothing was measured" if "nothing was measured" not in str(err) else str(err),
                       status="Stopped")
        except (GGUFError, SettingsError, EngineError, TemplateError, ResultSchemaError, fetching.FetchError) as err:
            self._fail(str(err))
        except JsException as err:
            self._fail(f"the browser raised: {err}")
        except Exception as err:  # noqa: BLE001 - any failure leaves the page in 'error' with words, never 'running'
            self._fail(f"unexpected {type(err).__name__}: {err}")
        finally:
            self.running = False
            self.set_buttons()
            self.publish()

    def _keep(self, result: dict[str, Any]) -> None:
        self.result = result

    def _fail(self, message: str, status: str = "Error") -> None:
        self.running = False
        dom.log(f"{'stopped' if status == 'Stopped' else 'error'}: {message}")
        self.progress(float(dom.element("progress").value or 0), f"{status.lower()}: {message[:200]}")
        self.set_state("error", status, message)

    def publish(self) -> None:
        """The result so far, for automation (the CLI reads it even when a later row hangs)."""
        js.window.benchResultJSON = json.dumps(self.result) if self.result is not None else None

    def stop(self) -> None:
        if self.controller is None:
            return
        self.controller.request_stop()
        if self.abort is not None:
            self.abort.abort()  # a model fetch in flight ends at once; a finished one is not affected
        dom.log("stop requested: the current run ends after its next token")

    def clear(self) -> None:
        self.result = None
        dom.element("results").innerHTML = '<p class="muted">No results yet.</p>'
        dom.element("outputs").innerHTML = ""
        dom.element("charts").hidden = True
        if self.charts is not None:
            self.charts.clearCharts()
        js.window.benchResultJSON = None
        self.progress(0, "")
        self.set_state("ready", "Ready")

    def export(self) -> None:
        if self.result is None:
            return
        blob = js.Blob.new(to_js([json.dumps(self.result, indent=1)]), jsbridge.to_js_object({"type": "application/json"}))
        link = js.document.createElement("a")
        link.href = js.URL.createObjectURL(blob)
        link.download = f"bench-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
        link.click()

    async def forget_cache(self) -> None:
        _import_for_runs()
        await modelsource.clear_opfs_cache()
        dom.log("cached model removed from OPFS: the next run fetches it again (cold)")

    # --- rendering ----------------------------------------------------------------------
    def render(self) -> None:
        import html

        r = self.result
        if r is None:
            return
        fetch = r.get("model_fetch", {})
        warm = fetch.get("warm_fetch_ms")
        fetch_line = (f"Model fetch: {fetch.get('fetch_ms', 0):.0f} ms from {fetch.get('source')}"
                      + (f"; from the OPFS cache afterwards: {warm:.0f} ms" if warm else ""))
        dom.element("results").innerHTML = report.to_html(r) + f'<p class="muted">{html.escape(fetch_line)}</p>'
        items = "".join(
            f"<li><b>{html.escape(row['engine'])} {html.escape(row['backend'])}</b>: <q>{html.escape(row['output_text'][:400])}</q></li>"
            for row in r["rows"] if row.get("output_text")
        )
        dom.element("outputs").innerHTML = f'<h3>What each engine answered (first measured run)</h3><ul class="outputs-list">{items}</ul>' if items else ""
        data = chart_data(r)
        dom.element("charts").hidden = data["empty"]  # no empty chart area before a figure exists
        if self.charts is not None and not data["empty"]:
            try:
                self.charts.drawCharts(jsbridge.to_js_object(data))
            except JsException as err:  # a chart that fails to draw must not end the run or hide the table
                dom.log(f"charts could not be drawn: {err}")
        self.publish()


SETTINGS_FRAGMENT = "#settings="


async def settings_from_location(params: Any) -> tuple[BenchSettings, str | None, str | None]:
    """The page's settings from its address: (settings, the JSON text they came from or None, an error in words).

    `?settings=JSON` (a short link), `#settings=JSON` (the same in the fragment, which the browser never sends to
    the server: no request-line limit) or `?settings_url=PATH` (a JSON file on this site: how `bench` hands its
    settings over, at a one-time path of its server, whatever their length). `?fetch_timeout=S` sets how long a
    fetch may receive nothing. On any error the defaults come back with the reason; the page stays usable."""
    error = None
    timeout = params.get("fetch_timeout") or None  # URLSearchParams.get gives JS null (jsnull) when absent
    if timeout is not None:
        error = fetching.set_stall_seconds(timeout)
    raw, where = params.get("settings") or None, "settings in the URL"
    fragment = str(js.location.hash)
    try:
        if raw is None and fragment.startswith(SETTINGS_FRAGMENT):
            raw, where = str(js.decodeURIComponent(fragment[len(SETTINGS_FRAGMENT):])), "settings in the URL's #settings="
        settings_url = params.get("settings_url") or None
        if raw is None and settings_url is not None:
            where = f"settings from settings_url {str(settings_url)[:200]}"
            target = js.URL.new(settings_url, js.location.href)
            if str(target.origin) != str(js.location.origin):
                raise SettingsError("settings_url must be a path on this site")
            raw = await fetching.fetch_text(str(target.href))
            return settings_from_json(raw), raw, error
        if raw is None:
            return BenchSettings(), None, error
        return settings_from_json(raw), raw, error
    except (SettingsError, ValueError, TypeError, OSError, JsException) as err:
        # The page stays usable: the defaults are filled in, the error says what was wrong with the address.
        return BenchSettings(), None, f"{where}: {err}"


async def boot(site_proxy: Any, timings_proxy: Any) -> None:
    site = site_proxy.to_py()
    timings = timings_proxy.to_py()
    early = getattr(js, "benchEarly", None)  # fetched by boot.js while Pyodide booted
    try:
        env = await environment.collect(site)
        manifest_text = await early.manifest if early is not None else await jsbridge.fetch_text("manifest.json")
        manifest = json.loads(str(manifest_text))
    except Exception as err:
        dom.show_error(f"Probing the environment failed: {err}")
        raise
    page = BenchPage(site, manifest, env)
    try:
        page.charts = await early.charts if early is not None else await jsbridge.import_module("static/charts.js")
    except JsException as err:
        dom.log(f"charts unavailable: {err}")
    js.window.benchPage = create_proxy(page)
    page.wire()
    params = js.URLSearchParams.new(js.location.search)
    settings, raw_settings, url_error = await settings_from_location(params)
    page.fill_form(settings)
    # Ready: everything above is done and the form works. The time is taken here, as the state turns 'ready'.
    ready_ms = jsbridge.now_ms()
    pyodide_ms = timings["pyodide_ready_ms"] - timings["boot_start_ms"]
    app_ms = timings["app_installed_ms"] - timings["pyodide_ready_ms"]
    import_ms = timings.get("page_imported_ms", timings["app_installed_ms"]) - timings["app_installed_ms"]
    env["page_ready_ms"] = ready_ms
    env["pyodide_load_ms"] = pyodide_ms
    rows = [
        ("Python", env["python"]),
        ("Pyodide", env["pyodide"]),
        *((engine_registry.SPECS_BY_NAME[name].title, version) for name, version in env["engine_versions"].items()),
        ("WebGPU adapter", _adapter_text(env["webgpu"])),
        ("crossOriginIsolated", "yes" if env["cross_origin_isolated"] else "no (timer coarsened to 100 us; no threads)"),
        ("CPU cores (hardwareConcurrency)", str(env["hardware_concurrency"])),
        *((f"Model budget: {what}", limit) for what, limit in
          model_budget.budget_lines(env["features"], env["webgpu"], env.get("device_memory_gb"))),
        ("User agent", env["user_agent"]),
        ("Time to ready", f"{ready_ms / 1000:.2f} s from navigation (Pyodide {pyodide_ms / 1000:.2f} s, app wheel "
                          f"{app_ms / 1000:.2f} s, its import {import_ms / 1000:.2f} s)"),
    ]
    dom.element("env-table").innerHTML = dom.table_rows(rows)
    state = js.document.documentElement.dataset
    state.readyMs = f"{ready_ms:.1f}"
    state.pyodideMs = f"{pyodide_ms:.1f}"
    page.set_state("ready", f"Python ready in {ready_ms / 1000:.2f} s", url_error)
    # The run's modules come next, in a task of their own: a click meanwhile waits for them, at most ~0.2 s.
    asyncio.get_running_loop().call_soon(_import_for_runs)
    if url_error is not None:
        dom.log(f"{url_error} (ignored)")
        return
    dom.log(f"Python ready in {ready_ms / 1000:.2f} s")
    if params.get("autorun") == "1":
        from app.engines import page_choices

        offered = {c["key"] for c in page_choices()}
        if raw_settings and not set(settings.engines) <= offered:
            # Engines hidden from the page's boxes (the null engine) run from the URL's settings as given.
            await page.run(settings, params.get("model") or None)
        else:
            await page.run_from_form(model_url=params.get("model") or None)
