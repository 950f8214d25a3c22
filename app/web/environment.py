"""What the page runs on: Python, Pyodide, browser, WebGPU adapter, isolation."""

from __future__ import annotations

import sys
from typing import Any

import js  # type: ignore[import-not-found]

from app import engines as engine_registry


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    value = getattr(obj, name, default)
    return default if value is None else value


ADAPTER_TRIES = 3  # requestAdapter() calls before "no adapter" (Chromium on an NVIDIA H200: the first answered null)
ADAPTER_RETRY_S = 0.5


async def webgpu_adapter() -> dict[str, Any] | None:
    """The WebGPU adapter's facts ({vendor, architecture, ..., shader_f16}), {"error": why}, or None (no adapter
    after ADAPTER_TRIES requests ADAPTER_RETRY_S seconds apart: a GPU process can answer late on its first start)."""
    import asyncio  # noqa: PLC0415

    gpu = getattr(js.navigator, "gpu", None)
    if gpu is None:
        return None
    adapter = None
    for attempt in range(ADAPTER_TRIES):
        try:
            adapter = await gpu.requestAdapter()
            if adapter is None or type(adapter).__name__ == "JsNull":
                adapter = None  # JS null arrives as pyodide's jsnull, not None
        except Exception as err:  # noqa: BLE001 - a browser that throws here has no usable adapter
            return {"error": str(err)}
        if adapter is not None:
            break
        if attempt + 1 < ADAPTER_TRIES:
            await asyncio.sleep(ADAPTER_RETRY_S)
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


# The smallest module with a 64-bit memory (memory section: one memory, limits flag 0x04 = i64, min 1 page):
# it validates exactly where Memory64 is supported (wasm-feature-detect's way; synchronous).
MEMORY64_PROBE = bytes([0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x04, 0x01])


def browser_features(adapter: dict[str, Any] | None) -> dict[str, bool]:
    """Which of the features engines declare (app.engines.spec.BROWSER_FEATURES) this runtime has.

    webgpu: navigator.gpu gave an adapter; shader-f16: that adapter offers it; jspi: WebAssembly.Suspending
    exists; memory64: a 64-bit memory validates; shared-array-buffer: SharedArrayBuffer is defined (it needs
    cross-origin isolation in browsers; WebKitGTK also needs JSC_useSharedArrayBuffer=1).
    """
    usable = adapter is not None and "error" not in adapter
    return {"webgpu": usable, "shader-f16": bool(usable and adapter.get("shader_f16")), **wasm_features()}


def wasm_features() -> dict[str, bool]:
    """The WebAssembly side of browser_features: jspi, memory64, shared-array-buffer (what an engine that ships
    several builds chooses by, synchronously)."""
    from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]  # noqa: PLC0415 - browser only

    wasm = js.WebAssembly
    try:
        memory64 = bool(wasm.validate(to_js(MEMORY64_PROBE)))
    except JsException:
        memory64 = False
    return {"jspi": hasattr(wasm, "Suspending"), "memory64": memory64,
            "shared-array-buffer": getattr(js, "SharedArrayBuffer", None) is not None}


def timer_resolution_us() -> int:
    # performance.now() is coarsened to 5 us when cross-origin isolated, 100 us otherwise; Deno does not coarsen it.
    if runtime_version():
        return 1
    return 5 if bool(js.crossOriginIsolated) else 100


def runtime_version() -> str:
    """'Deno 2.9.6' under Deno; '' in a browser (the user agent says it there)."""
    deno = getattr(js, "Deno", None)
    version = getattr(getattr(deno, "version", None), "deno", None) if deno is not None else None
    return f"Deno {version}" if version else ""


def webgpu_absent_reason(adapter: dict[str, Any] | None, runtime: str) -> str | None:
    """Why a run has no WebGPU adapter, in words (None when it has one)."""
    if adapter is not None and "error" not in adapter:
        return None
    if adapter is not None:
        return f"requestAdapter() failed: {adapter['error']}"
    if getattr(js.navigator, "gpu", None) is None:
        return "navigator.gpu is missing: this runtime has no WebGPU"
    if runtime == "deno":
        return ("Deno's navigator.gpu.requestAdapter() returned null: wgpu found no Vulkan or GL adapter "
                "(no GPU driver, no Vulkan loader, no Mesa); the WebGPU rows need a GPU with a Vulkan driver "
                "(VK_DRIVER_FILES) and libvulkan1")
    if runtime == "firefox":
        return ("navigator.gpu.requestAdapter() returned null: Firefox needs dom.webgpu.enabled and "
                "gfx.webgpu.ignore-blocklist in its profile and a Vulkan driver (Mesa's lavapipe without a GPU)")
    return "navigator.gpu.requestAdapter() returned null (start Chromium with --enable-unsafe-webgpu)"


def page_runtime(user_agent: str) -> str:
    """The browser engine a page runs in, from its user agent: "firefox", "webkit" or "chromium" (the default)."""
    if "Firefox/" in user_agent:
        return "firefox"
    if "AppleWebKit/" in user_agent and "Chrome/" not in user_agent:
        return "webkit"
    return "chromium"


def adapter_text(adapter: dict[str, Any] | None, absent: str | None = None) -> str:
    if adapter is None or "error" in adapter:
        return f"none ({absent})" if absent else "none"
    kind = "fallback (software)" if adapter["is_fallback_adapter"] else "hardware"
    name = " ".join(x for x in (adapter["vendor"], adapter["architecture"], adapter["description"]) if x) or "unnamed"
    return f"{name} - {kind}, maxStorageBufferBindingSize {adapter['max_storage_buffer_binding_size'] >> 20} MiB"


async def collect(site: dict[str, Any], runtime: str | None = None) -> dict[str, Any]:
    """The environment record of a result; `runtime`: "deno" (app.web.headless), else the page's browser engine
    from its user agent ("chromium", "firefox", "webkit")."""
    import pyodide  # type: ignore[import-not-found]

    runtime = runtime or page_runtime(str(js.navigator.userAgent))

    adapter = await webgpu_adapter()
    env = {
        "runtime": runtime,
        "runtime_version": runtime_version(),
        "python": sys.version.split()[0],
        "pyodide": str(pyodide.__version__),
        # Each engine folder's pinned version (app.engines.versions); flare_web kept for results before v3.
        "engine_versions": engine_registry.versions(site),
        "flare_web": engine_registry.versions(site).get("flare"),
        "user_agent": str(js.navigator.userAgent),
        "hardware_concurrency": int(js.navigator.hardwareConcurrency or 0),
        # navigator.deviceMemory: GB, rounded and capped by the browser (Chromium: at most 8); absent in Firefox, WebKit
        "device_memory_gb": float(getattr(js.navigator, "deviceMemory", 0) or 0) or None,
        "cross_origin_isolated": bool(js.crossOriginIsolated),
        "timer_resolution_us": timer_resolution_us(),
        "webgpu": adapter,
        "features": browser_features(adapter),
    }
    absent = webgpu_absent_reason(adapter, runtime)
    if absent:
        env["webgpu_absent"] = absent
    return env
