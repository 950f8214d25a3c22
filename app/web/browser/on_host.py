"""The browser seam on the host: plain Python standing in for the page, so the benchmark runs in host tests.

Nothing here pretends to measure a browser: memory says it was not measured, no WebGPU device exists, the page
is never hidden unless a test says so. What a test can steer is public: the clock (a callable returning ms),
the site's files (a folder), JavaScript modules (objects by path), `visibility` / `hidden`, what happens while
the loop yields (`during_yield`: a click on Stop), and events pushed into the open capture bucket (`record`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.web.browser.seam import Browser, Yielder

NO_MEMORY = "not measured: the host has no performance.measureUserAgentSpecificMemory"


class HostJsException(Exception):
    """Stands for pyodide.ffi.JsException on the host (a fake engine raises it to act as a failing JS call)."""


def perf_ms() -> float:
    """time.perf_counter in ms: the host's monotonic clock."""
    return time.perf_counter() * 1000.0


class HostBrowser(Browser):
    JsException = HostJsException

    def __init__(self, clock: Callable[[], float] = perf_ms, site_root: Path | None = None,
                 modules: dict[str, Any] | None = None, yield_every_ms: float = 50.0,
                 memory_bytes: int | None = None) -> None:
        """clock: ms, monotonic. site_root: the folder fetch_* reads (None: nothing to fetch). modules: path ->
        object for import_module. memory_bytes: what measure_memory reports (None: not measured)."""
        self._clock = clock
        self.site_root = site_root
        self.modules = dict(modules or {})
        self.yield_every_ms = yield_every_ms
        self.memory_bytes = memory_bytes
        self.features: dict[str, bool] | None = None  # what runtime_features() answers (a test sets it)
        self.yields = 0  # how many times the decode loop gave the "browser" its turn
        self.during_yield: Callable[[], None] | None = None  # what the page does in that turn (a click on Stop)
        self.visibility = 0  # page hidden / shown count, as web/static/run_hygiene.js keeps it
        self.hidden = False
        self.adapter_limits = False
        self.bucket: dict[str, Any] | None = None  # the open capture bucket
        self.labels: list[str] = []  # every bucket opened, in order

    def clock(self) -> Callable[[], float]:
        return self._clock

    def page_url(self, relative: str) -> str:
        root = self.site_root.resolve().as_uri() + "/" if self.site_root is not None else "host:/"
        return root + relative.lstrip("/")

    async def import_module(self, relative: str) -> Any:
        if relative not in self.modules:
            raise HostJsException(f"import {relative}: no JavaScript module on the host (HostBrowser(modules=...))")
        return self.modules[relative]

    def _path(self, relative: str) -> Path:
        if self.site_root is None:
            raise OSError(f"GET {relative}: the host browser has no site folder (HostBrowser(site_root=...))")
        path = self.site_root / relative
        if not path.is_file():
            raise OSError(f"GET {relative}: HTTP 404 no such file under {self.site_root}")
        return path

    async def fetch_bytes(self, relative: str) -> bytes:
        return self._path(relative).read_bytes()

    async def fetch_text(self, relative: str) -> str:
        return self._path(relative).read_text(encoding="utf-8")

    def to_js(self, value: Any) -> Any:
        return value

    def to_js_object(self, value: Any) -> Any:
        return value

    async def _yield_to_browser(self) -> None:
        self.yields += 1
        if self.during_yield is not None:
            self.during_yield()
        await asyncio.sleep(0)

    async def yielder(self) -> Yielder:
        return Yielder(self._yield_to_browser, float(self.yield_every_ms))

    async def visibility_changes(self) -> int:
        return self.visibility

    async def page_hidden(self) -> bool:
        return self.hidden

    async def set_adapter_limits(self, on: bool) -> None:
        self.adapter_limits = bool(on)

    async def capture_begin(self, label: str) -> None:
        self.labels.append(label)
        self.bucket = {"label": label, "events": [], "dropped": 0, "devices": []}

    def record(self, source: str, kind: str, message: str) -> None:
        """An event into the open bucket, as web/static/gpu_capture.js records one ("webgpu", "console", "page")."""
        if self.bucket is not None:
            self.bucket["events"].append({"source": source, "kind": kind, "message": message})

    async def capture_end(self) -> dict[str, Any] | None:
        bucket, self.bucket = self.bucket, None
        return bucket

    async def runtime_features(self) -> dict[str, bool] | None:
        return self.features  # a test sets what the runtime offers when asked again (None: unknown)

    async def measure_memory(self) -> dict[str, Any]:
        if self.memory_bytes is None:
            return {"error": NO_MEMORY}
        return {"bytes": self.memory_bytes, "ms": self.now_ms()}
