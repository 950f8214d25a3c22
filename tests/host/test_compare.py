"""python -m app compare: significance (Mann-Whitney U), groups, verdict changes, --fail-on, bad input.

On synthetic results built with app.core.results.make_run (tests/host/synthetic.py); the pure-Python
Mann-Whitney U the page uses is checked against scipy's on many random samples."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from app.core import compare
from app.host.cli import main
from tests.host import synthetic as syn


def write(tmp_path, name, doc) -> str:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def figure(comparison, key, row_key="flare-cpu"):
    row = next(r for r in comparison["rows"] if r["match"]["key"] == row_key)
    return next(f for f in row["figures"] if f["key"] == key)


def pair(base_rate=20.0, new_rate=20.0, n_runs=5, noise=0.01, **new_row):
    base = syn.result([syn.row(run_list=syn.runs(base_rate, n_runs, seed=1, noise=noise))])
    new = syn.result([syn.row(run_list=syn.runs(new_rate, n_runs, seed=2, noise=noise), **new_row)],
                     created="2026-01-02T00:00:00.000Z")
    return base, new


# --- Mann-Whitney U: the page's pure Python equals scipy ---------------------------------------------


def test_pure_mann_whitney_u_equals_scipy_on_many_random_samples():
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = random.Random(20260101)
    methods = set()
    for _ in range(1500):
        n1, n2 = rng.randint(1, 14), rng.choice([rng.randint(1, 14), rng.randint(15, 120)])
        kind = rng.random()
        if kind < 0.35:  # ties: small integers (timer ticks)
            x = [rng.randint(0, 5) for _ in range(n1)]
            y = [rng.randint(0, 5) for _ in range(n2)]
        elif kind < 0.45:  # all equal
            x, y = [3.0] * n1, [3.0] * n2
        else:  # continuous, shifted or not
            shift = rng.choice([0.0, 0.3, 1.0, 3.0])
            x = [rng.gauss(0, 1) for _ in range(n1)]
            y = [rng.gauss(shift, 1) for _ in range(n2)]
        expected = scipy_stats.mannwhitneyu(x, y, alternative="two-sided")
        u, p, method = compare.mann_whitney_u(x, y)
        methods.add(method)
        assert u == float(expected.statistic)
        if math.isnan(expected.pvalue):
            assert math.isnan(p)
        else:
            assert p == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-15), (x, y, method)
    assert methods == {"exact", "asymptotic"}


def test_exact_distribution_counts_every_ordering():
    for n1, n2 in ((1, 1), (3, 5), (8, 8), (2, 30)):
        counts = compare.u_distribution(n1, n2)
        assert sum(counts) == math.comb(n1 + n2, n1)
        assert counts == counts[::-1]  # U and n1*n2 - U are equally likely
    assert compare.smallest_p(3, 3) == pytest.approx(0.1)  # 3 runs against 3 can never reach p < 0.05
    assert compare.smallest_p(4, 4) < 0.05


def test_page_and_cli_decide_the_same():
    pytest.importorskip("scipy")
    for rates in ((20.0, 19.0), (20.0, 20.1), (20.0, 15.0)):
        base, new = pair(*rates, n_runs=4, noise=0.03)
        with_scipy = compare.compare(base, new, use_scipy=True)
        pure = compare.compare(base, new, use_scipy=False)
        assert with_scipy["test"]["implementation"].startswith("scipy") and pure["test"]["implementation"] == "pure Python"
        for a, b in zip(with_scipy["rows"][0]["figures"], pure["rows"][0]["figures"]):
            assert a["group"] == b["group"] and a["p_runs"] == pytest.approx(b["p_runs"], rel=1e-9)


# --- groups ------------------------------------------------------------------------------------------


def test_a_significant_slowdown_is_slower():
    base, new = pair(20.0, 15.0)
    c = compare.compare(base, new)
    f = figure(c, "decode_tok_s")
    assert f["group"] == "slower" and f["significant"] and f["decided_by"] == "runs"
    assert f["change"] == pytest.approx(15 / 20 - 1, abs=0.01)
    assert f["p_runs"] == pytest.approx(2 / math.comb(10, 5))  # every new run below every base run
    assert f["p_tokens"] < 1e-6
    assert figure(c, "itl_p50_ms")["group"] == "slower"  # longer intervals are slower too
    assert figure(c, "prefill_tok_s")["group"] == "same"  # the prefill did not change
    text = compare.to_text([c])
    assert "Slower (2):" in text and "Faster (0):" in text


def test_a_speedup_is_faster():
    c = compare.compare(*pair(15.0, 20.0))
    assert figure(c, "decode_tok_s")["group"] == "faster"
    assert figure(c, "itl_p50_ms")["group"] == "faster"


def test_noise_only_is_same():
    c = compare.compare(*pair(20.0, 20.0, noise=0.01))
    assert {f["group"] for f in c["rows"][0]["figures"]} == {"same"}
    assert "Slower (0):" in compare.to_text([c])


def test_a_significant_change_below_min_change_is_same():
    c = compare.compare(*pair(20.0, 19.4, noise=0.001))  # -3%, p tiny
    assert figure(c, "decode_tok_s")["group"] == "slower"
    c = compare.compare(*pair(20.0, 19.4, noise=0.001), min_change=0.05)
    f = figure(c, "decode_tok_s")
    assert f["group"] == "same" and "below 5%" in f["reason"] and f["p_runs"] < 0.05


def test_three_runs_decide_decode_on_its_token_intervals():
    c = compare.compare(*pair(20.0, 15.0, n_runs=3))
    f = figure(c, "decode_tok_s")
    assert f["p_runs"] >= 0.05 and f["decided_by"] == "tokens" and f["group"] == "slower"
    ttft = figure(c, "ttft_ms")
    assert ttft["group"] == "same" and "too few runs" in ttft["reason"]


def test_samples_come_from_the_raw_timestamps_not_the_stored_figures():
    base, new = pair(20.0, 15.0)
    for run in new["rows"][0]["runs"]:
        run["derived"]["decode_tok_s"] = 1e9  # a stored figure that lies
    new["rows"][0]["summary"] = None
    f = figure(compare.compare(base, new), "decode_tok_s")
    assert f["group"] == "slower" and f["new"]["mean"] == pytest.approx(15, rel=0.02)


def test_stopped_runs_are_left_out_like_the_summary():
    base = syn.result([syn.row(run_list=syn.runs(20.0, 5, seed=1))])
    new = syn.result([syn.row(run_list=syn.runs(20.0, 5, seed=2, stopped_last=True))])
    f = figure(compare.compare(base, new), "decode_tok_s")
    assert f["new"]["n"] == 4 and "5 vs 4 runs" in compare.to_text([compare.compare(base, new)])


# --- verdicts -----------------------------------------------------------------------------------------


def test_a_verdict_change_is_always_reported():
    base, new = pair(20.0, 20.0, forced=0.2)  # same speed, new answers wrongly
    c = compare.compare(base, new)
    v = c["rows"][0]["verdict"]
    assert v == {"base": "ok", "new": "WRONG", "changed": True, "worse": True}
    for text in (compare.to_text([c]), compare.to_markdown([c]), compare.to_html([c])):
        assert "verdict changed: flare-web wasm-cpu chat tg16, prompt 32: ok -&gt; WRONG (worse)" in text or \
               "verdict changed: flare-web wasm-cpu chat tg16, prompt 32: ok -> WRONG (worse)" in text
    assert compare.failures([c], 0.05) == ["new: flare-web wasm-cpu chat tg16, prompt 32: verdict ok -> WRONG"]


def test_a_gpu_error_row_is_reported_and_its_speeds_not_judged():
    base, new = pair(20.0, 40.0, gpu_errors=3)  # "faster", but the GPU did not do the work
    c = compare.compare(base, new)
    assert c["rows"][0]["verdict"]["new"] == "GPU ERROR" and c["rows"][0]["verdict"]["worse"]
    assert {f["group"] for f in c["rows"][0]["figures"]} == {"not compared"}
    assert "new: GPU ERROR" in figure(c, "decode_tok_s")["reason"]
    text = compare.to_text([c])
    assert "Faster (0):" in text and "ok -> GPU ERROR (worse)" in text
    # Its speeds are never plain numbers: struck through as in the bench table.
    new_mean = f"{figure(c, 'decode_tok_s')['new']['mean']:.2f}"
    assert "x " + "".join(ch + "\u0336" for ch in new_mean) in text
    assert f"~~{new_mean} ± " in compare.to_markdown([c])
    assert f'<s title="not a result: the GPU reported errors">{new_mean} ± ' in compare.to_html([c])


def test_a_better_verdict_is_reported_but_does_not_fail():
    base, new = pair(20.0, 20.0)
    base["rows"][0]["correctness"]["forced_top1_agreement"] = 0.6
    c = compare.compare(base, new)
    assert c["rows"][0]["verdict"] == {"base": "DEGRADED", "new": "ok", "changed": True, "worse": False}
    assert compare.failures([c], 0.05) == []


# --- matching -----------------------------------------------------------------------------------------


def test_rows_match_by_engine_backend_model_and_test():
    rows_a = [syn.row(), syn.row(key="llamacpp-wasm", engine="llama.cpp (wllama)", reference=True)]
    rows_b = [syn.row(), syn.row(key="flare-webgpu", backend="webgpu")]
    c = compare.compare(syn.result(rows_a), syn.result(rows_b))
    assert [r["match"]["key"] for r in c["rows"]] == ["flare-cpu"]
    assert c["only_base"] == ["llama.cpp (wllama) wasm-cpu chat tg16, prompt 32"]
    assert c["only_new"] == ["flare-web webgpu chat tg16, prompt 32"]
    assert compare.match_key(syn.result(rows_a), rows_a[0]) == ("flare-cpu", "wasm-cpu", syn.MODEL_SHA, "chat", 32, 16, 0,
                                                                "chromium")


def test_sweep_rows_are_matched_by_their_test():
    def rows(rate, seed):
        return [
            syn.row(run_list=syn.runs(rate, 5, seed=seed)),  # written before rows named their test: the chat row
            syn.row(run_list=syn.runs(rate, 5, seed=seed + 10, tokens=1, prompt_tokens=64), test="pp64",
                    n_prompt=64, n_gen=1, n_depth=0),
            syn.row(run_list=syn.runs(rate, 5, seed=seed + 20, prompt_tokens=512), test="tg16 @ d512",
                    n_prompt=512, n_gen=16, n_depth=512),
        ]
    base = syn.result(rows(20.0, 1))
    new = syn.result(rows(15.0, 2))
    new["rows"][0].update(test="chat", n_prompt=32, n_gen=16, n_depth=0)  # as the page writes it now
    c = compare.compare(base, new)
    assert [r["test"] for r in c["rows"]] == ["chat tg16, prompt 32", "pp64", "tg16 @ d512"]
    chat, pp, tg = c["rows"]
    assert [f["key"] for f in pp["figures"]] == ["ttft_ms", "prefill_tok_s"]  # one token: no decode figures
    assert [f["key"] for f in tg["figures"]] == ["decode_tok_s", "itl_p50_ms"]
    assert len(chat["figures"]) == 4
    for row in (chat, tg):
        assert next(f for f in row["figures"] if f["key"] == "decode_tok_s")["group"] == "slower"
    # Another depth is another test.
    new["rows"][2].update(test="tg16 @ d256", n_depth=256, n_prompt=256)
    c = compare.compare(base, new)
    assert c["only_base"] == ["flare-web wasm-cpu tg16 @ d512"] and c["only_new"] == ["flare-web wasm-cpu tg16 @ d256"]


def test_the_matching_key_is_a_function():
    base, new = pair(20.0, 15.0)
    new["rows"][0]["backend"] = "webgpu (adapter limits)"
    with pytest.raises(compare.CompareError):
        compare.compare(base, new)
    c = compare.compare(base, new, key=lambda result, row: row["key"])
    assert len(c["rows"]) == 1


def test_settings_that_differ_are_named():
    base, new = pair()
    new["settings"]["ignore_eos"] = True
    assert any("ignore_eos None -> True" in w for w in compare.compare(base, new)["warnings"])


# --- the command ----------------------------------------------------------------------------------------


def test_fail_on_exits_1_on_a_significant_slowdown_beyond_it(tmp_path, capsys):
    base, new = pair(20.0, 15.0)
    a, b = write(tmp_path, "a.json", base), write(tmp_path, "b.json", new)
    assert main(["compare", a, b]) == 0
    out = capsys.readouterr()
    assert "Slower (2):" in out.out and "decode tok/s" in out.out
    assert main(["compare", a, b, "--fail-on", "5%"]) == 1
    err = capsys.readouterr().err
    assert "decode tok/s -25." in err and "a slowdown beyond 5%" in err
    # decode -25% and ITL p50 +33% (1/0.75): neither is beyond 40%
    assert main(["compare", a, b, "--fail-on", "40%"]) == 0


def test_fail_on_passes_on_noise_and_fails_on_a_worse_verdict(tmp_path, capsys):
    base, new = pair(20.0, 20.0)
    a, b = write(tmp_path, "a.json", base), write(tmp_path, "b.json", new)
    assert main(["compare", a, b, "--fail-on", "5"]) == 0
    base, wrong = pair(20.0, 20.0, forced=0.1)
    c = write(tmp_path, "c.json", wrong)
    assert main(["compare", a, c, "--fail-on", "5%"]) == 1
    assert "verdict ok -> WRONG" in capsys.readouterr().err


def test_several_new_files_are_each_compared_with_base(tmp_path, capsys):
    base, new = pair(20.0, 15.0)
    _, same = pair(20.0, 20.0)
    a, b, c = (write(tmp_path, n, d) for n, d in (("a.json", base), ("b.json", new), ("c.json", same)))
    assert main(["compare", a, b, c, "--output", "md"]) == 0
    out = capsys.readouterr().out
    assert out.count(" -> new ") == 2 and "| engine | backend | test |" in out and "**Slower (2)**" in out
    assert main(["compare", a, b, c, "--output", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["new"]["name"] for d in data] == [b, c]


@pytest.mark.parametrize("content, message", [
    ("not json at all", "not JSON"),
    ("[1, 2]", "not a browser-llm-bench/result result JSON"),
    (json.dumps({"schema": "browser-llm-bench/overhead", "schema_version": 2}), "only benchmark results compare"),
    (json.dumps({"schema": "browser-llm-bench/result", "schema_version": 99, "rows": []}), "schema version 99"),
    (json.dumps({"schema": "browser-llm-bench/result", "schema_version": 2, "rows": [{"key": "x"}]}),
     "rows[0] has no engine 'key' and 'backend'"),
])
def test_bad_input_gets_one_line_and_exit_2(tmp_path, capsys, content, message):
    good = write(tmp_path, "good.json", syn.result([syn.row()]))
    bad = write(tmp_path, "bad.json", content)
    for argv in (["compare", bad, good], ["compare", good, bad]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("compare: ") and message in err and err.count("\n") == 1, err


def test_nothing_matching_is_bad_input(tmp_path, capsys):
    a = write(tmp_path, "a.json", syn.result([syn.row()]))
    b = write(tmp_path, "b.json", syn.result([syn.row()], model_sha="cd" * 32))  # another model
    assert main(["compare", a, b]) == 2
    err = capsys.readouterr().err
    assert "no row of" in err and "matches a row of" in err and err.count("\n") == 1
    assert main(["compare", a, str(tmp_path / "missing.json")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--min-change", "abc"], "--min-change 'abc'"), (["--fail-on=-5%"], "--fail-on '-5%'"),
    (["--alpha", "1.5"], "--alpha 1.5"),
])
def test_bad_options_get_one_line_and_exit_2(tmp_path, capsys, argv, message):
    a = write(tmp_path, "a.json", syn.result([syn.row()]))
    assert main(["compare", a, a, *argv]) == 2
    assert message in capsys.readouterr().err


# --- older schema versions and the v3 JSON Schema ------------------------------------------------------

# Real runs of llama.cpp, flare CPU and flare WebGPU (trimmed, no model data): result-v2.json written under
# schema_version 2 (with a pp16 sweep), result-v3.json by the page under version 3 (a tg4 sweep, a GPU ERROR row).
DATA = Path(__file__).parent / "data"


def v2_doc() -> dict:
    return json.loads((DATA / "result-v2.json").read_text())


def test_a_v2_file_is_read_by_compare(tmp_path, capsys):
    from app.core import results

    old = v2_doc()
    assert old["schema_version"] == 2
    as_v3 = {**old, "schema_version": 3, "field_docs": results.FIELD_DOCS}
    a, b = write(tmp_path, "v2.json", old), write(tmp_path, "v3.json", as_v3)
    for argv in (["compare", a, b], ["compare", b, a], ["compare", a, a]):
        assert main(argv + ["--output", "json"]) == 0
        data = json.loads(capsys.readouterr().out)[0]
        assert len(data["rows"]) == 4 and not data["only_base"] and not data["only_new"]
        assert {data["base"]["schema_version"], data["new"]["schema_version"]} <= {2, 3}
        assert [r["test"] for r in data["rows"]][2] == "pp16"
    assert main(["compare", a, b]) == 0
    assert "flare-web" in capsys.readouterr().out


def test_a_v2_file_and_a_v3_file_of_the_page_compare_by_their_common_tests(tmp_path, capsys):
    a, b = str(DATA / "result-v2.json"), str(DATA / "result-v3.json")
    assert main(["compare", a, b, "--output", "json"]) == 0
    data = json.loads(capsys.readouterr().out)[0]
    assert (data["base"]["schema_version"], data["new"]["schema_version"]) == (2, 3)
    assert [(r["match"]["key"], r["match"]["test"]["name"]) for r in data["rows"]] == [
        ("llamacpp-wasm", "chat"), ("flare-cpu", "chat"), ("flare-webgpu", "chat")]
    assert data["only_base"] == ["flare-web wasm-cpu pp16"] and len(data["only_new"]) == 3
    gpu = data["rows"][2]  # its speeds are not results in either file (SwiftShader)
    assert gpu["verdict"]["new"] == "GPU ERROR" and all("new" in f["invalid"] for f in gpu["figures"])


def test_compare_upgrades_a_copy_and_leaves_the_documents_alone():
    old = v2_doc()
    before = json.loads(json.dumps(old))
    c = compare.compare(old, old)
    assert old == before and c["base"]["schema_version"] == 2


def test_a_v2_file_written_before_tests_were_named_matches_the_chat_rows():
    old = v2_doc()
    early = json.loads(json.dumps(old))
    early["rows"] = [r for r in early["rows"] if r["test"] == "chat"]
    for row in early["rows"]:
        for key in ("test", "n_prompt", "n_gen", "n_depth"):
            del row[key]
        for run in row["runs"]:
            del run["derived"]["itl_slope_ms_per_1k"]
    c = compare.compare(early, old)
    assert [r["match"]["key"] for r in c["rows"]] == ["llamacpp-wasm", "flare-cpu", "flare-webgpu"]
    assert c["only_new"] == ["flare-web wasm-cpu pp16"]


def test_a_v3_file_that_breaks_the_schema_is_bad_input_naming_the_field(tmp_path, capsys):
    good = write(tmp_path, "good.json", syn.result([syn.row()]))
    doc = syn.result([syn.row()])
    doc["rows"][0]["runs"][1]["token_ids"][0] = "a"
    bad = write(tmp_path, "bad.json", doc)
    assert main(["compare", good, bad]) == 2
    err = capsys.readouterr().err
    assert err.startswith("compare: ") and err.count("\n") == 1, err
    assert "bad.json: does not match result schema v3: rows[0].runs[1].token_ids[0]: must be integer" in err
    with pytest.raises(compare.CompareError, match=r"rows\[0\]\.runs\[1\]\.token_ids\[0\]"):
        compare.compare(syn.result([syn.row()]), doc)


def test_rows_of_different_browsers_are_matched_only_when_asked():
    from app.core import compare as cmp
    from tests.host import synthetic as syn

    chromium = syn.result([syn.row(key="llamacpp-wasm", reference=True, run_list=syn.runs(10.0))])
    firefox = syn.result([syn.row(key="llamacpp-wasm", reference=True, run_list=syn.runs(15.0, seed=1))])
    chromium["environment"]["runtime"], firefox["environment"]["runtime"] = "chromium", "firefox"
    with pytest.raises(cmp.CompareError, match=r"no row of firefox.json matches .*different browsers \(chromium and "
                                              r"firefox\): --across-browsers compares them"):
        cmp.compare(chromium, firefox, base_name="chromium.json", new_name="firefox.json")
    across = cmp.compare(chromium, firefox, key=cmp.across_browsers_key)
    decode = next(f for r in across["rows"] for f in r["figures"] if f["key"] == "decode_tok_s")
    assert decode["new"]["mean"] > decode["base"]["mean"]
    # A merged result labels its backends by browser: across browsers, the label is left out of the match.
    firefox["rows"][0]["backend"] = "wasm-cpu [firefox 153]"
    assert cmp.across_browsers_key(firefox, firefox["rows"][0])[1] == "wasm-cpu"
    # A merged result holds a test once per browser: across browsers it cannot be read, and the error says what to do.
    merged = syn.result([dict(chromium["rows"][0], node={"label": "chromium 156", "browser": "chromium"}),
                         dict(firefox["rows"][0], node={"label": "firefox 153", "browser": "firefox"})])
    with pytest.raises(cmp.CompareError, match="once per browser .* per-browser files"):
        cmp.compare(merged, merged, key=cmp.across_browsers_key)
    # Results from before runtimes were recorded ran in Chromium.
    del chromium["environment"]["runtime"]
    assert cmp.row_browser(chromium, chromium["rows"][0]) == "chromium"
