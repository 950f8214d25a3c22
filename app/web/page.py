"""The benchmark page's Python side: called by web/static/boot.js once `app` is installed."""

from __future__ import annotations

from typing import Any

from app.web import dom, environment


def _adapter_text(adapter: dict[str, Any] | None) -> str:
    if adapter is None:
        return "none (navigator.gpu missing or requestAdapter() returned null)"
    if "error" in adapter:
        return f"requestAdapter() failed: {adapter['error']}"
    kind = "fallback (software)" if adapter["is_fallback_adapter"] else "hardware"
    name = " ".join(x for x in (adapter["vendor"], adapter["architecture"], adapter["description"]) if x) or "unnamed"
    return f"{name} - {kind}, maxStorageBufferBindingSize {adapter['max_storage_buffer_binding_size'] >> 20} MiB"


async def boot(site_proxy: Any, timings_proxy: Any) -> None:
    site = site_proxy.to_py()
    timings = timings_proxy.to_py()
    try:
        env = await environment.collect(site)
    except Exception as err:
        dom.show_error(f"Probing the environment failed: {err}")
        raise
    ready_ms = environment.js.performance.now()
    pyodide_s = (timings["pyodide_ready_ms"] - timings["boot_start_ms"]) / 1000
    app_s = (timings["app_installed_ms"] - timings["pyodide_ready_ms"]) / 1000
    rows = [
        ("Python", env["python"]),
        ("Pyodide", env["pyodide"]),
        ("flare-web", env["flare_web"]),
        ("WebGPU adapter", _adapter_text(env["webgpu"])),
        ("crossOriginIsolated", "yes" if env["cross_origin_isolated"] else "no (timer coarsened to 100 us; no threads)"),
        ("CPU cores (hardwareConcurrency)", str(env["hardware_concurrency"])),
        ("User agent", env["user_agent"]),
        ("Time to ready", f"{ready_ms / 1000:.2f} s from navigation (Pyodide {pyodide_s:.2f} s, app wheel {app_s:.2f} s)"),
    ]
    dom.element("env-table").innerHTML = dom.table_rows(rows)
    page_state = environment.js.document.documentElement.dataset
    page_state.readyMs = f"{ready_ms:.1f}"
    page_state.pyodideMs = f"{timings['pyodide_ready_ms'] - timings['boot_start_ms']:.1f}"
    dom.log(f"Python ready in {ready_ms / 1000:.2f} s")
    dom.set_status(f"Python ready in {ready_ms / 1000:.2f} s")
    dom.set_state("ready")
