"""Per-row capture of WebGPU errors, lost devices, WASM traps and console errors, and the row's memory.

The recording happens in the browser (web/static/gpu_capture.js, reached through the `Browser` seam: the page
and the notebook's worker install it before Python starts); this module turns what a row's bucket caught into
the row's fields (app.core.gpu_errors) and its memory into figures. Host-importable: it takes the seam.
"""

from __future__ import annotations

from typing import Any

from app.core import gpu_errors
from app.web.browser import Browser


async def begin(browser: Browser, label: str) -> None:
    """Open the row's bucket (`label`: "engine backend")."""
    await browser.capture_begin(label)


async def end(browser: Browser) -> dict[str, Any]:
    """Close the row's bucket; the row's fields {"gpu_errors", "console_errors", "gpu_devices"}
    (app.core.gpu_errors.summarize)."""
    return gpu_errors.summarize(await browser.capture_end())


def memory_fields(after_load: dict[str, Any], at_end: dict[str, Any], model_bytes: int,
                  before_load: dict[str, Any] | None = None) -> dict[str, Any]:
    """A row's memory, in bytes. The page's total (performance.measureUserAgentSpecificMemory: every JS heap,
    WASM memory and worker of the page) after load and at the end of the runs, and their peak with its ratio to
    the model file's size (`model_bytes`); and the row's own: what the page grew by from `before_load` (the least
    it held just before any row's engine loaded: app.web.bench.Benchmark._baseline) to after load and to the peak
    (`engine_bytes_*`, `engine_peak_to_model`). What the page held before (Pyodide, the tokenizer of record, the
    model's bytes in JS) is not the row's; what an earlier row left behind and the browser has not freed is. `error` says why a figure is missing. Each argument is a Browser.measure_memory() answer: {"bytes",
    "ms"} or {"error"}."""
    before_load = before_load or {}
    values = [m["bytes"] for m in (after_load, at_end) if "bytes" in m]
    peak = max(values) if values else None
    errors = sorted({m["error"] for m in (after_load, at_end, before_load) if "error" in m})
    base = before_load.get("bytes")
    own_load = max(0, after_load["bytes"] - base) if base is not None and "bytes" in after_load else None
    own_peak = max(0, peak - base) if base is not None and peak is not None else None
    return {"page_bytes_before_load": base, "page_bytes_after_load": after_load.get("bytes"),
            "page_bytes_at_end": at_end.get("bytes"), "page_bytes_peak": peak,
            "peak_to_model": peak / model_bytes if peak and model_bytes else None,
            "engine_bytes_after_load": own_load, "engine_bytes_peak": own_peak,
            "engine_peak_to_model": own_peak / model_bytes if own_peak is not None and model_bytes else None,
            "error": "; ".join(errors) or None}


def add_gpu_peak(memory: dict[str, Any] | None, devices: list[dict[str, Any]]) -> None:
    """Put the largest GPU buffer peak (bytes) of the row's devices into its memory fields (None when none)."""
    if memory is not None:
        peaks = [d["buffer_bytes_peak"] for d in devices if d.get("buffer_bytes_peak")]
        memory["gpu_buffer_bytes_peak"] = max(peaks) if peaks else None
