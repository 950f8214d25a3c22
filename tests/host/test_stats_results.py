"""Statistics, the result schema and correctness figures: pure functions, on the host."""

from __future__ import annotations

import math

import pytest

from app.core import correctness, report, results, stats


def run(times, start=0.0, end=10.0, prompt=5, stopped=False, index=0):
    return results.make_run(index, prompt, start, end, list(range(len(times))), list(times), stopped)


def test_one_run_summary_has_no_stddev():
    r = run([20.0, 30.0, 40.0])
    assert r["derived"]["decode_tok_s"] == pytest.approx(2 / 0.020)
    assert r["derived"]["ttft_ms"] == 20.0
    assert r["derived"]["prefill_tok_s"] == pytest.approx(5 / 0.010)
    summary = results.summarize_row([r])
    assert summary["decode_tok_s"]["n"] == 1 and summary["decode_tok_s"]["stddev"] is None
    assert summary["decode_tok_s"]["samples"] == [r["derived"]["decode_tok_s"]]


def test_zero_tokens_gives_no_ttft_and_no_rate():
    r = run([])
    d = r["derived"]
    assert d["tokens"] == 0 and d["ttft_ms"] is None and d["decode_tok_s"] is None and d["itl_p50_ms"] is None
    assert results.summarize_row([r])["decode_tok_s"] is None


def test_stop_after_first_token_has_ttft_but_no_decode_rate():
    r = run([15.0], stopped=True)
    assert r["derived"]["ttft_ms"] == 15.0 and r["derived"]["decode_tok_s"] is None
    # A stopped run is kept in the record but not summarised.
    assert results.summarize_row([r, run([12.0, 22.0], index=1)])["ttft_ms"]["n"] == 1


def test_timestamps_that_do_not_increase_are_refused():
    with pytest.raises(stats.TimestampError, match="backwards at index 2"):
        run([20.0, 30.0, 25.0])
    with pytest.raises(stats.TimestampError, match="out of order"):
        run([5.0, 30.0], start=0.0, end=10.0)


def test_equal_timestamps_give_no_rate_instead_of_infinity():
    assert stats.decode_rate([10.0, 10.0, 10.0]) is None


def test_summary_statistics_match_the_stdlib_definitions():
    s = stats.summarize([1.0, 2.0, 4.0])
    assert s["mean"] == pytest.approx(7 / 3) and s["median"] == 2.0 and s["min"] == 1.0 and s["max"] == 4.0
    assert s["stddev"] == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2))


def test_percentiles_interpolate_like_numpy():
    np = pytest.importorskip("numpy")
    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6]
    for q in (0, 50, 90, 99, 100):
        assert stats.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_check_result_catches_a_figure_that_disagrees_with_its_timestamps():
    # A version-3 result must also match the JSON Schema (tests/host/test_result_schema.py): the smallest such.
    result = results.new_result({"max_tokens": 3, "runs": 1, "warmup": 0, "engines": ["flare-cpu"]}, {}, [],
                                {"name": "m", "size": 1, "sha256": "ab" * 32})
    row = {"key": "flare-cpu", "engine": "flare-web", "backend": "wasm-cpu", "is_reference": False, "load": {},
           "info": {}, "correctness": None, "error": None, "unsupported": None, "shims": [], "gpu_errors": None,
           "runs": [run([20.0, 30.0, 40.0])], "warmups": []}
    row["summary"] = results.summarize_row(row["runs"])
    result["rows"].append(row)
    results.check_result(result)
    row["runs"][0]["derived"]["decode_tok_s"] = 173.0  # a hard-coded headline
    with pytest.raises(ValueError, match="decode_tok_s"):
        results.check_result(result)


def test_check_result_refuses_a_version_3_result_that_breaks_the_schema():
    result = results.new_result({"max_tokens": 3, "runs": 1, "warmup": 0, "engines": []}, {}, [],
                                {"name": "m", "size": 1, "sha256": "ab" * 32})
    results.check_result(result)
    result["rows"].append({"key": "flare-cpu", "backend": "wasm-cpu", "runs": [], "warmups": []})
    with pytest.raises(ValueError, match=r"schema v3: rows\[0\]\.engine: missing"):
        results.check_result(result)


def test_greedy_agreement():
    assert correctness.greedy_agreement([1, 2, 3], [1, 2, 3]) == (1.0, None)
    assert correctness.greedy_agreement([1, 2, 3, 4], [1, 9, 3, 4]) == (0.75, 1)
    assert correctness.greedy_agreement([1, 2, 3, 4], [1, 2]) == (0.5, 2)  # stopped early
    assert correctness.greedy_agreement([], []) == (None, None)


def test_top1_agreement_and_perplexity():
    assert correctness.top1_agreement([5, 6, 7, 8], [5, 0, 7, 8]) == 0.75
    assert correctness.perplexity([math.log(0.5)] * 4) == pytest.approx(2.0)
    logits = [1.0, 2.0, 3.0]
    total = sum(math.exp(x) for x in logits)
    assert correctness.log_softmax_at(logits, 2) == pytest.approx(math.log(math.exp(3.0) / total))
    assert correctness.argmax([0.1, float("nan"), 0.7, 0.2]) == 2


def test_a_fast_wrong_engine_looks_wrong_in_the_table():
    result = results.new_result({}, {}, [], {})
    fast = {"key": "flare-cpu", "engine": "flare-web", "backend": "wasm-cpu", "runs": [run([20.0, 21.0, 22.0])],
            "warmups": [], "load": {"parse_ms": 100.0},
            "correctness": {"greedy_match": 0.0, "first_divergence": 0, "forced_top1_agreement": 0.25, "perplexity": 17.0}}
    fast["summary"] = results.summarize_row(fast["runs"])
    result["rows"].append(fast)
    assert report.verdict(fast) == "WRONG"
    md = report.to_markdown(result)
    assert "WRONG" in md and "25%" in md and "| 0 |" in md
    assert "class=\"verdict bad\">WRONG" in report.to_html(result)
