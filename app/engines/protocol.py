"""The one protocol every engine's Pyodide class meets, the model handed to it, and its error (pure).

`Engine` lists everything app/web/bench.py calls or reads; `EngineBase` gives the members an engine may
leave out their neutral defaults (no refusal, no text input, no own token times). The registry
(app/engines/__init__.py) checks each class against `Engine` when it is made (`check_engine_class`), so
an engine missing a member fails before any row runs, not mid-run.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from app.engines.spec import EngineSpec, Variant


class EngineError(RuntimeError):
    """An engine failed in a way the page reports in words (load refused, panic, bad state)."""


@dataclass
class Model:
    """Model bytes held in JS memory (a Uint8Array proxy): engines receive them, Python never copies them."""

    data: Any
    size: int  # bytes
    name: str
    sha256: str | None
    tokenizer_json: str | None  # hand-built tokenizer.json (flare's notebook helpers only); None where it cannot be built
    header: dict[str, Any]
    tensor_types: dict[str, int] = field(default_factory=dict)
    # app.core.generation_limits.limits(metadata): {"context_length": int | None, "stop_ids": [int]}
    limits: dict[str, Any] = field(default_factory=dict)
    # app.engines.unsupported_engines(header): engine key -> why it cannot honour this file
    refusals: dict[str, str] = field(default_factory=dict)
    # The GGUF's metadata (chat template, vocabulary, token types): what the prompt is rendered with
    metadata: dict[str, Any] = field(default_factory=dict)
    # Each metadata key's GGUF value type ("uint32", "array[string]", ...): what app.core.tokenizer_gguf writes with
    metadata_types: dict[str, str] = field(default_factory=dict)


class Engine(Protocol):
    """What the benchmark drives. Times are ms of `performance.now()`; ids are the model's token ids."""

    key: str  # the variant's key (Variant.key), e.g. "<folder>-wasm"
    engine: str  # what the table's first column says
    backend: str  # "wasm-cpu", "webgpu", "js stub"
    spec: EngineSpec  # set by the registry when the engine is made
    variant: Variant
    ended_at_id: int | None  # the id at which the engine ended its own stream (flare's EOS), else None
    token_time_ms: float | None  # with spec.drive.stamps_tokens: when the last id was produced

    def context_tokens(self, model: Model) -> int | None:
        """The most tokens (prompt + generated) this engine holds for `model`, known before loading; None: no limit known."""

    def unsupported_reason(self, model: Model) -> str | None:
        """Why this engine cannot run `model` in this browser, known without awaiting; None when it can."""

    async def unsupported_reason_async(self, model: Model) -> str | None:
        """What only an await can tell (a WebGPU adapter's features); None when it can run."""

    async def load(self, model: Model) -> dict[str, float]:
        """Load the model; returns the load phases in ms (parse_ms, gpu_init_ms...). Raises EngineError."""

    async def reset(self) -> None:
        """Forget the conversation: every run starts from an empty KV cache."""

    async def prefill(self, prompt_ids: list[int], max_tokens: int) -> None:
        """Consume the prompt ids (greedy sampling: temperature 0, top-k 1, no repeat penalty)."""

    async def prefill_text(self, prompt_text: str, max_tokens: int) -> None:
        """Consume the rendered prompt text (engines with spec.drive.takes_text only)."""

    async def next_token(self) -> int | None:
        """The next generated id, or None at end of stream (EOS or max_tokens)."""

    async def stop(self) -> None:
        """End the current stream early (the Stop button)."""

    async def teacher_forced(self, prefix: list[int], continuation: list[int]) -> list[tuple[int, float]]:
        """For each i: (own top-1, log p(continuation[i])) given prefix + continuation[:i] (correctness "forced-ids")."""

    async def forced_step(self, text: str) -> dict[str, Any]:
        """One greedy step after `text` (correctness "forced-text"): {id, prompt_tokens} or {error, utf8_loss}."""

    async def take_generations(self) -> list[dict[str, Any]]:
        """Per-run records the engine kept (text engines): {ids, text, prompt_tokens, cached_tokens, clamped}."""

    async def decode_text(self, ids: list[int]) -> str:
        """The text of generated ids, for showing what the engine answered."""

    def info(self) -> dict[str, Any]:
        """Version, backend details, threads: recorded with the row; converted weights under "weights"."""

    async def unload(self) -> None:
        """Free what load() took; never raises for an engine that failed to load."""


class EngineBase:
    """Neutral defaults for the members an engine may not need (see `Engine`)."""

    ended_at_id: int | None = None
    token_time_ms: float | None = None

    def unsupported_reason(self, model: Model) -> str | None:
        return None

    async def unsupported_reason_async(self, model: Model) -> str | None:
        return None

    async def prefill_text(self, prompt_text: str, max_tokens: int) -> None:
        raise EngineError(f"{type(self).__name__} takes prompt ids, not text")

    async def forced_step(self, text: str) -> dict[str, Any]:
        raise EngineError(f"{type(self).__name__} is not forced by text prefix")

    async def take_generations(self) -> list[dict[str, Any]]:
        return []


ASYNC_MEMBERS = ("unsupported_reason_async", "load", "reset", "prefill", "prefill_text", "next_token", "stop",
                 "teacher_forced", "forced_step", "take_generations", "decode_text", "unload")
SYNC_MEMBERS = ("context_tokens", "unsupported_reason", "info")
ATTRIBUTES = ("engine",)  # class-level; key/backend/spec/variant are per instance


def protocol_problems(cls: type) -> list[str]:
    """What `cls` lacks of `Engine`: ["no async method 'forced_step'", ...]; [] when it is complete."""
    out = []
    for name in ASYNC_MEMBERS:
        member = getattr(cls, name, None)
        if member is None or not inspect.iscoroutinefunction(member):
            out.append(f"no async method {name!r}")
    for name in SYNC_MEMBERS:
        member = getattr(cls, name, None)
        if member is None or not callable(member) or inspect.iscoroutinefunction(member):
            out.append(f"no method {name!r}")
    for name in ATTRIBUTES:
        if not isinstance(getattr(cls, name, None), str):
            out.append(f"no class attribute {name!r} (str)")
    return out


def check_engine_class(cls: type, where: str) -> None:
    """Raise TypeError naming every member `cls` lacks of the Engine protocol (`where`: the spec's factory)."""
    problems = protocol_problems(cls)
    if problems:
        raise TypeError(f"{where}: {cls.__name__} does not meet the Engine protocol: {'; '.join(problems)}")
