"""Results as text: a llama-bench-like Markdown table (CLI) and an HTML table (page, notebook)."""

from __future__ import annotations

import html
from typing import Any

from app.core import native_cost


def _pm(summary: dict | None, fmt: str = "{:.1f}", scale: float = 1.0) -> str:
    if not summary:
        return "-"
    mean = fmt.format(summary["mean"] * scale)
    if summary["stddev"] is None:
        return mean
    return f"{mean} ± {fmt.replace('+', '').format(summary['stddev'] * scale)}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _num(value: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if value is None else fmt.format(value)


# Verdicts from worst to best; the thresholds are those of `verdict` (README, "Reading a run").
VERDICTS = ("GPU ERROR", "ERROR", "WRONG", "DEGRADED", "unsupported", "unchecked", "ok", "reference", "running")
OK_AT, DEGRADED_AT = 0.9, 0.5


def verdict(row: dict[str, Any]) -> str:
    """One word a reader cannot miss: is the output right, and did the engine compute at all?

    GPU ERROR: the engine's WebGPU device reported errors or was lost during the row (its speeds are
    not results); ERROR: the row failed; unsupported: not run (the engine cannot honour this model or
    prompt); then, against llama.cpp, teacher-forced top-1 agreement >= 90% ok, >= 50% DEGRADED, else WRONG.
    """
    if row.get("unsupported"):
        return "unsupported"
    if row.get("in_progress"):
        return "running"
    if (row.get("gpu_errors") or {}).get("count"):
        return "GPU ERROR"
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
    if score >= OK_AT:
        return "ok"
    return "DEGRADED" if score >= DEGRADED_AT else "WRONG"


def speeds_invalid(row: dict[str, Any]) -> bool:
    """The row's speed figures are not results: the GPU reported errors, so the work was not (all) done."""
    return verdict(row) == "GPU ERROR"


# The verdict comes right after the engine: a fast engine that answers wrongly must look wrong at a glance.
COLUMNS = ["engine", "backend", "verdict", "test", "load s", "memory MB", "TTFT ms", "prefill tok/s", "decode tok/s", "ITL p50/p90/p99 ms", "ITL slope ms/1k",
           "tokens", "greedy match", "1st diverg.", "forced top-1", "perplexity", "weights"]


def test_cell(row: dict[str, Any]) -> str:
    """The row's test: "chat p32+g64" for the chat prompt, or the llama-bench name of a sweep test."""
    test = row.get("test") or "chat"
    if test == "chat" and row.get("n_prompt") is not None:
        return f"chat p{row['n_prompt']}+g{row.get('n_gen')}"
    return test


def own_memory(row: dict[str, Any]) -> tuple[float | None, float | None, str]:
    """A row's own peak memory: (bytes, ratio to the model file, source). The host's count of the browser's
    processes where the run had one (app.host.process_memory: `process_own_bytes_peak`), else the page's own count
    (app.web.gpu_capture.memory_fields: `engine_bytes_peak`); (None, None, "") where neither was measured."""
    m = row.get("memory") or {}
    if m.get("process_own_bytes_peak") is not None:
        return m["process_own_bytes_peak"], m.get("process_own_to_model"), "process"
    if m.get("engine_bytes_peak") is not None:
        return m["engine_bytes_peak"], m.get("engine_peak_to_model"), "page"
    return None, None, ""


def memory_cell(row: dict[str, Any]) -> str:
    """The row's own peak memory in MB and its ratio to the model file ("312 (2.2x)", own_memory); the page's
    total peak, marked "page", where the row's own was not measured (results before 2026-12-05); else "-"."""
    own, ratio, _ = own_memory(row)
    if own is not None:
        return f"{own / 1e6:.0f}" + (f" ({ratio:.1f}x)" if ratio is not None else "")
    m = row.get("memory") or {}
    if not m.get("page_bytes_peak"):
        return "-"
    ratio_text = f" ({m['peak_to_model']:.1f}x)" if m.get("peak_to_model") else ""
    return f"page {m['page_bytes_peak'] / 1e6:.0f}{ratio_text}"


def page_memory_note(result: dict[str, Any]) -> list[str]:
    """One line saying what the memory column counts, with the whole's peak (MB) apart from the rows' own."""
    rows = result.get("rows") or []
    sources = {own_memory(r)[2] for r in rows} - {""}
    process = [(r.get("memory") or {}).get("process_bytes_peak") for r in rows]
    process = [p for p in process if p]
    page = [(r.get("memory") or {}).get("page_bytes_peak") for r in rows]
    page = [p for p in page if p]
    if "process" in sources:
        return [f"memory MB is each row's own: the browser's processes (PSS, sampled by the host) at the row's peak "
                f"over what they held before any engine loaded; the browser as a whole peaked at "
                f"{max(process) / 1e6:.0f} MB"]
    if sources or page:
        whole = f"; the page as a whole peaked at {max(page) / 1e6:.0f} MB" if page else ""
        return [f"memory MB is each row's own as the page counts it (performance.measureUserAgentSpecificMemory: "
                f"its growth at the row's peak over what it held before any engine loaded){whole}"]
    return []


def weights_cell(row: dict[str, Any]) -> str:
    w = row.get("weights")
    if not w:
        return "-"
    text = f"{w['format']} {str(w.get('sha256') or '')[:8]}".strip()
    if w.get("converted_from_sha256"):
        text += f" (from {w['converted_from_sha256'][:8]})"
    return text


SPEED_COLUMNS = frozenset({"TTFT ms", "prefill tok/s", "decode tok/s", "ITL p50/p90/p99 ms", "ITL slope ms/1k",
                           "vs native dec/pre"})
INVALID_NOTE = "struck-through speeds: the engine's GPU reported errors during the row, so they measure work not done"


def row_cells(row: dict[str, Any]) -> list[str]:
    s = row.get("summary") or {}
    c = row.get("correctness") or {}
    load = row.get("load") or {}
    load_s = sum(v for k, v in load.items() if k.endswith("_ms") and k != "fetch_ms" and v) / 1000 if load else None
    itl = [s.get(k) for k in ("itl_p50_ms", "itl_p90_ms", "itl_p99_ms")]
    itl_text = "/".join("-" if x is None else f"{x['median']:.0f}" for x in itl)
    ppl = c.get("perplexity")
    if row.get("test") not in (None, "chat"):
        c, ppl = {}, None  # a sweep row: its verdict is the chat row's; the figures are shown there
    cold = any(r.get("cold") for r in row.get("runs") or [])
    threads = (row.get("info") or {}).get("threads")
    build = (row.get("info") or {}).get("build")  # an engine that ships several builds says which ran (wasm32...)
    return [
        row["engine"],
        row["backend"] + (f" ({build})" if build else "") + (f", {threads} thread{'s' if threads != 1 else ''}" if threads else ""),
        verdict(row),
        test_cell(row),
        _num(load_s),
        memory_cell(row),
        _pm(s.get("ttft_ms"), "{:.0f}") + (" (cold)" if cold and s.get("ttft_ms") else ""),
        _pm(s.get("prefill_tok_s"), "{:.1f}"),
        _pm(s.get("decode_tok_s"), "{:.2f}"),
        itl_text,
        _pm(s.get("itl_slope_ms_per_1k"), "{:+.1f}"),
        _pm(s.get("tokens"), "{:.0f}"),
        "-" if row.get("is_reference") else _pct(c.get("greedy_match")),
        "-" if row.get("is_reference") else ("none" if c.get("greedy_match") == 1 else _num(c.get("first_divergence"), "{}")),
        "-" if row.get("is_reference") else _pct(c.get("forced_top1_agreement")),
        _num(ppl, "{:.3g}") if ppl is not None else "-",
        weights_cell(row),
    ]


def short_version(version: str) -> str:
    """'153.8.0' -> '153', '156.0.7000.1' -> '156', WebKitGTK's '2.50.6' -> '2.50' (a major version below 10 says little)."""
    parts = str(version or "").split(".")
    return parts[0] if not parts[0].isdigit() or int(parts[0]) >= 10 else ".".join(parts[:2])


def browser_cell(row: dict[str, Any]) -> str:
    """The browser a merged row ran in ("firefox 153", "chrome 156"): its node's (a Grid node, or one browser of
    `--browser all`); "" for a row of a single run (the environment says where)."""
    node = row.get("node") or {}
    return f"{node.get('browser') or ''} {short_version(node.get('browser_version') or '')}".strip()


VS_NATIVE = "vs native dec/pre"  # the row's decode and prefill speed over native llama.cpp's (app.core.native_cost)


def columns(result: dict[str, Any]) -> list[str]:
    """COLUMNS, with "browser" after the verdict when the rows come from more than one place (merged results), and
    VS_NATIVE after "decode tok/s" when a row has a cost against native (a native row ran)."""
    names = list(COLUMNS)
    if any(r.get("vs_native") for r in result["rows"]):
        names.insert(names.index("decode tok/s") + 1, VS_NATIVE)
    if any(browser_cell(r) for r in result["rows"]):
        names = names[:3] + ["browser"] + names[3:]
    return names


def cells_of(result: dict[str, Any], row: dict[str, Any]) -> list[str]:
    """row_cells, in the order of columns(result)."""
    cells = row_cells(row)
    names = columns(result)
    if VS_NATIVE in names:
        cells.insert(COLUMNS.index("decode tok/s") + 1, native_cost.cell(row))
    if "browser" not in names:
        return cells
    browser = browser_cell(row)
    if browser and (row.get("node") or {}).get("label") == browser:  # --browser all: the column says it, once
        cells[1] = cells[1].replace(f" [{browser}]", "", 1)
    return cells[:3] + [browser or "-"] + cells[3:]


def _marked(row: dict[str, Any], strike: Any, result: dict[str, Any] | None = None) -> list[str]:
    names = columns(result) if result is not None else COLUMNS
    cells = cells_of(result, row) if result is not None else row_cells(row)
    if speeds_invalid(row):
        cells = [strike(c) if name in SPEED_COLUMNS and c != "-" else c for name, c in zip(names, cells)]
    return cells


def _plain_strike(text: str) -> str:
    # U+0336 (combining long stroke overlay) strikes text in a terminal; the x marks it where that does not render.
    return "x " + "".join(ch + "\u0336" for ch in text)


def _first_line(message: str, limit: int = 300) -> str:
    line = message.strip().splitlines()[0] if message.strip() else message
    return line if len(line) <= limit else line[: limit - 1] + "…"


def row_notes(row: dict[str, Any]) -> list[str]:
    """Lines to show under a row: why it was not run, its error, its first GPU error, a WASM trap."""
    out = []
    if row.get("unsupported"):
        out.append(f"unsupported: {row['unsupported']}")
    g = row.get("gpu_errors")
    if g and g.get("count"):
        kinds = ", ".join(f"{n} {k}" for k, n in g["by_kind"].items())
        out.append(f"GPU errors ({kinds}): {_first_line((g.get('first_messages') or ['(no message)'])[0])}")
    if row.get("error"):
        out.append(row["error"])
    c = row.get("console_errors")
    if c and c.get("by_kind", {}).get("wasm-trap"):
        out.append(f"WASM trap: {_first_line(c['first_messages'][0])}")
    out += [_first_line(n) for n in row.get("notes") or []]  # an engine's own checks (wllama 3.x: counts, no perplexity)
    return out


def to_text(result: dict[str, Any]) -> str:
    """The table as aligned plain text (CLI), struck-through speeds marked 'x', notes under the table."""
    names = columns(result)
    rows = [names] + [_marked(r, _plain_strike, result) for r in result["rows"]]
    widths = [max(_width(r[i]) for r in rows) for i in range(len(names))]
    first_number = names.index("load s")
    out = []
    for n, r in enumerate(rows):
        out.append("  ".join(_pad(c, w, right=i >= first_number) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out + _footnotes(result))


def _width(text: str) -> int:
    return sum(1 for ch in text if ch != "\u0336")


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def _footnotes(result: dict[str, Any]) -> list[str]:
    notes = [f"- {row['engine']} {row['backend']}: {line}" for row in result["rows"] for line in row_notes(row)]
    if any(speeds_invalid(r) for r in result["rows"]):
        notes.append(f"- {INVALID_NOTE}")
    return [""] + notes if notes else []


def to_markdown(result: dict[str, Any]) -> str:
    names = columns(result)
    lines = ["| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|"]
    for row in result["rows"]:
        lines.append("| " + " | ".join(_marked(row, lambda c: f"~~{c}~~", result)) + " |")
    return "\n".join(lines + _footnotes(result))


VERDICT_CLASS = {"WRONG": "bad", "ERROR": "bad", "GPU ERROR": "bad", "DEGRADED": "warn", "ok": "good",
                 "unsupported": "muted"}


def to_html(result: dict[str, Any]) -> str:
    """The results table; engine, backend and verdict are the first three (sticky) columns."""
    names = columns(result)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    body = []
    for row in result["rows"]:
        cells = cells_of(result, row)
        invalid = speeds_invalid(row)
        tds = []
        for i, (name, x) in enumerate(zip(names, cells)):
            text = html.escape(x)
            if i == 2:
                tds.append(f'<td class="verdict {VERDICT_CLASS.get(x, "")}">{text}</td>')
            elif invalid and name in SPEED_COLUMNS and x != "-":
                tds.append(f'<td class="invalid" title="not a result: the GPU reported errors"><s>{text}</s></td>')
            else:
                tds.append(f"<td>{text}</td>")
        body.append(f'<tr data-row="{html.escape(row["key"])}" data-verdict="{html.escape(cells[2])}">{"".join(tds)}</tr>')
        for note in row_notes(row):
            # The note stays in view while the table scrolls sideways (a sticky block inside the wide cell).
            body.append(f'<tr class="note"><td colspan="{len(names)}" class="bad"><div>{html.escape(note)}</div></td></tr>')
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result_notes(result))
    return (f'<table class="results"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
            + (f'<ul class="result-notes warn">{notes}</ul>' if notes else ""))


def _ref_ppl(result: dict[str, Any]) -> float | None:
    return next(((r.get("correctness") or {}).get("perplexity") for r in result["rows"] if r.get("is_reference")), None)


def reading(result: dict[str, Any]) -> list[str]:
    """One plain line per row that is not simply right, plus token-count and cold-run warnings.

    e.g. "flare-web wasm-cpu: WRONG - teacher-forced top-1 19% vs llama.cpp, perplexity 17.1 vs 4.06".
    """
    lines = []
    ref_ppl = _ref_ppl(result)
    for row in result["rows"]:
        if row.get("test") not in (None, "chat"):
            continue  # sweep rows share their engine's chat row's correctness: said once, there
        v = verdict(row)
        name = f"{row['engine']} {row['backend']}"
        c = row.get("correctness") or {}
        if v == "GPU ERROR":
            g = row["gpu_errors"]
            kinds = ", ".join(f"{n} {k}" for k, n in g["by_kind"].items())
            first = _first_line((g.get("first_messages") or [""])[0], 200)
            lines.append(f"{name}: GPU ERROR - {kinds} error(s) on its WebGPU device, so its speeds are not results: {first}")
        elif v in ("WRONG", "DEGRADED", "ok"):
            parts = []
            if c.get("forced_top1_agreement") is not None:
                parts.append(f"teacher-forced top-1 {c['forced_top1_agreement']:.0%} vs llama.cpp")
            if c.get("perplexity") is not None:
                parts.append(f"perplexity {c['perplexity']:.3g}" + (f" vs {ref_ppl:.3g}" if ref_ppl is not None else ""))
            if c.get("forced_top1_agreement") is None and c.get("greedy_match") is not None:
                parts.append(f"greedy match {c['greedy_match']:.0%} only (weak evidence: correct builds part ways "
                             f"after a few greedy tokens; run with --forced-tokens for the teacher-forced check)")
            if v != "ok" or row.get("shims"):
                lines.append(f"{name}: {v} - " + ", ".join(parts))
        # ERROR and unsupported rows: their reason is already the note under the table.
        if row.get("shims"):
            lines.append(f"{name}: ran with an opt-in shim ({', '.join(row['shims'])}): not the published engine's behaviour")
        if row.get("vs_native") and not speeds_invalid(row):
            lines.append(native_line(row, result))

    return lines + result_notes(result)


def native_line(row: dict[str, Any], result: dict[str, Any]) -> str:
    """What a row costs against native llama.cpp, in words: "llama.cpp (wllama) wasm-cpu: decode 0.13x and prefill
    0.05x native llama.cpp's speed (llama.cpp native, 1 thread: decode 75.2, prefill 260.1 tok/s)"."""
    v = row["vs_native"]
    native = next((r for r in result["rows"] if r.get("key") == v["native_key"]
                   and native_cost._test(r) == native_cost._test(row)), None)
    parts = [f"{k} {v[k]:.2f}x" for k in native_cost.FIGURES if v.get(k) is not None]
    speeds = ""
    if native is not None:
        s = native.get("summary") or {}
        figures = [f"{k} {s[f]['mean']:.1f}" for k, f in native_cost.FIGURES.items() if s.get(f)]
        threads = v.get("native_threads")
        speeds = (f" ({native['engine']}, {threads} thread{'s' if threads != 1 else ''}"
                  f"{'' if v.get('same_threads') else ', not the same thread count'}: {', '.join(figures)} tok/s)")
    return f"{row['engine']} {row['backend']}: {' and '.join(parts) or 'no figure'} native llama.cpp's speed{speeds}"


def result_notes(result: dict[str, Any]) -> list[str]:
    """Warnings about the run as a whole: prompt warnings, cold first runs, rows of different lengths."""
    lines = list(result.get("prompt_warnings") or [])
    cold = list(dict.fromkeys(f"{r['engine']} {r['backend']}" for r in result["rows"]
                              if any(x.get("cold") for x in r.get("runs") or [])))  # once per engine, not per test
    if cold:
        lines.append(f"the first measured run was cold (no warmup) and is in the mean for: {', '.join(cold)}")
    by_test: dict[str, list[dict[str, Any]]] = {}
    for r in result["rows"]:
        if _token_counts(r):
            by_test.setdefault(str(r.get("test") or "chat"), []).append(r)
    lines += software_adapter_notes(result)
    lines += page_memory_note(result)
    for test, measured in by_test.items():
        if len({c for r in measured for c in _token_counts(r)}) > 1:
            detail = "; ".join(f"{r['engine']} {r['backend']} {'/'.join(map(str, sorted(set(_token_counts(r)))))} "
                               f"({', '.join(sorted(_reasons(r)))})" for r in measured)
            where = "" if test == "chat" else f" in {test}"
            lines.append(f"rows generated different numbers of tokens{where}, so their figures cover different "
                         f"lengths: {detail}")
    return lines


def software_adapter_notes(result: dict[str, Any]) -> list[str]:
    """One line per software WebGPU adapter that measured rows ran on (isFallbackAdapter: SwiftShader in Chromium,
    Mesa's lavapipe in Firefox here): those speeds are a CPU's, not a GPU's."""
    env = result.get("environment") or {}
    by_adapter: dict[str, list[str]] = {}
    for row in result["rows"]:
        if not str(row.get("backend", "")).startswith("webgpu") or not row.get("runs"):
            continue
        adapter = (row.get("node") or {}).get("adapter") if row.get("node") else env.get("webgpu")
        if isinstance(adapter, dict) and adapter.get("is_fallback_adapter"):
            name = " ".join(str(adapter.get(k) or "") for k in ("vendor", "architecture", "description")).strip()
            by_adapter.setdefault(name or "unnamed", []).append(f"{row['engine']} {row['backend']}")
    return [f"WebGPU on a software adapter ({name}, isFallbackAdapter): {', '.join(dict.fromkeys(rows))} ran on the CPU "
            "through it; their speeds are not a GPU's" for name, rows in by_adapter.items()]


def _token_counts(row: dict[str, Any]) -> list[int]:
    return [len(r["token_ids"]) for r in row.get("runs") or [] if not r.get("stopped")]


def _reasons(row: dict[str, Any]) -> set[str]:
    return {str(r.get("stop_reason") or "?") for r in row.get("runs") or [] if not r.get("stopped")}
