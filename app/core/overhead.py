"""Python-vs-JS decode loop comparison (pure): spread per loop and the ratio of decode tok/s."""

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
