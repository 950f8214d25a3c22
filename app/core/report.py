"""Results as text: a llama-bench-like Markdown table (CLI) and an HTML table (page, notebook)."""

from __future__ import annotations

import html
from typing import Any


def _pm(summary: dict | None, fmt: str = "{:.1f}", scale: float = 1.0) -> str:
    if not summary:
        return "-"
    mean = fmt.format(summary["mean"] * scale)
    if summary["stddev"] is None:
        return mean
    return f"{mean} ± {fmt.format(summary['stddev'] * scale)}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


def verdict(row: dict[str, Any]) -> str:
    """One word a reader cannot miss: is the output right?"""
    if row.get("error"):
        return "ERROR"
    if row.get("is_reference"):
        return "reference"
    c = row.get("correctness") or {}
    forced, greedy = c.get("forced_top1_agreement"), c.get("greedy_match")
    if forced is None and greedy is None:
        return "unchecked"
    # Two correct builds agree on nearly every teacher-forced step (near-ties aside); an engine that
    # agrees on most steps but not nearly all is degraded (e.g. coarser quantization), not broken.
    score = forced if forced is not None else greedy
    if score >= 0.9:
        return "ok"
    return "DEGRADED" if score >= 0.5 else "WRONG"


# The verdict comes right after the engine: a fast engine that answers wrongly must look wrong at a glance.
COLUMNS = ["engine", "backend", "verdict", "load s", "TTFT ms", "prefill tok/s", "decode tok/s", "ITL p50/p90/p99 ms",
           "tokens", "greedy match", "1st diverg.", "forced top-1", "perplexity", "weights"]


def weights_cell(row: dict[str, Any]) -> str:
    w = row.get("weights")
    if not w:
        return "-"
    text = f"{w['format']} {str(w.get('sha256') or '')[:8]}".strip()
    if w.get("converted_from_sha256"):
        text += f" (from {w['converted_from_sha256'][:8]})"
    return text


def row_cells(row: dict[str, Any]) -> list[str]:
    s = row.get("summary") or {}
    c = row.get("correctness") or {}
    load = row.get("load") or {}
    load_s = sum(v for k, v in load.items() if k.endswith("_ms") and k != "fetch_ms" and v) / 1000 if load else None
    itl = [s.get(k) for k in ("itl_p50_ms", "itl_p90_ms", "itl_p99_ms")]
    itl_text = "/".join("-" if x is None else f"{x['median']:.0f}" for x in itl)
    ppl = c.get("perplexity")
    return [
        row["engine"],
        row["backend"],
        verdict(row),
        _num(load_s),
        _pm(s.get("ttft_ms"), "{:.0f}"),
        _pm(s.get("prefill_tok_s"), "{:.1f}"),
        _pm(s.get("decode_tok_s"), "{:.2f}"),
        itl_text,
        _pm(s.get("tokens"), "{:.0f}"),
        "-" if row.get("is_reference") else _pct(c.get("greedy_match")),
        "-" if row.get("is_reference") else ("none" if c.get("greedy_match") == 1 else _num(c.get("first_divergence"), "{}")),
        "-" if row.get("is_reference") else _pct(c.get("forced_top1_agreement")),
        _num(ppl, "{:.3g}") if ppl is not None else "-",
        weights_cell(row),
    ]


def to_markdown(result: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for row in result["rows"]:
        lines.append("| " + " | ".join(row_cells(row)) + " |")
    notes = [f"- {row['engine']} {row['backend']}: {row['error']}" for row in result["rows"] if row.get("error")]
    return "\n".join(lines + ([""] + notes if notes else []))


def to_html(result: dict[str, Any]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = []
    for row in result["rows"]:
        cells = row_cells(row)
        cls = {"WRONG": "bad", "ERROR": "bad", "DEGRADED": "warn", "ok": "good"}.get(cells[2], "")
        tds = "".join(f'<td class="{cls}">{html.escape(x)}</td>' if i == 2 else f"<td>{html.escape(x)}</td>"
                      for i, x in enumerate(cells))
        body.append(f'<tr data-row="{html.escape(row["key"])}">{tds}</tr>')
        if row.get("error"):
            body.append(f'<tr><td colspan="{len(COLUMNS)}" class="bad">{html.escape(row["error"])}</td></tr>')
    return f'<table class="results"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
