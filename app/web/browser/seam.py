"""What the benchmark needs from the browser, as one abstract interface (the shape of micropip's `_compat`).

Two implementations: app/web/browser/in_pyodide.py (`js`, `pyodide.ffi`: the only module of the benchmark path
that imports them) and app/web/browser/on_host.py (plain Python: host tests drive a whole benchmark through it).
app/web/browser/__init__.py picks one by `"_pyodide_core" in sys.modules`; the benchmark receives it as an
argument (`Benchmark(..., browser=...)`), defaulting to that choice.

Times are milliseconds of one monotonic clock (`performance.now()` in the browser). Nothing here is called per
token except the callable `clock()` returns and, every `Yielder.every_ms`, `Yielder.yield_to_browser`: the decode
loop looks both up once per run, so the seam adds no indirection inside the timed loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple


class Yielder(NamedTuple):
    """How the decode loop gives the browser its turn (clicks, painting): `await yield_to_browser()` whenever
    `every_ms` (ms) have passed since the last yield (web/static/yield.js: a MessageChannel macrotask)."""

    yield_to_browser: Callable[[], Awaitable[Any]]
    every_ms: float


class Browser(ABC):
    """The browser as the benchmark sees it: clock, site files and modules, yields, run hygiene, capture, memory."""

    # The exception a failing JavaScript call raises into Python (pyodide.ffi.JsException in Pyodide).
    JsException: type[Exception] = Exception

    # --- the clock ------------------------------------------------------------------------------------
    @abstractmethod
    def clock(self) -> Callable[[], Any]:
        """The clock as a callable returning ms (`performance.now` itself in the browser: one call into JS per
        read, no attribute lookups). Look it up once, outside any per-token loop."""

    def now_ms(self) -> float:
        """The clock's time now, in ms (a float)."""
        return float(self.clock()())

    # --- the site: URLs, JavaScript modules, files ----------------------------------------------------
    @abstractmethod
    def page_url(self, relative: str) -> str:
        """An absolute URL for a path relative to the site root (where pyodide.mjs lives)."""

    @abstractmethod
    async def import_module(self, relative: str) -> Any:
        """The JavaScript module at `relative` (dynamic `import()`), freshly resolved. Raises JsException."""

    @abstractmethod
    async def fetch_bytes(self, relative: str) -> Any:
        """The file's bytes (in the browser a JS Uint8Array: they stay in JS memory). Raises OSError (HTTP status)."""

    @abstractmethod
    async def fetch_text(self, relative: str) -> str:
        """The file's text. Raises OSError when it cannot be fetched."""

    @abstractmethod
    def to_js(self, value: Any) -> Any:
        """`value` (list, dict, bytes...) converted for a JavaScript call; dicts become Maps (pyodide.ffi.to_js)."""

    @abstractmethod
    def to_js_object(self, value: Any) -> Any:
        """`value` converted for a JavaScript call, dicts as plain Objects."""

    # --- the browser's turn, and what could spoil a run -----------------------------------------------
    @abstractmethod
    async def yielder(self) -> Yielder:
        """The decode loop's yield and its period (the same module as the JS loop's, so both yield alike)."""

    async def blocking_pause(self) -> Callable[[], None] | None:
        """A call that gives the browser its turn from inside synchronous Python (a long template render: the page
        keeps drawing and a Stop click is seen), or None where synchronous code cannot pause (the default)."""
        return None

    @abstractmethod
    async def visibility_changes(self) -> int:
        """How many times the page was hidden or shown since the benchmark started (web/static/run_hygiene.js)."""

    @abstractmethod
    async def page_hidden(self) -> bool:
        """Whether the page is hidden now (a background tab is throttled). False where there is no page."""

    # --- capture of WebGPU / console errors per row, and memory ---------------------------------------
    @abstractmethod
    async def set_adapter_limits(self, on: bool) -> None:
        """The opt-in shim: WebGPU devices created from now on ask for the adapter's own limits."""

    @abstractmethod
    async def capture_begin(self, label: str) -> None:
        """Open a bucket for one row: WebGPU errors, lost devices, WASM traps and console errors land in it."""

    @abstractmethod
    async def capture_end(self) -> dict[str, Any] | None:
        """Close the row's bucket after letting pending errors arrive; its raw record
        ({"events": [...], "dropped": int, "devices": [...]}, see app.core.gpu_errors.summarize) or None."""

    async def runtime_features(self) -> dict[str, bool] | None:
        """The features engines declare (app.engines.spec.BROWSER_FEATURES) this runtime offers now, asked afresh:
        a GPU adapter can answer later than the page's first probe (seen on an NVIDIA H200, Chromium's first
        start). None where unknown."""
        return None

    @abstractmethod
    async def measure_memory(self) -> dict[str, Any]:
        """The page's memory as the browser counts it: {"bytes": int, "ms": float} or {"error": why}."""
