"""The numbers behind the charts (pure: host-testable); web/static/charts.js only draws them.

Charts must not mislead: a row whose verdict is WRONG is drawn apart (grey, hatched, after the
correct rows, its verdict in the tick label); a GPU ERROR row is labelled but gets no bar at all, since
its speeds measure work that was not done. Min/max over the measured runs are error bars on the mean.
"""

from __future__ import annotations

from typing import Any

from app.core import stats
from app.engines import colors
from app.core.report import verdict

PALETTE = colors()
APART_COLOR = "#8c959f"  # one grey for every row drawn apart: not on the colour scale of correct rows
APART = frozenset({"WRONG"})  # drawn, hatched
NO_BAR = frozenset({"GPU ERROR", "ERROR", "unsupported", "running"})  # labelled, never drawn


def _label(row: dict[str, Any]) -> list[str]:
    """Chart.js draws a list as a multi-line tick: the row, then its verdict when it is not simply right."""
    v = verdict(row)
    name = f"{row['engine']} {row['backend']}" + (f" {row['test']}" if row.get("test") not in (None, "chat") else "")
    if v in APART:
        return [name, f"[{v}: fast, wrong output]"]
    if v in NO_BAR:
        return [name, f"[{v}: no result]"]
    return [name]


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Correct (and reference / unchecked) rows first, then WRONG, then rows without a result."""
    def rank(row: dict[str, Any]) -> int:
        v = verdict(row)
        return 2 if v in NO_BAR else 1 if v in APART else 0
    return sorted(rows, key=rank)  # stable: the run order within each group


def _bars(rows: list[dict[str, Any]], value) -> dict[str, list]:
    """{labels, points: [{y, yMin, yMax} | None], colors, apart: [bool], verdicts} for the rows given."""
    out: dict[str, list] = {"labels": [], "points": [], "colors": [], "apart": [], "verdicts": []}
    for row in ordered(rows):
        v = verdict(row)
        out["labels"].append(_label(row))
        out["verdicts"].append(v)
        out["apart"].append(v in APART)
        out["colors"].append(APART_COLOR if v in APART else PALETTE.get(row["key"], "#57606a"))
        out["points"].append(None if v in NO_BAR else value(row))
    return out


def _summary_point(key: str, scale: float = 1.0):
    def value(row: dict[str, Any]) -> dict[str, float] | None:
        s = (row.get("summary") or {}).get(key)
        if not s:
            return None
        return {"y": s["mean"] * scale, "yMin": s["min"] * scale, "yMax": s["max"] * scale}
    return value


def _load_point(row: dict[str, Any]) -> dict[str, float] | None:
    load = row.get("load") or {}
    if not load:
        return None
    total = sum(v for k, v in load.items() if k.endswith("_ms") and k != "fetch_ms" and v) / 1000
    return {"y": total, "yMin": total, "yMax": total}


def _memory_point(row: dict[str, Any]) -> dict[str, float] | None:
    """The row's own memory in MB (app.web.gpu_capture.memory_fields): the bar at its peak, the whisker from
    after load to the peak; the page's total where the row's own was not measured (older results)."""
    m = row.get("memory") or {}
    if m.get("process_own_bytes_peak") is not None:
        return {"y": m["process_own_bytes_peak"] / 1e6, "yMin": m["process_own_bytes_peak"] / 1e6,
                "yMax": m["process_own_bytes_peak"] / 1e6}
    if m.get("engine_bytes_peak") is not None:
        values = [v / 1e6 for v in (m.get("engine_bytes_after_load"), m.get("engine_bytes_peak")) if v is not None]
    else:
        values = [v / 1e6 for v in (m.get("page_bytes_after_load"), m.get("page_bytes_at_end")) if v]
    if not values:
        return None
    return {"y": max(values), "yMin": min(values), "yMax": max(values)}


def _vs_native_point(row: dict[str, Any]) -> dict[str, float] | None:
    """The row's decode tok/s over native llama.cpp's (a ratio; no whiskers: it is a ratio of two means)."""
    ratio = (row.get("vs_native") or {}).get("decode")
    return None if ratio is None else {"y": ratio, "yMin": ratio, "yMax": ratio}


def chart_data(result: dict[str, Any]) -> dict[str, Any]:
    """Everything charts.js draws: decode tok/s, TTFT ms and load s bars, per-token latency lines, and where a
    native row ran, each row's decode speed over native's ("vs_native"; None without one).

    Empty (`{"empty": True}`) until a row has a figure, so the page shows no blank chart area.
    """
    rows = result["rows"]
    itl = []
    for row in ordered(rows):
        v = verdict(row)
        runs = [r for r in row.get("runs", []) if r["token_times_ms"]]
        if runs and v not in NO_BAR:
            gaps = stats.intervals(runs[0]["token_times_ms"])
            itl.append({"label": " ".join(_label(row)), "apart": v in APART,
                        "color": APART_COLOR if v in APART else PALETTE.get(row["key"], "#57606a"),
                        "points": [{"x": i + 1, "y": g} for i, g in enumerate(gaps)]})
    data = {"decode": _bars(rows, _summary_point("decode_tok_s")), "ttft": _bars(rows, _summary_point("ttft_ms")),
            "load": _bars(rows, _load_point), "memory": _bars(rows, _memory_point), "itl": itl}
    # Each row's decode speed as a fraction of native llama.cpp's on the same test (app.core.native_cost), for
    # rows that have one (a result with a native row: python -m app bench --engines ...,native).
    costed = [r for r in rows if r.get("vs_native")]
    data["vs_native"] = _bars(costed, _vs_native_point) if any(
        (r["vs_native"] or {}).get("decode") is not None for r in costed) else None
    data["empty"] = not any(p is not None for key in ("decode", "ttft", "load") for p in data[key]["points"])
    return data
