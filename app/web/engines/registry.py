"""Engine factories by key: the one place (with app.core.engine_catalog) where an engine is added.

Each factory takes the site configuration (the build's `site` dict) and the settings, and returns an
object of the Engine protocol (app/web/engines/base.py). Imports are lazy: a run loads only the
engines it uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.core.engine_catalog import BY_KEY, in_run_order
from app.core.settings import BenchSettings
from app.web.engines.base import Engine

Factory = Callable[[dict[str, Any], BenchSettings], Engine]


def _llamacpp(site: dict[str, Any], s: BenchSettings) -> Engine:
    from app.web.engines.wllama_engine import WllamaEngine

    return WllamaEngine(site["wllama"]["version"], s.llamacpp_threads)


def _llamacpp3(webgpu: bool) -> Factory:
    def make(site: dict[str, Any], s: BenchSettings) -> Engine:
        from app.web.engines.wllama3_engine import Wllama3Engine

        return Wllama3Engine(site["wllama3"], webgpu=webgpu, threads=s.llamacpp_threads, ignore_eos=s.ignore_eos,
                             adapter_limits=s.webgpu_limits == "adapter")
    return make


def _flare(webgpu: bool) -> Factory:
    def make(site: dict[str, Any], s: BenchSettings) -> Engine:
        from app.web.engines.flare_engine import FlareEngine

        return FlareEngine(site["flare"], webgpu=webgpu, async_prefill=s.async_prefill)
    return make


def _transformersjs(webgpu: bool) -> Factory:
    def make(site: dict[str, Any], s: BenchSettings) -> Engine:
        from app.web.engines.tjs_engine import TransformersJsEngine

        return TransformersJsEngine(site["transformersjs"], webgpu=webgpu)
    return make


def _null(busy_ms: float) -> Factory:
    def make(site: dict[str, Any], s: BenchSettings) -> Engine:
        from app.web.engines.null_engine import NullEngine

        return NullEngine(busy_ms)
    return make


FACTORIES: dict[str, Factory] = {
    "llamacpp-wasm": _llamacpp,
    "llamacpp3-webgpu": _llamacpp3(webgpu=True),
    "llamacpp3-wasm": _llamacpp3(webgpu=False),
    "flare-cpu": _flare(webgpu=False),
    "flare-webgpu": _flare(webgpu=True),
    "transformersjs-wasm": _transformersjs(webgpu=False),
    "transformersjs-webgpu": _transformersjs(webgpu=True),
    "null": _null(0.0),
    "null-5ms": _null(5.0),
}

missing = set(BY_KEY) - set(FACTORIES)
assert not missing, f"engines in the catalog without a factory: {missing}"


def make_engines(keys: list[str], site: dict[str, Any], settings: BenchSettings) -> list[Engine]:
    """The engines asked for, in the catalog's run order (the reference first)."""
    return [FACTORIES[key](site, settings) for key in in_run_order(keys)]
