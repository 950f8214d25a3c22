"""What the page runs on: Python, Pyodide, browser, WebGPU adapter, isolation."""

from __future__ import annotations

import sys
from typing import Any

import js  # type: ignore[import-not-found]


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    value = getattr(obj, name, default)
    return default if value is None else value


async def webgpu_adapter() -> dict[str, Any] | None:
    gpu = getattr(js.navigator, "gpu", None)
    if gpu is None:
        return None
    try:
        adapter = await gpu.requestAdapter()
    except Exception as err:  # noqa: BLE001 - a browser that throws here has no usable adapter
        return {"error": str(err)}
    if adapter is None:
        return None
    info = _attr(adapter, "info")
    fallback = _attr(info, "isFallbackAdapter", _attr(adapter, "isFallbackAdapter", False))
    limits = adapter.limits
    return {
        "vendor": str(_attr(info, "vendor", "")),
        "architecture": str(_attr(info, "architecture", "")),
        "device": str(_attr(info, "device", "")),
        "description": str(_attr(info, "description", "")),
        "is_fallback_adapter": bool(fallback),
        "max_storage_buffer_binding_size": int(limits.maxStorageBufferBindingSize),
        "max_buffer_size": int(limits.maxBufferSize),
        "shader_f16": bool(adapter.features.has("shader-f16")),
    }


def timer_resolution_us() -> int:
    # performance.now() is coarsened to 5 us when cross-origin isolated, 100 us otherwise.
    return 5 if bool(js.crossOriginIsolated) else 100


async def collect(site: dict[str, Any]) -> dict[str, Any]:
    import pyodide  # type: ignore[import-not-found]

    return {
        "python": sys.version.split()[0],
        "pyodide": str(pyodide.__version__),
        "flare_web": site["flare"]["version"],
        "user_agent": str(js.navigator.userAgent),
        "hardware_concurrency": int(js.navigator.hardwareConcurrency or 0),
        "cross_origin_isolated": bool(js.crossOriginIsolated),
        "timer_resolution_us": timer_resolution_us(),
        "webgpu": await webgpu_adapter(),
    }
