"""llama.cpp through @wllama/wllama 3.13: its WebGPU backend (llamacpp3-webgpu) and its CPU path (llamacpp3-wasm).

A peer of the 2.4 reference, not a reference: 3.x has no token-id API (no tokenize, decode(ids), logits or
KV clear; ../shared/NOTES.md). So this engine takes text (`SPEC.drive.takes_text`): it gets the rendered prompt text
whose llama.cpp 2.4 ids the other rows get, and the benchmark checks that 3.13 counted the same prompt
tokens. Generated ids come from each streamed step's `logprobs.content[i].id` (n_probs 1). The engine runs
its own loop (createCompletion streaming, runner.js), so like Transformers.js its token
times are stamped by the engine (`stamps_tokens`) and its prefill ends with the first token. Every run has
`cache_prompt: false`: 3.x otherwise reuses the shared prompt prefix and the second run's TTFT is a fraction
of the first's. The teacher-forced check goes by text prefix (`forced_step`), and there is no perplexity
(3.x returns no prompt log-probabilities): app/web/bench.py's text branch.
"""

from __future__ import annotations

import json
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from app.web import jsbridge
from app.engines.llamacpp3 import notes as wllama3
from app.engines.protocol import EngineBase, EngineError, Model

RUNNER = "engines/llamacpp3/runner.js"
MODULE = "vendor/wllama3/index.js"
WASM = "vendor/wllama3/wasm/wllama.wasm"
COMPAT = {"wasm": "vendor/wllama3-compat/wllama.wasm", "worker": "vendor/wllama3-compat/wllama.js"}
ALL_LAYERS = 99999  # wllama's own default for n_gpu_layers: every layer on the GPU


# The smallest module with a 64-bit memory (memory section: one memory, limits flag 0x04 = i64, min 1 page):
# it validates exactly where Memory64 is supported (wasm-feature-detect's way; synchronous).
MEMORY64_PROBE = bytes([0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x04, 0x01])


def browser_requirements() -> dict[str, bool]:
    """JSPI, Memory64, SharedArrayBuffer and WebGPU in this browser (wllama 3.13 checks the first two: needCompat())."""
    wasm = js.WebAssembly
    try:
        memory64 = bool(wasm.validate(to_js(MEMORY64_PROBE)))
    except JsException:
        memory64 = False
    return {"jspi": hasattr(wasm, "Suspending"), "memory64": memory64,
            "shared_memory": getattr(js, "SharedArrayBuffer", None) is not None,
            "webgpu": getattr(js.navigator, "gpu", None) is not None}


class Wllama3Engine(EngineBase):
    engine = "llama.cpp 3.13 (wllama)"
    # Text in, its own loop, its own token times: declared in SPEC.drive (app/engines/llamacpp3/__init__.py).

    def __init__(self, site: dict[str, Any], webgpu: bool, threads: int = 0, n_ctx: int = 2048,
                 ignore_eos: bool = False, adapter_limits: bool = False) -> None:
        self.version = site["wllama3"]["version"]
        self.compat_version = (site.get("wllama3-compat") or {}).get("version")
        self.build = ""  # "jspi-memory64" | "compat": chosen from the browser's features when the row loads
        self.webgpu = webgpu
        self.backend = "webgpu" if webgpu else "wasm-cpu"
        self.threads = threads
        self.n_ctx = n_ctx
        self.ignore_eos = ignore_eos
        self.adapter_limits = adapter_limits
        self.runner: Any = None
        self.session: Any = None
        self.generation: Any = None
        self.token_time_ms: float | None = None
        self.generations: list[dict[str, Any]] = []  # each one_run's summary, for the text branch of check()
        self._info: dict[str, Any] = {}

    def unsupported_reason(self, model: Model) -> str | None:
        r = browser_requirements()
        if wllama3.choose_build(r["jspi"], r["memory64"]) == "compat" and not self.compat_version:
            return "this browser lacks JSPI or Memory64 and this site does not serve wllama 3.13's compatibility build"
        return wllama3.requirement_refusal(r["jspi"], r["memory64"], self.webgpu, r["webgpu"], r["shared_memory"])

    async def unsupported_reason_async(self, model: Model) -> str | None:
        """The WebGPU row needs an adapter llama.cpp's WebGPU backend accepts (shader-f16): asked before loading."""
        if not self.webgpu:
            return None
        try:
            adapter = await js.navigator.gpu.requestAdapter()
        except JsException as err:
            return f"requestAdapter() failed: {err}"
        if adapter is None:
            return wllama3.adapter_refusal(None)
        info = adapter.info
        return wllama3.adapter_refusal({
            "features": [str(f) for f in adapter.features],
            "vendor": str(getattr(info, "vendor", "") or ""), "architecture": str(getattr(info, "architecture", "") or ""),
            "description": str(getattr(info, "description", "") or ""),
            "is_fallback_adapter": bool(getattr(info, "isFallbackAdapter", False))})

    def context_tokens(self, model: Model) -> int | None:
        return self.n_ctx

    def threads_wanted(self) -> int:
        """As the 2.4 reference: the llamacpp_threads setting, or every core the page may use."""
        if self.threads:
            return self.threads
        if bool(getattr(js, "crossOriginIsolated", False)):
            return max(1, int(getattr(js.navigator, "hardwareConcurrency", 1) or 1))
        return 1

    async def load(self, model: Model) -> dict[str, float]:
        self.runner = await jsbridge.import_module(RUNNER)
        if self.webgpu and await js.navigator.gpu.requestAdapter() is None:
            raise EngineError("WebGPU has no adapter here (requestAdapter() returned null): the row would run on the CPU")
        r = browser_requirements()
        self.build = wllama3.choose_build(r["jspi"], r["memory64"])
        compat = {k: jsbridge.page_url(v) for k, v in COMPAT.items()} if self.build == "compat" else None
        options = {"moduleUrl": jsbridge.page_url(MODULE), "wasmUrl": jsbridge.page_url(WASM), "model": model.data,
                   "nCtx": self.n_ctx, "nThreads": self.threads_wanted(),
                   "nGpuLayers": ALL_LAYERS if self.webgpu else 0, "adapterLimits": self.adapter_limits,
                   "compat": compat}
        t0 = jsbridge.now_ms()
        try:
            self.session = await self.runner.open(jsbridge.to_js_object(options))
        except JsException as err:
            arch = model.header.get("architecture")
            raise EngineError(f"llama.cpp 3.13 could not load the model (architecture {arch!r}): {err}") from None
        load = {"parse_ms": jsbridge.now_ms() - t0}
        self._info = json.loads(str(self.session.info()))
        if bool(self._info.get("compat")) != (self.build == "compat"):
            # wllama decides by the same checks; a disagreement means the row would not be the build it names
            ran = "the compatibility build" if self._info.get("compat") else "its main build"
            raise EngineError(f"wllama 3.13 loaded {ran}, but this browser's features chose {self.build}")
        if self.webgpu and not self._info.get("devices"):
            # Whatever the reason, no device means every layer ran on the CPU: not a WebGPU row.
            adapter = self._info.get("adapter")
            why = wllama3.adapter_refusal(adapter) if adapter else "its worker got no WebGPU adapter"
            raise EngineError(f"llama.cpp 3.13 created no WebGPU device, so every layer would run on the CPU ({why})")
        return load

    async def reset(self) -> None:
        # Nothing to clear: every measured request has cache_prompt false. End a stream still open.
        await self._finish()

    async def _finish(self) -> None:
        g = self.generation
        if g is None:
            return
        self.generation = None
        g.stop()
        await g.finished
        self.generations.append(json.loads(str(g.summary())))

    async def take_generations(self) -> list[dict[str, Any]]:
        """The summaries of the generations since the last call (the last one ended first), in run order:
        {ids, text, prompt_tokens, cached_tokens, clamped, failure, utf8_loss, aborted}."""
        await self._finish()
        out, self.generations = self.generations, []
        return out

    async def prefill(self, prompt_ids: list[int], max_tokens: int) -> None:
        raise EngineError("wllama 3.x takes text, not token ids: this test (a prompt given as ids) cannot run on it")

    async def prefill_text(self, text: str, max_tokens: int) -> None:
        await self._finish()
        self.generation = self.session.start(text, max_tokens, self.ignore_eos)

    async def next_token(self) -> int | None:
        g = self.generation
        if g is None:
            return None
        item = await g.next()
        if item is None:
            await g.finished
            summary = json.loads(str(g.summary()))
            self.generation = None
            self.generations.append(summary)
            if summary["failure"]:
                why = (" (its result held incomplete UTF-8: a known wllama 3.x limit; the tokens before it are kept)"
                       if summary["utf8_loss"] else "")
                raise EngineError(f"llama.cpp 3.13 failed after {len(summary['ids'])} tokens{why}: {summary['failure']}")
            return None
        token, self.token_time_ms = int(item[0]), float(item[1])
        return token

    async def stop(self) -> None:
        await self._finish()

    async def forced_step(self, text: str) -> dict[str, Any]:
        """The greedy next token after `text` (max_tokens 1, n_probs 1, KV cache reused): {id, logprob,
        prompt_tokens} or {error, utf8_loss}. n_probs 1 is the least that returns an id, so a step whose result
        holds incomplete UTF-8 cannot be retried smaller: it is recorded as failed."""
        await self._finish()
        return json.loads(str(await self.session.step(text, 1)))

    async def teacher_forced(self, prefix: list[int], continuation: list[int]) -> list[tuple[int, float]]:
        raise EngineError("wllama 3.x takes text, not token ids: its teacher-forced check goes by text prefix")

    async def decode_text(self, ids: list[int]) -> str:
        return ""  # 3.x has no detokenize; the benchmark shows llama.cpp 2.4's text of the ids

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"version": self.version, "api": "wllama 3.x createCompletion (text in; ids from logprobs)",
                                "loop": wllama3.LOOP_NOTE, "cache_prompt": False, "threads_requested": self.threads,
                                "n_gpu_layers": ALL_LAYERS if self.webgpu else 0}
        if self.build:
            version = self.compat_version if self.build == "compat" else self.version
            info.update(build=self.build, build_text=wllama3.BUILDS[self.build].format(version=version))
        if self._info:
            info.update(threads=self._info.get("threads"), multithread=self._info.get("multithread"),
                        libllama=self._info.get("libllama"), token_times_anchor=self._info.get("token_times"))
            if self.webgpu:
                info["adapter"] = wllama3.adapter_text(self._info.get("adapter"))
        return info

    async def unload(self) -> None:
        self.generation = None
        if self.session is not None:
            try:
                await self.session.exit()
            finally:
                self.session = None


def make(site: dict[str, Any], settings: Any, variant: Any) -> Wllama3Engine:
    """The registry's factory (app/engines/llamacpp3/__init__.py SPEC.factory); variant.options["webgpu"]."""
    return Wllama3Engine(site, webgpu=variant.options["webgpu"], threads=settings.llamacpp_threads,
                         ignore_eos=settings.ignore_eos, adapter_limits=settings.webgpu_limits == "adapter")
