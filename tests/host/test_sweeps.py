"""Sweep tests named as llama-bench names them, their prompts of exact lengths, and the ITL slope."""

from __future__ import annotations

import pytest

from app.core import report, results, sweeps
from app.core.settings import BenchSettings, SettingsError


def test_every_pp_then_every_tg_and_depth_combination():
    names = [t.name for t in sweeps.tests([32, 128], [32, 64], [0, 512])]
    assert names == ["pp32", "pp128", "tg32", "tg32 @ d512", "tg64", "tg64 @ d512"]
    pp, tg = sweeps.tests([32], [64], [512])
    assert (pp.n_prompt, pp.n_gen, pp.kind) == (32, 1, "pp")
    assert (tg.n_prompt, tg.n_gen, tg.n_depth, tg.kind) == (512, 64, 512, "tg")
    assert sweeps.tests([], [16], [0])[0].n_prompt == 1, "a tg test without depth still feeds one token"


def test_prompts_have_exactly_the_length_asked_with_one_bos():
    source = [1, 10, 11, 12]  # a passage that starts with BOS 1
    assert sweeps.prompt_of(7, source, bos_id=1) == [1, 10, 11, 12, 10, 11, 12]
    assert sweeps.prompt_of(3, [10, 11], bos_id=None) == [10, 11, 10]
    assert sweeps.prompt_of(1, source, bos_id=1) == [1]
    with pytest.raises(ValueError):
        sweeps.prompt_of(0, source, 1)


def test_itl_slope_is_ms_per_token_per_1000_tokens_of_context():
    # Intervals growing by 0.5 ms each token: 500 ms per 1,000 tokens of context.
    times, t = [0.0], 0.0
    for i in range(10):
        t += 10 + 0.5 * i
        times.append(t)
    run = results.make_run(0, 100, -5.0, -1.0, list(range(len(times))), times)
    assert run["derived"]["itl_slope_ms_per_1k"] == pytest.approx(500.0)
    assert results.itl_slope([1.0, 2.0], 5) is None


def test_sweep_settings_are_checked():
    assert BenchSettings.from_dict({"n_prompt": [32], "n_gen": [16], "depth": []}).depth == [0]
    with pytest.raises(SettingsError, match="n_gen must be a list"):
        BenchSettings.from_dict({"n_gen": [0]})
    with pytest.raises(SettingsError, match="depth must be a list"):
        BenchSettings.from_dict({"depth": "512"})


def test_sweep_rows_show_their_test_and_leave_correctness_to_the_chat_row():
    run = results.make_run(0, 32, 0.0, 5.0, [1], [6.0])
    chat = {"key": "flare-cpu", "engine": "flare-web", "backend": "wasm-cpu", "test": "chat", "n_prompt": 32, "n_gen": 16,
            "runs": [run], "correctness": {"forced_top1_agreement": 0.1, "greedy_match": 0.0}}
    pp = {**chat, "test": "pp512", "n_prompt": 512, "n_gen": 1}
    for r in (chat, pp):
        r["summary"] = results.summarize_row(r["runs"])
    col = {name: i for i, name in enumerate(report.COLUMNS)}
    assert report.row_cells(chat)[col["test"]] == "chat p32+g16"
    cells = report.row_cells(pp)
    assert cells[col["test"]] == "pp512" and cells[col["verdict"]] == "WRONG" and cells[col["forced top-1"]] == "-"
    result = results.new_result({}, {}, [], {})
    result["rows"] = [chat, pp]
    assert [line.split(":")[0] for line in report.reading(result)] == ["flare-web wasm-cpu"]
