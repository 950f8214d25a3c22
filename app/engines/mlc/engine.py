"""MLC WebLLM (@mlc-ai/web-llm), on a model library and weights built from the benchmark's GGUF (`build.py --mlc`).

Python hands web-llm llama.cpp's prompt ids (never text: its tokenizer is used only to show the answer) and
awaits one id at a time through runner.js: prefill is web-llm's `forwardTokensAndSample(ids, true)`, which
returns the first id (so prefill ends when the first id arrives), and each decode step is
`forwardTokensAndSample([id], false)`. Each id's time is stamped in runner.js when web-llm hands it back, after
its device sync, so the time is the id's, not Python's receipt. Greedy: temperature 0 (web-llm divides by
max(1e-6, T)), top_p 1, no penalties. A fresh KV cache each run (`resetChat`).

The opt-in CPU sampler variant (`mlc-webgpu-cpu-argmax`) takes the argmax of the logits in JavaScript instead
of web-llm's GPU softmax + sort + top-p kernels: it changes how the engine runs, so its backend says so.
"""

from __future__ import annotations

from typing import Any

from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

from app.engines.protocol import EngineBase, EngineError, Model
from app.web import jsbridge

RUNNER = "engines/mlc/runner.js"
BUILD_HINT = ("this site was built without the MLC model: run `python build.py --mlc PATH` with PATH an mlc-llm "
              "checkout (needs pip install -e '.[mlc]' and Debian's emscripten; see the README's MLC section)")


class MlcEngine(EngineBase):
    engine = "MLC WebLLM"

    def __init__(self, mlc_site: dict[str, Any], quantization: str, cpu_argmax: bool) -> None:
        self.site = mlc_site
        self.quantization = quantization
        self.cpu_argmax = cpu_argmax
        # q0f16 is not the same weights and the CPU sampler not web-llm's own way: both said in the backend cell.
        self.backend = ("webgpu" + (" (q0f16)" if quantization == "q0f16" else "")
                        + (" (CPU argmax sampler)" if cpu_argmax else ""))
        self.runner: Any = None
        self.state: Any = None
        self.pending: int | None = None
        self.left = 0
        self.last: int | None = None
        self.token_time_ms: float | None = None
        # Filled by the first teacher-forced call (its prefix is the benchmark's prompt ids), and the same dict
        # object the row's info holds: does web-llm's tokenizer give our ids for the prompt's text?
        self.tokenizer_check: dict[str, Any] = {}

    def _model(self) -> dict[str, Any] | None:
        return (self.site.get("models") or {}).get(self.quantization)

    def unsupported_reason(self, model: Model) -> str | None:
        """Why this engine cannot run `model`, known before loading: it runs the models built from one GGUF."""
        info = self._model()
        if not info:
            if self.site.get("models"):
                return (f"this site has no {self.quantization} MLC model (built: {', '.join(sorted(self.site['models']))}): "
                        f"run `python build.py --mlc PATH --mlc-quantizations {self.quantization}`")
            return BUILD_HINT
        if model.sha256 and info["source_gguf_sha256"] != model.sha256:
            return (f"its MLC weights were converted from another GGUF (sha256 {info['source_gguf_sha256'][:8]}), "
                    f"not this one ({model.sha256[:8]}): its row would not share weights with the others")
        return None

    def context_tokens(self, model: Model) -> int | None:
        info = self._model() or {}
        return info.get("context_window_size") or model.limits.get("context_length")

    async def load(self, model: Model) -> dict[str, float]:
        reason = self.unsupported_reason(model)
        if reason:
            raise EngineError(reason)
        info = self._model()
        self.runner = await jsbridge.import_module(RUNNER)
        record = {
            # web-llm fetches <model>/resolve/main/<file>; the build serves the folder there.
            "model": jsbridge.page_url(info["dir"] + "/"),
            "model_id": info["model_id"],
            "model_lib": jsbridge.page_url(info["lib"]),
            "required_features": list(info.get("required_features") or []),
            "overrides": {"context_window_size": info.get("context_window_size") or 2048},
        }
        t0 = jsbridge.now_ms()
        try:
            self.state = await self.runner.load(jsbridge.to_js_object(record))
        except JsException as err:
            raise EngineError(f"web-llm could not load {info['model_id']}: {err}") from None
        return {"parse_ms": jsbridge.now_ms() - t0}

    async def reset(self) -> None:
        try:
            await self.runner.reset(self.state)
        except JsException as err:
            raise EngineError(f"web-llm resetChat failed: {err}") from None
        self.pending = None
        self.last = None

    async def _step(self, ids: list[int], prefill: bool) -> int:
        call = self.runner.forwardAndArgmax if self.cpu_argmax else self.runner.forwardAndSample
        try:
            pair = (await call(self.state, to_js(ids), prefill)).to_py()
        except JsException as err:
            raise EngineError(f"web-llm {'prefill' if prefill else 'decode'} failed: {err}") from None
        self.token_time_ms = float(pair[1])
        return int(pair[0])

    async def prefill(self, prompt_ids: list[int], max_tokens: int) -> None:
        self.left = max_tokens
        self.pending = await self._step(prompt_ids, True) if max_tokens > 0 else None

    async def next_token(self) -> int | None:
        if self.left <= 0:
            return None
        if self.pending is not None:
            token, self.pending = self.pending, None
        else:
            token = await self._step([self.last], False)
        self.left -= 1
        self.last = token
        return token

    async def stop(self) -> None:
        self.left = 0

    def _check_tokenizer(self, ids: list[int]) -> None:
        """Record whether web-llm's tokenizer encodes the text of `ids` back to `ids` (the row feeds ids, never
        text: this says whether the same text would have given the same prompt)."""
        text, back = self.runner.tokenizerRoundTrip(self.state, to_js(ids)).to_py()
        back = [int(x) for x in back]
        first = next((i for i, (a, b) in enumerate(zip(ids, back, strict=False)) if a != b),
                     None if len(ids) == len(back) else min(len(ids), len(back)))
        self.tokenizer_check.update({
            "method": "web-llm's tokenizer encodes the text of llama.cpp's prompt ids (decoded by web-llm)",
            "prompt_tokens": len(ids), "same_ids": first is None, "first_difference": first,
        })

    async def teacher_forced(self, prefix: list[int], continuation: list[int]) -> list[tuple[int, float]]:
        if not self.tokenizer_check:
            try:
                self._check_tokenizer(prefix)
            except JsException as err:
                self.tokenizer_check["error"] = f"web-llm's tokenizer failed: {err}"
        try:
            pairs = (await self.runner.teacherForced(self.state, to_js(prefix), to_js(continuation))).to_py()
        except JsException as err:
            raise EngineError(f"web-llm forward pass failed: {err}") from None
        return [(int(a), float(b)) for a, b in pairs]

    async def decode_text(self, ids: list[int]) -> str:
        return str(self.runner.decodeText(self.state, to_js(ids))) if ids else ""

    def info(self) -> dict[str, Any]:
        model = self._model() or {}
        return {"version": self.site.get("version"), "quantization": self.quantization,
                "sampler": "CPU argmax (opt-in)" if self.cpu_argmax else "web-llm GPU sampler (softmax, sort, top-p)",
                "token_times": "stamped in runner.js when web-llm hands the id back (after its device sync)",
                "input": "llama.cpp's prompt ids (forwardTokensAndSample), never text",
                "tokenizer_check": self.tokenizer_check,
                "mlc_build": model.get("build"),
                "weights": {"format": model.get("weights_format"), "dtype": self.quantization,
                            "size": model.get("weights_size"), "sha256": model.get("weights_sha256"),
                            "converted_from_gguf_sha256": model.get("source_gguf_sha256"),
                            "check": model.get("weights_check"),
                            "model_lib_sha256": model.get("lib_sha256")}}

    async def unload(self) -> None:
        if self.state is not None:
            try:
                await self.runner.unload(self.state)
            except JsException:
                pass
            self.state = None


def make(site: dict[str, Any], settings: Any, variant: Any) -> MlcEngine:
    """The registry's factory (app/engines/mlc/__init__.py SPEC.factory): variant.options quantization, cpu_argmax."""
    return MlcEngine(site.get("mlc") or {}, variant.options["quantization"], variant.options.get("cpu_argmax", False))
