"""Every failure visible (host, pure): GPU error capture summaries, verdicts, struck speeds, charts, stop sets."""

from __future__ import annotations

import pytest

from app.core import chartdata, generation_limits, gpu_errors, report, results
from app.core.settings import BenchSettings, SettingsError

WORKGROUP = ("The total use of workgroup storage (16416 bytes) is larger than the maximum allowed (16384 bytes).\n"
             " - While initializing [ComputePipeline \"attention_scores\"]")


def run(times, reason="max tokens", cold=False, index=0):
    return results.make_run(index, 5, 0.0, 10.0, list(range(len(times))), list(times), stop_reason=reason, cold=cold)


def row(key, engine, backend, times, **extra):
    r = {"key": key, "engine": engine, "backend": backend, "runs": [run(times)], "warmups": [], "load": {"parse_ms": 100.0},
         "is_reference": key == "llamacpp-wasm"}
    r.update(extra)
    r["summary"] = results.summarize_row(r["runs"])
    return r


def sample_result():
    result = results.new_result({}, {}, [], {})
    result["rows"] = [
        row("llamacpp-wasm", "llama.cpp (wllama)", "wasm-cpu", [20.0, 40.0, 60.0], correctness={"perplexity": 4.06}),
        row("flare-cpu", "flare-web", "wasm-cpu", [20.0, 30.0, 40.0],
            correctness={"forced_top1_agreement": 0.19, "perplexity": 17.1, "greedy_match": 0.1, "first_divergence": 1}),
        row("flare-webgpu", "flare-web", "webgpu", [20.0, 21.0, 22.0],
            correctness={"forced_top1_agreement": 0.0, "perplexity": 49152.0},
            gpu_errors={"count": 85, "by_kind": {"validation": 85}, "first_messages": [WORKGROUP]}),
    ]
    return result


def test_summarize_classifies_gpu_events_and_traps():
    raw = {"dropped": 5, "events": [
        {"source": "webgpu", "kind": "validation", "device": 0, "message": WORKGROUP},
        {"source": "webgpu", "kind": "validation", "device": 0, "message": WORKGROUP},
        {"source": "webgpu", "kind": "device-lost", "device": 0, "message": "device lost (unknown): gone"},
        {"source": "console", "kind": "console-error", "message": "panicked at flare-core/src/model.rs:12: range end"},
        {"source": "console", "kind": "console-error", "message": "something else"},
    ], "devices": [{"index": 0, "requested": {}, "granted": {"maxComputeWorkgroupStorageSize": 16384, "other": 1},
                    "adapterLimitsShim": False, "raised": {}}]}
    out = gpu_errors.summarize(raw)
    g = out["gpu_errors"]
    assert g["count"] == 3 + 5 and g["by_kind"] == {"validation": 2, "device-lost": 1, "more, not recorded": 5}
    assert g["first_messages"][0].startswith("device lost"), "the worst kind comes first"
    assert len(g["first_messages"]) == 2, "repeated messages are listed once"
    c = out["console_errors"]
    assert c["by_kind"] == {"wasm-trap": 1, "console-error": 1} and c["first_messages"][0].startswith("panicked")
    assert out["gpu_devices"] == [{"requested_limits": {}, "granted_limits": {"maxComputeWorkgroupStorageSize": 16384},
                                   "adapter_limits_shim": False, "raised_limits": {}, "buffers": None,
                                   "buffer_bytes_peak": None, "buffer_bytes_at_end": None}]
    assert gpu_errors.summarize(None) == {"gpu_errors": None, "console_errors": None, "gpu_devices": []}


def test_gpu_error_outranks_wrong_and_its_speeds_are_struck():
    result = sample_result()
    ref, wrong, gpu = result["rows"]
    assert [report.verdict(r) for r in result["rows"]] == ["reference", "WRONG", "GPU ERROR"]
    assert report.VERDICTS.index("GPU ERROR") < report.VERDICTS.index("WRONG")
    md = report.to_markdown(result)
    gpu_line = next(line for line in md.splitlines() if "GPU ERROR" in line and line.startswith("|"))
    assert "~~1000.00~~" in gpu_line, "decode tok/s of a GPU ERROR row is struck through"
    assert "1000.00" not in md.replace("~~1000.00~~", ""), "never shown as a plain number"
    assert "workgroup storage (16416 bytes)" in md
    html = report.to_html(result)
    assert "<s>1000.00</s>" in html and 'data-verdict="GPU ERROR"' in html
    text = report.to_text(result)
    assert "1000.00" not in text and "x 1\u03361\u0336" not in text  # struck char by char, marked 'x'
    assert "x 1\u03360\u03360\u03360\u0336" in text
    # The same figures stay in the raw record.
    assert gpu["summary"]["decode_tok_s"]["mean"] == pytest.approx(1000.0)


def test_reading_lines_name_the_evidence():
    lines = report.reading(sample_result())
    assert "flare-web wasm-cpu: WRONG - teacher-forced top-1 19% vs llama.cpp, perplexity 17.1 vs 4.06" in lines
    gpu = next(line for line in lines if line.startswith("flare-web webgpu: GPU ERROR"))
    assert "85 validation" in gpu and "not results" in gpu and "16416" in gpu


def test_unsupported_and_error_rows():
    r = row("flare-cpu", "flare-web", "wasm-cpu", [], unsupported="the prompt (2100 tokens) ...")
    assert report.verdict(r) == "unsupported"
    assert report.row_notes(r) == ["unsupported: the prompt (2100 tokens) ..."]
    e = row("flare-cpu", "flare-web", "wasm-cpu", [11.0, 12.0], error="boom")
    assert report.verdict(e) == "ERROR"


def test_charts_draw_wrong_rows_apart_and_give_gpu_errors_no_bar():
    data = chartdata.chart_data(sample_result())
    decode = data["decode"]
    assert decode["verdicts"] == ["reference", "WRONG", "GPU ERROR"]
    assert decode["apart"] == [False, True, False]
    assert decode["colors"][1] == chartdata.APART_COLOR and decode["colors"][0] != chartdata.APART_COLOR
    assert decode["labels"][1] == ["flare-web wasm-cpu", "[WRONG: fast, wrong output]"]
    assert decode["points"][2] is None and decode["labels"][2][1].startswith("[GPU ERROR")
    assert decode["points"][0] == {"y": 50.0, "yMin": 50.0, "yMax": 50.0}  # 2 gaps of 20 ms: 50 tok/s; min/max as error bars
    assert [s["label"] for s in data["itl"]] == ["llama.cpp (wllama) wasm-cpu", "flare-web wasm-cpu [WRONG: fast, wrong output]"]
    assert data["empty"] is False


def test_charts_order_correct_rows_first_and_are_empty_before_any_figure():
    result = sample_result()
    result["rows"] = [result["rows"][1], result["rows"][0]]  # WRONG first in run order
    assert chartdata.chart_data(result)["decode"]["verdicts"] == ["reference", "WRONG"]
    empty = results.new_result({}, {}, [], {})
    empty["rows"] = [{"key": "flare-cpu", "engine": "flare-web", "backend": "wasm-cpu", "unsupported": "no", "runs": []}]
    assert chartdata.chart_data(empty)["empty"] is True


def test_stop_set_and_context_refusal():
    meta = {"general.architecture": "llama", "llama.context_length": 8192, "tokenizer.ggml.eos_token_id": 2,
            "tokenizer.ggml.eot_token_id": 7, "tokenizer.ggml.eom_token_id": True, "tokenizer.ggml.tokens": ["a"] * 5}
    assert generation_limits.context_length(meta) == 8192
    assert generation_limits.stop_ids(meta) == [2], "bools and ids outside the vocabulary are not stop ids"
    msg = generation_limits.context_refusal("llama.cpp (wllama) wasm-cpu", 2048, 2000, 64)
    assert "2000 tokens" in msg and "(64)" in msg and "2064" in msg and "2048" in msg
    assert generation_limits.context_refusal("x", 2048, 1984, 64) is None
    assert generation_limits.context_refusal("x", None, 10**6, 64) is None


def test_runs_keep_their_stop_reason_and_failed_runs_are_not_summarised():
    ok, failed = run([11.0, 12.0, 13.0]), run([11.0, 12.0], reason="error")
    assert ok["stopped"] is False and failed["stopped"] is True
    assert results.summarize_row([ok, failed])["tokens"]["n"] == 1
    with pytest.raises(ValueError, match="stop reason"):
        run([11.0], reason="bored")


def test_whitespace_system_prompt_means_none_and_webgpu_limits_is_checked():
    assert BenchSettings.from_dict({"system": " \n\t "}).system == ""
    assert BenchSettings.from_dict({"webgpu_limits": "adapter"}).webgpu_limits == "adapter"
    with pytest.raises(SettingsError, match="webgpu_limits"):
        BenchSettings.from_dict({"webgpu_limits": "max"})


def test_long_prompts_are_refused_with_their_length():
    with pytest.raises(SettingsError, match="system prompt is 36000 characters"):
        BenchSettings.from_dict({"system": "words " * 6000})
    with pytest.raises(SettingsError, match="prompt is 32001 characters"):
        BenchSettings.from_dict({"prompt": "x" * 32001})


@pytest.mark.parametrize("text, message", [
    ("5", "settings must be a JSON object of named settings, not int"),
    ("[1]", "settings must be a JSON object of named settings, not list"),
    ('{"engines": "llamacpp-wasm"}', "engines must be a list of engine keys"),
    ('{"prompt": 5}', "the prompt must be text, not int"),
    ("[" * 20000, "nest arrays or objects more than 8 deep"),
    ('{"prompt": "hi \\udcff"}', "the prompt is not valid UTF-8 text"),
    ("{nope", "the settings are not JSON"),
])
def test_settings_from_the_url_are_refused_in_words(text, message):
    from app.core.settings import settings_from_json

    with pytest.raises(SettingsError, match=message):
        settings_from_json(text)
    assert settings_from_json('{"prompt": "a [ { \\" ] bracket", "n_gen": [4]}').n_gen == [4]
