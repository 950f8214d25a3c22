"""Sweep tests named as llama-bench names them (pure).

llama-bench (llama.cpp tools/llama-bench) measures `pp<N>` (prompt processing of N tokens) and `tg<N>`
(generating N tokens), with `-d D` adding a context of D tokens first ("tg128 @ d512"). Here a test's
prompt is exactly N (or D) tokens of a fixed text, the benchmark's perplexity passage repeated, as
llama.cpp's ids; tg tests ignore end-of-generation ids so every engine runs the same length.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import cycle, islice


@dataclass(frozen=True)
class SweepTest:
    name: str  # "pp512", "tg128", "tg128 @ d512"
    n_prompt: int  # prompt tokens fed (pp: N; tg: the depth, at least 1)
    n_gen: int  # tokens generated (pp: 1, the first token ends the prefill)
    n_depth: int  # context before generation (tg only)
    kind: str  # "pp" or "tg"


def tests(n_prompt: list[int], n_gen: list[int], depth: list[int]) -> list[SweepTest]:
    """Every pp test, then every (tg, depth) combination, in the order given."""
    out = [SweepTest(f"pp{n}", n, 1, 0, "pp") for n in n_prompt]
    for g in n_gen:
        for d in depth or [0]:
            out.append(SweepTest(f"tg{g}" + (f" @ d{d}" if d else ""), max(d, 1), g, d, "tg"))
    return out


def prompt_of(length: int, source_ids: list[int], bos_id: int | None) -> list[int]:
    """Exactly `length` ids: the model's BOS first when it has one (bos_id), then `source_ids` repeated.

    Raises ValueError when there is no text to repeat."""
    if length < 1:
        raise ValueError("a prompt needs at least one token")
    head = [bos_id] if bos_id is not None and bos_id >= 0 else []
    body = [i for i in source_ids if i != bos_id]
    if not body and length > len(head):
        raise ValueError("the fixed text has no tokens to repeat")
    return (head + list(islice(cycle(body), max(0, length - len(head)))))[:length]
