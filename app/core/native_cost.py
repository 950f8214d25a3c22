"""What each row costs against llama.cpp run natively on the same machine, same GGUF, same test (pure).

A native row (backend NATIVE_BACKEND: llama.cpp compiled for the host CPU and run by the host Python,
app/engines/native) runs the same tests as the browser rows. Every other row gets `vs_native`:

    decode  = the row's mean decode tok/s  / the native row's mean decode tok/s   (same test)
    prefill = the row's mean prefill tok/s / the native row's mean prefill tok/s  (same test)

(a ppN test is costed on prefill only, a tgN test on decode only, the chat test on both), plain ratios of the
rows' `summary` means (1.0: as fast as native; 0.1: a tenth of native's speed), so anyone
can recompute them from the JSON. The native row compared against is the one of the same test (test, n_prompt,
n_gen, n_depth) with the same thread count as the row (its info.threads) when one ran, else the one with the most
threads; `native_key` and `native_threads` say which. Rows without a figure (errors, refusals, a test native did
not run) get no ratio for it (null).
"""

from __future__ import annotations

import math
from typing import Any

from app.engines.spec import NATIVE_BACKEND

FIGURES = {"decode": "decode_tok_s", "prefill": "prefill_tok_s"}


def is_native(row: dict[str, Any]) -> bool:
    """Whether `row` is a native row (the rows others are costed against)."""
    return row.get("backend") == NATIVE_BACKEND


def _test(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row.get("test") or "chat", row.get("n_prompt"), row.get("n_gen"), row.get("n_depth") or 0)


def _mean(row: dict[str, Any], key: str) -> float | None:
    stat = (row.get("summary") or {}).get(key)
    return stat.get("mean") if isinstance(stat, dict) else None


def _threads(row: dict[str, Any]) -> int | None:
    threads = (row.get("info") or {}).get("threads")
    return threads if isinstance(threads, int) and not isinstance(threads, bool) else None


def _usable(row: dict[str, Any]) -> bool:
    return is_native(row) and not row.get("error") and not row.get("unsupported") and bool(row.get("summary"))


def native_for(row: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The native row `row` is costed against: same test, same threads if one ran, else the most threads; None."""
    same_test = [r for r in rows if _usable(r) and _test(r) == _test(row)]
    if not same_test:
        return None
    threads = _threads(row)
    same = [r for r in same_test if threads is not None and _threads(r) == threads]
    return same[0] if same else max(same_test, key=lambda r: _threads(r) or 0)


def cost(row: dict[str, Any], native: dict[str, Any]) -> dict[str, Any]:
    """`row`'s vs_native record against the native row `native`: {native_key, native_threads, same_threads,
    decode, prefill}; a ratio is null where either mean is missing or native's is not above 0."""
    out: dict[str, Any] = {"native_key": native["key"], "native_threads": _threads(native),
                           "same_threads": _threads(row) is not None and _threads(row) == _threads(native)}
    kind = str(row.get("test") or "chat")[:2]
    for name, key in FIGURES.items():
        mine, theirs = _mean(row, key), _mean(native, key)
        # A tg test's prefill is its 1-token (or depth) prompt and a pp test generates 1 token: each test is costed
        # on the figure it measures (the chat test on both).
        measured = kind not in ("pp", "tg") or (kind == "pp") == (name == "prefill")
        out[name] = mine / theirs if measured and mine is not None and theirs else None
    return out


def annotate(result: dict[str, Any]) -> dict[str, Any]:
    """Set every non-native row's `vs_native` from the result's native rows (removed where no native row fits);
    returns `result`."""
    rows = result.get("rows") or []
    for row in rows:
        row.pop("vs_native", None)
        if is_native(row):
            continue
        native = native_for(row, rows)
        if native is not None:
            row["vs_native"] = cost(row, native)
    return result


def check(result: dict[str, Any]) -> None:
    """Raise ValueError naming the row when a stored `vs_native` is not what the rows' summaries give."""
    rows = result.get("rows") or []
    by_key = {}
    for r in rows:
        if is_native(r):
            by_key.setdefault(r["key"], []).append(r)
    for row in rows:
        stored = row.get("vs_native")
        if stored is None:
            continue
        natives = [r for r in by_key.get(stored.get("native_key"), []) if _test(r) == _test(row)]
        if not natives:
            raise ValueError(f"{row['key']} {row.get('test')}: vs_native names {stored.get('native_key')!r}, "
                             "which has no row of the same test")
        again = cost(row, natives[0])
        for name in FIGURES:
            a, b = stored.get(name), again[name]
            if (a is None) != (b is None) or (a is not None and not math.isclose(a, b, rel_tol=1e-9)):
                raise ValueError(f"{row['key']} {row.get('test')}: vs_native {name} is {a}, the summaries give {b}")


def cell(row: dict[str, Any]) -> str:
    """The table's "vs native" cell: decode / prefill ratios ("0.13x / 0.05x"), "-" for a figure it lacks."""
    v = row.get("vs_native")
    if not v:
        return "-"
    parts = ["-" if v.get(k) is None else f"{v[k]:.2f}x" for k in FIGURES]
    return " / ".join(parts)
