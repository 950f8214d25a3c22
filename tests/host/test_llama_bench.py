"""app.engines.native.host.llama_bench: browser rows matched to llama-bench's tests, ratios recomputed by hand."""

import json

import pytest

from app.engines.native.host import llama_bench


def _row(test, backend, n_prompt, n_gen, prefill=None, decode=None, threads=None):
    summary = {}
    if prefill is not None:
        summary["prefill_tok_s"] = {"mean": prefill}
    if decode is not None:
        summary["decode_tok_s"] = {"mean": decode}
    return {"engine": "e", "key": "k", "backend": backend, "test": test, "n_prompt": n_prompt, "n_gen": n_gen,
            "summary": summary, "info": {"threads": threads} if threads else {}}


RECORDS = [
    {"n_prompt": 32, "n_gen": 0, "n_depth": 0, "n_threads": 16, "n_gpu_layers": 0, "avg_ts": 800.0, "stddev_ts": 1},
    {"n_prompt": 32, "n_gen": 0, "n_depth": 0, "n_threads": 1, "n_gpu_layers": 0, "avg_ts": 100.0, "stddev_ts": 1},
    {"n_prompt": 0, "n_gen": 64, "n_depth": 32, "n_threads": 16, "n_gpu_layers": 0, "avg_ts": 200.0, "stddev_ts": 1},
    {"n_prompt": 0, "n_gen": 64, "n_depth": 32, "n_threads": 16, "n_gpu_layers": 99, "flash_attn": -1, "avg_ts": 500.0,
     "stddev_ts": 1},  # -1: llama-bench's "auto" (its default), as the H200's records have it
    {"n_prompt": 0, "n_gen": 64, "n_depth": 32, "n_threads": 16, "n_gpu_layers": 99, "flash_attn": 1, "avg_ts": 999.0},
    {"n_prompt": 0, "n_gen": 128, "n_depth": 0, "n_threads": 16, "n_gpu_layers": 99, "avg_ts": 400.0, "stddev_ts": 1},
]


def test_chat_row_is_costed_on_prefill_and_on_decode_at_the_prompt_depth():
    result = {"rows": [_row("chat", "wasm-cpu", 32, 64, prefill=80.0, decode=50.0, threads=16)]}
    got = {(c["figure"], c["native_test"]): c["ratio"] for c in llama_bench.comparisons(result, RECORDS)}
    assert got == {("prefill", "pp32"): pytest.approx(0.1), ("decode", "tg64@d32"): pytest.approx(0.25)}


def test_cpu_rows_take_their_thread_count_and_gpu_rows_vulkan_without_flash_attention():
    result = {"rows": [_row("pp32", "wasm-cpu", 32, 1, prefill=50.0, threads=1),
                       _row("chat", "webgpu (adapter limits)", 32, 64, decode=40.0),
                       _row("tg128", "webgpu", 1, 128, decode=100.0)]}
    got = llama_bench.comparisons(result, RECORDS)
    assert [(c["native"], c["native_test"], c["ratio"]) for c in got] == [
        ("cpu, 1 threads", "pp32", pytest.approx(0.5)),
        ("gpu (Vulkan)", "tg64@d32", pytest.approx(0.08)),
        ("gpu (Vulkan)", "tg128", pytest.approx(0.25))]


def test_rows_without_a_figure_or_a_matching_test_are_left_out():
    result = {"rows": [dict(_row("chat", "webgpu", 32, 64, decode=10.0), error="GPU ERROR"),
                       _row("pp512", "wasm-cpu", 512, 1, prefill=10.0),
                       _row("chat", "native-cpu", 32, 64, decode=10.0)]}
    assert llama_bench.comparisons(result, RECORDS) == []


def test_bad_files_end_in_one_line_and_exit_2(tmp_path, capsys):
    result = tmp_path / "r.json"
    result.write_text(json.dumps({"rows": []}))
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"foo": 1}\n')
    assert llama_bench.main([str(result), str(bad)]) == 2
    assert "not a llama-bench record" in capsys.readouterr().err
    assert llama_bench.main([str(tmp_path / "missing.json"), str(bad)]) == 2
