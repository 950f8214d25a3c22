"""Host build hook: the wllama 2.4 files the reference row (and the tokenizer of record) load."""

from __future__ import annotations

from typing import Any


def plan(builder: Any, site: dict[str, Any]) -> None:
    """Plan wllama's module and its single- and multi-thread WASM builds; site["wllama"] = {version, files}."""
    builder.plan_npm_files("wllama", {
        "esm/index.js": "vendor/wllama/index.js",
        "esm/single-thread/wllama.wasm": "vendor/wllama/single-thread/wllama.wasm",
        "esm/multi-thread/wllama.wasm": "vendor/wllama/multi-thread/wllama.wasm",
    }, site)
