"""Statistics over benchmark samples: plain functions, no state (stdlib `statistics`)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


class TimestampError(ValueError):
    """Timestamps that go backwards cannot be summarised honestly."""


def check_increasing(times: Sequence[float], what: str = "token timestamps") -> None:
    for i in range(1, len(times)):
        if times[i] < times[i - 1]:
            raise TimestampError(f"{what} go backwards at index {i}: {times[i - 1]} then {times[i]}")


def summarize(values: Sequence[float]) -> dict | None:
    """mean, sample stddev, median, min, max and the raw samples; None when there are none."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return {
        "n": len(vals),
        "mean": statistics.fmean(vals),
        "stddev": statistics.stdev(vals) if len(vals) > 1 else None,
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "samples": vals,
    }


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside [0, 100]")
    vals = sorted(values)
    if not vals:
        return None
    pos = (len(vals) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return vals[lo] + (vals[hi] - vals[lo]) * (pos - lo)


def intervals(times: Sequence[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def decode_rate(times_ms: Sequence[float]) -> float | None:
    """Decode tok/s = (n - 1) / (t_last - t_first): the first token's time belongs to TTFT."""
    if len(times_ms) < 2:
        return None
    span = times_ms[-1] - times_ms[0]
    if span <= 0:
        return None  # all tokens within one timer tick: no honest rate
    return (len(times_ms) - 1) / (span / 1000)
