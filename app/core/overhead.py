"""Python-vs-JS decode loop comparison (pure): spread per loop, the ratio of decode tok/s, and for the
null engine the harness's ceiling and its cost per token in microseconds."""

from __future__ import annotations

import statistics
from typing import Any

from app.core import stats


def overhead_summary(python_rates: list[float], js_rates: list[float]) -> dict[str, Any]:
    if not python_rates or not js_rates:
        raise ValueError("both loops need at least one measured round")
    py, js = stats.summarize(python_rates), stats.summarize(js_rates)
    ratio = statistics.median(python_rates) / statistics.median(js_rates)
    per_round = [p / j for p, j in zip(python_rates, js_rates)]
    return {"python_decode_tok_s": py, "js_decode_tok_s": js, "ratio_python_over_js": ratio,
            "per_round_ratio": per_round}


def per_token_overhead_us(python_rates: list[float], js_rates: list[float]) -> list[float]:
    """Per round: the Python loop's time per token minus the JS loop's, in microseconds (decode tok/s in)."""
    return [1e6 / p - 1e6 / j for p, j in zip(python_rates, js_rates)]


def null_summary(ceiling_python: list[float], ceiling_js: list[float],
                 busy_python: list[float], busy_js: list[float], busy_ms: float,
                 busy_itl_p50_python: list[float] | None = None, busy_itl_p50_js: list[float] | None = None) -> dict[str, Any]:
    """The null engine's figures: each loop's ceiling (decode tok/s of the engine that answers at once),
    the per-token overhead (Python minus JS, µs, one sample a round) and the Python/JS ratio on the
    engine that busy-waits `busy_ms` a token; with the median inter-token intervals (ms) of the busy
    runs, also how much longer Python's is there (µs, one sample a round): the same overhead when the
    engine's work in between has left the caches cold."""
    ceiling = overhead_summary(ceiling_python, ceiling_js)
    out = {"ceiling": ceiling,
           "overhead_us_per_token": stats.summarize(per_token_overhead_us(ceiling_python, ceiling_js)),
           "busy_ms": busy_ms, "busy": overhead_summary(busy_python, busy_js)}
    if busy_itl_p50_python and busy_itl_p50_js:
        out["busy_itl_p50_overhead_us"] = stats.summarize(
            [(p - j) * 1000 for p, j in zip(busy_itl_p50_python, busy_itl_p50_js)])
    return out


def _spread(v: dict[str, Any], fmt: str) -> str:
    return (f"median {v['median']:{fmt}}, mean {v['mean']:{fmt}} ± {v['stddev'] or 0:{fmt}}, "
            f"min {v['min']:{fmt}}, max {v['max']:{fmt}}")


def null_lines(summary: dict[str, Any], ceiling_tokens: int, busy_tokens: int) -> list[str]:
    """The command line's closing lines for `overhead --engine null`; the last one is the 5 ms ratio."""
    c, o, b = summary["ceiling"], summary["overhead_us_per_token"], summary["busy"]
    n = c["python_decode_tok_s"]["n"]
    busy = f"{summary['busy_ms']:g} ms"
    return [
        f"harness ceiling, JS loop:     {_spread(c['js_decode_tok_s'], ',.0f')} tok/s "
        f"(null engine, {n} rounds of {ceiling_tokens} tokens)",
        f"harness ceiling, Python loop: {_spread(c['python_decode_tok_s'], ',.0f')} tok/s",
        f"per-token overhead (Python minus JS): {_spread(o, '.2f')} us",
        f"{busy} null engine: JS loop median {b['js_decode_tok_s']['median']:.2f} tok/s, Python loop median "
        f"{b['python_decode_tok_s']['median']:.2f} tok/s ({n} rounds of {busy_tokens} tokens)",
    ] + ([
        f"{busy} null engine, median inter-token interval, Python minus JS: "
        f"{_spread(summary['busy_itl_p50_overhead_us'], '.1f')} us (timer resolution 5 us)",
    ] if summary.get("busy_itl_p50_overhead_us") else []) + [
        f"ratio of decode tok/s on the {busy} null engine (Python / JS): {b['ratio_python_over_js']:.4f}",
    ]
