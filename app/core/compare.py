"""Is this run faster than that one, or is it noise? Two result JSONs compared row by row (pure Python).

Each file is checked before any arithmetic, the same way on the host and in the page: `parse_document` refuses
text nested deeper than MAX_DEPTH (counted before Python's parser sees it) and integers of more than
MAX_INT_DIGITS digits; `read_result` refuses NaN, Infinity and numbers beyond MAX_NUMBER anywhere
(`number_problems`), validates a version 3 file against the v3 JSON Schema and a version 1 or 2 file against
the shape its loader needs (result_schema.older_problems: wrong types, booleans for numbers, negative or
non-integer counts), re-derives every run from its timestamps, upgrades older files to version 3
(results.upgrade) and refuses a file that holds one test twice (`duplicate_rows`). Every refusal is a
CompareError: one line naming the file and the place in it (a field's path, or a line and column), long lists
summarised, control characters escaped (`printable`). The host's `compare` also refuses what is not a
regular file or is larger than MAX_RESULT_BYTES before reading it (app/host/compare_cli.py); the page checks
the chosen file's size before reading it.

Rows are matched by `match_key` (engine key, backend, the model's sha256, the test: `row_test`, and the browser:
`row_browser`; `across_browsers_key` leaves the browser out). For each figure
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
import json
import math
import re
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


def row_browser(result: dict[str, Any], row: dict[str, Any]) -> str:
    """Where the row ran: its merge node's browser (--browser all, the Grid), else the result's runtime; results from
    before runtimes were recorded ran in Chromium, the only browser then."""
    node = row.get("node") if isinstance(row.get("node"), dict) else {}
    env = result.get("environment") if isinstance(result.get("environment"), dict) else {}
    return str(node.get("browser") or node.get("runtime") or env.get("runtime") or "chromium")


def match_key(result: dict[str, Any], row: dict[str, Any]) -> tuple:
    """Rows of two results are compared when these are equal: engine key, backend, model, test, and the browser
    (row_browser): a Firefox row is not compared with a Chromium one unless asked (across_browsers_key)."""
    t = row_test(result, row)
    return (row["key"], row["backend"], model_sha(result, row), t["name"], t["n_prompt"], t["n_gen"], t["n_depth"],
            row_browser(result, row))


def across_browsers_key(result: dict[str, Any], row: dict[str, Any]) -> tuple:
    """match_key without the browser (and without the "[firefox 153]" label a merged result puts on the backend):
    `compare --across-browsers`, e.g. the same engine in Chromium and in Firefox, one result file each."""
    t = row_test(result, row)
    backend = re.sub(r"\s*\[[^\]]*\]$", "", row["backend"])
    return (row["key"], backend, model_sha(result, row), t["name"], t["n_prompt"], t["n_gen"], t["n_depth"])


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
# Input checks: every file is checked before any arithmetic

MAX_RESULT_BYTES = 64 * 1024 * 1024  # a result of 7 engines x 10 runs of 2,048 tokens is about 10 MB
MAX_DEPTH = 32  # a result nests 7 deep at most (rows[].gpu_devices[].raised_limits.NAME.now)
MAX_INT_DIGITS = 20  # an integer literal longer than this is refused before Python converts it
MAX_NUMBER = 2.0 ** 64  # no count, size, id, limit or millisecond reading comes near it
MAX_PROBLEMS_SHOWN = 3  # a longer list of problems is summarised: the first few, then how many more
MAX_MESSAGE = 240  # characters of one problem, or of one value quoted in a message

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: Any) -> str:
    """`text` with control characters (terminal escape codes, newlines, bidirectional overrides) written as
    escapes (\\x1b, \\n, \\u202e): what the text table, Markdown and error lines show of a file's strings."""
    def escape(m: re.Match) -> str:
        c = m.group()
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
    return _CONTROL.sub(escape, str(text))


def short(value: Any, limit: int = 60) -> str:
    """A value quoted in a message: repr-like, control characters escaped, at most `limit` characters."""
    text = printable(repr(value))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    text = printable(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def summarise(problems: Sequence[str]) -> str:
    """'p1; p2; p3 (and 4,997 more)': a long list of problems as one line of bounded length."""
    shown = "; ".join(_one_line(p) for p in problems[:MAX_PROBLEMS_SHOWN])
    more = len(problems) - MAX_PROBLEMS_SHOWN
    return shown + (f" (and {more:,} more)" if more > 0 else "")


def too_large(name: str, size: int, limit: int = MAX_RESULT_BYTES) -> str:
    """The one line refusing a file of `size` bytes, over `limit`, before it is read."""
    return (f"{_one_line(name)}: {size:,} bytes, more than the {limit:,} a result file may have; "
            "give the --json file of python -m app bench or the page's Export JSON")


# A JSON string (its brackets nest nothing): unrolled, so it never backtracks, and an unterminated one runs to the
# end of the text (a crafted '"\\"\\"\\"...' would otherwise be tried again from every quote: quadratic).
_STRING = r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)'
_JSON_STRING = re.compile(_STRING, re.DOTALL)
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[{]}")
_JSON_TOKEN = re.compile(_STRING + r"|[\[\]{}]", re.DOTALL)
_PLACE_TOKENS = 2_000_000


def nesting_problem(text: str, limit: int = MAX_DEPTH) -> str | None:
    """'line L column C: nested deeper than LIMIT' for JSON text nested past `limit`, else None; counted
    without parsing (Python's parser recurses once per level: 200,000 levels overflow Pyodide's stack).
    Linear: strings are cut out by a regular expression and the depth is a running sum in C."""
    from array import array
    from itertools import accumulate

    skeleton = _JSON_STRING.sub("", text).encode("utf-8", "surrogatepass")
    steps = array("b")
    steps.frombytes(skeleton.translate(None, _NOT_BRACKETS).translate(_BRACKETS))
    if max(accumulate(steps), default=0) <= limit:
        return None
    # The place: a second, slower walk that stops at the first level too deep, or after _PLACE_TOKENS tokens
    # (a crafted file of tens of MB of shallow brackets before the deep part), saying "after" that place.
    depth, pos, after = 0, 0, False
    for n, m in enumerate(_JSON_TOKEN.finditer(text)):
        c = m.group()
        pos = m.start()
        if c in "[{":
            depth += 1
            if depth > limit:
                break
        elif c in "]}":
            depth -= 1
        if n >= _PLACE_TOKENS:
            after = True
            break
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return (f"{'after ' if after else ''}line {line:,} column {column:,}: nested deeper than {limit} levels "
            "(a result nests 7 at most)")


class _Oversized:
    """An integer literal too long to convert (parse_document): number_problems names its place."""

    def __init__(self, digits: int) -> None:
        self.digits = digits


def _parse_int(literal: str) -> Any:
    digits = len(literal.lstrip("-"))
    return _Oversized(digits) if digits > MAX_INT_DIGITS else int(literal)


def parse_document(text: str, name: str) -> Any:
    """JSON text -> the document; CompareError (one line naming `name` and the line and column) when it does not
    parse or nests deeper than MAX_DEPTH (checked before parsing). NaN, Infinity and oversized numbers parse,
    and read_result refuses them naming their field."""
    where = _one_line(name)
    deep = nesting_problem(text)
    if deep:
        raise CompareError(f"{where}: {deep}")
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as err:
        raise CompareError(f"{where}: not JSON ({err.msg} at line {err.lineno} column {err.colno}); give a result "
                           "JSON of python -m app bench or the page's Export JSON") from None
    except RecursionError:  # not reached after nesting_problem; kept so no parser recursion becomes a traceback
        raise CompareError(f"{where}: nested too deep to read") from None


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def path_text(path: Sequence[Any]) -> str:
    """('rows', 0, 'runs', 1, 'prefill_start_ms') -> 'rows[0].runs[1].prefill_start_ms' (the schema's spelling)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _IDENTIFIER.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{short(part, 40)}]"
    return out or "the result"


def _plain_numbers(values: list) -> bool:
    """True when every item is a finite number within +-MAX_NUMBER (booleans too: the schema refuses those)."""
    try:
        return all(map(math.isfinite, values)) and max(map(abs, values), default=0) <= MAX_NUMBER
    except (TypeError, OverflowError):  # not all numbers, or an integer too large for a float: item by item
        return False


def number_problems(doc: Any, limit: int = 1000) -> tuple[list[str], int]:
    """Every number of `doc` that no arithmetic may see: NaN, Infinity, beyond +-MAX_NUMBER, or an integer
    literal of more than MAX_INT_DIGITS digits; each as 'PATH: what'. Returns (the first `limit`, the count).
    Iterative, so a deep document (given as a dict, not through parse_document) cannot exhaust the stack."""
    found: list[str] = []
    count = 0
    stack: list[tuple[Any, tuple]] = [(doc, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            stack.extend((v, path + (k,)) for k, v in reversed(list(value.items())))
            continue
        if isinstance(value, list):
            if _plain_numbers(value):  # the bulk of a result (token ids, timestamps): checked at C speed
                continue
            stack.extend((v, path + (i,)) for i, v in reversed(list(enumerate(value))))
            continue
        if isinstance(value, _Oversized):
            problem = f"an integer of {value.digits:,} digits (numbers in a result are below {MAX_NUMBER:.3g})"
        elif isinstance(value, float) and math.isnan(value):
            problem = "NaN is not a number a result can hold"
        elif isinstance(value, float) and math.isinf(value):
            problem = f"{'-' if value < 0 else ''}Infinity is not a number a result can hold"
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
            problem = f"{short(value, 30)} is too large (numbers in a result are below {MAX_NUMBER:.3g})"
        else:
            continue
        count += 1
        if len(found) < limit:
            found.append(f"{path_text(path)}: {problem}")
    return found, count


def _refuse(name: str, what: str, problems: Sequence[str], count: int | None = None) -> CompareError:
    """One line: the file, what is wrong, the first problems and how many more (`count`: all of them)."""
    shown = list(problems[:MAX_PROBLEMS_SHOWN])
    text = summarise(shown)
    more = (len(problems) if count is None else count) - len(shown)
    if more > 0:
        text += f" (and {more:,} more)"
    return CompareError(f"{_one_line(name)}: {what}{text}")


def check_document(doc: Any, name: str) -> None:
    """Raise CompareError (one line naming `name` and the place) unless `doc` is a result JSON this version reads
    and compare can do arithmetic on: its schema and version, then every number finite and in range, then the
    v3 JSON Schema (version 3) or the shape the older loaders need (versions 1 and 2), then every run's
    timestamps in order."""
    where = _one_line(name)
    if not isinstance(doc, dict) or "schema" not in doc:
        raise CompareError(f"{where}: not a {results.SCHEMA} result JSON (no 'schema' field); "
                           "give the --json file of python -m app bench or the page's Export JSON")
    if doc["schema"] != results.SCHEMA:
        raise CompareError(f"{where}: schema {short(doc['schema'])}, not {results.SCHEMA!r}: "
                           "only benchmark results compare")
    version = doc.get("schema_version")
    if isinstance(version, bool) or version not in results.READABLE_VERSIONS:
        raise CompareError(f"{where}: schema version {short(version)}; this version reads "
                           f"{', '.join(map(str, results.READABLE_VERSIONS))}")
    if not isinstance(doc.get("rows"), list):
        raise CompareError(f"{where}: 'rows' is missing or not a list")
    for i, row in enumerate(doc["rows"]):
        if not isinstance(row, dict) or not isinstance(row.get("key"), str) or not isinstance(row.get("backend"), str):
            raise CompareError(f"{where}: rows[{i}] has no engine 'key' and 'backend'")
    bad_numbers, count = number_problems(doc, MAX_PROBLEMS_SHOWN)
    if bad_numbers:
        raise _refuse(name, "", bad_numbers, count)
    if version == results.SCHEMA_VERSION:
        problems = result_schema.problems(doc)
        if problems:
            raise _refuse(name, f"does not match result schema v{results.SCHEMA_VERSION}: ", problems)
    else:
        problems = result_schema.older_problems(doc)
        if problems:
            raise _refuse(name, f"does not match what a schema v{version} result holds: ", problems)
    for i, row in enumerate(doc["rows"]):
        for kind in ("runs", "warmups"):
            for j, run in enumerate(row.get(kind) or []):
                missing = [k for k in ("prompt_tokens", "prefill_start_ms", "prefill_end_ms", "token_times_ms")
                           if k not in run]
                if missing:
                    raise CompareError(f"{where}: rows[{i}].{kind}[{j}] lacks {', '.join(missing)}")
                try:
                    results.derive_run(run)
                except (TypeError, ValueError, ZeroDivisionError, OverflowError) as err:
                    raise CompareError(f"{where}: rows[{i}].{kind}[{j}]: {_one_line(str(err))}") from None


def duplicate_rows(result: dict[str, Any], key=None) -> list[str]:
    """'rows[0] and rows[3]: flare-web wasm-cpu chat tg16, prompt 32' for every test a result holds twice (the same
    `key`: match_key by default); compare would otherwise keep one of them by file order."""
    key = key or match_key
    seen: dict[Any, int] = {}
    out = []
    for i, row in enumerate(result["rows"]):
        k = key(result, row)
        if k in seen:
            out.append(f"rows[{seen[k]}] and rows[{i}] are the same test ({_row_name(result, row)}, model "
                       f"{model_sha(result, row)[:8] or 'unknown'})")
        else:
            seen[k] = i
    return out


def read_result(doc: Any, name: str, key=None) -> dict[str, Any]:
    """`doc` as the current schema version, ready to compare: checked (check_document: numbers, the v3 JSON Schema
    or the older versions' shape, timestamps); a version 1 or 2 file upgraded (results.upgrade, on a copy: `doc` is
    left as it is); a test held twice refused, both rows named (duplicate_rows, by `key`). Raises CompareError,
    one line naming `name` and the place of the first problems."""
    check_document(doc, name)
    try:
        upgraded = results.upgrade(doc)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise CompareError(f"{_one_line(name)}: {_one_line(str(err))}") from None
    twice = duplicate_rows(upgraded, key)
    if twice and key is across_browsers_key and len({row_browser(upgraded, r) for r in upgraded["rows"]}) > 1:
        raise CompareError(f"{_one_line(name)}: it holds each test once per browser (a --browser all result), so "
                           "--across-browsers cannot tell its rows apart; compare the per-browser files written beside "
                           "it (NAME.chromium.json, NAME.firefox.json...) instead")
    if twice:
        raise _refuse(name, "a result holds each test once; ", twice)
    return upgraded


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
    """Compare NEW with BASE, each read by `read_result` (checked; a v1 or v2 file upgraded to v3 first). Raises
    CompareError for bad input (a v3 file that breaks the v3 schema, NaN, a test held twice...) or when no row
    matches.

    `key(result, row)` says which rows are the same test (match_key: engine, backend, model, test)."""
    base, new = read_result(base, base_name, key), read_result(new, new_name, key)
    base_rows = {key(base, r): r for r in base["rows"]}
    new_rows = {key(new, r): r for r in new["rows"]}
    matched = [k for k in base_rows if k in new_rows]
    if not matched:
        browsers = (sorted({row_browser(base, r) for r in base["rows"]}), sorted({row_browser(new, r) for r in new["rows"]}))
        hint = ""
        if key is match_key and browsers[0] != browsers[1]:
            hint = (f"; they ran in different browsers ({', '.join(browsers[0])} and {', '.join(browsers[1])}): "
                    "--across-browsers compares them")
        raise CompareError(_one_line(
            f"no row of {new_name} matches a row of {base_name} by engine, backend, model, test and browser{hint} "
            f"({base_name}: {_keys_text(base, base_rows) or 'no rows'}; "
            f"{new_name}: {_keys_text(new, new_rows) or 'no rows'})", 2000))
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
            # each side's cost against native llama.cpp on its own machine (app.core.native_cost), where it had one
            "vs_native": {"base": b.get("vs_native"), "new": n.get("vs_native")},
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
        name = printable(f"{c['new']['name']}: {row['engine']} {row['backend']} {row['test']}")
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
    """The table's cells by group, control characters escaped (`printable`: a file's engine name cannot send
    terminal escape codes); a GPU ERROR side's figures go through `strike` (never a plain number)."""
    fmt = {f.key: f.fmt for f in FIGURES}
    out: dict[str, list[list[str]]] = {g: [] for g, _ in GROUPS}
    for row in comparison["rows"]:
        for f in row["figures"]:
            cells = {side: _cell(f[side], fmt[f["key"]]) for side in ("base", "new")}
            for side in f.get("invalid") or []:
                if cells[side] != "-":
                    cells[side] = strike(cells[side])
            out[f["group"]].append([printable(row["engine"]), printable(row["backend"]), printable(row["test"]),
                                    f["label"], cells["base"], cells["new"], _change(f["change"]), _p(f["p_runs"]),
                                    _p(f["p_tokens"]), printable(_note(f))])
    return out


def _vs_native(v: dict[str, Any] | None) -> str:
    """One side's vs_native as "0.13x / 0.05x" ("no native row" where that run had none)."""
    if not v:
        return "no native row"
    return " / ".join("-" if v.get(k) is None else f"{v[k]:.2f}x" for k in ("decode", "prefill"))


def header_lines(comparison: dict[str, Any]) -> list[str]:
    b, n, t = comparison["base"], comparison["new"], comparison["test"]
    return [printable(f"base {b['name']} ({_one_line(b['created'] or 'no date', 60)}, {b['runs']} runs) -> new "
                      f"{n['name']} ({_one_line(n['created'] or 'no date', 60)}, {n['runs']} runs)"),
            (f"{t['name']} ({t['implementation']}): significant when p < {t['alpha']:g} and the mean moved at least "
             f"{t['min_change']:.0%}; decode tok/s falls back to its per-token intervals when too few runs can decide")]


def footer_lines(comparison: dict[str, Any]) -> list[str]:
    lines = []
    for row in comparison["rows"]:
        v = row["verdict"]
        if v["changed"]:
            lines.append(f"verdict changed: {row['engine']} {row['backend']} {row['test']}: {v['base']} -> {v['new']}"
                         + (" (worse)" if v["worse"] else ""))
    for row in comparison["rows"]:
        v = row.get("vs_native") or {}
        if v.get("base") or v.get("new"):
            lines.append(f"vs native llama.cpp (decode / prefill): {row['engine']} {row['backend']} {row['test']}: "
                         f"{_vs_native(v.get('base'))} -> {_vs_native(v.get('new'))}")
    if comparison["only_base"]:
        lines.append("only in base (not compared): " + "; ".join(comparison["only_base"]))
    if comparison["only_new"]:
        lines.append("only in new (not compared): " + "; ".join(comparison["only_new"]))
    return [printable(x) for x in lines + list(comparison["warnings"])]


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
