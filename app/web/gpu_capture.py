"""Per-row capture of WebGPU errors, lost devices, WASM traps and console errors (see web/static/gpu_capture.js).

The page and the notebook's worker install the recorder before Python starts; `recorder()` installs
it too where that did not happen (devices created before then are not seen, and the row says so).
"""

from __future__ import annotations

import json
from typing import Any

from app.core import gpu_errors
from app.web import jsbridge

MODULE = "static/gpu_capture.js"
_module: Any = None


async def recorder() -> Any:
    """The JS recorder, installed (idempotent)."""
    global _module
    if _module is None:
        _module = await jsbridge.import_module(MODULE)
        _module.install()
    return _module


async def set_adapter_limits(on: bool) -> None:
    """The opt-in shim: devices created from now on ask for the adapter's own limits."""
    (await recorder()).setAdapterLimits(bool(on))


async def begin(label: str) -> None:
    (await recorder()).begin(label)


async def end() -> dict[str, Any]:
    """Close the row's bucket after letting pending GPU errors arrive; the row's fields (app.core.gpu_errors.summarize)."""
    rec = await recorder()
    await rec.settle()
    raw = rec.end()
    return gpu_errors.summarize(json.loads(str(raw)) if raw is not None else None)


async def measure_memory() -> dict[str, Any]:
    """The page's memory as the browser counts it: {"bytes": int, "ms": float} or {"error": why}."""
    return json.loads(str(await (await recorder()).measureMemory()))
