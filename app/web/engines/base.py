"""The engine protocol the benchmark drives, and the model handed to every engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class EngineError(RuntimeError):
    """An engine failed in a way the page reports in words (load refused, panic, bad state)."""


@dataclass
class Model:
    """Model bytes held in JS memory (a Uint8Array proxy): engines receive them, Python never copies them."""

    data: Any
    size: int
    name: str
    sha256: str | None
    tokenizer_json: str | None  # hand-built tokenizer.json (flare's notebook helpers only); None where it cannot be built
    header: dict[str, Any]
    tensor_types: dict[str, int] = field(default_factory=dict)
    # app.core.generation_limits.limits(metadata): {"context_length": int | None, "stop_ids": [int]}
    limits: dict[str, Any] = field(default_factory=dict)
    # app.core.engine_support.unsupported_engines(header): engine key -> why it cannot honour this file
    refusals: dict[str, str] = field(default_factory=dict)
    # The GGUF's metadata (chat template, vocabulary, token types): what the prompt is rendered with
    metadata: dict[str, Any] = field(default_factory=dict)


class Engine(Protocol):
    key: str  # "flare-cpu", "flare-webgpu", "llamacpp-wasm"
    engine: str  # what the table's first column says
    backend: str  # "wasm-cpu", "webgpu"

    def context_tokens(self, model: Model) -> int | None:
        """The most tokens (prompt + generated) this engine holds for `model`, known before loading; None: no limit known."""

    async def load(self, model: Model) -> dict[str, float]:
        """Load the model; returns the load phases in ms (parse_ms, gpu_init_ms...)."""

    async def reset(self) -> None:
        """Forget the conversation: every run starts from an empty KV cache."""

    async def prefill(self, prompt_ids: list[int], max_tokens: int) -> None:
        """Consume the prompt (greedy sampling: temperature 0, top-k 1, no repeat penalty)."""

    async def next_token(self) -> int | None:
        """The next generated id, or None at end of stream (EOS or max_tokens)."""

    async def stop(self) -> None:
        """End the current stream early (the Stop button)."""

    async def teacher_forced(self, prefix: list[int], continuation: list[int]) -> list[tuple[int, float]]:
        """For each i: (own top-1, log p(continuation[i])) given prefix + continuation[:i]."""

    async def decode_text(self, ids: list[int]) -> str:
        """The text of generated ids, for showing what the engine answered."""

    def info(self) -> dict[str, Any]:
        """Version, backend details, threads: recorded with the row; converted weights under "weights"."""

    async def unload(self) -> None:
        ...
