"""Agreement of an engine's tokens with the reference's (llama.cpp on the same GGUF and ids)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def greedy_agreement(reference: Sequence[int], got: Sequence[int]) -> tuple[float | None, int | None]:
    """(match fraction, first divergence index).

    The fraction counts positions where both sequences hold the same id, over the longer length
    (a sequence that stops early, or runs on, loses the positions it lacks). The first divergence
    is the first index where they differ, or where one ends before the other; None when equal.
    """
    n = max(len(reference), len(got))
    if n == 0:
        return None, None
    matches = sum(1 for a, b in zip(reference, got) if a == b)
    first = next((i for i, (a, b) in enumerate(zip(reference, got)) if a != b), None)
    if first is None and len(reference) != len(got):
        first = min(len(reference), len(got))
    return matches / n, first


def top1_agreement(top1: Sequence[int], reference_next: Sequence[int]) -> float | None:
    """Teacher-forced: how often the engine's own top-1 after each reference prefix is the reference's next token."""
    if len(top1) != len(reference_next):
        raise ValueError("one top-1 per reference position is needed")
    if not top1:
        return None
    return sum(1 for a, b in zip(top1, reference_next) if a == b) / len(top1)


def log_softmax_at(logits: Sequence[float], index: int) -> float:
    peak = max(logits)
    total = math.fsum(math.exp(x - peak) for x in logits)
    return logits[index] - peak - math.log(total)


def argmax(values: Sequence[float]) -> int:
    best, best_i = -math.inf, -1
    for i, v in enumerate(values):
        if v > best:  # NaN never wins
            best, best_i = v, i
    return best_i


def perplexity(logprobs: Sequence[float]) -> float | None:
    if not logprobs:
        return None
    mean = math.fsum(logprobs) / len(logprobs)
    return math.exp(-mean) if -mean < 700 else math.inf
