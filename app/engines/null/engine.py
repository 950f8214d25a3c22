"""The null engine: flare's streaming API over no model (app/engines/null/engine.js), driven exactly as
flare is (app/engines/flare/engine.py), so that a row of it measures the harness alone.

`null` answers each `next_token_async` at once: its decode tok/s is the ceiling of the loop that drives
it. `null-5ms` busy-waits 5 ms a token on the main thread first, like a 200 tok/s CPU engine. Its
ids are placeholders and its teacher-forced answers say "no model": top-1 -1 (never a token) and a
uniform log-probability over the vocabulary, so its verdict is never `ok`, and its engine label says
what it is.
"""

from __future__ import annotations

import math
from typing import Any

from pyodide.ffi import to_js  # type: ignore[import-not-found]

from app.web import jsbridge
from app.engines.flare.engine import FlareStream
from app.engines.protocol import Model

UNKNOWN_VOCABULARY = 65536  # the uniform log-probability's denominator when the GGUF names no vocabulary


class NullEngine(FlareStream):
    engine = "null (harness ceiling)"

    def __init__(self, busy_ms: float = 0.0) -> None:
        self.busy_ms = float(busy_ms)
        self.backend = "js stub" if self.busy_ms == 0 else f"js stub, {self.busy_ms:g} ms/token"
        self.handle: Any = None
        self.vocabulary = UNKNOWN_VOCABULARY
        self.stop_reason: str | None = None
        self.ended_at_id = None

    def context_tokens(self, model: Model) -> int | None:
        return None  # no KV cache: no limit

    async def load(self, model: Model) -> dict[str, float]:
        module = await jsbridge.import_module("engines/null/engine.js")
        t0 = jsbridge.now_ms()
        # Its placeholder ids avoid the model's stop set, so a run ends where max tokens says.
        self.handle = module.createNullEngine(self.busy_ms, to_js(list(model.limits.get("stop_ids") or ())))
        tokens = (getattr(model, "metadata", None) or {}).get("tokenizer.ggml.tokens")
        if isinstance(tokens, (list, tuple)) and tokens:
            self.vocabulary = len(tokens)
        self.handle.set_repeat_last_n(0)
        return {"parse_ms": jsbridge.now_ms() - t0}

    async def teacher_forced(self, prefix: list[int], continuation: list[int]) -> list[tuple[int, float]]:
        # No model: no top-1 (-1 is never a token) and every token equally likely.
        return [(-1, -math.log(self.vocabulary)) for _ in continuation]

    async def decode_text(self, ids: list[int]) -> str:
        return f"(null engine: {len(ids)} placeholder ids, no model, no text)" if ids else ""

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"version": "-", "api": "next_token_async", "busy_ms_per_token": self.busy_ms,
                                "note": "no model: measures the harness (app/engines/null/engine.js)",
                                # The row's weights column says so too (Benchmark.weights_of reads this).
                                "weights": {"format": "none (null engine)", "size": 0, "sha256": None}}
        if self.handle is not None:
            info["backend_info"] = str(self.handle.backend_info())
        return info

    async def unload(self) -> None:
        if self.handle is not None:
            self.handle.free()
        self.handle = None


def make(site: dict[str, Any], settings: Any, variant: Any) -> NullEngine:
    """The registry's factory (app/engines/null/__init__.py SPEC.factory); variant.options["busy_ms"]."""
    return NullEngine(variant.options["busy_ms"])
