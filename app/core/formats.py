"""A result JSON written as text, Markdown, CSV, JSON, JSON lines or llama-bench's JSON (pure Python).

Every number comes from the one schema (app/core/results.py) and is recomputed here from the runs' raw
timestamps (`results.derive_run`), never copied from a stored summary, so each output can be checked
against the timestamps it came from (tests/host/test_formats.py does).

- text / md: the table printed by `python -m app bench` (report.to_text / report.to_markdown) and the
  "Reading this run" lines.
- json: the result document itself.
- csv / jsonl: one flat record per row (`row_records`) with exactly the columns of CSV_COLUMNS, in that order,
  whatever engines ran (schema v3: a column never appears or goes with the rows): identity, verdict, the load
  phases, and for every figure of results.SUMMARY_KEYS its n, mean, stddev, median, min, max and the per-run
  samples (in CSV joined by ';'), then the correctness figures, then every field llama.cpp's
  scripts/compare-llama-bench.py requires (LLAMA_BENCH_COLUMNS), so it reads our CSV as it reads llama-bench's
  `-o csv`: each row is one llama-bench test (`llama_bench_row_test`) and n_prompt / n_gen / n_depth are that
  test's, as llama-bench counts them (a ppN row: N, 0, depth; a tgN row: 0, N, depth; the chat row: llama-bench's
  pp+tg test, prompt tokens, max tokens, 0). An empty cell (null in jsonl) is a figure the row does not have.
  CSV_COLUMN_DOCS says what each column holds.
- llama-bench / llama-bench-jsonl: llama-bench's own JSON (`llama_bench_records`): one object per (row, test)
  with llama-bench's field names, so llama.cpp's scripts/compare-llama-bench.py and dashboards read our runs.
  The chat row holds two llama-bench tests: its prompt ("pp{n}": n_prompt = prompt tokens, n_gen 0, samples
  from the prefill time) and its generation ("tg{n} @ d{prompt}": n_gen = max tokens, n_depth = the prompt
  tokens already in the context, n_prompt 0, samples from the first to the last token); a sweep row
  (rows[].test "pp512", "tg128", "tg128 @ d512") is its one test.

The real compare-llama-bench.py of llama.cpp (from the llama-cpp-python sdist pinned in pins.toml) reads all three
in tests/host/test_llama_bench_script.py.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import statistics
from typing import Any

from app.core import native_cost, report, results
from app.core.compare import row_test

OUTPUTS = ("text", "md", "csv", "json", "jsonl", "llama-bench", "llama-bench-jsonl")
DATA_OUTPUTS = frozenset({"csv", "json", "jsonl", "llama-bench", "llama-bench-jsonl"})  # for programs: stdout only data


def render(result: dict[str, Any], fmt: str) -> str:
    """`result` in the output format `fmt` (one of OUTPUTS), without a trailing newline."""
    writers = {"text": to_text, "md": to_markdown, "csv": to_csv, "json": to_json, "jsonl": to_jsonl,
               "llama-bench": to_llama_bench, "llama-bench-jsonl": to_llama_bench_jsonl}
    if fmt not in writers:
        raise ValueError(f"unknown output format {fmt!r}; one of {', '.join(OUTPUTS)}")
    return writers[fmt](result)


# ---------------------------------------------------------------------------------------------------
# Human tables


def to_text(result: dict[str, Any]) -> str:
    lines = report.reading(result)
    return report.to_text(result) + ("\n\nReading this run:\n" + "\n".join(f"  {x}" for x in lines) if lines else "")


def to_markdown(result: dict[str, Any]) -> str:
    lines = report.reading(result)
    return report.to_markdown(result) + ("\n\n**Reading this run**\n\n" + "\n".join(f"- {x}" for x in lines)
                                         if lines else "")


def to_json(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=1)


# ---------------------------------------------------------------------------------------------------
# The runs, re-derived


def finished_runs(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The measured runs a summary covers (not stopped), each with `derived` recomputed from its timestamps."""
    return [{**r, "derived": results.derive_run(r)} for r in row.get("runs") or [] if not r.get("stopped")]


# ---------------------------------------------------------------------------------------------------
# CSV / JSON lines: one record per row

# The fields llama.cpp's compare script keys rows on must be present and equal between runs (it joins with
# SQL '=', so none may be null); those that mean nothing in a browser get a fixed neutral value, with
# llama-bench's meaning where it has one: load_mode "none" (llama_load_mode_name: no mmap, no mlock, no direct
# I/O; the model's bytes are read into the page's memory), fit_target 0 and fit_min_ctx 0 (llama-bench's
# defaults: no fitting of layers to free memory), n_cpu_moe 0 (no MoE experts kept on the CPU), flash_attn 0
# (llama-bench's integer: off), no KV offload, no embeddings. use_mmap is what llama-bench wrote before load_mode
# (older copies of the script require it; the current one drops fields it does not know).
NEUTRAL = {"n_batch": 0, "n_ubatch": 0, "cpu_mask": "0x0", "cpu_strict": False, "poll": 0, "type_k": "n/a",
           "type_v": "n/a", "n_cpu_moe": 0, "split_mode": "none", "main_gpu": 0, "no_kv_offload": False,
           "flash_attn": 0, "tensor_split": "0.00", "tensor_buft_overrides": "none", "load_mode": "none",
           "use_mmap": False, "embeddings": False, "no_op_offload": 0, "fit_target": 0, "fit_min_ctx": 0}
# The fields of a llama-bench line (llama.cpp's compare-llama-bench.py LLAMA_BENCH_DB_FIELDS, its sqlite
# columns) and those it requires of every line: its join keys, build_commit, test_time and avg_ts.
LLAMA_BENCH_FIELDS = (
    "build_commit", "build_number", "cpu_info", "gpu_info", "backends", "model_filename", "model_type", "model_size",
    "model_n_params", "n_batch", "n_ubatch", "n_threads", "cpu_mask", "cpu_strict", "poll", "type_k", "type_v",
    "n_gpu_layers", "split_mode", "main_gpu", "no_kv_offload", "flash_attn", "tensor_split", "tensor_buft_overrides",
    "load_mode", "embeddings", "no_op_offload", "n_prompt", "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns",
    "avg_ts", "stddev_ts", "n_cpu_moe", "fit_target", "fit_min_ctx")
LLAMA_BENCH_REQUIRED = (
    "cpu_info", "gpu_info", "backends", "n_gpu_layers", "n_cpu_moe", "tensor_buft_overrides", "model_filename",
    "model_type", "n_batch", "n_ubatch", "embeddings", "cpu_mask", "cpu_strict", "poll", "n_threads", "type_k",
    "type_v", "load_mode", "no_kv_offload", "split_mode", "main_gpu", "tensor_split", "flash_attn", "n_prompt",
    "n_gen", "n_depth", "fit_target", "fit_min_ctx", "build_commit", "test_time", "avg_ts")
# llama-bench's boolean fields: true/false in its JSON, 1/0 in its CSV (the script reads them as integers).
LLAMA_BENCH_BOOLS = ("cpu_strict", "no_kv_offload", "embeddings", "use_mmap")
# build_commit of a CSV line that holds no llama-bench result (a GPU ERROR row, a row without a finished run):
# llama-bench never writes such a line; this one joins no run's build (8 characters, as run_id, not hex).
NO_RESULT_BUILD = "noresult"

CORRECTNESS_KEYS = ("greedy_match", "first_divergence", "forced_top1_agreement", "perplexity", "reference_perplexity")
STAT_KEYS = ("n", "mean", "stddev", "median", "min", "max", "samples")
# The load phases that have a column of their own (an engine's other phases are in load.total_ms only).
LOAD_KEYS = ("parse_ms", "gpu_init_ms")

IDENTITY_COLUMN_DOCS = {
    "created": "when the run started (ISO 8601, the result's `created`)",
    "model": "the model's name", "model_sha256": "sha256 of the GGUF file",
    "key": "the engine key (one of --engines)", "engine": "engine name", "backend": "backend (a Grid row: with its node)",
    "browser": "the browser of a merged row (a Grid node's, or one of --browser all's: 'firefox 153'); "
               "else the run's own (environment.runtime)",
    "engine_version": "the engine's version (rows[].info.version)", "threads": "threads the engine used, where it says",
    "verdict": "report.verdict, one of report.VERDICTS (GPU ERROR, ERROR, WRONG, DEGRADED, unsupported, ok...)",
    "speeds_valid": "false when the row's speeds are not results (GPU ERROR)",
    "test": "'chat' or a llama-bench test name (ppN, tgN, 'tgN @ dD')",
    "n_prompt": "llama-bench's n_prompt of the row's test: the prompt tokens timed (ppN: N; tgN: 0; chat: the prompt)",
    "n_gen": "llama-bench's n_gen of the row's test: the tokens generated and timed (ppN: 0; tgN: N; chat: max tokens)",
    "n_depth": "llama-bench's n_depth: context before the timed test (ppN / tgN @ dD: D; chat: 0)",
    "runs": "measured runs that finished (those every figure below covers)", "warmups": "warmup runs (not summarised)",
}
# What llama.cpp's compare-llama-bench.py reads of a CSV line beyond the identity columns (n_prompt, n_gen and
# n_depth are there, in llama-bench's meaning): the row as one llama-bench test (llama_bench_row_test).
LLAMA_BENCH_COLUMN_DOCS = {
    "build_commit": "llama-bench: names this run (run_id, 8 hex digits); 'noresult' on a line without a result "
                    "(GPU ERROR, no finished run), which joins no run",
    "build_number": "llama-bench: 0", "cpu_info": "llama-bench: the browser and its logical cores",
    "gpu_info": "llama-bench: the WebGPU adapter (WebGPU rows; empty on the CPU)", "backends": "llama-bench: the engine key",
    "model_filename": "llama-bench: the model's name", "model_type": "llama-bench: architecture and file type ('llama Q8_0')",
    "model_size": "llama-bench: the model file's bytes", "model_n_params": "llama-bench: parameters (empty: not counted)",
    "use_mmap": "llama-bench before load_mode: 0", "devices": "llama-bench: 'webgpu' or 'none'",
    **{k: f"llama-bench: {v!r} (no such setting in a browser)" for k, v in NEUTRAL.items()
       if k not in ("load_mode", "fit_target", "fit_min_ctx", "n_cpu_moe", "use_mmap", "flash_attn")},
    "load_mode": "llama-bench: 'none' (no mmap, mlock or direct I/O: the bytes are read into the page)",
    "fit_target": "llama-bench: 0 (no fitting to free memory)", "fit_min_ctx": "llama-bench: 0 (no fitting)",
    "n_cpu_moe": "llama-bench: 0 (no MoE experts kept on the CPU)", "flash_attn": "llama-bench: 0 (off)",
    "n_threads": "llama-bench: the engine's threads (0: not said)",
    "n_gpu_layers": "llama-bench: 99 (every layer) on WebGPU, 0 on the CPU",
    "test_time": "llama-bench: when the run started (RFC 3339, to the second)",
    "avg_ns": "llama-bench: mean ns of the timed test over the finished runs (empty: no result)",
    "stddev_ns": "llama-bench: their sample stddev (0 for one run)",
    "avg_ts": "llama-bench: mean t/s of the test (ppN: prefill tok/s; tgN: decode tok/s; chat: (prompt + tokens - 1) "
              "/ time from prefill start to the last token)",
    "stddev_ts": "llama-bench: their sample stddev (0 for one run)",
}
LLAMA_BENCH_COLUMNS = tuple(f for f in LLAMA_BENCH_FIELDS if f not in ("n_prompt", "n_gen", "n_depth")) + (
    "use_mmap", "devices")
# The row's cost against native llama.cpp on the same test (app.core.native_cost), recomputed from the timestamps.
VS_NATIVE_COLUMN_DOCS = {
    "vs_native.decode": "the row's mean decode tok/s over the native row's of the same test (empty: no native row)",
    "vs_native.prefill": "the row's mean prefill tok/s over the native row's of the same test",
    "vs_native.native_key": "the native row compared against (its threads as the row's where one ran, else the most)",
    "vs_native.native_threads": "that native row's threads",
}
VS_NATIVE_COLUMNS = tuple(VS_NATIVE_COLUMN_DOCS)
CSV_COLUMNS: tuple[str, ...] = (
    tuple(IDENTITY_COLUMN_DOCS)
    + tuple(f"load.{k}" for k in LOAD_KEYS) + ("load.total_ms",)
    + tuple(f"{key}.{stat}" for key in results.SUMMARY_KEYS for stat in STAT_KEYS)
    + tuple(f"correctness.{key}" for key in CORRECTNESS_KEYS)
    + VS_NATIVE_COLUMNS
    + LLAMA_BENCH_COLUMNS
)
CSV_COLUMN_DOCS = {
    **IDENTITY_COLUMN_DOCS,
    **{f"load.{k}": f"rows[].load.{k} (ms)" for k in LOAD_KEYS},
    "load.total_ms": "the sum of every load phase the engine reported (ms)",
    **{f"{key}.{stat}": f"{stat} of derived.{key} over the finished runs, recomputed from the timestamps"
       + (" (';'-joined in CSV)" if stat == "samples" else "") for key in results.SUMMARY_KEYS for stat in STAT_KEYS},
    **{f"correctness.{key}": f"rows[].correctness.{key}" for key in CORRECTNESS_KEYS},
    **VS_NATIVE_COLUMN_DOCS,
    **{k: LLAMA_BENCH_COLUMN_DOCS[k] for k in LLAMA_BENCH_COLUMNS},
}


def row_records(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat record per row with exactly the keys of CSV_COLUMNS, in order; summary figures recomputed from
    the raw timestamps (results.summarize_row)."""
    model = result.get("model") or {}
    out = []
    costs = _native_costs(result)
    for row, cost in zip(result["rows"], costs):
        test = row_test(result, row)
        lb = llama_bench_row_test(result, row)
        info = row.get("info") or {}
        rec: dict[str, Any] = {
            "created": result.get("created"), "model": model.get("name"), "model_sha256": model.get("sha256"),
            "key": row["key"], "engine": row.get("engine"), "backend": row["backend"],
            "browser": report.browser_cell(row) or (result.get("environment") or {}).get("runtime"),
            "engine_version": info.get("version"), "threads": info.get("threads"),
            "verdict": report.verdict(row), "speeds_valid": not report.speeds_invalid(row),
            "test": test["name"], "n_prompt": lb["n_prompt"], "n_gen": lb["n_gen"], "n_depth": lb["n_depth"] or 0,
            "runs": len(finished_runs(row)), "warmups": len(row.get("warmups") or []),
        }
        load = row.get("load") or {}
        for k in LOAD_KEYS:
            rec[f"load.{k}"] = load.get(k)
        rec["load.total_ms"] = sum(load.values()) if load else None
        summary = results.summarize_row([{**r, "derived": results.derive_run(r)} for r in row.get("runs") or []])
        for key in results.SUMMARY_KEYS:
            s = summary.get(key) or {}
            for stat in STAT_KEYS:
                rec[f"{key}.{stat}"] = s.get(stat) if stat != "samples" else list(s.get("samples") or [])
        c = row.get("correctness") or {}
        for key in CORRECTNESS_KEYS:
            rec[f"correctness.{key}"] = c.get(key)
        for column in VS_NATIVE_COLUMNS:
            rec[column] = (cost or {}).get(column.removeprefix("vs_native."))
        rec.update(llama_bench_setup(result, row), test_time=_test_time(result))
        if lb["samples"]:
            rec.update({k: v for k, v in _timing(lb["samples"]).items() if k in LLAMA_BENCH_COLUMNS})
        else:
            rec.update(build_commit=NO_RESULT_BUILD, avg_ns=None, stddev_ns=None, avg_ts=None, stddev_ts=None)
        out.append({k: rec[k] for k in CSV_COLUMNS})  # the documented order; a column it lacks is a KeyError
    return out


def _native_costs(result: dict[str, Any]) -> list[dict[str, Any] | None]:
    """Each row's vs_native (app.core.native_cost) from summaries recomputed from the timestamps, not the stored ones."""
    rows = [{**r, "summary": results.summarize_row(finished_runs(r)) if r.get("runs") else None}
            for r in result["rows"]]
    native_cost.annotate({"rows": rows})
    return [r.get("vs_native") for r in rows]


def to_jsonl(result: dict[str, Any]) -> str:
    return "\n".join(json.dumps(r) for r in row_records(result))


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(repr(float(v)) for v in value)
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same float
    return str(value)


def to_csv(result: dict[str, Any]) -> str:
    """A header of CSV_COLUMNS (the same for every result, with no rows too), then one line per row; llama-bench's
    boolean columns as 1 / 0, as llama-bench writes them."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in row_records(result):
        w.writerow([str(int(r[k])) if k in LLAMA_BENCH_BOOLS else _csv_value(r[k]) for k in CSV_COLUMNS])
    return buf.getvalue().rstrip("\n")


# ---------------------------------------------------------------------------------------------------
# llama-bench

# llama.cpp's llama_model_ftype_name for general.file_type.
FTYPE_NAMES = {0: "all F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K - Medium",
               11: "Q3_K - Small", 12: "Q3_K - Medium", 13: "Q3_K - Large", 14: "Q4_K - Small", 15: "Q4_K - Medium",
               16: "Q5_K - Small", 17: "Q5_K - Medium", 18: "Q6_K", 21: "Q2_K - Small", 30: "IQ4_XS", 32: "BF16"}



def run_id(result: dict[str, Any]) -> str:
    """8 hex digits naming this run (llama-bench's build_commit: llama.cpp's compare script tells runs apart by it)."""
    text = json.dumps([result.get("created"), result.get("settings"), (result.get("model") or {}).get("sha256")],
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def model_type(result: dict[str, Any]) -> str:
    """llama-bench's model description: architecture and file type, e.g. 'llama Q8_0'."""
    header = (result.get("model") or {}).get("header") or {}
    ft = header.get("file_type")
    ftype = FTYPE_NAMES.get(ft, f"ftype {ft}" if ft is not None else "")
    return " ".join(x for x in (header.get("architecture") or "?", ftype) if x)


def _test_time(result: dict[str, Any]) -> str:
    created = str(result.get("created") or "")
    return created[:19] + "Z" if len(created) >= 19 else created  # RFC 3339 to the second, as llama-bench


def _ns(ms: float) -> int:
    return round(ms * 1e6)


def _stdev(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0  # llama-bench: 0 for one sample


def llama_bench_tests(result: dict[str, Any], row: dict[str, Any]) -> list[dict[str, Any]]:
    """The llama-bench tests a row holds, each with its per-run (ns, t/s, tokens) samples from the timestamps.

    pp: prefill_end_ms - prefill_start_ms for the prompt's tokens (t/s = derived prefill_tok_s).
    tg: token_times_ms[-1] - token_times_ms[0], the generation phase after the first token, which the prefill
        produced (t/s = derived decode_tok_s = (tokens - 1) / that time: one decode step per later token, as
        llama-bench's tg times one llama_decode per token), after n_depth tokens of context.
    A sweep row is its one test (ppN; tgN or "tgN @ dD", its prompt being the depth); the chat row holds both:
    "pp{prompt}" and "tg{max tokens} @ d{prompt}".
    """
    test = row_test(result, row)
    runs = finished_runs(row)
    pp = [(_ns(r["derived"]["prefill_ms"]), r["derived"]["prefill_tok_s"], r["prompt_tokens"])
          for r in runs if r["derived"]["prefill_tok_s"] is not None]
    tg = [(_ns(r["token_times_ms"][-1] - r["token_times_ms"][0]), r["derived"]["decode_tok_s"], len(r["token_times_ms"]))
          for r in runs if r["derived"]["decode_tok_s"] is not None]
    n_prompt = test["n_prompt"] or (runs[0]["prompt_tokens"] if runs else 0)
    out = []
    if pp and test["kind"] in ("chat", "pp"):
        out.append({"test": test["name"] if test["kind"] == "pp" else f"pp{n_prompt}", "n_prompt": n_prompt,
                    "n_gen": 0, "n_depth": test["n_depth"] if test["kind"] == "pp" else 0, "samples": pp})
    if tg and test["kind"] in ("chat", "tg"):
        depth = test["n_depth"] if test["kind"] == "tg" else n_prompt
        name = test["name"] if test["kind"] == "tg" else f"tg{test['n_gen']} @ d{depth}"
        out.append({"test": name, "n_prompt": 0, "n_gen": test["n_gen"], "n_depth": depth, "samples": tg})
    return out


def llama_bench_skipped(result: dict[str, Any]) -> list[str]:
    """Rows left out of the llama-bench output, and why (a GPU ERROR row's speeds are not results)."""
    out = []
    for row in result["rows"]:
        v = report.verdict(row)
        if v == "GPU ERROR":
            out.append(f"{row.get('engine')} {row['backend']}: GPU ERROR, its speeds are not results")
        elif not finished_runs(row):
            out.append(f"{row.get('engine')} {row['backend']}: {v}, no finished run")
    return out


def llama_bench_setup(result: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The llama-bench fields that say what ran, for every test of `row`: build (run_id), machine (browser and
    cores; the WebGPU adapter on a WebGPU row), backends (the engine key), model, threads, GPU layers (99: all
    on WebGPU, 0 on the CPU) and NEUTRAL for what a browser has no setting of."""
    env = result.get("environment") or {}
    model = result.get("model") or {}
    gpu = env.get("webgpu") or {}
    gpu_info = " ".join(str(gpu.get(k)) for k in ("vendor", "architecture", "device", "description") if gpu.get(k))
    ua = str(env.get("user_agent") or "")
    browser = next((w for w in ua.split() if w.startswith(("HeadlessChrome/", "Chrome/", "Firefox/", "Version/"))), ua)
    info = row.get("info") or {}
    webgpu = row["backend"].startswith("webgpu")
    return {
        "build_commit": run_id(result),
        "build_number": 0,
        "cpu_info": f"{browser}, {env.get('hardware_concurrency')} logical cores".strip(", "),
        "gpu_info": gpu_info if webgpu else "",
        "backends": row["key"],
        "model_filename": model.get("name"),
        "model_type": model_type(result),
        "model_size": model.get("size"),
        "model_n_params": model.get("n_params"),
        "n_threads": info.get("threads") or 0,
        "n_gpu_layers": 99 if webgpu else 0,
        **NEUTRAL,
        "devices": "webgpu" if webgpu else "none",
    }


def _timing(samples: list[tuple]) -> dict[str, Any]:
    """llama-bench's avg_ns, stddev_ns, avg_ts, stddev_ts and samples of (ns, t/s, ...) samples."""
    ns = [s[0] for s in samples]
    ts = [s[1] for s in samples]
    return {"avg_ns": int(statistics.fmean(ns)), "stddev_ns": int(_stdev([float(x) for x in ns])),
            "avg_ts": statistics.fmean(ts), "stddev_ts": _stdev(ts), "samples_ns": ns, "samples_ts": ts}


def llama_bench_records(result: dict[str, Any]) -> list[dict[str, Any]]:
    """llama-bench JSON objects, one per (row, test); rows in llama_bench_skipped are left out."""
    model = result.get("model") or {}
    out = []
    for row in result["rows"]:
        if report.speeds_invalid(row) or not finished_runs(row):
            continue
        info = row.get("info") or {}
        for t in llama_bench_tests(result, row):
            timing = _timing(t["samples"])
            out.append({
                **llama_bench_setup(result, row),
                "n_prompt": t["n_prompt"],
                "n_gen": t["n_gen"],
                "n_depth": t["n_depth"],
                "test_time": _test_time(result),
                **{k: timing[k] for k in ("avg_ns", "stddev_ns", "avg_ts", "stddev_ts", "samples_ns", "samples_ts")},
                # Ours (llama.cpp's scripts ignore fields they do not know):
                "test": t["test"],
                "row_test": row_test(result, row)["name"],
                "engine": row.get("engine"),
                "engine_version": info.get("version"),
                "backend": row["backend"],
                "verdict": report.verdict(row),
                "model_sha256": model.get("sha256"),
                "samples_tokens": [s[2] for s in t["samples"]],
                "source": f"{results.SCHEMA} v{result.get('schema_version')}",
            })
    return out


def llama_bench_row_test(result: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The row as one llama-bench test, for its CSV line: n_prompt, n_gen, n_depth as llama-bench counts them and
    the per-run (ns, t/s) samples ([] when the row holds no result: GPU ERROR, no finished run).

    A ppN row: llama-bench's ppN (N, 0, depth), its prefill. A tgN row: tgN (0, N, depth), its decode. The chat
    row: llama-bench's pp+tg test (-pg: prompt tokens, max tokens, 0), timed from the start of the prefill to the
    last token; t/s = (prompt tokens + tokens - 1) / that time, the tokens it processed (the prompt, then one decode
    step per token after the first) as llama-bench's pp+tg t/s counts the prompt and its decode steps."""
    test = row_test(result, row)
    valid = not report.speeds_invalid(row)
    tests = {t["test"]: t for t in llama_bench_tests(result, row)} if valid else {}
    if test["kind"] in ("pp", "tg"):
        t = tests.get(test["name"])
        if t is not None:
            return {k: t[k] for k in ("n_prompt", "n_gen", "n_depth", "samples")}
        pp = test["kind"] == "pp"
        return {"n_prompt": test["n_prompt"] if pp else 0, "n_gen": 0 if pp else test["n_gen"],
                "n_depth": test["n_depth"], "samples": []}
    samples = []
    if valid:
        for r in finished_runs(row):
            times = r["token_times_ms"]
            if times and times[-1] > r["prefill_start_ms"]:
                ms = times[-1] - r["prefill_start_ms"]
                samples.append((_ns(ms), (r["prompt_tokens"] + len(times) - 1) / (ms / 1000)))
    return {"n_prompt": test["n_prompt"], "n_gen": test["n_gen"], "n_depth": 0, "samples": samples}


def to_llama_bench(result: dict[str, Any]) -> str:
    return json.dumps(llama_bench_records(result), indent=2)


def to_llama_bench_jsonl(result: dict[str, Any]) -> str:
    return "\n".join(json.dumps(r) for r in llama_bench_records(result))
