"""Chat prompt rendering (pure; host and browser)."""

from __future__ import annotations

DEFAULT_SYSTEM = "You are a helpful assistant."
DEFAULT_PROMPT = "What is the capital of France?"


def chatml(user: str, system: str | None = DEFAULT_SYSTEM) -> str:
    """SmolLM2's ChatML template, ending where the assistant's reply begins."""
    parts = []
    if system:
        parts.append(f"<|im_start|>system\n{system}<|im_end|>\n")
    parts.append(f"<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n")
    return "".join(parts)
