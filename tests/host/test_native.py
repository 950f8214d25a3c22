"""Issue 25: the native llama.cpp row (app/engines/native) and every row's cost against it (app/core/native_cost).

The pure logic runs over a fake binding: a stand-in for llama_cpp's low-level ctypes API whose "model" is a fixed
greedy chain (each id's successor), whose decode sleeps a fixed time per token, and which records every batch it is
given, so the tests see the ids the native row fed and the ratios it produced. The page's result is a real one
(tests/host/data/result-v3.json: llama.cpp, flare CPU and WebGPU on SmolLM2 with a tg4 sweep). The last test runs
the real binding on a tiny GGUF and is skipped, with the reason, where llama_cpp is not installed.
"""

from __future__ import annotations

import copy
import ctypes
import hashlib
import json
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from app.core import formats, native_cost, report, results
from app.core.settings import BenchSettings, expand_engines
from app.core.sweeps import prompt_of
from app.engines import HOST_KEYS, page_choices
from app.engines.native import support
from app.engines.native.host.engine import NativeEngine
from app.engines.spec import NATIVE_BACKEND
from app.host import host_rows

V3_FILE = Path(__file__).parent / "data" / "result-v3.json"
VOCAB = 49152  # SmolLM2's, so the page's real prompt ids fit
TOKEN_S = 0.0005  # the fake's cost of one decoded id (s)


def successor(token: int) -> int:
    """The fake model's greedy next id."""
    return (token * 31 + 7) % VOCAB


class FakeBinding(types.SimpleNamespace):
    """Just the llama_cpp calls the native engine makes, over a fixed greedy chain; `batches` records every decode.

    refuse: the message llama.cpp logs when it cannot load the file (then llama_model_load_from_file is NULL).
    fail_after: decode calls before llama_decode starts returning an error (None: never)."""

    def __init__(self, refuse: str | None = None, fail_after: int | None = None, version: str = "0.3.36") -> None:
        super().__init__()
        self.__version__ = version
        self.refuse, self.fail_after = refuse, fail_after
        self.llama_token = ctypes.c_int32
        self.llama_log_callback = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
        self.callback: Any = None
        self.batches: list[list[int]] = []
        self.cleared = 0
        self.seq: list[int] = []
        self.logits = (ctypes.c_float * VOCAB)()
        self.freed: list[str] = []

    def llama_log_set(self, callback, _user):
        self.callback = callback

    def llama_backend_init(self):
        pass

    def llama_model_default_params(self):
        return types.SimpleNamespace(n_gpu_layers=99)

    def llama_model_load_from_file(self, path: bytes, params):
        if self.refuse:
            self.callback(4, self.refuse.encode(), None)
            return None
        assert Path(path.decode()).is_file() and params.n_gpu_layers == 0
        return object()

    def llama_context_default_params(self):
        return types.SimpleNamespace(flash_attn_type=-1)

    def llama_init_from_model(self, model, cparams):
        self.cparams = cparams
        return object()

    def llama_model_get_vocab(self, model):
        return "vocab"

    def llama_vocab_n_tokens(self, vocab):
        return VOCAB

    def llama_get_memory(self, ctx):
        return "memory"

    def llama_memory_clear(self, memory, data):
        self.cleared += 1
        self.seq = []

    def llama_batch_get_one(self, arr, n):
        return list(arr[:n])

    def llama_decode(self, ctx, batch):
        if self.fail_after is not None and len(self.batches) >= self.fail_after:
            return -3
        self.batches.append(batch)
        time.sleep(TOKEN_S * len(batch))
        self.seq += batch
        for i in range(VOCAB):
            self.logits[i] = 0.0
        self.logits[successor(self.seq[-1])] = 10.0
        return 0

    def llama_get_logits_ith(self, ctx, i):
        return ctypes.cast(self.logits, ctypes.POINTER(ctypes.c_float))

    def llama_token_to_piece(self, vocab, token, buf, length, lstrip, special):
        text = f" t{token}".encode()
        ctypes.memmove(buf, text, len(text))
        return len(text)

    def llama_print_system_info(self):
        return b"CPU : AVX2 = 1 | fake"

    def llama_free(self, ctx):
        self.freed.append("ctx")

    def llama_model_free(self, model):
        self.freed.append("model")


def page_result(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    """The real page result, its reference's greedy tokens replaced by the fake model's chain (same count, same
    times), and a tiny GGUF standing for the model file (the result names its sha256)."""
    from tests.host.test_gguf_header import gguf_file

    path = tmp_path / "tiny.gguf"
    gguf_file(path)
    result = json.loads(V3_FILE.read_text())
    result["model"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    ref = next(r for r in result["rows"] if r["is_reference"] and r["test"] == "chat")
    chain, last = [], result["prompt_ids"][-1]
    for _ in range(len(ref["runs"][0]["token_ids"])):
        last = successor(last)
        chain.append(last)
    for run in ref["runs"]:
        run["token_ids"] = list(chain)
    result["settings"].update(runs=2, warmup=1, n_prompt=[16])
    return result, path


def run_native(result: dict[str, Any], path: Path, binding: FakeBinding | None = None,
               threads: dict[str, int] | None = None, **kw: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """run_host_rows over the fake binding: native-all at 2 threads and native-1t at 1 (fixed, whatever the
    machine's cores)."""
    threads = threads or {"native-all": 2, "native-1t": 1}
    lines: list[str] = []
    binding = binding or FakeBinding()

    def make(key: str) -> NativeEngine:
        from app.engines import BY_KEY, SPEC_OF

        engine = NativeEngine(threads[key], binding=binding)
        engine.key, engine.spec, engine.variant = key, SPEC_OF[key], BY_KEY[key]
        return engine

    rows = host_rows.run_host_rows(result, list(threads), path, lines.append, make_engine=make, **kw)
    return rows, lines


# --- the registry ------------------------------------------------------------------------------------------------
def test_the_native_engine_is_a_host_engine_the_page_never_offers():
    assert set(HOST_KEYS) == {"native-all", "native-1t"}
    assert not {c["key"] for c in page_choices()} & set(HOST_KEYS)
    page, host = host_rows.split_engines(["llamacpp-wasm", "native-all", "flare-cpu", "native-1t"])
    assert page == ["llamacpp-wasm", "flare-cpu"] and host == ["native-all", "native-1t"]
    assert host_rows.split_engines(["native-all"]) == (["llamacpp-wasm"], ["native-all"])  # ids and reference
    assert host_rows.split_engines(["flare-cpu"]) == (["flare-cpu"], [])
    assert BenchSettings.from_dict({"engines": ["llamacpp-wasm", "native-all"]}).engines[-1] == "native-all"
    assert expand_engines(["llamacpp", "native"]) == ["llamacpp-wasm", "native-all", "native-1t"]  # --engines


def test_threads_zero_means_every_core_this_process_may_use():
    assert support.threads_for(0) == support.cores() >= 1
    assert support.threads_for(1) == 1
    with pytest.raises(ValueError):
        support.threads_for(-1)
    assert support.cpu_name("processor\t: 0\nmodel name\t: Some CPU @ 2.0GHz\n") == "Some CPU @ 2.0GHz"


# --- the row: same ids, same loop, same definitions -------------------------------------------------------------
def test_the_native_rows_run_the_pages_ids_through_the_benchmark_loop(tmp_path):
    result, path = page_result(tmp_path)
    binding = FakeBinding()
    page_rows = copy.deepcopy(result["rows"])
    rows, lines = run_native(result, path, binding)
    assert result["rows"][:len(page_rows)] == page_rows  # the page's rows untouched
    assert [(r["key"], r["test"]) for r in rows] == [("native-all", "chat"), ("native-all", "pp16"),
                                                     ("native-all", "tg4"), ("native-1t", "chat"),
                                                     ("native-1t", "pp16"), ("native-1t", "tg4")]
    s = result["settings"]
    chat = rows[0]
    assert chat["backend"] == NATIVE_BACKEND and chat["error"] is None and chat["unsupported"] is None
    assert len(chat["warmups"]) == s["warmup"] and len(chat["runs"]) == s["runs"]
    # Every chat run fed exactly the page's prompt ids, and each pp16 run the page's sweep prompt.
    prompts = [b for b in binding.batches if len(b) > 1]
    pp = prompt_of(16, result["passage_ids"], result["bos"]["id"] if result["bos"]["add_bos_token"] else None)
    assert prompts.count(result["prompt_ids"]) >= 2 * (s["warmup"] + s["runs"])
    assert prompts.count(pp) == 2 * (s["warmup"] + s["runs"])
    # The same definitions: each run's figures are derive_run's of its own timestamps, with the fake's costs in them.
    for run in chat["runs"]:
        assert run["derived"] == results.derive_run(run)
        assert run["derived"]["prefill_ms"] >= TOKEN_S * 1000 * len(result["prompt_ids"])
        assert run["derived"]["decode_tok_s"] <= 1 / TOKEN_S
    # Correctness against the page's reference row: the fake follows the reference's chain.
    c = chat["correctness"]
    assert c["greedy_match"] == 1 and c["forced_top1_agreement"] == 1
    assert c["reference_perplexity"] == next(r for r in result["rows"] if r["is_reference"])["correctness"]["perplexity"]
    assert chat["info"]["threads"] == 2 and rows[3]["info"]["threads"] == 1
    assert chat["info"]["clock"] == host_rows.CLOCK and chat["weights"]["sha256"] == result["model"]["sha256"]
    assert binding.cleared >= 2 * (s["warmup"] + s["runs"]) and binding.freed.count("ctx") == 2
    assert chat["output_text"].startswith(" t")  # the engine's own text of its ids
    assert any("native-all" in line or "llama.cpp native" in line for line in lines)


def test_the_cost_against_native_recomputes_from_the_json(tmp_path):
    result, path = page_result(tmp_path)
    run_native(result, path)
    result["settings"]["engines"] += ["native-all", "native-1t"]
    native_cost.annotate(result)
    doc = json.loads(json.dumps(result))
    results.check_result(doc)  # the schema (vs_native, the native rows) and every figure against its timestamps
    checked = 0
    for row in doc["rows"]:
        if native_cost.is_native(row):
            assert "vs_native" not in row
            continue
        v = row["vs_native"]
        native = next(r for r in doc["rows"] if r["key"] == v["native_key"] and r["test"] == row["test"])
        threads = row["info"].get("threads")
        assert v["native_threads"] == native["info"]["threads"] == (threads if threads in (1, 2) else 2)
        for name, key in (("decode", "decode_tok_s"), ("prefill", "prefill_tok_s")):
            mine, theirs = (row["summary"] or {}).get(key), (native["summary"] or {}).get(key)
            kind = row["test"][:2]
            measured = kind not in ("pp", "tg") or (kind == "pp") == (name == "prefill")
            expected = mine["mean"] / theirs["mean"] if measured and mine and theirs else None
            assert v[name] == pytest.approx(expected) if expected is not None else v[name] is None
            checked += expected is not None
    assert checked >= 4
    llama = next(r for r in doc["rows"] if r["key"] == "llamacpp-wasm" and r["test"] == "chat")
    assert llama["vs_native"]["same_threads"] is True
    # A stored ratio that the summaries do not give is refused.
    llama["vs_native"]["decode"] *= 2
    with pytest.raises(ValueError, match="vs_native decode"):
        results.check_result(doc)


def test_the_table_and_every_format_carry_the_cost(tmp_path):
    result, path = page_result(tmp_path)
    run_native(result, path)
    native_cost.annotate(result)
    llama = next(r for r in result["rows"] if r["key"] == "llamacpp-wasm" and r["test"] == "chat")
    cell = native_cost.cell(llama)
    text = formats.render(result, "text")
    assert report.VS_NATIVE in text and cell in text and f"{llama['vs_native']['decode']:.2f}x" == cell.split(" / ")[0]
    assert "native llama.cpp's speed" in text  # the reading line
    assert cell in formats.render(result, "md")
    records = formats.row_records(result)
    rec = next(r for r in records if r["key"] == "llamacpp-wasm" and r["test"] == "chat")
    assert rec["vs_native.decode"] == pytest.approx(llama["vs_native"]["decode"])
    assert rec["vs_native.native_key"] == llama["vs_native"]["native_key"]
    assert "vs_native.decode" in formats.render(result, "csv").splitlines()[0].split(",")
    # Without a native row the table keeps its old columns.
    plain = json.loads(V3_FILE.read_text())
    assert report.VS_NATIVE not in report.columns(native_cost.annotate(plain))


def test_the_compare_page_and_the_charts_show_the_cost(tmp_path):
    from app.core import chartdata, compare

    result, path = page_result(tmp_path)
    run_native(result, path)
    native_cost.annotate(result)
    base = json.loads(V3_FILE.read_text())  # the same rows without a native one
    base["model"]["sha256"] = result["model"]["sha256"]
    comparison = compare.compare(base, json.loads(json.dumps(result)))
    llama = next(r for r in result["rows"] if r["key"] == "llamacpp-wasm" and r["test"] == "chat")
    line = next(x for x in compare.footer_lines(comparison) if "vs native" in x and "llama.cpp (wllama)" in x)
    assert line.endswith(f"no native row -> {native_cost.cell(llama)}")
    assert native_cost.cell(llama) in compare.to_html([comparison])  # the compare page's rendering
    data = chartdata.chart_data(result)
    points = {tuple(label): p for label, p in zip(data["vs_native"]["labels"], data["vs_native"]["points"])}
    assert points[("llama.cpp (wllama) wasm-cpu",)]["y"] == pytest.approx(llama["vs_native"]["decode"])
    assert not any(NATIVE_BACKEND in " ".join(label) for label in points)  # native is the scale, not a bar
    assert chartdata.chart_data(base)["vs_native"] is None
    assert "vs_native" in (Path(__file__).parents[2] / "web/static/charts.js").read_text()


def test_a_teacher_forced_disagreement_is_said_with_its_logit_lead():
    engine = NativeEngine(1, binding=FakeBinding())
    engine.forced_gaps = [[0.0, 0.0213, 0.0], [5.0]]  # the forced check, then the perplexity passage
    notes = engine.disagreement_notes([1, 9, 3], [1, 2, 3])
    assert notes == ["teacher-forced position 1: its top-1 9 led the reference's 2 by 0.021 logits"]
    assert engine.disagreement_notes([1, 2, 3], [1, 2, 3]) == []


# --- bad input --------------------------------------------------------------------------------------------------
def test_a_missing_binding_is_an_unsupported_row_naming_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` raises ImportError
    result, path = page_result(tmp_path)
    rows = host_rows.run_host_rows(result, ["native-all"], path, lambda line: None)
    assert len(rows) == 1 and rows[0]["runs"] == [] and rows[0]["error"] is None
    assert support.INSTALL in rows[0]["unsupported"] and "import llama_cpp" in rows[0]["unsupported"]
    assert report.verdict(rows[0]) == "unsupported"
    results.check_result(result)


def test_another_binding_version_is_refused_in_words(tmp_path):
    result, path = page_result(tmp_path)
    rows, _ = run_native(result, path, FakeBinding(version="0.2.0"), threads={"native-all": 1})
    assert "0.2.0" in rows[0]["unsupported"] and support.BINDING_VERSION in rows[0]["unsupported"]


def test_a_model_llama_cpp_refuses_is_an_error_row_in_its_own_words(tmp_path):
    result, path = page_result(tmp_path)
    page_rows = copy.deepcopy(result["rows"])
    said = "llama_model_load: error loading model: missing tensor 'token_embd.weight'"
    rows, _ = run_native(result, path, FakeBinding(refuse=said), threads={"native-all": 1})
    assert rows[0]["error"] and said in rows[0]["error"] and report.verdict(rows[0]) == "ERROR"
    assert result["rows"][:len(page_rows)] == page_rows
    results.check_result(result)


def test_a_failure_mid_row_keeps_the_page_rows_and_the_runs_before_it(tmp_path):
    result, path = page_result(tmp_path)
    page_rows = copy.deepcopy(result["rows"])
    rows, _ = run_native(result, path, FakeBinding(fail_after=6), threads={"native-all": 1, "native-1t": 1})
    assert "llama_decode failed" in rows[0]["error"]
    assert result["rows"][:len(page_rows)] == page_rows

    def broken(key: str):
        raise RuntimeError("the binding's library did not load")

    more = host_rows.run_host_rows(result, ["native-all"], path, lambda line: None, make_engine=broken)
    assert "did not load" in more[0]["error"] and result["rows"][:len(page_rows)] == page_rows
    results.check_result(result)


def test_a_file_that_is_not_the_pages_is_not_run(tmp_path):
    result, path = page_result(tmp_path)
    result["model"]["sha256"] = "f" * 64
    rows, _ = run_native(result, path)
    assert all("is not the file the page ran" in r["unsupported"] for r in rows)
    rows = host_rows.run_host_rows(result, ["native-all"], tmp_path / "missing.gguf", lambda line: None)
    assert "not on this disk" in rows[0]["unsupported"]


# --- the real binding ---------------------------------------------------------------------------------------------
def _real_binding_or_skip() -> Any:
    try:
        import llama_cpp
    except (ImportError, OSError) as err:
        pytest.skip(f"llama_cpp is not installed ({err}): {support.INSTALL} installs it")
    return llama_cpp


def test_the_real_binding_runs_a_tiny_model_and_refuses_a_broken_one_in_its_own_words(tmp_path):
    _real_binding_or_skip()
    import asyncio

    from app.engines.native.host.engine import llama_build
    from app.engines.protocol import EngineError, Model
    from tests.host.test_gguf_header import gguf_file

    engine = NativeEngine(1)
    assert engine.missing is None, engine.missing
    info = engine.info()
    build = llama_build(engine.lib)
    assert info["llama_cpp_build"] == (build["ggml_commit"] or "unknown") and "CPU" in info["system_info"]
    broken = tmp_path / "broken.gguf"
    gguf_file(broken)  # a header with no tensors: no model llama.cpp can build
    model = Model(data=str(broken), size=broken.stat().st_size, name="broken.gguf", sha256=None, tokenizer_json=None,
                  header={})
    with pytest.raises(EngineError, match="could not load broken.gguf: .+"):
        asyncio.run(engine.load(model))
    asyncio.run(engine.unload())


def test_bench_runs_the_host_engines_after_the_page_and_keeps_its_rows(tmp_path, monkeypatch):
    """app.host.bench_cli.run_host_engines: the wiring `python -m app bench` uses after the page's result is in."""
    import argparse

    from app.host import bench_cli, runtimes

    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # the same path whether or not the binding is here
    result, path = page_result(tmp_path)
    page_rows = copy.deepcopy(result["rows"])
    settings = BenchSettings.from_dict({**result["settings"], "engines": ["llamacpp-wasm", "native-all"]})
    args = argparse.Namespace(model=str(path))
    bench_cli.run_host_engines(args, settings, result, ["native-all"], runtimes.Job(tmp_path), timeout_s=60)
    assert result["rows"][:len(page_rows)] == page_rows
    assert [r["key"] for r in result["rows"][len(page_rows):]] == ["native-all"]
    assert support.INSTALL in result["rows"][-1]["unsupported"]
    assert result["settings"]["engines"] == ["llamacpp-wasm", "native-all"]
    results.check_result(result)
