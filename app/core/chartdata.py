"""The numbers behind the charts (pure: host-testable); web/static/charts.js only draws them."""

from __future__ import annotations

from typing import Any

from app.core import stats

PALETTE = {"llamacpp-wasm": "#6e7781", "flare-cpu": "#1f6feb", "flare-webgpu": "#bf3989"}


def _bars(rows: list[dict[str, Any]], key: str, scale: float = 1.0) -> dict[str, list]:
    out: dict[str, list] = {"labels": [], "mean": [], "min": [], "max": [], "colors": []}
    for row in rows:
        summary = (row.get("summary") or {}).get(key)
        out["labels"].append(f"{row['engine']} {row['backend']}")
        out["colors"].append(PALETTE.get(row["key"], "#57606a"))
        for stat in ("mean", "min", "max"):
            out[stat].append(summary[stat] * scale if summary else None)
    return out


def chart_data(result: dict[str, Any]) -> dict[str, Any]:
    rows = result["rows"]
    load = {"labels": [], "mean": [], "min": [], "max": [], "colors": []}
    for row in rows:
        total = sum(v for k, v in (row.get("load") or {}).items() if k.endswith("_ms") and v) / 1000
        load["labels"].append(f"{row['engine']} {row['backend']}")
        load["colors"].append(PALETTE.get(row["key"], "#57606a"))
        load["mean"].append(total if row.get("load") else None)
        load["min"].append(None)
        load["max"].append(None)
    itl = []
    for row in rows:
        runs = [r for r in row.get("runs", []) if r["token_times_ms"]]
        if runs:
            gaps = stats.intervals(runs[0]["token_times_ms"])
            itl.append({"label": f"{row['engine']} {row['backend']}", "color": PALETTE.get(row["key"], "#57606a"),
                        "points": [{"x": i + 1, "y": g} for i, g in enumerate(gaps)]})
    return {"decode": _bars(rows, "decode_tok_s"), "ttft": _bars(rows, "ttft_ms"), "load": load, "itl": itl}
