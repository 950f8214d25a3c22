"""The result schema: every token id and timestamp, and the figures derived from them.

Raw records (runs with their timestamps) are the truth; every summary figure is recomputed from
them by `derive_run` / `summarize_row`, so a reader can check the table against the JSON.
The format's version history is beside SCHEMA_VERSION; `upgrade` reads every older version as the current one.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from app.core import stats

SCHEMA = "browser-llm-bench/result"

# Version history of the result JSON (as pyperf's _bench.py keeps _JSON_VERSION's):
#
# 1 - 2026-11-27 (2bfe2ca): settings, environment, assets (every pin and served file with its sha256), model
#     (name, size, sha256, GGUF header), model_fetch, created, prompt_text, prompt_ids, passage_ids,
#     stopped_by_user (and, soon after, stop_requested_ms); rows of key, engine, backend, is_reference, load
#     (ms per phase), info, warmups and runs (index, prompt_tokens, prefill_start_ms, prefill_end_ms,
#     token_ids, token_times_ms, stopped, derived), summary (SUMMARY_KEYS but the ITL slope), correctness,
#     output_text, error.
# 2 - 2026-11-29 (243b36c): runs carry stop_reason, error and cold, and a run that failed keeps its tokens;
#     rows carry gpu_errors, console_errors, gpu_devices, shims, unsupported and context_tokens; the result
#     carries stop_ids. Added later under the same number, each optional for a reader: incomplete (374ba5d);
#     the tokenizer of record's prompt_format, tokenizer, bos and prompt_warnings (66fd43d); rows' memory
#     and runs' hygiene (0aa7130); test names: rows' test ("chat", llama-bench's
#     ppN / tgN / "tgN @ dD" sweeps), n_prompt, n_gen, n_depth and correctness_from, and the derived
#     itl_slope_ms_per_1k (0c3d26c); rows' notes (an engine's own checks, llama.cpp 3.13: 98cde46); Grid
#     nodes: environment.nodes, rows' node and grid_sessions (478bd45).
# 3 - 2026-12-04: every result is validated against a JSON Schema, app/core/result_schema_v3.json
#     (app.core.result_schema.validate), in the page, under Deno and on the host; each figure of
#     derive_run and summarize_row is always present (null when a run has no such figure); the CSV
#     output has one fixed column set whatever engines ran (formats.CSV_COLUMNS). Files of versions 1 and 2
#     are read through `upgrade`, which fills in what they lack (the chat test, the ITL slope, stop_reason...)
#     and marks them `upgraded_from`. Added later under the same number, optional for a reader: rows'
#     vs_native (a row's decode and prefill speed over the native llama.cpp row's on the same test,
#     app.core.native_cost; checked against the summaries by check_result) and the native rows themselves
#     (backend "native-cpu", run by the host process: issue 25).
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)

FIELD_DOCS = {
    "rows[].load.fetch_ms": "getting the model bytes into JS memory (network or OPFS cache), shared by all rows",
    "rows[].load.parse_ms": "the engine's own load of the bytes (FlareEngine.load, wllama loadModel)",
    "rows[].load.gpu_init_ms": "FlareEngine.init_gpu(): pipelines and weight upload (WebGPU rows only)",
    "rows[].runs[].prefill_start_ms": "performance.now() just before the call that consumes the prompt",
    "rows[].runs[].prefill_end_ms": "performance.now() when that call returned",
    "rows[].runs[].token_times_ms": "performance.now() when each generated token id was in Python's hands",
    "derived.prefill_ms": "prefill_end_ms - prefill_start_ms",
    "derived.prefill_tok_s": "prompt tokens / prefill time",
    "derived.ttft_ms": "first token time - prefill_start_ms: from the start of prefill to the first token id in Python",
    "derived.decode_tok_s": "(n - 1) / (t_last - t_first) over the run's tokens",
    "derived.itl_p50_ms / p90 / p99": "percentiles of the inter-token intervals of the run",
    "derived.itl_slope_ms_per_1k": "least-squares slope of the inter-token intervals against position (prompt + tokens "
                                   "so far): ms per token added per 1,000 tokens of context",
    "rows[].test": "'chat' (the chat prompt, up to max_tokens) or a sweep test named as llama-bench: ppN, tgN, 'tgN @ dD'",
    "rows[].n_prompt / n_gen / n_depth": "prompt tokens fed, tokens asked for, context before generation",
    "correctness.greedy_match": "fraction of greedy tokens equal to llama.cpp's at the same index",
    "correctness.first_divergence": "index of the first token that differs from llama.cpp's (null: none)",
    "correctness.forced_top1_agreement": "feeding llama.cpp's continuation one prefix at a time, how often the engine's top-1 is llama.cpp's next token",
    "correctness.perplexity": "exp(-mean log p) of the fixed passage, each token given the passage before it",
    "warmups": "runs made before the measured ones; kept, never summarised",
    "rows[].runs[].stop_reason": "why the run ended: 'end token' (an id of the model's stop set), 'engine end' (the engine ended "
                                 "the stream itself before max tokens), 'max tokens', 'user' (Stop), 'error', 'context'",
    "rows[].runs[].cold": "true for the first measured run when no warmup ran: it includes one-time costs (compilation, caches)",
    "rows[].gpu_errors": "WebGPU uncapturederror events and lost devices during the row: count, by_kind, first_messages; "
                         "a row with any is GPU ERROR and its speeds are not results",
    "rows[].console_errors": "console errors, WASM traps (panics, aborts) and uncaught page errors during the row",
    "rows[].gpu_devices": "each WebGPU device the engine created in the row: requested and granted limits, whether the "
                          "adapter-limits shim raised any",
    "rows[].shims": "anything that changed how the engine runs (e.g. 'webgpu-limits=adapter'); empty for the published engine",
    "incomplete": "present when the command gave up (--timeout, a lost browser): why; the rows are those finished by then",
    "stop_ids": "the end-of-generation ids every engine stopped at (the GGUF's EOS/EOT/EOM), not counted as generated",
    "rows[].unsupported": "why the engine was not run on this model and prompt (checked before loading)",
    "rows[].vs_native": "the row's mean decode and prefill tok/s over the native llama.cpp row's of the same test "
                        "(native_key; its thread count if one ran with the row's, else the most threads): 0.1 = a "
                        "tenth of native's speed",
    "timer_resolution_us": "performance.now() is coarsened to 5 us when cross-origin isolated, 100 us otherwise",
    "upgraded_from": "present when a file of an older schema_version was read as this one (results.upgrade)",
}


def derive_run(run: dict[str, Any]) -> dict[str, Any]:
    """The figures of one run, from its raw timestamps."""
    times = run["token_times_ms"]
    stats.check_increasing(times)
    start, end = run["prefill_start_ms"], run["prefill_end_ms"]
    if end < start or (times and times[0] < end):
        raise stats.TimestampError("prefill timestamps are out of order with the token timestamps")
    prefill_ms = end - start
    gaps = stats.intervals(times)
    return {
        "itl_slope_ms_per_1k": itl_slope(gaps, run["prompt_tokens"]),
        "tokens": len(times),
        "prefill_ms": prefill_ms,
        "prefill_tok_s": run["prompt_tokens"] / (prefill_ms / 1000) if prefill_ms > 0 else None,
        "ttft_ms": times[0] - start if times else None,
        "decode_tok_s": stats.decode_rate(times),
        "itl_p50_ms": stats.percentile(gaps, 50),
        "itl_p90_ms": stats.percentile(gaps, 90),
        "itl_p99_ms": stats.percentile(gaps, 99),
    }


STOP_REASONS = ("end token", "engine end", "max tokens", "user", "error", "context")


def itl_slope(gaps: list[float], prompt_tokens: int) -> float | None:
    """How inter-token latency grows with context: the least-squares slope of each interval (ms) against its
    position in the sequence (prompt + tokens so far), in ms per token per 1,000 tokens of context
    (statistics.linear_regression). None with fewer than 3 intervals."""
    if len(gaps) < 3:
        return None
    import statistics

    positions = [prompt_tokens + i + 1 for i in range(len(gaps))]
    return statistics.linear_regression(positions, gaps).slope * 1000


def make_run(index: int, prompt_tokens: int, prefill_start_ms: float, prefill_end_ms: float,
             token_ids: list[int], token_times_ms: list[float], stopped: bool = False,
             stop_reason: str | None = None, error: str | None = None, cold: bool = False) -> dict[str, Any]:
    """One run's raw record plus its derived figures (ms timestamps from performance.now()).

    `stopped`: ended early by the user, an error or the context limit; such a run is kept but not summarised.
    `stop_reason`: one of STOP_REASONS. Raises stats.TimestampError on out-of-order timestamps.
    """
    if stop_reason is not None and stop_reason not in STOP_REASONS:
        raise ValueError(f"unknown stop reason {stop_reason!r}")
    run = {
        "index": index,
        "prompt_tokens": prompt_tokens,
        "prefill_start_ms": prefill_start_ms,
        "prefill_end_ms": prefill_end_ms,
        "token_ids": list(token_ids),
        "token_times_ms": list(token_times_ms),
        "stopped": stopped or stop_reason in ("user", "error", "context"),
        "stop_reason": stop_reason,
        "cold": cold,
    }
    if error:
        run["error"] = error
    run["derived"] = derive_run(run)
    return run


SUMMARY_KEYS = ("prefill_ms", "prefill_tok_s", "ttft_ms", "decode_tok_s", "itl_p50_ms", "itl_p90_ms", "itl_p99_ms", "tokens",
                "itl_slope_ms_per_1k")


def summarize_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Across the measured runs that finished (a run stopped by the user or an error is kept but not summarised)."""
    done = [r for r in runs if not r["stopped"]]
    return {key: stats.summarize([r["derived"][key] for r in done]) for key in SUMMARY_KEYS}


def new_result(settings: dict, environment: dict, assets: list[dict], model: dict) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "field_docs": FIELD_DOCS,
        "settings": settings,
        "environment": environment,
        "assets": assets,
        "model": model,
        "rows": [],
    }


def _same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 relative: the page's Python (3.13) and the host's may round the last bits apart."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def _same_tree(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_tree(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_tree(x, y) for x, y in zip(a, b))
    return _same(a, b)


def check_result(result: dict[str, Any]) -> None:
    """Raise ValueError if a version-3 result breaks the JSON Schema (result_schema.ResultSchemaError, naming
    the field) or, for any readable version, if a derived figure disagrees with the raw timestamps it came from."""
    if result.get("schema") != SCHEMA or result.get("schema_version") not in READABLE_VERSIONS:
        raise ValueError(f"not a {SCHEMA} document of version {', '.join(map(str, READABLE_VERSIONS))}")
    if result["schema_version"] == SCHEMA_VERSION:
        from app.core import result_schema

        result_schema.validate(result)
    for row in result["rows"]:
        for run in row.get("runs", []) + row.get("warmups", []):
            if len(run["token_ids"]) != len(run["token_times_ms"]):
                raise ValueError(f"{row['key']} run {run['index']}: one timestamp per token is needed")
            again = derive_run(run)
            for key, value in again.items():
                if key in run["derived"] and not _same(value, run["derived"][key]):  # older files lack newer figures
                    raise ValueError(f"{row['key']} run {run['index']}: {key} is {run['derived'][key]}, timestamps give {value}")
        stored = row.get("summary") or {}
        recomputed = {k: v for k, v in summarize_row(row["runs"]).items() if k in stored} if row.get("runs") else {}
        if row.get("runs") and not _same_tree(recomputed, stored):
            raise ValueError(f"{row['key']}: summary does not match its runs")
    from app.core import native_cost

    native_cost.check(result)  # each row's vs_native against the summaries it came from


# ---------------------------------------------------------------------------------------------------
# Reading older versions (pyperf's per-version loaders): each step takes a document of version N to N + 1.


def _v1_to_v2(doc: dict[str, Any]) -> None:
    """Version 1 had no stop reasons and no GPU or console error capture: runs say stop_reason 'user' when the
    user stopped them, else null (unknown); rows get empty error captures, no shims and no refusal."""
    for row in doc["rows"]:
        for run in (row.get("runs") or []) + (row.get("warmups") or []):
            run.setdefault("stop_reason", "user" if run.get("stopped") else None)
            run.setdefault("cold", False)
        for key, empty in (("gpu_errors", None), ("console_errors", None), ("gpu_devices", []), ("shims", []),
                           ("unsupported", None)):
            row.setdefault(key, empty)


def _v2_to_v3(doc: dict[str, Any]) -> None:
    """Version 2 files written before a field existed lack it: every row and run gets the fields v3 requires
    of them, rows written before tests were named are the chat test (prompt: their runs' prompt tokens;
    n_gen: max_tokens), and every figure of derive_run / summarize_row missing from a run or summary (the ITL
    slope, added under version 2) is computed from the run's own timestamps. Stored figures are kept as they
    are. What a run did not record (the model's name, settings) is not invented: an upgraded file is read,
    not validated against the v3 schema."""
    max_tokens = (doc.get("settings") or {}).get("max_tokens")
    for row in doc["rows"]:
        for key, empty in (("engine", row.get("key")), ("is_reference", False), ("load", {}), ("warmups", []),
                           ("runs", []), ("summary", None), ("correctness", None), ("info", {}), ("error", None),
                           ("unsupported", None), ("shims", []), ("gpu_errors", None)):
            if key not in row or (row[key] is None and empty is not None):
                row[key] = empty
        runs = row["runs"]
        for run in runs + row["warmups"]:
            run.setdefault("stopped", run.get("stop_reason") in ("user", "error", "context"))
            run.setdefault("stop_reason", None)
            run.setdefault("cold", False)
        if "test" not in row:
            prompt = runs[0]["prompt_tokens"] if runs else (len(doc.get("prompt_ids") or []) or None)
            row.update(test="chat", n_prompt=row.get("n_prompt", prompt), n_gen=row.get("n_gen", max_tokens),
                       n_depth=row.get("n_depth") or 0)
        for run in runs + row["warmups"]:
            stored = run.get("derived") or {}
            run["derived"] = {k: stored.get(k, v) for k, v in derive_run(run).items()}
        if runs:
            stored = row["summary"] or {}
            row["summary"] = {k: stored.get(k, v) for k, v in summarize_row(runs).items()}


_UPGRADES = {1: _v1_to_v2, 2: _v2_to_v3}


def upgrade(doc: dict[str, Any]) -> dict[str, Any]:
    """A result of any readable version as a version-3 document: a copy, `doc` is left as it is. An older one
    passes through each version's loader in turn and says `upgraded_from` (its own version); a v3 document is
    returned as a copy, unchanged. Raises ValueError for another schema or version, and stats.TimestampError
    (a ValueError) for out-of-order timestamps in a run whose figures must be computed."""
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or version not in READABLE_VERSIONS:
        raise ValueError(f"not a {SCHEMA} document of version {', '.join(map(str, READABLE_VERSIONS))}")
    if not isinstance(doc.get("rows"), list) or not all(isinstance(r, dict) for r in doc["rows"]):
        raise ValueError("'rows' is missing or not a list of rows")
    out = copy.deepcopy(doc)
    while out["schema_version"] != SCHEMA_VERSION:
        _UPGRADES[out["schema_version"]](out)
        out["schema_version"] += 1
    if version != SCHEMA_VERSION:
        out["upgraded_from"] = version
    return out
