"""Host build hook: wllama 3.13's files (index.js inlines its worker and emscripten glue, so the module and
its main WASM build, CPU and WebGPU, needing JSPI and Memory64, are all it loads), and @wllama/wllama-compat's
build for browsers without JSPI or Memory64 (its emscripten glue and WASM, handed to Wllama.setCompat)."""

from __future__ import annotations

from typing import Any


def plan(builder: Any, site: dict[str, Any]) -> None:
    """Plan wllama 3.13's module and WASM, and the compatibility build; site["wllama3"] and
    site["wllama3-compat"] = {version, files}."""
    builder.plan_npm_files("wllama3", {
        "esm/index.js": "vendor/wllama3/index.js",
        "esm/wasm/wllama.wasm": "vendor/wllama3/wasm/wllama.wasm",
    }, site)
    builder.plan_npm_files("wllama3-compat", {
        "wasm/wllama.js": "vendor/wllama3-compat/wllama.js",
        "wasm/wllama.wasm": "vendor/wllama3-compat/wllama.wasm",
    }, site)
