"""Transformers.js (ONNX Runtime Web), on the same weights converted from the GGUF at build time.

Python hands it the prompt ids and awaits one token at a time (runner.js turns
generate()'s streamer into a queue). generate() runs its own loop and can produce several tokens
before Python's loop gets a turn, so each token's time is stamped in the streamer callback, when
the id was produced, not when Python received it (measured: otherwise 8 tokens seemed to arrive
within 20 ms, i.e. hundreds of tok/s that never happened). Prefill is not a separate call in Transformers.js: the first
token arrives from the same forward pass, so prefill_end is the moment the first token id is in
Python's hands (prefill tok/s is then prompt tokens / TTFT).
"""

from __future__ import annotations

from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from app.web import jsbridge
from app.engines.protocol import EngineBase, EngineError, Model

RUNNER = "engines/transformersjs/runner.js"


class TransformersJsEngine(EngineBase):
    engine = "transformers.js"

    def __init__(self, tjs_site: dict[str, Any], webgpu: bool) -> None:
        self.site = tjs_site
        self.webgpu = webgpu
        self.backend = "webgpu" if webgpu else "wasm-cpu"
        self.model: Any = None
        self.runner: Any = None
        self.generation: Any = None
        self.eos: set[int] = set()
        self.tokenizer: Any = None
        # Token times come from the streamer callback (JS), not from Python's receipt (SPEC.drive.stamps_tokens).
        self.token_time_ms: float | None = None

    def unsupported_reason(self, model: Model) -> str | None:
        """Why this engine cannot run `model`, known before loading: it runs one converted model only."""
        info = self.site.get("model")
        if not info:
            return ("this site was built without the Transformers.js model: run `python build.py --transformersjs` "
                    "(needs pip install -e '.[convert]')")
        if model.sha256 and info["source_gguf_sha256"] != model.sha256:
            return (f"its ONNX model was converted from another GGUF (sha256 {info['source_gguf_sha256'][:8]}), "
                    f"not this one ({model.sha256[:8]}): its row would not share weights with the others")
        return None

    def context_tokens(self, model: Model) -> int | None:
        # The ONNX model is converted from the same GGUF: max_position_embeddings = `{arch}.context_length`.
        return model.limits.get("context_length")

    async def load(self, model: Model) -> dict[str, float]:
        info = self.site.get("model")
        if not info:
            raise EngineError(
                "this site was built without the Transformers.js model: run `python build.py --transformersjs` "
                "(needs pip install -e '.[convert]')"
            )
        if model.sha256 and info["source_gguf_sha256"] != model.sha256:
            raise EngineError("the Transformers.js model was converted from another GGUF than the one being benchmarked; "
                              "its rows would not share weights with the others")
        tjs = await jsbridge.import_module("vendor/transformers/transformers.web.js")
        self.runner = await jsbridge.import_module(RUNNER)
        env = tjs.env
        env.allowRemoteModels = False  # nothing is fetched from a hub
        env.allowLocalModels = True
        # A path, not a full URL: Transformers.js skips its local-file lookup for http(s) URLs.
        env.localModelPath = str(js.URL.new(jsbridge.page_url("models/")).pathname)
        env.useBrowserCache = False
        env.backends.onnx.wasm.wasmPaths = jsbridge.page_url(self.site["wasm_paths"])
        name = info["dir"].removeprefix("models/")
        options = {"dtype": info["dtype"], "device": "webgpu" if self.webgpu else "wasm"}
        if info.get("model_file_name"):  # onnx/{model_file_name}.onnx (dtype fp32: no suffix)
            options["model_file_name"] = info["model_file_name"]
        t0 = jsbridge.now_ms()
        try:
            self.model = await tjs.AutoModelForCausalLM.from_pretrained(name, jsbridge.to_js_object(options))
            self.tokenizer = await tjs.AutoTokenizer.from_pretrained(name, jsbridge.to_js_object({}))
        except JsException as err:
            raise EngineError(f"Transformers.js could not load {info['dir']}: {err}") from None
        eos = self.model.generation_config.eos_token_id
        self.eos = {int(x) for x in (eos.to_py() if hasattr(eos, "to_py") else [eos])} if eos is not None else set()
        return {"parse_ms": jsbridge.now_ms() - t0}

    async def reset(self) -> None:
        # generate() starts without past key/values: every run begins from an empty cache.
        self.generation = None

    async def prefill(self, prompt_ids: list[int], max_tokens: int) -> None:
        self.generation = self.runner.startGeneration(self.model, to_js(prompt_ids), max_tokens)

    async def next_token(self) -> int | None:
        try:
            token = await self.generation.next()
        except JsException as err:
            raise EngineError(f"Transformers.js generate failed: {err}") from None
        if token is None:
            if self.generation.error():
                raise EngineError(f"Transformers.js generate failed: {self.generation.error()}")
            return None
        token, self.token_time_ms = int(token[0]), float(token[1])
        if token in self.eos:
            await self.generation.finished
            return None  # EOS ends the stream and is not counted, as with the other engines
        return token

    async def stop(self) -> None:
        if self.generation is not None:
            self.generation.stop()
            await self.generation.finished

    async def teacher_forced(self, prefix: list[int], continuation: list[int]) -> list[tuple[int, float]]:
        try:
            pairs = (await self.runner.teacherForced(self.model, to_js(prefix), to_js(continuation))).to_py()
        except JsException as err:
            raise EngineError(f"Transformers.js forward pass failed: {err}") from None
        return [(int(a), float(b)) for a, b in pairs]

    async def decode_text(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(to_js(ids))) if ids else ""

    def info(self) -> dict[str, Any]:
        model = self.site.get("model") or {}
        return {"version": self.site["version"], "onnxruntime_web": self.site["onnxruntime_web"],
                # The build's format line ("GGUF Q8_0 blocks (int8 x 32 + scale), same as <gguf sha8>"); a site
                # built before it carried the dynamic int8 model.
                "weights": {"format": model.get("weights_format") or "ONNX int8 (dynamic, per-channel)",
                            "dtype": model.get("dtype"), "file": model.get("file"),
                            "size": model.get("weights_size"), "sha256": model.get("weights_sha256"),
                            "converted_from_gguf_sha256": model.get("source_gguf_sha256")}}

    async def unload(self) -> None:
        if self.model is not None:
            try:
                await self.model.dispose()
            except (JsException, AttributeError):
                pass
            self.model = None


def make(site: dict[str, Any], settings: Any, variant: Any) -> TransformersJsEngine:
    """The registry's factory (app/engines/transformersjs/__init__.py SPEC.factory); variant.options["webgpu"]."""
    return TransformersJsEngine(site["transformersjs"], webgpu=variant.options["webgpu"])
