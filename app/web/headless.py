"""The benchmark without a page: what app.web.page's BenchPage.run does, minus the DOM.

Run by web/static/deno_main.mjs (`bench --runtime deno`): Pyodide under Deno, the same engines, clock,
statistics and result schema as the page; `environment.runtime` says where it ran. Log and progress lines
go to stderr (the host echoes them); the result is returned as JSON text and, after every finished row,
handed to `publish` (the host keeps the rows measured before a timeout).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException  # type: ignore[import-not-found]

from app.core.chat_template import TemplateError
from app.core.gguf_header import GGUFError
from app.core.result_schema import ResultSchemaError, validate as validate_result
from app.core.settings import BenchSettings, SettingsError, settings_from_json
from app.web import environment, fetch as fetching, jsbridge
from app.engines.protocol import EngineError


def log(line: str) -> None:
    print(f"[log] {line}", file=sys.stderr, flush=True)


class Headless:
    def __init__(self, site: dict[str, Any], manifest: dict[str, Any], env: dict[str, Any], publish: Any) -> None:
        self.site = site
        self.manifest = manifest
        self.files = {f["path"]: f for f in manifest["files"]}
        self.env = env
        self._publish = publish
        self.result: dict[str, Any] | None = None
        self._last_progress = ""

    def progress(self, fraction: float, message: str) -> None:
        if message and message != self._last_progress:
            self._last_progress = message
            print(f"[progress {fraction:.3f}] {message}", file=sys.stderr, flush=True)

    def _keep(self, result: dict[str, Any]) -> None:
        self.result = result

    def publish(self) -> None:
        if self.result is not None and self._publish is not None:
            self._publish(json.dumps(self.result))

    async def run(self, settings: BenchSettings, model_url: str | None) -> tuple[str, str]:
        """('done' | 'error', message): the result so far is in self.result either way."""
        from app.web import modelsource
        from app.web.bench import Controller, check_some_engine_ran, manifest_assets, run_benchmark

        try:
            if model_url:
                model, fetch = await modelsource.served_file_model(model_url)
            else:
                model, fetch = await modelsource.site_model(modelsource.find_site_model(self.site, settings.model), self.files)
            log(f"model {model.name}: {model.size / 1e6:.1f} MB from {fetch['source']} in {fetch['fetch_ms']:.0f} ms, "
                f"tensors {model.tensor_types}")
            result = await run_benchmark(
                settings, model, self.site, self.env, manifest_assets(self.manifest), self.progress, log, Controller(),
                extra={"created": str(js.Date.new().toISOString()), "model_fetch": fetch},
                on_result=self._keep, on_row=self.publish)
            check_some_engine_ran(result)
            validate_result(result)  # the v3 JSON Schema the page and the host check too
            return "done", ""
        except (GGUFError, SettingsError, EngineError, TemplateError, ResultSchemaError, fetching.FetchError) as err:
            return "error", str(err)
        except JsException as err:
            return "error", f"the runtime raised: {err}"
        except Exception as err:  # noqa: BLE001 - any failure ends in words, never a hang
            return "error", f"unexpected {type(err).__name__}: {err}"
        finally:
            self.publish()


async def main(manifest_text: str, options_text: str, timings_text: str, publish: Any = None) -> str:
    """Run the benchmark once; returns {"state", "error", "result"} as JSON text."""
    manifest = json.loads(manifest_text)
    options = json.loads(options_text)
    timings = json.loads(timings_text)
    site = manifest["site"]
    runtime = str(options.get("runtime") or "deno")
    env = await environment.collect(site, runtime=runtime)
    env["pyodide_load_ms"] = timings["pyodide_ready_ms"] - timings["boot_start_ms"]
    env["page_ready_ms"] = jsbridge.now_ms()
    log(f"{runtime}: Python {env['python']}, Pyodide {env['pyodide']}, WebGPU adapter: "
        f"{environment.adapter_text(env['webgpu'], env.get('webgpu_absent'))}")
    try:
        if options.get("settings_url"):
            # The host's one-time path (app.host.runtimes: Job.settings_route): settings of any length.
            settings = settings_from_json(await fetching.fetch_text(str(options["settings_url"])))
        else:
            settings = BenchSettings.from_dict(options.get("settings") or {})
    except (SettingsError, ValueError, TypeError, OSError) as err:
        return json.dumps({"state": "error", "error": f"settings: {err}", "result": None})
    page = Headless(site, manifest, env, publish)
    state, error = await page.run(settings, options.get("model") or None)
    if error:
        log(f"error: {error}")
    return json.dumps({"state": state, "error": error, "result": page.result})
