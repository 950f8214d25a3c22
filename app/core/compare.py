"""Is this run faster than that one, or is it noise? Two result JSONs compared row by row (pure Python).

Each file is read by `read_result`: a version 3 file is validated against the v3 JSON Schema, and files of
schema versions 1 and 2 are upgraded to version 3 (results.upgrade) before anything is compared.

Rows are matched by `match_key` (engine key, backend, the model's sha256 and the test: `row_test`). For each figure
(decode tok/s, TTFT, prefill tok/s, ITL p50) the change of the mean in percent and whether it is
significant: a two-sided Mann-Whitney U test on the per-run samples, each recomputed from the run's raw
timestamps (`results.derive_run`), and for decode tok/s also on the per-token intervals, with a minimum
effect size. Figures are grouped slower / faster / same, as pyperf's `compare_to -G` does; a verdict
that changes (ok -> WRONG, anything -> GPU ERROR) is always reported.

The test is scipy's `mannwhitneyu` where scipy is importable (the host); in the page (Pyodide, no scipy)
`mann_whitney_u` below computes the same p-values (method 'auto': the exact distribution for small
samples without ties, else the normal approximation with tie and continuity correction), which
tests/host/test_compare.py checks against scipy on many random samples, so page and CLI decide alike.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core import report, result_schema, results, stats


class CompareError(ValueError):
    """Input that cannot be compared (not a result JSON, another schema, nothing matches): one line."""


# ---------------------------------------------------------------------------------------------------
# Mann-Whitney U, pure Python (scipy.stats.mannwhitneyu, two-sided, method='auto', use_continuity=True)

EXACT_MAX_N = 8  # scipy 'auto': exact when one sample has at most 8 values and there are no ties


def _average_ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """1-based ranks, ties given their average rank, and the size of every group of equal values."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    groups = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        groups.append(j - i + 1)
        i = j + 1
    return ranks, groups


def u_distribution(n1: int, n2: int) -> list[int]:
    """How many of the C(n1+n2, n1) orderings give U = 0, 1, ..., n1*n2 (no ties): the coefficients of the
    Gaussian binomial [n1+n2 choose n1]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i), m = min(n1, n2),
    computed exactly with integers, modulo q^(m*n + 1)."""
    m, n = min(n1, n2), max(n1, n2)
    top = m * n
    c = [0] * (top + 1)
    c[0] = 1
    for i in range(1, m + 1):
        k = n + i
        for j in range(top, k - 1, -1):  # times (1 - q^k)
            c[j] -= c[j - k]
        for j in range(i, top + 1):  # divided by (1 - q^i)
            c[j] += c[j - i]
    return c


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, str]:
    """(U of x, two-sided p-value, 'exact' | 'asymptotic'), as scipy.stats.mannwhitneyu(x, y) computes them."""
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        raise ValueError("both samples need at least one value")
    ranks, groups = _average_ranks([float(v) for v in x] + [float(v) for v in y])
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    u = max(u1, n1 * n2 - u1)
    if (n1 > EXACT_MAX_N and n2 > EXACT_MAX_N) or any(g > 1 for g in groups):
        n = n1 + n2
        tie_term = sum(g ** 3 - g for g in groups)
        s = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
        numerator = u - n1 * n2 / 2 - 0.5  # continuity correction
        if s > 0:
            z = numerator / s
        else:  # every value equal
            z = math.copysign(math.inf, numerator) if numerator else math.nan
        p = math.erfc(z / math.sqrt(2))  # 2 * P(Z >= z)
        method = "asymptotic"
    else:
        counts = u_distribution(n1, n2)
        tail = sum(counts[int(u):])  # P(U >= u), u an integer without ties
        p = 2 * tail / math.comb(n1 + n2, n1)
        method = "exact"
    return u1, (min(max(p, 0.0), 1.0) if not math.isnan(p) else p), method


def scipy_version() -> str | None:
    try:
        import scipy  # type: ignore[import-not-found]
    except ImportError:
        return None
    return scipy.__version__


def p_value(x: Sequence[float], y: Sequence[float], use_scipy: bool = True) -> float:
    """Two-sided Mann-Whitney U p-value: scipy's where it is importable (and `use_scipy`), else ours."""
    if use_scipy and scipy_version() is not None:
        from scipy.stats import mannwhitneyu  # type: ignore[import-not-found]

        return float(mannwhitneyu(list(x), list(y), alternative="two-sided").pvalue)
    return mann_whitney_u(x, y)[1]


def smallest_p(n1: int, n2: int) -> float:
    """The smallest two-sided p-value any samples of these sizes can give (all of one below all of the other)."""
    return min(1.0, 2 / math.comb(n1 + n2, n1))


# ---------------------------------------------------------------------------------------------------
# What is compared


@dataclass(frozen=True)
class Figure:
    key: str  # results.derive_run key
    label: str
    higher_is_better: bool
    fmt: str


FIGURES = (
    Figure("decode_tok_s", "decode tok/s", True, "{:.2f}"),
    Figure("ttft_ms", "TTFT ms", False, "{:.0f}"),
    Figure("prefill_tok_s", "prefill tok/s", True, "{:.1f}"),
    Figure("itl_p50_ms", "ITL p50 ms", False, "{:.1f}"),
)

DEFAULT_MIN_CHANGE = 0.02
DEFAULT_ALPHA = 0.05
# A verdict that lands here from a better one is a regression (report.VERDICTS is worst first).
BAD_VERDICTS = ("GPU ERROR", "ERROR", "WRONG", "DEGRADED")


def row_test(result: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The row's test: `rows[].test` ("chat", or a sweep's "pp512", "tg128", "tg128 @ d512") with its
    n_prompt / n_gen / n_depth; a row written before rows carried them is the chat test (its runs' prompt,
    max_tokens from the settings). `kind`: "chat", "pp" or "tg"."""
    name = str(row.get("test") or "chat")
    runs = (row.get("runs") or []) + (row.get("warmups") or [])
    n_prompt = row.get("n_prompt")
    if n_prompt is None:
        n_prompt = runs[0]["prompt_tokens"] if runs else len(result.get("prompt_ids") or []) or None
    n_gen = row.get("n_gen")
    if n_gen is None:
        n_gen = (result.get("settings") or {}).get("max_tokens")
    kind = "pp" if name.startswith("pp") else "tg" if name.startswith("tg") else "chat"
    return {"name": name, "kind": kind, "n_prompt": n_prompt, "n_gen": n_gen, "n_depth": row.get("n_depth") or 0}


def test_label(test: dict[str, Any]) -> str:
    """'chat tg64, prompt 32' for the chat row; a sweep test by its llama-bench name ('pp512', 'tg128 @ d512')."""
    if test.get("kind", "chat") == "chat":
        return f"{test['name']} tg{test.get('n_gen')}, prompt {test.get('n_prompt')}"
    return str(test["name"])


def model_sha(result: dict[str, Any], row: dict[str, Any]) -> str:
    """The GGUF the row ran: the result's model (a converted model's row names its source GGUF)."""
    w = row.get("weights") or {}
    return str((result.get("model") or {}).get("sha256") or w.get("converted_from_sha256") or w.get("sha256") or "")


def match_key(result: dict[str, Any], row: dict[str, Any]) -> tuple:
    """Rows of two results are compared when these are equal: engine key, backend, model, test."""
    t = row_test(result, row)
    return (row["key"], row["backend"], model_sha(result, row), t["name"], t["n_prompt"], t["n_gen"], t["n_depth"])


FIGURES_OF_KIND = {"pp": ("ttft_ms", "prefill_tok_s"), "tg": ("decode_tok_s", "itl_p50_ms")}


def figures_for(test: dict[str, Any]) -> tuple[Figure, ...]:
    """The chat row: every figure. A pp test generates one token (the prefill's): TTFT and prefill tok/s.
    A tg test: decode tok/s and ITL p50 (its prompt is the depth, which the pp tests measure)."""
    keys = FIGURES_OF_KIND.get(test.get("kind"))
    return FIGURES if keys is None else tuple(f for f in FIGURES if f.key in keys)


def finished_runs(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The measured runs that count (as results.summarize_row: not stopped), each re-derived from its timestamps."""
    out = []
    for run in row.get("runs") or []:
        if run.get("stopped"):
            continue
        out.append({**run, "derived": results.derive_run(run)})
    return out


def samples(row: dict[str, Any], key: str) -> list[float]:
    return [r["derived"][key] for r in finished_runs(row) if r["derived"][key] is not None]


def token_intervals(row: dict[str, Any]) -> list[float]:
    """Every inter-token interval (ms) of every finished run: the per-token samples of the decode speed."""
    return [gap for r in finished_runs(row) for gap in stats.intervals(r["token_times_ms"])]


# ---------------------------------------------------------------------------------------------------
# Input checks


def check_document(doc: Any, name: str) -> None:
    """Raise CompareError (one line naming `name`) unless `doc` is a result JSON this version reads."""
    if not isinstance(doc, dict) or "schema" not in doc:
        raise CompareError(f"{name}: not a {results.SCHEMA} result JSON (no 'schema' field); "
                           "give the --json file of python -m app bench or the page's Export JSON")
    if doc["schema"] != results.SCHEMA:
        raise CompareError(f"{name}: schema {doc['schema']!r}, not {results.SCHEMA!r}: only benchmark results compare")
    if doc.get("schema_version") not in results.READABLE_VERSIONS:
        raise CompareError(f"{name}: schema version {doc.get('schema_version')!r}; this version reads "
                           f"{', '.join(map(str, results.READABLE_VERSIONS))}")
    if not isinstance(doc.get("rows"), list):
        raise CompareError(f"{name}: 'rows' is missing or not a list")
    for i, row in enumerate(doc["rows"]):
        where = f"{name}: rows[{i}]"
        if not isinstance(row, dict) or not isinstance(row.get("key"), str) or not isinstance(row.get("backend"), str):
            raise CompareError(f"{where} has no engine 'key' and 'backend'")
        for j, run in enumerate(row.get("runs") or []):
            missing = [k for k in ("prompt_tokens", "prefill_start_ms", "prefill_end_ms", "token_times_ms")
                       if not isinstance(run, dict) or k not in run]
            if missing:
                raise CompareError(f"{where}.runs[{j}] lacks {', '.join(missing)}")
            try:
                results.derive_run(run)
            except (TypeError, ValueError, ZeroDivisionError) as err:
                raise CompareError(f"{where}.runs[{j}]: {err}") from None


def read_result(doc: Any, name: str) -> dict[str, Any]:
    """`doc` as the current schema version, ready to compare: checked (check_document); a version 3 file
    validated against the v3 JSON Schema (app.core.result_schema); a version 1 or 2 file, written before
    the schema existed, upgraded (results.upgrade, on a copy: `doc` is left as it is). Raises CompareError,
    one line naming `name` and, for the schema, the path of the first bad field."""
    check_document(doc, name)
    if doc["schema_version"] == results.SCHEMA_VERSION:
        problems = result_schema.problems(doc)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise CompareError(f"{name}: does not match result schema v{results.SCHEMA_VERSION}: {problems[0]}{more}")
    try:
        return results.upgrade(doc)
    except ValueError as err:
        raise CompareError(f"{name}: {err}") from None


# ---------------------------------------------------------------------------------------------------
# The comparison


def _summary(values: list[float]) -> dict[str, Any] | None:
    s = stats.summarize(values)
    return None if s is None else {k: s[k] for k in ("n", "mean", "stddev", "median")}


def compare_figure(fig: Figure, base_row: dict, new_row: dict, min_change: float, alpha: float,
                   use_scipy: bool = True) -> dict[str, Any]:
    """One figure of one matched row: change of the mean, p-values, significance and group."""
    b, n = samples(base_row, fig.key), samples(new_row, fig.key)
    out: dict[str, Any] = {"key": fig.key, "label": fig.label, "higher_is_better": fig.higher_is_better,
                           "base": _summary(b), "new": _summary(n), "change": None, "p_runs": None,
                           "p_tokens": None, "decided_by": None, "significant": False, "group": "not compared",
                           "reason": "", "invalid": []}
    invalid = [side for side, row in (("base", base_row), ("new", new_row)) if report.speeds_invalid(row)]
    if invalid:
        out["invalid"] = invalid  # their cells are struck through, as in the bench table
        out["reason"] = f"{' and '.join(invalid)}: GPU ERROR, its speeds are not results"
        return out
    if not b or not n:
        out["reason"] = "no finished run has this figure in " + " and ".join(
            side for side, vals in (("base", b), ("new", n)) if not vals)
        return out
    mean_b, mean_n = out["base"]["mean"], out["new"]["mean"]
    if mean_b == 0:
        out["reason"] = "base mean is 0"
        return out
    change = mean_n / mean_b - 1
    out["change"] = change
    out["p_runs"] = p_value(b, n, use_scipy)
    runs_can_decide = smallest_p(len(b), len(n)) < alpha
    if fig.key == "decode_tok_s":
        tb, tn = token_intervals(base_row), token_intervals(new_row)
        if tb and tn:
            out["p_tokens"] = p_value(tb, tn, use_scipy)
    # The per-run test decides; where too few runs can never reach alpha (3 against 3: p >= 0.1), decode
    # tok/s is decided by its per-token intervals instead.
    if runs_can_decide:
        out["decided_by"], p = "runs", out["p_runs"]
    elif out["p_tokens"] is not None:
        out["decided_by"], p = "tokens", out["p_tokens"]
    else:
        p = None
    worse = change < 0 if fig.higher_is_better else change > 0
    if p is None:
        out["group"] = "same"
        out["reason"] = f"too few runs ({len(b)} vs {len(n)}) for p < {alpha:g}; 4+ each can"
    elif p >= alpha:
        out["group"] = "same"
        out["reason"] = f"not significant (p {_p(p)})"
    elif abs(change) < min_change:
        out["group"] = "same"
        out["reason"] = f"significant but below {min_change:.0%}"
    else:
        out["significant"] = True
        out["group"] = "slower" if worse else "faster"
    return out


def compare(base: dict[str, Any], new: dict[str, Any], min_change: float = DEFAULT_MIN_CHANGE,
            alpha: float = DEFAULT_ALPHA, base_name: str = "base", new_name: str = "new",
            key=match_key, use_scipy: bool = True) -> dict[str, Any]:
    """Compare NEW with BASE, each read by `read_result` (a v1 or v2 file upgraded to v3 first). Raises
    CompareError for bad input (a v3 file that breaks the v3 schema included) or when no row matches.

    `key(result, row)` says which rows are the same test (match_key: engine, backend, model, test)."""
    base, new = read_result(base, base_name), read_result(new, new_name)
    base_rows = {key(base, r): r for r in base["rows"]}
    new_rows = {key(new, r): r for r in new["rows"]}
    matched = [k for k in base_rows if k in new_rows]
    if not matched:
        raise CompareError(f"no row of {new_name} matches a row of {base_name} by engine, backend, model and test "
                           f"({base_name}: {_keys_text(base, base_rows) or 'no rows'}; "
                           f"{new_name}: {_keys_text(new, new_rows) or 'no rows'})")
    impl = f"scipy {scipy_version()}" if use_scipy and scipy_version() else "pure Python"
    rows = []
    for k in matched:
        b, n = base_rows[k], new_rows[k]
        vb, vn = report.verdict(b), report.verdict(n)
        test = row_test(new, n)
        rows.append({
            "match": {"key": n["key"], "backend": n["backend"], "model_sha256": model_sha(new, n), "test": test},
            "engine": n.get("engine") or b.get("engine") or n["key"], "backend": n["backend"], "test": test_label(test),
            "verdict": {"base": vb, "new": vn, "changed": vb != vn, "worse": _worse(vb, vn)},
            "figures": [compare_figure(f, b, n, min_change, alpha, use_scipy) for f in figures_for(test)],
        })
    return {
        "base": _describe(base, base_name), "new": _describe(new, new_name),
        "test": {"name": "Mann-Whitney U, two-sided", "implementation": impl, "alpha": alpha, "min_change": min_change},
        "rows": rows,
        "only_base": [_row_name(base, base_rows[k]) for k in base_rows if k not in new_rows],
        "only_new": [_row_name(new, new_rows[k]) for k in new_rows if k not in base_rows],
        "warnings": _warnings(base, new),
    }


def _worse(base_verdict: str, new_verdict: str) -> bool:
    order = report.VERDICTS
    return (new_verdict in BAD_VERDICTS and base_verdict in order and new_verdict in order
            and order.index(new_verdict) < order.index(base_verdict))


def _keys_text(result: dict, rows: dict) -> str:
    return ", ".join(_row_name(result, r) + f" model {model_sha(result, r)[:8]}" for r in rows.values())


def _row_name(result: dict, row: dict) -> str:
    return f"{row.get('engine') or row['key']} {row['backend']} {test_label(row_test(result, row))}"


def _describe(result: dict, name: str) -> dict[str, Any]:
    s = result.get("settings") or {}
    return {"name": name, "created": result.get("created"), "runs": s.get("runs"), "warmup": s.get("warmup"),
            "max_tokens": s.get("max_tokens"), "model": (result.get("model") or {}).get("name"),
            "incomplete": result.get("incomplete"),
            "schema_version": result.get("upgraded_from") or result.get("schema_version")}


COMPARED_SETTINGS = ("prompt", "system", "ignore_eos", "async_prefill", "llamacpp_threads", "webgpu_limits")
COMPARED_ENVIRONMENT = ("user_agent", "hardware_concurrency", "flare_web", "pyodide", "cross_origin_isolated")


def _warnings(base: dict, new: dict) -> list[str]:
    out = []
    for section, keys in (("settings", COMPARED_SETTINGS), ("environment", COMPARED_ENVIRONMENT)):
        b, n = base.get(section) or {}, new.get(section) or {}
        diff = [f"{k} {_short(b.get(k))} -> {_short(n.get(k))}" for k in keys if b.get(k) != n.get(k)]
        if diff:
            out.append(f"{section} differ: " + "; ".join(diff))
    for side, doc in (("base", base), ("new", new)):
        if doc.get("incomplete"):
            out.append(f"{side} is a partial result: {doc['incomplete']}")
    return out


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def all_rows(comparisons: list[dict[str, Any]]):
    for c in comparisons:
        for row in c["rows"]:
            yield c, row


def failures(comparisons: list[dict[str, Any]], fail_on: float) -> list[str]:
    """What makes `--fail-on` fail: a significant slowdown of at least `fail_on`, or a verdict that got worse."""
    out = []
    for c, row in all_rows(comparisons):
        name = f"{c['new']['name']}: {row['engine']} {row['backend']} {row['test']}"
        if row["verdict"]["worse"]:
            out.append(f"{name}: verdict {row['verdict']['base']} -> {row['verdict']['new']}")
        for f in row["figures"]:
            if f["group"] == "slower" and abs(f["change"]) >= fail_on:
                out.append(f"{name}: {f['label']} {_change(f['change'])} (p {_p(_decisive_p(f))}), "
                           f"a slowdown beyond {fail_on:.0%}")
    return out


# ---------------------------------------------------------------------------------------------------
# Tables

GROUPS = (("slower", "Slower"), ("faster", "Faster"), ("same", "Same"), ("not compared", "Not compared"))
COLUMNS = ("engine", "backend", "test", "figure", "base", "new", "change", "p (runs)", "p (tokens)", "note")


def _p(p: float | None) -> str:
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _change(change: float | None) -> str:
    return "-" if change is None else f"{change * 100:+.1f}%"


def _decisive_p(f: dict) -> float | None:
    return f["p_tokens"] if f["decided_by"] == "tokens" else f["p_runs"]


def _cell(summary: dict | None, fmt: str) -> str:
    if not summary:
        return "-"
    text = fmt.format(summary["mean"])
    return text + (f" ± {fmt.format(summary['stddev'])}" if summary.get("stddev") is not None else "")


def _note(f: dict) -> str:
    if f["group"] in ("slower", "faster"):
        note = f"{f['group']}, decided on {'per-token intervals' if f['decided_by'] == 'tokens' else 'runs'}"
    else:
        note = f["reason"]
    if f["base"] and f["new"] and f["base"]["n"] != f["new"]["n"]:
        note += f" ({f['base']['n']} vs {f['new']['n']} runs)"
    return note


def group_rows(comparison: dict[str, Any], strike=lambda text: text) -> dict[str, list[list[str]]]:
    """The table's cells by group; a GPU ERROR side's figures go through `strike` (never a plain number)."""
    fmt = {f.key: f.fmt for f in FIGURES}
    out: dict[str, list[list[str]]] = {g: [] for g, _ in GROUPS}
    for row in comparison["rows"]:
        for f in row["figures"]:
            cells = {side: _cell(f[side], fmt[f["key"]]) for side in ("base", "new")}
            for side in f.get("invalid") or []:
                if cells[side] != "-":
                    cells[side] = strike(cells[side])
            out[f["group"]].append([row["engine"], row["backend"], row["test"], f["label"], cells["base"], cells["new"],
                                    _change(f["change"]), _p(f["p_runs"]), _p(f["p_tokens"]), _note(f)])
    return out


def header_lines(comparison: dict[str, Any]) -> list[str]:
    b, n, t = comparison["base"], comparison["new"], comparison["test"]
    return [(f"base {b['name']} ({b['created'] or 'no date'}, {b['runs']} runs) -> new {n['name']} "
             f"({n['created'] or 'no date'}, {n['runs']} runs)"),
            (f"{t['name']} ({t['implementation']}): significant when p < {t['alpha']:g} and the mean moved at least "
             f"{t['min_change']:.0%}; decode tok/s falls back to its per-token intervals when too few runs can decide")]


def footer_lines(comparison: dict[str, Any]) -> list[str]:
    lines = []
    for row in comparison["rows"]:
        v = row["verdict"]
        if v["changed"]:
            lines.append(f"verdict changed: {row['engine']} {row['backend']} {row['test']}: {v['base']} -> {v['new']}"
                         + (" (worse)" if v["worse"] else ""))
    if comparison["only_base"]:
        lines.append("only in base (not compared): " + "; ".join(comparison["only_base"]))
    if comparison["only_new"]:
        lines.append("only in new (not compared): " + "; ".join(comparison["only_new"]))
    return lines + list(comparison["warnings"])


def to_text(comparisons: list[dict[str, Any]]) -> str:
    """Plain aligned tables, one group after the other (pyperf compare_to -G), then verdict changes."""
    parts = []
    for c in comparisons:
        lines = header_lines(c)
        for group, title in GROUPS:
            rows = group_rows(c, report._plain_strike)[group]
            if not rows and group == "not compared":
                continue
            lines += ["", f"{title} ({len(rows)}):"]
            if rows:
                table = [list(COLUMNS)] + rows
                widths = [max(report._width(r[i]) for r in table) for i in range(len(COLUMNS))]
                for i, r in enumerate(table):
                    lines.append("  ".join(report._pad(x, w, right=not (j < 4 or j == 9))
                                           for j, (x, w) in enumerate(zip(r, widths))).rstrip())
                    if i == 0:
                        lines.append("  ".join("-" * w for w in widths))
        foot = footer_lines(c)
        if foot:
            lines += [""] + [f"- {x}" for x in foot]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(comparisons: list[dict[str, Any]]) -> str:
    parts = []
    for c in comparisons:
        lines = [_md(x) + "  " for x in header_lines(c)]
        for group, title in GROUPS:
            rows = group_rows(c, lambda text: f"~~{text}~~")[group]
            if not rows and group == "not compared":
                continue
            lines += ["", f"**{title} ({len(rows)})**"]
            if rows:
                lines += ["", "| " + " | ".join(COLUMNS) + " |",
                          "|" + "|".join("---" if i < 4 or i == 9 else "---:" for i in range(len(COLUMNS))) + "|"]
                lines += ["| " + " | ".join(_md(x) for x in r) + " |" for r in rows]
        foot = footer_lines(c)
        if foot:
            lines += [""] + [f"- {_md(x)}" for x in foot]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


GROUP_CLASS = {"slower": "bad", "faster": "good", "same": "", "not compared": "muted"}


def to_html(comparisons: list[dict[str, Any]]) -> str:
    """The page's rendering: the same groups and cells as the text table."""
    e = html.escape
    parts = []
    for c in comparisons:
        out = ['<div class="comparison">'] + [f"<p class=\"muted\">{e(x)}</p>" for x in header_lines(c)]
        for group, title in GROUPS:
            rows = group_rows(c, lambda text: f"\x00{text}\x01")[group]  # struck: <s> after escaping
            if not rows and group == "not compared":
                continue
            out.append(f'<h3 class="{GROUP_CLASS[group]}" data-group="{e(group)}">{e(title)} ({len(rows)})</h3>')
            if rows:
                head = "".join(f"<th>{e(x)}</th>" for x in COLUMNS)
                body = "".join(f'<tr data-group="{e(group)}">' + "".join(
                    f"<td>{e(x)}</td>".replace("\x00", '<s title="not a result: the GPU reported errors">')
                    .replace("\x01", "</s>") for x in r) + "</tr>" for r in rows)
                out.append(f'<div class="table-scroll"><table class="results compare"><thead><tr>{head}</tr></thead>'
                           f'<tbody>{body}</tbody></table></div>')
        foot = footer_lines(c)
        if foot:
            out.append('<ul class="result-notes warn">' + "".join(f"<li>{e(x)}</li>" for x in foot) + "</ul>")
        out.append("</div>")
        parts.append("".join(out))
    return "".join(parts)


def parse_document(text: str, name: str) -> Any:
    """JSON text -> the document; CompareError (one line naming `name`) when it does not parse."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise CompareError(f"{name}: not JSON ({err.msg} at line {err.lineno}); give a result JSON "
                           "of python -m app bench or the page's Export JSON") from None


def parse_alpha(text: Any, what: str = "--alpha") -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise CompareError(f"{what} {text!r}: give a number above 0 and below 1, e.g. 0.05") from None
    if not 0 < value < 1:
        raise CompareError(f"{what} {value:g}: must be above 0 and below 1")
    return value


def parse_percent(text: str, what: str) -> float:
    """'2%', '2' (both 2 %) -> 0.02; CompareError naming `what` otherwise."""
    raw = str(text).strip()
    try:
        value = float(raw.removesuffix("%"))
    except ValueError:
        raise CompareError(f"{what} {text!r}: give a percentage such as 2% or 5") from None
    if not 0 <= value < 1000 or math.isnan(value):
        raise CompareError(f"{what} {text!r}: must be from 0% to below 1000%")
    return value / 100
