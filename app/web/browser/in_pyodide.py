"""The browser seam in Pyodide: the one module of the benchmark path that imports `js` and `pyodide.ffi`.

The page, the notebook's worker and the Deno runtime all run this implementation; JavaScript lives in
web/static/*.js (yield.js, run_hygiene.js, gpu_capture.js), imported once each and kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.code import run_js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from app.web.browser.seam import Browser, Yielder

# `import()` is syntax, not a function, so Python cannot reach it as a JsProxy. This one arrow
# function is the only JavaScript written in Python; everything else lives in web/static/*.js.
_dynamic_import = run_js("(url) => import(url)")

YIELD_MODULE = "static/yield.js"
HYGIENE_MODULE = "static/run_hygiene.js"
CAPTURE_MODULE = "static/gpu_capture.js"


class PyodideBrowser(Browser):
    JsException = JsException

    def __init__(self) -> None:
        # performance.now itself: each read is one call into JS (`js.performance.now()` is three: two attribute
        # lookups, each making and dropping a proxy, and the call).
        self._now = js.performance.now
        self._modules: dict[str, Any] = {}
        self._yielder: Yielder | None = None
        self._recorder: Any = None

    def clock(self) -> Any:
        return self._now

    def now_ms(self) -> float:
        return float(self._now())

    def page_url(self, relative: str) -> str:
        base = js.benchSiteRoot if hasattr(js, "benchSiteRoot") else js.location.href
        return str(js.URL.new(relative, base).href)

    async def import_module(self, relative: str) -> Any:
        return await _dynamic_import(self.page_url(relative))

    async def _kept(self, relative: str) -> Any:
        """A module imported once and kept (its state, such as run_hygiene's count, lives as long as the page)."""
        if relative not in self._modules:
            self._modules[relative] = await self.import_module(relative)
        return self._modules[relative]

    async def _get(self, relative: str) -> Any:
        response = await js.fetch(self.page_url(relative))
        if not response.ok:
            raise OSError(f"GET {relative}: HTTP {response.status} {response.statusText}")
        return response

    async def fetch_bytes(self, relative: str) -> Any:
        return js.Uint8Array.new(await (await self._get(relative)).arrayBuffer())

    async def fetch_text(self, relative: str) -> str:
        return str(await (await self._get(relative)).text())

    def to_js(self, value: Any) -> Any:
        return to_js(value)

    def to_js_object(self, value: Any) -> Any:
        return to_js(value, dict_converter=js.Object.fromEntries)

    async def yielder(self) -> Yielder:
        if self._yielder is None:
            module = await self._kept(YIELD_MODULE)
            self._yielder = Yielder(module.yieldToBrowser, float(module.YIELD_EVERY_MS))
        return self._yielder

    async def blocking_pause(self) -> Callable[[], None] | None:
        # JSPI stack switching (pyodide.ffi.run_sync): synchronous Python waits for the yield's promise while the
        # browser runs its event loop. Only from an async call path in a runtime with JSPI: else None.
        from pyodide.ffi import can_run_sync, run_sync  # type: ignore[import-not-found]

        if not can_run_sync():
            return None
        yield_to_browser = (await self.yielder()).yield_to_browser
        return lambda: run_sync(yield_to_browser())

    async def visibility_changes(self) -> int:
        return int((await self._kept(HYGIENE_MODULE)).visibilityChanges())

    async def page_hidden(self) -> bool:
        return bool((await self._kept(HYGIENE_MODULE)).pageHidden())

    async def _capture(self) -> Any:
        """The JS recorder, installed (idempotent). The page and the notebook's worker install it before Python
        starts; where that did not happen, devices created before now are not seen, and the row says so."""
        if self._recorder is None:
            recorder = await self._kept(CAPTURE_MODULE)
            recorder.install()
            self._recorder = recorder
        return self._recorder

    async def set_adapter_limits(self, on: bool) -> None:
        (await self._capture()).setAdapterLimits(bool(on))

    async def capture_begin(self, label: str) -> None:
        (await self._capture()).begin(label)

    async def capture_end(self) -> dict[str, Any] | None:
        recorder = await self._capture()
        await recorder.settle()
        raw = recorder.end()
        return json.loads(str(raw)) if raw is not None else None

    async def runtime_features(self) -> dict[str, bool] | None:
        from app.web import environment  # noqa: PLC0415 - asked only when a row would be refused

        return environment.browser_features(await environment.webgpu_adapter())

    async def measure_memory(self) -> dict[str, Any]:
        return json.loads(str(await (await self._capture()).measureMemory()))
