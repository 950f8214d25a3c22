"""Host build hook: wllama 3.13's files (index.js inlines its worker and emscripten glue, so the module and
its one WASM build, CPU and WebGPU, needing JSPI and Memory64, are all it loads)."""

from __future__ import annotations

from typing import Any


def plan(builder: Any, site: dict[str, Any]) -> None:
    """Plan wllama 3.13's module and WASM; site["wllama3"] = {version, files}."""
    builder.plan_npm_files("wllama3", {
        "esm/index.js": "vendor/wllama3/index.js",
        "esm/wasm/wllama.wasm": "vendor/wllama3/wasm/wllama.wasm",
    }, site)
