"""The browser rows of a result beside llama.cpp's own `llama-bench` on the same machine (pure but for file reading).

Where the binding cannot run (the GPU machine: no registry, no compiler), native figures come from `llama-bench`
(scripts/native_gpu_run.sh), one JSON object a line (`-o jsonl`): n_prompt, n_gen, n_depth, n_threads,
n_gpu_layers, flash_attn, avg_ts (tok/s, mean over repetitions), stddev_ts, build_commit. This module matches each
browser row to the llama-bench test that measures the same thing, with the same definitions as
app/core/native_cost.py (ratio = the row's mean tok/s / native's mean tok/s):

    ppN row      prefill  vs  llama-bench pN          (n_prompt N, n_gen 0, depth 0)
    tgN row      decode   vs  llama-bench nN          (n_prompt 0, n_gen N, depth 0)
    chat pP+gG   prefill  vs  pP;  decode vs nG at depth P (-n G -d P)

A wasm-cpu row is costed against native CPU with the row's thread count (info.threads), else the most threads; a
webgpu row against native GPU (llama.cpp's Vulkan backend, the API under Chromium's WebGPU on that machine).
llama-bench's prefill is one batch of N tokens and its decode N single-token steps, as our rows; it has no
TTFT, load time or correctness, and a figure made on a GGUF whose tensor data is zeroed (speed only) says so.

    python -m app.engines.native.host.llama_bench RESULT.json NATIVE.jsonl... [--zeroed]
prints a markdown table (one line per browser row and figure) and exits 0; 2 with one line for a bad file.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from app.core.report import verdict


class LlamaBenchError(ValueError):
    """A file that is not what this module reads (names the file and what is wrong)."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """llama-bench's `-o jsonl` records of `path`. Raises LlamaBenchError for unreadable or foreign lines."""
    out = []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise LlamaBenchError(f"{path}: cannot read it ({err})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            raise LlamaBenchError(f"{path}:{n}: not JSON (expected llama-bench -o jsonl)") from None
        missing = [k for k in ("n_prompt", "n_gen", "avg_ts") if not isinstance(rec, dict) or k not in rec]
        if missing:
            raise LlamaBenchError(f"{path}:{n}: not a llama-bench record (no {', '.join(missing)})")
        bad = [k for k in INTEGERS if k in rec and rec[k] is not None
               and (isinstance(rec[k], bool) or not isinstance(rec[k], int) or rec[k] < 0)]
        bad += [k for k in ("avg_ts", "stddev_ts") if k in rec and not _finite(rec[k], allow_none=k == "stddev_ts")]
        if bad:
            raise LlamaBenchError(f"{path}:{n}: {', '.join(f'{k} {rec[k]!r}' for k in bad)}: not a count (integer >= 0) "
                                  "or a speed (finite tok/s >= 0) as llama-bench writes them")
        out.append(rec)
    if not out:
        raise LlamaBenchError(f"{path}: no llama-bench records (an empty file?)")
    return out


INTEGERS = ("n_prompt", "n_gen", "n_depth", "n_threads", "n_gpu_layers")


def _finite(value: Any, allow_none: bool = False) -> bool:
    if value is None:
        return allow_none
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def kind(rec: dict[str, Any]) -> str:
    """"gpu" for a record with layers offloaded (n_gpu_layers > 0), else "cpu"."""
    return "gpu" if int(rec.get("n_gpu_layers") or 0) > 0 else "cpu"


def _pick(records: list[dict[str, Any]], want: str, n_prompt: int, n_gen: int, depth: int,
          threads: int | None) -> dict[str, Any] | None:
    # flash_attn: 1 (or true) when -fa 1 forced it; -1 "auto" (llama-bench 0c1e570's default, the H200 records); 0 off.
    same = [r for r in records if kind(r) == want and r.get("flash_attn") not in (1, True)
            and (r["n_prompt"], r["n_gen"], int(r.get("n_depth") or 0)) == (n_prompt, n_gen, depth)]
    if not same:
        return None
    if want == "cpu":
        exact = [r for r in same if threads is not None and r.get("n_threads") == threads]
        return exact[0] if exact else max(same, key=lambda r: r.get("n_threads") or 0)
    return same[0]


def _mean(row: dict[str, Any], key: str) -> float | None:
    summary = row.get("summary")
    stat = summary.get(key) if isinstance(summary, dict) else None
    mean = stat.get("mean") if isinstance(stat, dict) else None
    return mean if _finite(mean) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def comparisons(result: dict[str, Any], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (browser row, figure) that has a matching llama-bench test: {engine, backend, verdict, test,
    figure ("prefill"|"decode"), browser_tok_s, native_tok_s, native_stddev, native ("cpu, 16 threads"|"gpu"),
    native_test ("pp32", "tg64@d32"), ratio}. Rows without the figure (errors, refusals) are left out."""
    out = []
    for row in _rows(result):
        backend = str(row.get("backend") or "")
        want = "gpu" if backend.startswith("webgpu") else "cpu" if backend.startswith("wasm") else None
        if want is None or row.get("error") or row.get("unsupported"):
            continue
        test = str(row.get("test") or "chat")
        n_prompt, n_gen = _count(row.get("n_prompt")), _count(row.get("n_gen"))
        wants = []
        if test.startswith("pp"):
            wants.append(("prefill", n_prompt, 0, 0))
        elif test.startswith("tg"):
            wants.append(("decode", 0, n_gen, 0))
        else:
            wants += [("prefill", n_prompt, 0, 0), ("decode", 0, n_gen, n_prompt)]
        info = row.get("info")
        threads = info.get("threads") if isinstance(info, dict) else None
        for figure, p, g, d in wants:
            mine = _mean(row, f"{figure}_tok_s")
            rec = _pick(records, want, p, g, d, threads if isinstance(threads, int) else None)
            if mine is None or rec is None:
                continue
            where = f"cpu, {rec.get('n_threads')} threads" if want == "cpu" else "gpu (Vulkan)"
            out.append({"engine": row.get("engine"), "backend": backend, "verdict": verdict(row), "test": test,
                        "figure": figure, "browser_tok_s": mine, "native_tok_s": rec["avg_ts"],
                        "native_stddev": rec.get("stddev_ts"), "native": where,
                        "native_test": f"pp{p}" if figure == "prefill" else f"tg{g}" + (f"@d{d}" if d else ""),
                        "ratio": mine / rec["avg_ts"] if rec["avg_ts"] else None})
    return out


def _rows(result: Any) -> list[dict[str, Any]]:
    """The result's rows that are objects with a text engine name and object-or-null correctness and gpu_errors (others
    are left out: verdict() reads them). Raises LlamaBenchError for a result without a list of rows."""
    rows = result.get("rows") if isinstance(result, dict) else None
    if not isinstance(rows, list):
        raise LlamaBenchError("the result has no list of rows (python -m app bench --json writes one)")
    return [r for r in rows if isinstance(r, dict) and isinstance(r.get("engine"), str)
            and all(isinstance(r.get(k), (dict, type(None))) for k in ("correctness", "gpu_errors"))
            and isinstance((r.get("correctness") or {}).get("forced_top1_agreement"), (int, float, type(None)))]


def markdown(rows: list[dict[str, Any]], zeroed: bool) -> str:
    """The comparisons as a markdown table (tok/s to one decimal, ratio to two figures)."""
    lines = ["| engine | backend | verdict | test | figure | browser tok/s | native | native test | native tok/s | browser / native |",
             "|---|---|---|---|---|---:|---|---|---:|---:|"]
    for r in rows:
        ratio = f"{r['ratio']:.2g}x" if r["ratio"] is not None else "-"
        lines.append(f"| {r['engine']} | {r['backend']} | {r['verdict']} | {r['test']} | {r['figure']} | "
                     f"{r['browser_tok_s']:.1f} | {r['native']} | {r['native_test']} | "
                     f"{r['native_tok_s']:.1f} ± {r['native_stddev'] or 0:.1f} | {ratio} |")
    if zeroed:
        lines.append("")
        lines.append("Native figures from a GGUF with the same header and shapes whose tensor data is zeroed "
                     "(speed only; never for correctness).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.engines.native.host.llama_bench",
                                     description="Browser rows of a result beside llama-bench's native figures.")
    parser.add_argument("result", type=Path, help="a benchmark result JSON (python -m app bench --json)")
    parser.add_argument("native", type=Path, nargs="+",
                        help="llama-bench -o jsonl files (n_prompt, n_gen, n_depth, n_threads, n_gpu_layers: 0 native CPU, "
                             "> 0 native GPU, avg_ts, stddev_ts)")
    parser.add_argument("--zeroed", action="store_true", help="the native figures used a zeroed-weights GGUF (say so)")
    args = parser.parse_args(argv)
    try:
        result = json.loads(args.result.read_text())
    except (OSError, ValueError, RecursionError) as err:
        print(f"llama_bench: {args.result}: not a readable result JSON ({err})", file=sys.stderr)
        return 2
    try:
        records = [r for path in args.native for r in read_jsonl(path)]
    except LlamaBenchError as err:
        print(f"llama_bench: {err}", file=sys.stderr)
        return 2
    try:
        rows = comparisons(result, records)
    except LlamaBenchError as err:
        print(f"llama_bench: {args.result}: {err}", file=sys.stderr)
        return 2
    print(markdown(rows, args.zeroed))
    # Rows with a figure but no native test of the same kind (no GPU records, another prompt length): say so.
    matched = {(r["engine"], r["backend"], r["test"]) for r in rows}
    for row in _rows(result):
        key = (row.get("engine"), str(row.get("backend") or ""), str(row.get("test") or "chat"))
        if row.get("summary") and not row.get("error") and key not in matched and key[1].startswith(("wasm", "webgpu")):
            print(f"- no native figure for {key[0]} {key[1]} {key[2]}: no llama-bench record of that test "
                  f"({'GPU: n_gpu_layers > 0' if key[1].startswith('webgpu') else 'CPU: n_gpu_layers 0'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
