"""The benchmark loop on the host: whole benchmarks (app/web/bench.py) over a fake engine and a fake tokenizer.

Nothing here opens a browser. The benchmark reaches the browser only through the seam (app/web/browser), and its
host side (HostBrowser) takes a clock the fakes advance: prefill costs PREFILL_MS, a token TOKEN_MS, so every
figure of a run is exact (TTFT 15 ms, decode 200 tok/s...). The fake engine is a real class of the Engine protocol
(checked as the registry checks it) over a tiny deterministic "language": each id's greedy successor, with a
second language that differs in one transition, so correctness has something to find. Each test runs in
milliseconds.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.core import correctness
from app.core.chat_template import with_one_bos
from app.core.settings import BenchSettings, SettingsError
from app.engines.protocol import EngineBase, EngineError, Model, check_engine_class
from app.engines.spec import Drive, EngineSpec, Variant
from app.web import bench, fastloop
from app.web.browser.on_host import NO_MEMORY, HostBrowser, HostJsException

REPO = Path(__file__).resolve().parents[2]

# --- a tiny model: words are tokens ------------------------------------------------------------------------
VOCAB = ("<unk>", "<s>", "</s>", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m")
BOS, EOS = 1, 2
PREFILL_MS, TOKEN_MS, LOAD_MS = 10.0, 5.0, 100.0
MODEL_BYTES = 1000


def words_to_ids(text: str) -> list[int]:
    return [VOCAB.index(w) if w in VOCAB else 0 for w in text.split()]


class Language:
    """Greedy next id of each id: 3 -> 4 -> ... -> 15 -> EOS -> 3; `wrong` changes one transition."""

    def __init__(self, wrong: dict[int, int] | None = None) -> None:
        self.next = {t: t + 1 for t in range(3, 15)} | {15: EOS, EOS: 3, BOS: 3, 0: 3} | (wrong or {})

    def logprob(self, last: int, token: int) -> float:
        return math.log(0.9) if self.next[last] == token else math.log(0.1 / (len(VOCAB) - 1))


REFERENCE_LANGUAGE = Language()
WRONG_LANGUAGE = Language({7: 9})  # after "e" it says "g": greedy and teacher-forced checks must see it


class Clock:
    """The one clock of a test (ms): the fakes advance it, the benchmark reads it through the seam."""

    def __init__(self) -> None:
        self.ms = 1000.0

    def now(self) -> float:
        return self.ms

    def advance(self, ms: float) -> None:
        self.ms += ms


class FakeTokenizer:
    """The tokenizer of record (app.web.tokenizer.Tokenizer): one id per word, BOS first."""

    bos_id, add_bos, eog_ids, load_ms, source = BOS, True, [EOS], 3.0, "fake words tokenizer"

    def __init__(self) -> None:
        self.closed = False

    async def encode(self, text: str) -> list[int]:
        return with_one_bos(words_to_ids(text), BOS, True)

    async def decode(self, ids: list[int]) -> str:
        return "".join(" " + VOCAB[i] for i in ids)

    async def close(self) -> None:
        self.closed = True


# --- the fake engines: real classes of the Engine protocol --------------------------------------------------
class FakeEngine(EngineBase):
    """Prompt ids in; generates its language's greedy chain; teacher-forced log-probabilities from the same table.

    fail: (measured-or-warmup run number since load, 1-based; tokens before failing; the exception).
    refuse / refuse_async: what unsupported_reason / unsupported_reason_async say.
    warmup_token_ms: a token's cost in the first `slow_runs` runs (warmups slower than measured runs).
    ends_at_eos: end the stream itself at EOS (as flare does) instead of returning the id.
    """

    engine = "fake engine"

    def __init__(self, clock: Clock, backend: str = "wasm-cpu", language: Language = REFERENCE_LANGUAGE,
                 context: int | None = 256, fail: tuple[int, int, Exception] | None = None, refuse: str | None = None,
                 refuse_async: str | None = None, slow_runs: int = 0, warmup_token_ms: float = 50.0,
                 ends_at_eos: bool = False, browser: HostBrowser | None = None) -> None:
        self.clock, self.backend, self.language, self.context = clock, backend, language, context
        self.fail, self.refuse, self.refuse_async = fail, refuse, refuse_async
        self.slow_runs, self.warmup_token_ms, self.ends_at_eos = slow_runs, warmup_token_ms, ends_at_eos
        self.browser = browser
        self.loaded = self.unloaded = False
        self.runs_started = 0
        self.calls: list[str] = []
        self.ids: list[int] = []
        self.generated = 0

    def context_tokens(self, model: Model) -> int | None:
        return self.context

    def unsupported_reason(self, model: Model) -> str | None:
        return self.refuse

    async def unsupported_reason_async(self, model: Model) -> str | None:
        return self.refuse_async

    async def load(self, model: Model) -> dict[str, float]:
        self.calls.append("load")
        self.clock.advance(LOAD_MS)
        if self.browser is not None:  # what a WASM trap would leave in the console during the row
            self.browser.record("console", "error", "RuntimeError: unreachable (a test's trap)")
        self.loaded = True
        return {"parse_ms": LOAD_MS}

    async def reset(self) -> None:
        self.runs_started += 1
        self.ids, self.generated, self.ended_at_id = [], 0, None

    async def prefill(self, prompt_ids: list[int], max_tokens: int) -> None:
        self.calls.append(f"prefill {len(prompt_ids)}")
        self.ids = list(prompt_ids)
        self.clock.advance(PREFILL_MS)

    def _token_ms(self) -> float:
        return self.warmup_token_ms if self.runs_started <= self.slow_runs else TOKEN_MS

    def _next_id(self) -> int | None:
        if self.fail and self.fail[0] == self.runs_started and self.fail[1] == self.generated:
            raise self.fail[2]
        self.clock.advance(self._token_ms())
        token = self.language.next[self.ids[-1]]
        self.ids.append(token)
        self.generated += 1
        return token

    async def next_token(self) -> int | None:
        self.calls.append("next")
        token = self._next_id()
        if token == EOS and self.ends_at_eos:
            self.ended_at_id = EOS
            return None
        return token

    async def stop(self) -> None:
        self.calls.append("stop")

    async def teacher_forced(self, prefix: list[int], continuation: list[int]) -> list[tuple[int, float]]:
        out = []
        for i, token in enumerate(continuation):
            last = (prefix + continuation[:i])[-1]
            out.append((self.language.next[last], self.language.logprob(last, token)))
        return out

    async def decode_text(self, ids: list[int]) -> str:
        return " ".join(VOCAB[i] for i in ids)

    def info(self) -> dict[str, Any]:
        return {"version": "test"}

    async def unload(self) -> None:
        self.unloaded = True


class FakeTextEngine(FakeEngine):
    """Text in, its own loop and its own token times (as wllama 3.x): prefill ends with the first token, each id is
    stamped 1 ms before Python receives it, and forced steps go by text prefix. `extra_prompt_tokens` makes it count
    the prompt differently from the tokenizer of record."""

    engine = "fake text engine"

    def __init__(self, clock: Clock, extra_prompt_tokens: int = 0, **kw: Any) -> None:
        super().__init__(clock, **kw)
        self.extra_prompt_tokens = extra_prompt_tokens
        self.texts: list[str] = []
        self.generations: list[dict[str, Any]] = []

    async def prefill(self, prompt_ids: list[int], max_tokens: int) -> None:
        raise EngineError("a text engine is given the prompt text")

    async def prefill_text(self, prompt_text: str, max_tokens: int) -> None:
        self.texts.append(prompt_text)
        self.ids = with_one_bos(words_to_ids(prompt_text), BOS, True)
        self.generations.append({"ids": [], "text": "", "prompt_tokens": len(self.ids) + self.extra_prompt_tokens,
                                 "cached_tokens": 0, "clamped": False})

    async def next_token(self) -> int | None:
        token = self._next_id()
        self.token_time_ms = self.clock.now() - 1.0  # produced before it reached Python
        g = self.generations[-1]
        g["ids"].append(token)
        if token != EOS:
            g["text"] += " " + VOCAB[token]
        return token

    async def forced_step(self, text: str) -> dict[str, Any]:
        ids = with_one_bos(words_to_ids(text), BOS, True)
        return {"id": self.language.next[ids[-1]], "prompt_tokens": len(ids) + self.extra_prompt_tokens}

    async def take_generations(self) -> list[dict[str, Any]]:
        out, self.generations = self.generations, []
        return out


IDS_SPEC = EngineSpec(
    name="fake", title="fake engine", factory="tests.host.test_bench_host:FakeEngine",
    variants=(Variant("fake-ref", "fake reference", "wasm-cpu", "#000000", reference=True),
              Variant("fake-cpu", "fake CPU", "wasm-cpu", "#111111"),
              Variant("fake-gpu", "fake WebGPU", "webgpu", "#222222", needs=("webgpu",))),
    drive=Drive(takes_text=False, stamps_tokens=False, prefill_is_first_token=False, correctness="forced-ids"))
TEXT_SPEC = EngineSpec(
    name="faketext", title="fake text engine", factory="tests.host.test_bench_host:FakeTextEngine",
    variants=(Variant("faketext-cpu", "fake text CPU", "wasm-cpu", "#333333"),),
    drive=Drive(takes_text=True, stamps_tokens=True, prefill_is_first_token=True, correctness="forced-text",
                text_notes="app.engines.llamacpp3.notes"))  # the one text engine's wording, pure


def made(engine: FakeEngine, key: str) -> FakeEngine:
    """What the registry does to an engine it makes (app.engines.make_engines): check the class, set spec/variant."""
    spec = TEXT_SPEC if isinstance(engine, FakeTextEngine) else IDS_SPEC
    check_engine_class(type(engine), spec.factory)
    engine.spec = spec
    engine.variant = next(v for v in spec.variants if v.key == key)
    engine.key = key
    return engine


def model(**kw: Any) -> Model:
    fields = {"data": None, "size": MODEL_BYTES, "name": "fake.gguf", "sha256": "0" * 64, "tokenizer_json": None,
              "header": {"general.architecture": "fake"}, "tensor_types": {"Q8_0": 3},
              "limits": {"context_length": 256, "stop_ids": [EOS]}}
    return Model(**(fields | kw))


def settings(**kw: Any) -> BenchSettings:
    fields: dict[str, Any] = {"prompt": "a b", "system": "", "passage": "c d e f", "max_tokens": 6, "runs": 3,
                              "warmup": 1, "forced_tokens": 6, "engines": ["fake-ref", "fake-cpu"]}
    return BenchSettings(**(fields | kw))


class Harness:
    """One benchmark's surroundings: clock, host browser, progress and log, the controller."""

    def __init__(self, yield_every_ms: float = 50.0, memory_bytes: int | None = 5000) -> None:
        self.clock = Clock()
        self.browser = HostBrowser(clock=self.clock.now, yield_every_ms=yield_every_ms, memory_bytes=memory_bytes)
        self.controller = bench.Controller(browser=self.browser)
        self.progress: list[float] = []
        self.lines: list[str] = []
        self.republished = 0

    def on_row(self) -> None:
        self.republished += 1

    def benchmark(self, s: BenchSettings, m: Model | None = None, tokenizer: FakeTokenizer | None = None,
                  prompt_ids: list[int] | None = None) -> bench.Benchmark:
        passage = with_one_bos(words_to_ids(s.passage), BOS, True)
        return bench.Benchmark(s, m or model(), prompt_ids or with_one_bos(words_to_ids(s.prompt), BOS, True), passage,
                               lambda f, _m: self.progress.append(f), self.lines.append, self.controller,
                               on_row=self.on_row, tokenizer=tokenizer, stop_ids=[] if s.ignore_eos else [EOS],
                               browser=self.browser)

    def run(self, s: BenchSettings, engines: list[FakeEngine], m: Model | None = None,
            tokenizer: FakeTokenizer | None = None, features: dict[str, bool] | None = None) -> dict[str, Any]:
        b = self.benchmark(s, m, tokenizer)
        b.prompt_text = s.prompt
        return asyncio.run(b.run(engines, {"rows": [], "prompt_text": s.prompt,
                                           "environment": {"features": features}}))


def by_test(result: dict[str, Any], key: str, test: str = "chat") -> dict[str, Any]:
    return next(r for r in result["rows"] if r["key"] == key and r["test"] == test)


# --- the seam ------------------------------------------------------------------------------------------------
def test_the_benchmark_imports_on_the_host_without_js_or_pyodide():
    code = ("import sys, app.web.bench, app.web.jsbridge, app.web.tokenizer, app.web.gpu_capture\n"
            "from app.web.browser import BROWSER, IN_PYODIDE\n"
            "assert not IN_PYODIDE and type(BROWSER).__name__ == 'HostBrowser', BROWSER\n"
            "assert not {'js', 'pyodide', 'pyodide.ffi'} & set(sys.modules), sorted(sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, proc.stderr


def test_capabilities_are_declared_not_probed():
    source = (REPO / "app/web/bench.py").read_text()
    assert "getattr(" not in source and "hasattr(" not in source
    assert "import js" not in source and "pyodide" not in source.replace("Pyodide", "")
    IDS_SPEC.check()
    TEXT_SPEC.check()  # the fakes are specs the registry would accept


def test_host_browser_reads_the_site_folder_and_refuses_what_it_lacks(tmp_path):
    (tmp_path / "manifest.json").write_text('{"ok": 1}')
    b = HostBrowser(site_root=tmp_path, modules={"static/x.js": "module"})
    assert asyncio.run(b.fetch_text("manifest.json")) == '{"ok": 1}'
    assert asyncio.run(b.fetch_bytes("manifest.json")) == b'{"ok": 1}'
    assert b.page_url("static/x.js").endswith("/static/x.js")
    assert asyncio.run(b.import_module("static/x.js")) == "module"
    with pytest.raises(OSError, match="404"):
        asyncio.run(b.fetch_text("missing.json"))
    with pytest.raises(HostJsException):
        asyncio.run(b.import_module("static/y.js"))
    assert asyncio.run(HostBrowser().measure_memory()) == {"error": NO_MEMORY}


def test_fastloop_steps_a_coroutine_through_the_host_loop():
    events = []

    async def body():
        events.append(await asyncio.sleep(0.001, result=1))  # a timer of the real loop
        events.append(await asyncio.sleep(0, result=2))  # a bare yield
        events.append(await asyncio.ensure_future(asyncio.sleep(0, result=3)))  # a task of the real loop
        raise ValueError("raised inside")

    async def main():
        try:
            await fastloop.run(body())
        except ValueError as err:
            events.append(str(err))

    asyncio.run(main())
    assert events == [1, 2, 3, "raised inside"]


# --- one run ---------------------------------------------------------------------------------------------------
def test_one_run_stamps_every_token_with_the_seams_clock():
    h = Harness()
    engine = made(FakeEngine(h.clock), "fake-cpu")
    run = asyncio.run(bench.one_run(engine, 0, [BOS, 3, 4], 6, h.controller, lambda n: None, frozenset({EOS}),
                                    drive=engine.spec.drive, browser=h.browser))
    assert run["token_ids"] == [5, 6, 7, 8, 9, 10] and run["stop_reason"] == "max tokens"
    start = run["prefill_start_ms"]
    assert run["prefill_end_ms"] == start + PREFILL_MS
    assert run["token_times_ms"] == [start + PREFILL_MS + TOKEN_MS * (i + 1) for i in range(6)]
    d = run["derived"]
    assert d["ttft_ms"] == PREFILL_MS + TOKEN_MS and d["decode_tok_s"] == pytest.approx(1000 / TOKEN_MS)
    assert d["prefill_tok_s"] == pytest.approx(3 / (PREFILL_MS / 1000))


def test_a_failing_run_keeps_its_tokens_and_says_why():
    h = Harness()
    context_full = EngineError("llama_decode failed: the context is full (n_ctx 64)")
    engine = made(FakeEngine(h.clock, fail=(1, 2, context_full)), "fake-cpu")
    with pytest.raises(bench.RunFailed) as caught:
        asyncio.run(bench.one_run(engine, 0, [BOS, 3, 4], 6, h.controller, lambda n: None, browser=h.browser))
    run = caught.value.run
    assert run["token_ids"] == [5, 6] and len(run["token_times_ms"]) == 2
    assert run["stop_reason"] == "context" and run["stopped"] and "n_ctx 64" in run["error"]

    trap = made(FakeEngine(h.clock, fail=(1, 1, HostJsException("RuntimeError: unreachable"))), "fake-cpu")
    with pytest.raises(bench.RunFailed) as caught:  # a JS exception (the seam's type) is a failed run too
        asyncio.run(bench.one_run(trap, 0, [BOS, 3, 4], 6, h.controller, lambda n: None, browser=h.browser))
    assert caught.value.run["token_ids"] == [5] and caught.value.run["stop_reason"] == "error"


def test_the_stop_set_ends_a_run_uncounted_and_an_engines_own_end_is_named():
    h = Harness()
    engine = made(FakeEngine(h.clock), "fake-cpu")
    stop = frozenset({EOS})

    def one(e: FakeEngine, prompt: list[int], n: int, stop_ids: frozenset[int] = stop) -> dict[str, Any]:
        return asyncio.run(bench.one_run(e, 0, prompt, n, h.controller, lambda k: None, stop_ids, browser=h.browser))

    run = one(engine, [BOS, 13], 8)  # 14, 15, then EOS: the stop id ends the run and is not counted
    assert run["token_ids"] == [14, 15] and run["stop_reason"] == "end token"
    assert one(engine, [BOS, 13], 4, frozenset())["token_ids"] == [14, 15, EOS, 3]  # without a stop set it runs on
    flare_like = made(FakeEngine(h.clock, ends_at_eos=True), "fake-cpu")  # ends the stream itself at EOS
    assert one(flare_like, [BOS, 13], 8)["stop_reason"] == "end token"
    assert one(flare_like, [BOS, 13], 8, frozenset({99}))["stop_reason"] == "engine end"  # EOS is not in this set


# --- whole benchmarks ----------------------------------------------------------------------------------------
def test_warmups_are_kept_apart_and_runs_are_summarised():
    h = Harness(memory_bytes=5000)
    ref = made(FakeEngine(h.clock, slow_runs=2, browser=h.browser), "fake-ref")
    result = h.run(settings(warmup=2, runs=3), [ref])
    row = by_test(result, "fake-ref")
    assert len(row["warmups"]) == 2 and len(row["runs"]) == 3 and "in_progress" not in row
    assert [r["index"] for r in row["runs"]] == [0, 1, 2] and not any(r["cold"] for r in row["runs"])
    assert [r["derived"]["decode_tok_s"] for r in row["warmups"]] == pytest.approx([1000 / 50.0] * 2)
    s = row["summary"]["decode_tok_s"]  # warmups (20 tok/s) are not in it
    assert s["mean"] == pytest.approx(1000 / TOKEN_MS) and s["n"] == 3
    assert row["summary"]["ttft_ms"]["mean"] == pytest.approx(PREFILL_MS + TOKEN_MS)
    assert row["load"] == {"parse_ms": LOAD_MS} and row["weights"]["format"] == "GGUF Q8_0"
    assert row["error"] is None and row["unsupported"] is None and ref.unloaded
    assert row["output_text"] == "c d e f g h"  # the engine's own decode: no tokenizer of record here
    assert all(r["hygiene"] == {"page_hidden": False, "visibility_changes": 0} for r in row["runs"])
    # What the browser side recorded during the row is the row's.
    assert h.browser.labels == ["fake engine wasm-cpu"]
    assert row["console_errors"]["count"] == 1 and row["gpu_errors"] is None
    assert row["memory"]["page_bytes_peak"] == 5000 and row["memory"]["peak_to_model"] == 5.0
    assert h.republished >= 5 and h.progress[-1] == pytest.approx(1.0)


def test_without_warmups_the_first_run_is_cold_and_a_hidden_page_is_recorded():
    h = Harness(yield_every_ms=0.0)  # the loop gives the browser its turn after every token
    ref = made(FakeEngine(h.clock), "fake-ref")
    hidden_at = [3]

    def during_yield() -> None:  # the page is hidden once, during the first run's third yield
        if h.browser.yields == hidden_at[0]:
            h.browser.visibility += 1

    h.browser.during_yield = during_yield
    row = by_test(h.run(settings(warmup=0, runs=2), [ref]), "fake-ref")
    assert [r["cold"] for r in row["runs"]] == [True, False]
    assert row["runs"][0]["hygiene"] == {"page_hidden": True, "visibility_changes": 1}
    assert row["runs"][1]["hygiene"] == {"page_hidden": False, "visibility_changes": 0}


def test_stop_takes_effect_within_a_token_and_keeps_what_was_measured():
    h = Harness(yield_every_ms=0.0)
    ref, other = made(FakeEngine(h.clock), "fake-ref"), made(FakeEngine(h.clock), "fake-cpu")
    pressed_at: list[float] = []

    def during_yield() -> None:  # Stop is clicked while the browser has its turn, after the 3rd token of run 1
        if h.browser.yields == 3 and not pressed_at:
            pressed_at.append(h.clock.now())
            h.controller.request_stop()

    h.browser.during_yield = during_yield
    result = h.run(settings(warmup=0, runs=3), [ref, other])
    row = by_test(result, "fake-ref")
    assert len(row["runs"]) == 1 and row["runs"][0]["token_ids"] == [5, 6, 7]
    assert row["runs"][0]["stop_reason"] == "user" and row["runs"][0]["stopped"]
    assert ref.calls.count("next") == 3 and ref.calls[-1] == "stop"  # no 4th token was asked for
    assert result["stopped_by_user"] and result["stop_requested_ms"] == pressed_at[0]
    assert row["error"] is None and row["correctness"] is None and ref.unloaded
    assert [r["key"] for r in result["rows"]] == ["fake-ref"] and not other.loaded  # nothing after Stop


def test_a_failing_run_fails_its_row_keeps_its_tokens_and_the_next_engine_runs():
    h = Harness()
    context_full = EngineError("llama_decode failed: the context is full (n_ctx 64)")
    ref = made(FakeEngine(h.clock), "fake-ref")
    failing = made(FakeEngine(h.clock, fail=(3, 2, context_full)), "fake-cpu")  # warmup, run 1, then run 2 fails
    gpu = made(FakeEngine(h.clock, backend="webgpu"), "fake-gpu")
    result = h.run(settings(engines=["fake-ref", "fake-cpu", "fake-gpu"]), [ref, failing, gpu])
    row = by_test(result, "fake-cpu")
    assert row["error"].startswith("fake engine wasm-cpu: run 2/3 failed after 2 tokens (context): llama_decode failed")
    assert len(row["runs"]) == 2 and row["runs"][1]["token_ids"] == [5, 6] and row["runs"][1]["stop_reason"] == "context"
    assert row["summary"]["tokens"]["n"] == 1  # the failed run is kept, not summarised
    assert row["correctness"] is None and failing.unloaded
    assert by_test(result, "fake-gpu")["error"] is None and len(by_test(result, "fake-gpu")["runs"]) == 3
    assert any("ERROR" in line and "fake engine wasm-cpu" in line for line in h.lines)
    assert h.progress[-1] == pytest.approx(1.0)


def test_a_failing_load_is_the_rows_error():
    h = Harness()

    class NoLoad(FakeEngine):
        async def load(self, model: Model) -> dict[str, float]:
            raise HostJsException("TypeError: failed to fetch the model")

    engine = made(NoLoad(h.clock), "fake-cpu")
    row = by_test(h.run(settings(), [engine]), "fake-cpu")
    assert row["error"] == "TypeError: failed to fetch the model" and row["runs"] == [] and engine.unloaded


@pytest.mark.parametrize(("kw", "model_kw", "words"), [
    ({}, {"refusals": {"fake-cpu": "its tensor type Q4_1 is not supported."}}, "Q4_1"),
    ({"refuse": "this browser has no JSPI"}, {}, "JSPI"),
    ({"refuse_async": "its WebGPU adapter lacks shader-f16"}, {}, "shader-f16"),
    ({"context": 8}, {}, "the prompt (3 tokens) plus max tokens (6) is 9 tokens, more than fake engine wasm-cpu's context of 8"),
])
def test_a_refusal_is_an_unsupported_row_decided_before_loading(kw, model_kw, words):
    h = Harness()
    ref = made(FakeEngine(h.clock), "fake-ref")
    refused = made(FakeEngine(h.clock, **kw), "fake-cpu")
    result = h.run(settings(), [ref, refused], model(**model_kw))
    row = by_test(result, "fake-cpu")
    assert words in row["unsupported"] and row["error"] is None
    assert refused.calls == [] and not refused.loaded  # never loaded, never run
    assert row["runs"] == [] and h.browser.labels == ["fake engine wasm-cpu"]  # only the reference opened a bucket
    assert by_test(result, "fake-ref")["runs"] and h.progress[-1] == pytest.approx(1.0)
    bench.check_some_engine_ran(result)  # one engine ran: no error


def test_a_row_needing_what_the_runtime_lacks_is_unsupported_before_loading():
    h = Harness()
    ref = made(FakeEngine(h.clock), "fake-ref")
    gpu = made(FakeEngine(h.clock), "fake-gpu")  # its variant declares needs=("webgpu",)
    result = h.run(settings(), [ref, gpu], features={"webgpu": False, "jspi": True})
    row = by_test(result, "fake-gpu")
    assert row["unsupported"] == "this runtime lacks webgpu, which the row needs"
    assert gpu.calls == [] and not gpu.loaded and by_test(result, "fake-ref")["runs"]
    h2 = Harness()  # the same runtime with WebGPU runs the row
    result = h2.run(settings(), [made(FakeEngine(h2.clock), "fake-ref"), made(FakeEngine(h2.clock), "fake-gpu")],
                    features={"webgpu": True})
    assert by_test(result, "fake-gpu")["unsupported"] is None and by_test(result, "fake-gpu")["runs"]


def test_a_feature_missing_at_page_load_is_asked_again_before_the_row_is_refused():
    # On a real GPU the page's first requestAdapter() can answer null and a later one the adapter.
    h = Harness()
    h.browser.features = {"webgpu": True}
    result = h.run(settings(), [made(FakeEngine(h.clock), "fake-ref"), made(FakeEngine(h.clock), "fake-gpu")],
                   features={"webgpu": False})
    assert by_test(result, "fake-gpu")["unsupported"] is None and by_test(result, "fake-gpu")["runs"]


def test_when_every_engine_is_refused_the_benchmark_says_why():
    h = Harness()
    result = h.run(settings(engines=["fake-cpu"]), [made(FakeEngine(h.clock, refuse="no JSPI"), "fake-cpu")])
    with pytest.raises(SettingsError, match="no engine could run: fake engine wasm-cpu: no JSPI"):
        bench.check_some_engine_ran(result)


def test_correctness_against_the_reference_greedy_forced_and_perplexity():
    h = Harness()
    ref = made(FakeEngine(h.clock), "fake-ref")
    wrong = made(FakeEngine(h.clock, language=WRONG_LANGUAGE), "fake-cpu")
    result = h.run(settings(), [ref, wrong], tokenizer=FakeTokenizer())
    r, w = by_test(result, "fake-ref")["correctness"], by_test(result, "fake-cpu")["correctness"]
    assert by_test(result, "fake-ref")["is_reference"] and not by_test(result, "fake-cpu")["is_reference"]
    assert by_test(result, "fake-cpu")["output_text"] == " c d e g h i"  # the tokenizer of record's text
    assert (r["greedy_match"], r["first_divergence"], r["forced_top1_agreement"]) == (1.0, None, 1.0)
    assert r["runs_identical"] and r["forced_positions"] == 6
    # wrong says 5 6 7 9 10 11 for 5 6 7 8 9 10: half the greedy ids, 5 of 6 teacher-forced positions.
    assert (w["greedy_match"], w["first_divergence"]) == (0.5, 3)
    assert w["forced_top1"] == [5, 6, 7, 9, 9, 10] and w["forced_top1_agreement"] == pytest.approx(5 / 6)
    # The passage "c d e f" after BOS: each token's log-probability in its language.
    high, low = math.log(0.9), math.log(0.1 / 15)
    assert r["perplexity"] == pytest.approx(correctness.perplexity([low, high, high, high]))
    assert w["perplexity"] == pytest.approx(correctness.perplexity([low, high, high, low]))
    assert w["perplexity"] > r["perplexity"] and w["reference_perplexity"] == r["perplexity"] == r["reference_perplexity"]
    assert r["perplexity_tokens"] == 4


def test_without_the_reference_there_is_nothing_to_check_against():
    h = Harness()
    row = by_test(h.run(settings(engines=["fake-cpu"]), [made(FakeEngine(h.clock), "fake-cpu")]), "fake-cpu")
    assert row["correctness"]["note"].startswith("llama.cpp was not run") and "greedy_match" not in row["correctness"]


def test_sweeps_add_pp_and_tg_rows_after_the_chat_row():
    h = Harness()
    ref = made(FakeEngine(h.clock, context=40), "fake-ref")
    s = settings(passage="k l m", n_prompt=[5, 64], n_gen=[4], depth=[0, 3], forced_tokens=0, perplexity=False,
                 runs=2)
    result = h.run(s, [ref], tokenizer=FakeTokenizer())
    assert [r["test"] for r in result["rows"]] == ["chat", "pp5", "pp64", "tg4", "tg4 @ d3"]
    pp = by_test(result, "fake-ref", "pp5")
    assert (pp["n_prompt"], pp["n_gen"], pp["n_depth"]) == (5, 1, 0) and len(pp["warmups"]) == 1 and len(pp["runs"]) == 2
    assert pp["runs"][0]["prompt_tokens"] == 5 and pp["summary"]["prefill_tok_s"]["mean"] == pytest.approx(5 / 0.010)
    assert pp["correctness_from"] == "chat" and pp["correctness"] is by_test(result, "fake-ref")["correctness"]
    assert "64 tokens" in by_test(result, "fake-ref", "pp64")["unsupported"]  # more than its context of 40
    tg = by_test(result, "fake-ref", "tg4 @ d3")
    # Its prompt is exactly 3 ids of the passage ("k l m" after BOS: 1 13 14); the end token is run through.
    assert tg["runs"][0]["token_ids"] == [15, EOS, 3, 4] and tg["runs"][0]["stop_reason"] == "max tokens"
    assert tg["summary"]["decode_tok_s"]["mean"] == pytest.approx(1000 / TOKEN_MS)
    assert all(r["console_errors"] == by_test(result, "fake-ref")["console_errors"] for r in result["rows"])
    assert h.progress[-1] == pytest.approx(1.0) and not any("in_progress" in r for r in result["rows"])


def test_an_engine_that_takes_text_is_driven_and_checked_by_text():
    h = Harness()
    ref = made(FakeEngine(h.clock), "fake-ref")
    text = made(FakeTextEngine(h.clock), "faketext-cpu")
    result = h.run(settings(engines=["fake-ref", "faketext-cpu"], forced_tokens=4), [ref, text],
                   tokenizer=FakeTokenizer())
    row = by_test(result, "faketext-cpu")
    assert text.texts == ["a b"] * 4  # the rendered prompt text, not ids: 1 warmup + 3 runs
    run = row["runs"][0]
    assert run["token_ids"] == [5, 6, 7, 8, 9, 10]
    assert run["token_times_ms"][1] - run["token_times_ms"][0] == TOKEN_MS  # the engine's own stamps
    assert run["prefill_end_ms"] == run["token_times_ms"][0]  # prefill ends with the first token
    c = row["correctness"]
    assert c["forced_method"] == "text-prefix" and c["forced_positions"] == 4 and c["forced_skipped"] == {}
    assert c["forced_top1_agreement"] == 1.0 and c["greedy_match"] == 1.0
    assert c["perplexity"] is None and "prompt" in c["perplexity_note"]
    assert [r["run"] for r in c["text_engine_runs"]] == ["warmup 1", "run 1", "run 2", "run 3"]
    assert all(r["ids_give_text"] and r["prompt_tokens"] == 3 for r in c["text_engine_runs"])
    assert row["notes"] == [f"perplexity {c['perplexity_note']}"] and h.progress[-1] == pytest.approx(1.0)


def test_a_text_engine_that_counts_the_prompt_differently_is_not_counted_and_says_so():
    h = Harness()
    ref = made(FakeEngine(h.clock), "fake-ref")
    text = made(FakeTextEngine(h.clock, extra_prompt_tokens=1), "faketext-cpu")
    row = by_test(h.run(settings(engines=["fake-ref", "faketext-cpu"], forced_tokens=3, warmup=0, runs=1),
                        [ref, text], tokenizer=FakeTokenizer()), "faketext-cpu")
    c = row["correctness"]
    assert c["forced_positions"] == 0 and c["forced_top1"] == [None, None, None]
    assert c["forced_skipped"]["0"] == "fake text engine counted 4 prompt tokens, not 3"
    assert any("counted 4 prompt tokens" in n for n in row["notes"])


def test_run_benchmark_opens_the_tokenizer_makes_the_result_and_runs_every_engine():
    h = Harness()
    tokenizer = FakeTokenizer()
    engines: list[FakeEngine] = []
    published: list[int] = []

    async def open_tokenizer(m: Model, site: dict[str, Any]) -> FakeTokenizer:
        return tokenizer

    def make_engines(keys: list[str], site: dict[str, Any], s: BenchSettings) -> list[FakeEngine]:
        engines.extend(made(FakeEngine(h.clock), key) for key in keys)
        return engines

    s = settings(warmup=0, runs=1, perplexity=False)
    result = asyncio.run(bench.run_benchmark(
        s, model(), {"site": "fake"}, {"browser": "host"}, [], lambda f, m: h.progress.append(f), h.lines.append,
        h.controller, extra={"node": "here"}, on_result=lambda r: published.append(len(r["rows"])),
        browser=h.browser, open_tokenizer=open_tokenizer, make_engines=make_engines))
    assert published == [0]  # handed over before any row ran
    assert result["prompt_ids"] == [BOS, 3, 4] and result["passage_ids"] == [BOS, 5, 6, 7, 8]
    assert result["prompt_format"] == "raw" and result["prompt_text"] == "a b" and result["stop_ids"] == [EOS]
    assert result["tokenizer"] == "fake words tokenizer" and result["node"] == "here"
    assert [r["key"] for r in result["rows"]] == ["fake-ref", "fake-cpu"] and all(r["runs"] for r in result["rows"])
    assert tokenizer.closed and all(e.unloaded for e in engines)
    assert result["rows"][1]["correctness"]["greedy_match"] == 1.0


def test_a_rows_own_memory_counts_from_before_any_engine_loaded_not_from_an_unfreed_predecessor():
    """The page gives an unloaded engine's memory back some time later: the second row's own memory is counted
    from the least the page held before any engine loaded, not from the figure inflated by the first row."""
    h = Harness(memory_bytes=1000)

    class Grows(FakeEngine):
        def __init__(self, clock, grow: int, browser) -> None:
            super().__init__(clock, browser=browser)
            self.grow = grow

        async def load(self, model: Model) -> dict[str, float]:
            out = await super().load(model)
            self.browser.memory_bytes += self.grow
            return out

        async def unload(self) -> None:  # not given back before the next row loads
            self.unloaded = True

    ref = made(Grows(h.clock, 400, h.browser), "fake-ref")
    cpu = made(Grows(h.clock, 300, h.browser), "fake-cpu")
    result = h.run(settings(warmup=0, runs=1, forced_tokens=0), [ref, cpu])
    first, second = by_test(result, "fake-ref")["memory"], by_test(result, "fake-cpu")["memory"]
    assert first["page_bytes_before_load"] == 1000 and first["engine_bytes_peak"] == 400
    assert second["page_bytes_before_load"] == 1000  # the floor, not the 1400 the page held just before
    assert second["page_bytes_peak"] == 1700 and second["engine_bytes_peak"] == 700  # the unfreed 400 is counted


def test_a_perplexity_too_large_for_a_float_is_said_in_words_and_the_result_stays_valid_json():
    """Random weights (the synthetic models) give the passage a mean negative log-likelihood past 700 nats: exp()
    overflows, and JSON has no Infinity. The result says how large instead, and stays readable by compare."""
    import json

    h = Harness()

    class Hopeless(FakeEngine):
        async def teacher_forced(self, prefix, continuation):
            return [(0, -5000.0) for _ in continuation]

    ref = made(Hopeless(h.clock), "fake-ref")
    result = h.run(settings(engines=["fake-ref"]), [ref], tokenizer=FakeTokenizer())
    c = by_test(result, "fake-ref")["correctness"]
    assert c["perplexity"] is None and c["reference_perplexity"] is None
    assert c["perplexity_mean_nll"] == pytest.approx(5000.0)
    assert c["perplexity_note"] == ("too large to hold as a number: the passage's mean negative log-likelihood is "
                                    "5,000 nats (perplexity e^5,000)")
    json.loads(json.dumps(result, allow_nan=False))  # no Infinity, no NaN
