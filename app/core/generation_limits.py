"""What bounds a generation, from the GGUF metadata: the context length and the stop (end-of-generation) ids.

Pure: host and Pyodide. The benchmark applies one stop set to every engine, so that rows stop at
the same tokens and their token counts compare (issue: an edited `tokenizer.ggml.eos_token_id`
made llama.cpp run 64 tokens while flare stopped at its own EOS).
Keys: GGUF spec, "Standardized key-value pairs" (ggml/docs/gguf.md): `[arch].context_length`,
`tokenizer.ggml.eos_token_id`, and llama.cpp's `tokenizer.ggml.eot_token_id` / `eom_token_id`.
"""

from __future__ import annotations

from typing import Any

STOP_KEYS = ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")


def _id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def context_length(metadata: dict[str, Any]) -> int | None:
    """The model's trained context in tokens (`{general.architecture}.context_length`), or None if absent."""
    arch = metadata.get("general.architecture")
    value = metadata.get(f"{arch}.context_length") if isinstance(arch, str) else None
    return value if _id(value) else None


def stop_ids(metadata: dict[str, Any]) -> list[int]:
    """The end-of-generation ids every engine stops at: EOS, EOT and EOM where the file names them (sorted, unique)."""
    vocab = metadata.get("tokenizer.ggml.tokens")
    size = len(vocab) if isinstance(vocab, list) else None
    out = {i for i in (_id(metadata.get(k)) for k in STOP_KEYS) if i is not None and (size is None or i < size)}
    return sorted(out)


def limits(metadata: dict[str, Any]) -> dict[str, Any]:
    """{"context_length": int | None, "stop_ids": [int]} for a Model."""
    return {"context_length": context_length(metadata), "stop_ids": stop_ids(metadata)}


def context_refusal(engine_name: str, engine_context: int | None, prompt_tokens: int, max_tokens: int) -> str | None:
    """A sentence naming the numbers when prompt + max tokens exceed an engine's context, else None."""
    if engine_context is None:
        return None
    need = prompt_tokens + max_tokens
    if need <= engine_context:
        return None
    return (f"the prompt ({prompt_tokens} tokens) plus max tokens ({max_tokens}) is {need} tokens, more than "
            f"{engine_name}'s context of {engine_context} tokens: shorten the prompt or lower max tokens")
