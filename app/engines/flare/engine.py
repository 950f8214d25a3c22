"""flare-web (Rust GGUF engine in WASM, optional WebGPU), driven token by token from Python."""

from __future__ import annotations

from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from app.core.correctness import argmax, log_softmax_at
from app.web import jsbridge
from app.engines.flare.loader import load_flare_module
from app.engines.protocol import EngineBase, EngineError, Model

# Greedy decoding, the same for every engine: temperature 0, top_p 1 (off), top_k 1,
# repeat_penalty 1 (off), min_p 0 (off).
GREEDY = (0.0, 1.0, 1, 1.0, 0.0)


def _ids(ids: list[int]) -> Any:
    return js.Uint32Array.new(to_js(ids))


def describe_js_error(err: Exception) -> str:
    text = str(err)
    if "unreachable" in text:
        return f"flare-web panicked (WASM trap: {text}); the panic message is in the browser console"
    return text


class FlareStream(EngineBase):
    """Drives flare-web's streaming API on `self.handle`: reset, prefill, one awaited token at a time, stop.

    Shared by FlareEngine and the null engine (app/engines/null/engine.js imitates that API), so the Python
    the harness measures on the null engine is exactly the Python flare gets. Raises EngineError in words.
    """

    handle: Any = None
    async_prefill = False
    stop_reason: str | None = None  # flare's own stream_stop_reason ("eos", "length", ...) when it ended a stream
    ended_at_id: int | None = None

    async def reset(self) -> None:
        self.ended_at_id = None
        self.handle.reset()
        self.handle.set_repeat_last_n(0)

    async def prefill(self, prompt_ids: list[int], max_tokens: int) -> None:
        try:
            if self.async_prefill:
                await self.handle.begin_stream_with_params_async(_ids(prompt_ids), max_tokens, *GREEDY)
            else:
                self.handle.begin_stream_with_params(_ids(prompt_ids), max_tokens, *GREEDY)
        except JsException as err:
            raise EngineError(f"prefill failed: {describe_js_error(err)}") from None

    async def next_token(self) -> int | None:
        try:
            token = await self.handle.next_token_async()
        except JsException as err:
            raise EngineError(f"next_token_async failed: {describe_js_error(err)}") from None
        if token is None:
            # flare ends a stream at its own EOS (`tokenizer.ggml.eos_token_id`, flare-web/src/lib.rs) without
            # handing the id over.
            self.stop_reason = str(self.handle.stream_stop_reason) or "end"
            eos = self.handle.eos_token_id if self.stop_reason == "eos" else None
            # The id it stopped at (not handed over); one_run counts it as the shared stop only if it is in the set.
            self.ended_at_id = int(eos) if eos is not None else None
            return None
        return int(token)

    async def stop(self) -> None:
        self.handle.stop_stream()


class FlareEngine(FlareStream):
    engine = "flare-web"

    def __init__(self, flare_site: dict[str, Any], webgpu: bool, async_prefill: bool = False) -> None:
        self.flare_site = flare_site
        self.webgpu = webgpu
        self.async_prefill = async_prefill
        self.backend = "webgpu" if webgpu else "wasm-cpu"
        self.module: Any = None
        self.handle: Any = None
        self.tokenizer: Any = None
        self.stop_reason = None
        self.ended_at_id = None

    def context_tokens(self, model: Model) -> int | None:
        # flare-loader/src/gguf.rs: max_seq_len = `{arch}.context_length`, else 2048. Its KV cache is a
        # ring (flare-core/src/kv_cache.rs): past that it wraps silently, so the benchmark checks first.
        return model.limits.get("context_length") or 2048

    async def load(self, model: Model) -> dict[str, float]:
        # A fresh WASM instance per row: after a panic an instance is unusable, and one row's
        # failure must not take the next row with it.
        self.module = await load_flare_module(self.flare_site, fresh=True)
        times: dict[str, float] = {}
        t0 = jsbridge.now_ms()
        try:
            self.handle = self.module.FlareEngine.load(model.data)
        except JsException as err:
            raise EngineError(f"FlareEngine.load failed: {describe_js_error(err)}") from None
        times["parse_ms"] = jsbridge.now_ms() - t0
        if self.webgpu:
            if getattr(js.navigator, "gpu", None) is None:
                raise EngineError("WebGPU is not available in this browser (navigator.gpu is missing)")
            t1 = jsbridge.now_ms()
            ok = await self.handle.init_gpu()
            times["gpu_init_ms"] = jsbridge.now_ms() - t1
            if not ok:
                raise EngineError(
                    "init_gpu() returned false: flare asks the adapter for 1 GiB storage buffers "
                    "(maxStorageBufferBindingSize, maxBufferSize); this adapter offers less or no device"
                )
        self.handle.set_repeat_last_n(0)
        # Only the notebook's helpers decode with it (the benchmark's text comes from llama.cpp, the tokenizer of record).
        if model.tokenizer_json:
            self.tokenizer = self.module.FlareTokenizer.from_json(model.tokenizer_json)
        return times

    async def teacher_forced(self, prefix: list[int], continuation: list[int]) -> list[tuple[int, float]]:
        # flare has no way to feed a chosen token into a running stream, so each position
        # re-prefills its whole prefix and reads last_logits (fine for a few dozen tokens).
        out = []
        for i, target in enumerate(continuation):
            await self.reset()
            await self.prefill(prefix + continuation[:i], 1)
            await self.next_token()
            logits = self.handle.last_logits.to_py().tolist()
            out.append((argmax(logits), log_softmax_at(logits, target)))
        await self.reset()
        return out

    async def decode_text(self, ids: list[int]) -> str:
        if self.tokenizer is None:
            raise EngineError("no tokenizer.json for this model: decode with llama.cpp (app.web.tokenizer)")
        return str(self.tokenizer.decode(_ids(ids))) if ids else ""

    def info(self) -> dict[str, Any]:
        info = {"version": self.flare_site["version"], "api": "next_token_async",
                "prefill": "begin_stream_with_params_async" if self.async_prefill else "begin_stream_with_params"}
        if self.handle is not None:
            info["backend_info"] = str(self.handle.backend_info())
        return info

    async def unload(self) -> None:
        for obj in (self.tokenizer, self.handle):
            if obj is not None:
                try:
                    obj.free()
                except JsException:
                    pass
        self.handle = self.tokenizer = None


def make(site: dict[str, Any], settings: Any, variant: Any) -> FlareEngine:
    """The registry's factory (app/engines/flare/__init__.py SPEC.factory); variant.options["webgpu"]."""
    return FlareEngine(site["flare"], webgpu=variant.options["webgpu"], async_prefill=settings.async_prefill)
