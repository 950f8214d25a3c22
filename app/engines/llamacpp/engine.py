"""llama.cpp in WASM (@wllama/wllama 2.x low-level API): the correctness reference.

Python feeds token ids and reads each sampled id: kvClear, samplingInit(greedy), decode(ids),
then samplingSample / samplingAccept / decode([id]) per token. Which 2.x build loads is this engine's own
decision, from the browser's WebAssembly features (support.choose_build): 2.4.0's Memory64 build, or 2.3.7's
wasm32 build where Memory64 is missing (WebKit); the row's info says which ran.
"""

from __future__ import annotations

from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from app.web import jsbridge
from app.engines.llamacpp.support import BUILDS, build_record, choose_build
from app.engines.protocol import EngineBase, EngineError, Model

PROBE = "engines/llamacpp/probe.js"
MODEL_STREAM = "engines/llamacpp/model_stream.js"


def browser_build() -> str:
    """The wllama 2.x build this browser can run ("memory64" or "wasm32"), from its WebAssembly features."""
    from app.web.environment import wasm_features  # browser only

    return choose_build(wasm_features())


async def open_wllama(model: Model, config: dict[str, Any], site: dict[str, Any],
                      build: str | None = None) -> tuple[Any, dict[str, str]]:
    """A wllama 2.x instance with `model` loaded (config: n_ctx, n_threads...), and the build record
    ({build, version, build_text}). `build`: "memory64" | "wasm32"; None: the one this browser can run.
    Raises EngineError in words."""
    build = build or browser_build()
    record = build_record(site, build)
    folder = BUILDS[build]["dir"]
    module = await jsbridge.import_module(f"{folder}/index.js")
    paths = {
        "single-thread/wllama.wasm": jsbridge.page_url(f"{folder}/single-thread/wllama.wasm"),
        "multi-thread/wllama.wasm": jsbridge.page_url(f"{folder}/multi-thread/wllama.wasm"),
    }
    w = module.Wllama.new(jsbridge.to_js_object(paths), jsbridge.to_js_object({"suppressNativeLog": True}))
    blob = (await jsbridge.import_module(MODEL_STREAM)).blobLike(model.data)  # no Blob copy: model_stream.js
    try:
        await w.loadModel(to_js([blob]), jsbridge.to_js_object(config))
    except JsException as err:
        arch = model.header.get("architecture")
        raise EngineError(f"llama.cpp ({record['build_text']}) could not load the model (architecture {arch!r}): "
                          f"{err}") from None
    return w, record


class WllamaEngine(EngineBase):
    engine = "llama.cpp (wllama)"
    backend = "wasm-cpu"

    def __init__(self, site: dict[str, Any], threads: int = 0, n_ctx: int = 2048) -> None:
        self.site = site
        self.version = str(site["wllama"]["version"])  # the build that loads may be another (self.build)
        self.build: dict[str, str] = {}
        self.threads = threads
        self.n_ctx = n_ctx
        self.w: Any = None
        self.probe: Any = None
        self.pending: int | None = None
        self.remaining = 0

    def context_tokens(self, model: Model) -> int | None:
        return self.n_ctx  # the n_ctx this engine loads with (llama.cpp allocates its KV cache for it)

    async def load(self, model: Model) -> dict[str, float]:
        self.probe = await jsbridge.import_module(PROBE)
        t0 = jsbridge.now_ms()
        # Always pass n_threads: wllama's own default is half of navigator.hardwareConcurrency.
        self.w, self.build = await open_wllama(model, {"n_ctx": self.n_ctx, "n_threads": self.threads_wanted()},
                                               self.site)
        self.version = self.build["version"]
        return {"parse_ms": jsbridge.now_ms() - t0}

    async def reset(self) -> None:
        await self.w.kvClear()
        self.pending = None

    async def prefill(self, prompt_ids: list[int], max_tokens: int) -> None:
        await self.w.samplingInit(jsbridge.to_js_object({"temp": 0, "top_k": 1, "penalty_repeat": 1.0}))
        await self.w.decode(to_js(prompt_ids), jsbridge.to_js_object({}))
        self.pending = None
        self.remaining = max_tokens

    async def next_token(self) -> int | None:
        if self.remaining <= 0:
            return None
        if self.pending is not None:
            # The previous token enters the KV cache only now, so its cost lands in this interval.
            await self.w.samplingAccept(to_js([self.pending]))
            await self.w.decode(to_js([self.pending]), jsbridge.to_js_object({}))
        sampled = await self.w.samplingSample()
        token = int(sampled.token)
        # No stop on llama.cpp's own end-of-generation set here: the benchmark stops every engine at
        # the same ids (the GGUF's EOS/EOT/EOM, app.core.generation_limits), so rows compare.
        self.pending = token
        self.remaining -= 1
        return token

    async def stop(self) -> None:
        self.remaining = 0

    async def teacher_forced(self, prefix: list[int], continuation: list[int]) -> list[tuple[int, float]]:
        await self.reset()
        await self.w.decode(to_js(prefix), jsbridge.to_js_object({}))
        out = []
        for target in continuation:
            probe = await self.probe.topAndLogProb(self.w, target)
            out.append((int(probe.top1), float(probe.logprob)))
            await self.w.decode(to_js([target]), jsbridge.to_js_object({}))
        await self.reset()
        return out

    async def decode_text(self, ids: list[int]) -> str:
        return str(await self.w.detokenize(to_js(ids), True)) if ids else ""

    def threads_wanted(self) -> int:
        """The thread count asked of wllama: the llamacpp_threads setting, or for 0 every core the
        page may use (navigator.hardwareConcurrency when cross-origin isolated; else 1, since wllama
        then runs its single-thread build whatever it is asked)."""
        if self.threads:
            return self.threads
        if bool(getattr(js, "crossOriginIsolated", False)):
            return max(1, int(getattr(js.navigator, "hardwareConcurrency", 1) or 1))
        return 1

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"version": self.version, "api": "wllama 2.x low-level (decode / samplingSample)",
                                # threads_requested: the setting (0: all the cores the page may use)
                                "threads_requested": self.threads}
        if self.build:
            # which wllama build ran: "memory64" (2.4.0) or "wasm32" (2.3.7, where the browser lacks Memory64)
            info.update(build=self.build["build"], build_text=self.build["build_text"])
        if self.w is not None:
            # threads: what llama.cpp runs with (wllama falls back to 1 without SharedArrayBuffer)
            info.update(multithread=bool(self.w.isMultithread()), threads=int(self.w.getNumThreads()))
        return info

    async def unload(self) -> None:
        if self.w is not None:
            await self.w.exit()
            self.w = None


def make(site: dict[str, Any], settings: Any, variant: Any) -> WllamaEngine:
    """The registry's factory (app/engines/llamacpp/__init__.py SPEC.factory)."""
    return WllamaEngine(site, settings.llamacpp_threads)
