"""Host build hook: the wllama 2.x files the reference row (and the tokenizer of record) load: 2.4.0's Memory64
builds, and 2.3.7's wasm32 builds for browsers without Memory64 (the engine picks one: support.choose_build)."""

from __future__ import annotations

from typing import Any

BUILD_FILES = {
    "esm/index.js": "index.js",
    "esm/single-thread/wllama.wasm": "single-thread/wllama.wasm",
    "esm/multi-thread/wllama.wasm": "multi-thread/wllama.wasm",
}


def plan(builder: Any, site: dict[str, Any]) -> None:
    """Plan each build's module and its single- and multi-thread WASM under its folder (support.BUILDS);
    site[role] = {version, files} for roles "wllama" and "wllama-wasm32"."""
    from app.engines.llamacpp.support import BUILDS

    for build in BUILDS.values():
        builder.plan_npm_files(build["role"], {src: f"{build['dir']}/{dst}" for src, dst in BUILD_FILES.items()}, site)
