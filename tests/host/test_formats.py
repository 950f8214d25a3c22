"""--output md|text|csv|json|jsonl|llama-bench: every format's figures equal those derived from the raw timestamps."""

from __future__ import annotations

import csv
import io
import json
import statistics

import pytest

from app.core import formats, report, results
from app.host.cli import build_parser
from tests.host import synthetic as syn


def sample_result() -> dict:
    """Three engines, one with a stopped run, a GPU ERROR row and an unsupported row with no runs."""
    rows = [
        syn.row(key="llamacpp-wasm", engine="llama.cpp (wllama)", reference=True,
                run_list=syn.runs(5.0, 4, seed=1, noise=0.2, prefill_ms=3000)),
        syn.row(run_list=syn.runs(20.0, 4, seed=2, noise=0.2, stopped_last=True), forced=0.25),
        syn.row(key="flare-webgpu", backend="webgpu", run_list=syn.runs(80.0, 3, seed=3), gpu_errors=2),
        syn.row(key="transformersjs-wasm", engine="transformers.js", run_list=[], unsupported="not this model"),
    ]
    return syn.result(rows)


def rederived(row: dict) -> list[dict]:
    """The finished runs' figures straight from their timestamps."""
    return [results.derive_run(r) for r in row["runs"] if not r["stopped"]]


def test_every_format_is_offered_by_bench_and_markdown_is_an_alias():
    parser = build_parser()
    assert parser.parse_args(["bench"]).output == "text"
    assert parser.parse_args(["bench", "--markdown"]).output == "md"
    for fmt in formats.OUTPUTS:
        assert parser.parse_args(["bench", "--output", fmt]).output == fmt
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "--output", "sql"])


def test_text_and_markdown_are_the_bench_tables():
    r = sample_result()
    text, md = formats.render(r, "text"), formats.render(r, "md")
    assert text.startswith(report.to_text(r)) and md.startswith(report.to_markdown(r))
    for line in report.reading(r):
        assert line in text and f"- {line}" in md
    flare = r["rows"][1]
    mean = statistics.fmean(d["decode_tok_s"] for d in rederived(flare))
    assert f"{mean:.2f} ±" in text and f"{mean:.2f} ±" in md


def test_json_is_the_result_itself():
    r = sample_result()
    assert json.loads(formats.render(r, "json")) == r


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_row_records_hold_every_figure_recomputed_from_the_timestamps(fmt):
    r = sample_result()
    text = formats.render(r, fmt)
    if fmt == "jsonl":
        records = [json.loads(line) for line in text.splitlines()]
    else:
        records = list(csv.DictReader(io.StringIO(text)))
    assert [rec["key"] for rec in records] == [row["key"] for row in r["rows"]]

    def number(value):
        if fmt == "jsonl":
            return value
        return None if value == "" else float(value)

    def sample_list(value):
        if fmt == "jsonl":
            return value
        return [float(x) for x in value.split(";")] if value else []

    for rec, row in zip(records, r["rows"]):
        derived = rederived(row)
        assert str(rec["verdict"]) == report.verdict(row)
        assert number(rec["runs"]) == len(derived)
        for key in results.SUMMARY_KEYS:
            values = [d[key] for d in derived if d[key] is not None]
            assert sample_list(rec[f"{key}.samples"]) == values  # exactly: floats round-trip
            if values:
                assert number(rec[f"{key}.mean"]) == statistics.fmean(values)
                assert number(rec[f"{key}.median"]) == statistics.median(values)
                assert number(rec[f"{key}.n"]) == len(values)
                sd = statistics.stdev(values) if len(values) > 1 else None
                assert number(rec[f"{key}.stddev"]) == sd
            else:
                assert number(rec[f"{key}.mean"]) is None
    # A GPU ERROR row's speeds are kept but flagged.
    gpu = records[2]
    assert str(gpu["speeds_valid"]).lower() == "false" and gpu["verdict"] == "GPU ERROR"


def test_llama_bench_objects_are_recomputed_from_the_timestamps():
    r = sample_result()
    objs = json.loads(formats.render(r, "llama-bench"))
    # The GPU ERROR row (not results) and the unsupported row (no runs) are left out, and said so.
    assert {o["backends"] for o in objs} == {"llamacpp-wasm", "flare-cpu"}
    skipped = formats.llama_bench_skipped(r)
    assert len(skipped) == 2 and "GPU ERROR" in skipped[0] and "unsupported" in skipped[1]
    for row in (r["rows"][0], r["rows"][1]):
        done = [x for x in row["runs"] if not x["stopped"]]
        pp, tg = [o for o in objs if o["backends"] == row["key"]]
        n_prompt = done[0]["prompt_tokens"]
        assert (pp["test"], pp["n_prompt"], pp["n_gen"], pp["n_depth"]) == (f"pp{n_prompt}", n_prompt, 0, 0)
        assert (tg["test"], tg["n_prompt"], tg["n_gen"], tg["n_depth"]) == (f"tg16 @ d{n_prompt}", 0, 16, n_prompt)
        assert pp["samples_ts"] == [results.derive_run(x)["prefill_tok_s"] for x in done]
        assert pp["samples_ns"] == [round((x["prefill_end_ms"] - x["prefill_start_ms"]) * 1e6) for x in done]
        assert tg["samples_ts"] == [results.derive_run(x)["decode_tok_s"] for x in done]
        assert tg["samples_ns"] == [round((x["token_times_ms"][-1] - x["token_times_ms"][0]) * 1e6) for x in done]
        assert tg["samples_tokens"] == [len(x["token_times_ms"]) for x in done]
        for o in (pp, tg):
            assert o["avg_ts"] == statistics.fmean(o["samples_ts"])
            assert o["stddev_ts"] == statistics.stdev(o["samples_ts"])
            assert o["avg_ns"] == int(statistics.fmean(o["samples_ns"]))
            assert o["stddev_ns"] == int(statistics.stdev(o["samples_ns"]))
            # llama-bench's meaning of t/s: tokens over the timed phase ((n-1) decode steps for tg)
            for ns, ts, tokens in zip(o["samples_ns"], o["samples_ts"], o.get("samples_tokens") or [n_prompt] * 9):
                steps = tokens - 1 if o is tg else n_prompt
                assert ts == pytest.approx(steps / (ns / 1e9), rel=1e-6)
            assert o["model_type"] == "llama Q8_0" and o["model_size"] == 144811072
            assert o["test_time"] == "2026-01-01T00:00:00Z"
            assert o["verdict"] == report.verdict(row)
    lines = formats.render(r, "llama-bench-jsonl").splitlines()
    assert [json.loads(x) for x in lines] == objs


def test_llama_bench_lines_carry_every_field_the_compare_script_requires():
    """Its required keys (compare-llama-bench.py's LLAMA_BENCH_KEY_PROPERTIES + build_commit, test_time, avg_ts: it
    refused ours for lacking load_mode, fit_target and fit_min_ctx), none null (it joins with SQL '='), with
    llama-bench's meaning; the real script reads them in tests/host/test_llama_bench_script.py."""
    r = sample_result()
    objs = formats.llama_bench_records(r)
    csv_lines = list(csv.DictReader(io.StringIO(formats.render(r, "csv"))))
    for line in objs + csv_lines:
        assert set(formats.LLAMA_BENCH_REQUIRED) <= line.keys()
        # none null; none empty but gpu_info on a CPU row (llama-bench: no GPU) and a resultless line's avg_ts
        assert all(line[k] not in (None, "") for k in formats.LLAMA_BENCH_REQUIRED if k not in ("avg_ts", "gpu_info"))
        assert line["gpu_info"] is not None
    for o in objs:
        assert (o["load_mode"], o["fit_target"], o["fit_min_ctx"], o["n_cpu_moe"], o["flash_attn"]) == ("none", 0, 0, 0, 0)
        assert o["build_commit"] == formats.run_id(r) and o["avg_ts"] > 0
    assert set(formats.LLAMA_BENCH_FIELDS) <= set(formats.CSV_COLUMNS) and "use_mmap" in formats.CSV_COLUMNS
    # CSV: llama-bench's booleans are 1/0; a line without a result (GPU ERROR, unsupported) joins no run
    assert {line["cpu_strict"] for line in csv_lines} == {"0"} and {line["load_mode"] for line in csv_lines} == {"none"}
    assert [line["build_commit"] for line in csv_lines] == [formats.run_id(r)] * 2 + [formats.NO_RESULT_BUILD] * 2
    assert len(formats.NO_RESULT_BUILD) == len(formats.run_id(r))
    assert [line["avg_ts"] for line in csv_lines][2:] == ["", ""]


def test_a_csv_line_is_its_row_as_one_llama_bench_test():
    """The chat row is llama-bench's pp+tg test: (prompt + tokens - 1) / (last token - prefill start) per run."""
    r = sample_result()
    lines = list(csv.DictReader(io.StringIO(formats.render(r, "csv"))))
    for line, row in zip(lines[:2], r["rows"][:2]):
        done = [x for x in row["runs"] if not x["stopped"]]
        ts = [(x["prompt_tokens"] + len(x["token_times_ms"]) - 1)
              / ((x["token_times_ms"][-1] - x["prefill_start_ms"]) / 1000) for x in done]
        assert (line["n_prompt"], line["n_gen"], line["n_depth"]) == ("32", "16", "0")
        assert float(line["avg_ts"]) == statistics.fmean(ts) and float(line["stddev_ts"]) == statistics.stdev(ts)
        ns = [round((x["token_times_ms"][-1] - x["prefill_start_ms"]) * 1e6) for x in done]
        assert int(line["avg_ns"]) == int(statistics.fmean(ns))


def test_sweep_rows_are_one_llama_bench_test_each():
    r = syn.result([
        syn.row(run_list=syn.runs(20.0, 3, seed=1), test="chat", n_prompt=32, n_gen=16, n_depth=0),
        syn.row(run_list=syn.runs(20.0, 3, seed=2, tokens=1, prompt_tokens=64), test="pp64", n_prompt=64, n_gen=1,
                n_depth=0),
        syn.row(run_list=syn.runs(20.0, 3, seed=3, tokens=32, prompt_tokens=512), test="tg32 @ d512", n_prompt=512,
                n_gen=32, n_depth=512),
    ])
    objs = formats.llama_bench_records(r)
    got = [(o["test"], o["row_test"], o["n_prompt"], o["n_gen"], o["n_depth"]) for o in objs]
    assert got == [("pp32", "chat", 32, 0, 0), ("tg16 @ d32", "chat", 0, 16, 32), ("pp64", "pp64", 64, 0, 0),
                   ("tg32 @ d512", "tg32 @ d512", 0, 32, 512)]
    pp, tg = objs[2], objs[3]
    assert pp["samples_ts"] == [results.derive_run(x)["prefill_tok_s"] for x in r["rows"][1]["runs"]]
    assert tg["samples_ts"] == [results.derive_run(x)["decode_tok_s"] for x in r["rows"][2]["runs"]]
    # CSV / jsonl: n_prompt, n_gen, n_depth are llama-bench's of the row's test (pp64 times no generated token;
    # tg32 @ d512 times no prompt: its 512 tokens are the depth), t/s that test's
    records = formats.row_records(r)
    assert [(x["test"], x["n_prompt"], x["n_gen"], x["n_depth"]) for x in records] == [
        ("chat", 32, 16, 0), ("pp64", 64, 0, 0), ("tg32 @ d512", 0, 32, 512)]
    assert records[1]["avg_ts"] == pp["avg_ts"] and records[2]["avg_ts"] == tg["avg_ts"]


# --- CSV: one fixed column set (schema v3) ---------------------------------------------------------------


def csv_header(result: dict) -> list[str]:
    return next(csv.reader(io.StringIO(formats.render(result, "csv"))))


def test_csv_header_is_the_same_whatever_engines_ran():
    one = syn.result([syn.row()])
    many = sample_result()
    webgpu_only = syn.result([syn.row(key="flare-webgpu", backend="webgpu",
                                      load={"parse_ms": 10.0, "gpu_init_ms": 20.0, "shader_ms": 5.0})])
    sweep = syn.result([syn.row(), syn.row(run_list=syn.runs(20.0, 3, tokens=1, prompt_tokens=64), test="pp64",
                                           n_prompt=64, n_gen=1, n_depth=0)])
    none = syn.result([])
    headers = [csv_header(r) for r in (one, many, webgpu_only, sweep, none)]
    assert all(h == list(formats.CSV_COLUMNS) for h in headers)
    assert formats.render(none, "csv") == ",".join(formats.CSV_COLUMNS)
    for r in (one, many, webgpu_only, sweep):
        assert [list(rec) for rec in formats.row_records(r)] == [list(formats.CSV_COLUMNS)] * len(r["rows"])
        for line in formats.render(r, "jsonl").splitlines():
            assert list(json.loads(line)) == list(formats.CSV_COLUMNS)


def test_every_csv_column_is_documented_and_load_phases_add_up():
    assert list(formats.CSV_COLUMN_DOCS) == list(formats.CSV_COLUMNS)
    assert all(formats.CSV_COLUMN_DOCS.values())
    r = syn.result([syn.row(load={"parse_ms": 10.0, "gpu_init_ms": 20.0, "shader_ms": 5.0}),
                    syn.row(key="x", run_list=[], unsupported="no", load={})])
    loaded, refused = list(csv.DictReader(io.StringIO(formats.render(r, "csv"))))
    assert (loaded["load.parse_ms"], loaded["load.gpu_init_ms"], loaded["load.total_ms"]) == ("10.0", "20.0", "35.0")
    assert (refused["load.parse_ms"], refused["load.total_ms"], refused["decode_tok_s.mean"]) == ("", "", "")
