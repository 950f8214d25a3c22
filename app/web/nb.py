"""What a notebook cell needs to drive the engine and the benchmark in a few lines.

    from app.web import nb
    model = await nb.default_model()                # or await nb.load_model("gemma3-270m"); nb.models() lists them
    flare = await nb.flare_engine(model)            # app.engines.flare.engine.FlareEngine
    ids = await nb.prompt_ids(model, "What is the capital of France?")   # llama.cpp's ids, the model's template
    ids = nb.chat_ids(flare, "What is the capital of France?")
    async for token_id, text, ms in nb.stream(flare, ids, 24): print(text, end="")   # whole characters
    result = await nb.benchmark(max_tokens=8, runs=2)   # shows the page's table and charts
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import to_js  # type: ignore[import-not-found]

from app.core import report
from app.core.chartdata import chart_data
from app.core.chat import chatml
from app.core.progress_lines import ProgressPrinter
from app.core.settings import DEFAULT_MODEL, BenchSettings
from app.core.textstream import IncrementalDecoder
from app.web import environment, jsbridge, modelsource
from app.web.bench import Controller, render_prompt, run_benchmark
from app.engines.flare.engine import FlareEngine
from app.engines.protocol import Model
from app.web.tokenizer import LlamaCppTokenizer

_site: dict[str, Any] | None = None
_manifest: dict[str, Any] | None = None


async def site() -> dict[str, Any]:
    global _site, _manifest
    if _manifest is None:
        _manifest = json.loads(await jsbridge.fetch_text("manifest.json"))
        _site = _manifest["site"]
    return _site  # type: ignore[return-value]


def models() -> list[dict[str, Any]]:
    """The embedded models: [{id, name, format, size (bytes), facts}] (call `await nb.site()` first, or any loader)."""
    if _site is None:
        raise RuntimeError("await nb.site() first (or nb.load_model())")
    return [{k: m.get(k) for k in ("id", "name", "format", "size", "facts")} for m in _site.get("models") or [_site["model"]]]


async def load_model(model_id: str | None = None) -> Model:
    """An embedded model by id (nb.models(); default SmolLM2-135M-Instruct Q8_0). Bytes stay in JS memory, cached in OPFS."""
    s = await site()
    info = modelsource.find_site_model(s, model_id or DEFAULT_MODEL)
    model, fetch = await modelsource.site_model(info, {f["path"]: f for f in _manifest["files"]})  # type: ignore[index]
    print(f"{model.name}: {model.size / 1e6:.1f} MB from {fetch['source']} in {fetch['fetch_ms']:.0f} ms")
    return model


async def default_model() -> Model:
    """The embedded SmolLM2-135M-Instruct Q8_0."""
    return await load_model(DEFAULT_MODEL)


async def tokenizer(model: Model) -> LlamaCppTokenizer:
    """llama.cpp as the tokenizer of record for `model` (encode / decode / eog_ids); `await tok.close()` when done."""
    return await LlamaCppTokenizer.open(model, await site())


async def prompt_ids(model: Model, prompt: str, system: str | None = None) -> list[int]:
    """The ids every engine gets for this chat turn: the model's own template (or the raw prompt), llama.cpp's tokens."""
    tok = await tokenizer(model)
    try:
        return await tok.encode(render_prompt(BenchSettings(prompt=prompt, system=system or ""), model).text)
    finally:
        await tok.close()


async def flare_engine(model: Model, webgpu: bool = False) -> FlareEngine:
    engine = FlareEngine((await site())["flare"], webgpu=webgpu)
    times = await engine.load(model)
    print(f"flare-web {engine.backend} loaded: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    return engine


def chat_ids(engine: FlareEngine, user: str, system: str = "You are a helpful assistant.") -> list[int]:
    tokenizer = engine.tokenizer
    return [int(x) for x in tokenizer.encode(chatml(user, system)).to_py()]


def _decoder(engine: FlareEngine) -> IncrementalDecoder:
    tokenizer = engine.tokenizer
    return IncrementalDecoder(lambda ids: str(tokenizer.decode(js.Uint32Array.new(to_js(ids)))) if ids else "")


async def stream(engine: FlareEngine, prompt_ids: list[int], max_tokens: int = 32) -> AsyncIterator[tuple[int, str, float]]:
    """Yield (token id, its text, ms since the previous token or since prefill began).

    The text is decoded incrementally (app.core.textstream): a token inside a multi-byte character
    yields "" and the token that completes it yields the whole character, so joining the pieces
    gives the same text as decoding all the ids at once. The last token's piece carries any rest.
    """
    await engine.reset()
    decoder = _decoder(engine)
    last = jsbridge.now_ms()
    await engine.prefill(prompt_ids, max_tokens)
    produced = 0
    while True:
        token = await engine.next_token()
        now = jsbridge.now_ms()
        if token is None:
            rest = decoder.flush()
            if rest:  # the stream ended inside a character (rare): its bytes, as U+FFFD, with no new token
                yield -1, rest, 0.0
            return
        produced += 1
        piece = decoder.push(token)
        if produced >= max_tokens:
            piece += decoder.flush()
        yield token, piece, now - last
        last = now


class BenchResult:
    """A benchmark result: the JSON dict, shown in a notebook as the page's table and charts."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def _repr_html_(self) -> str:
        charts = json.dumps(chart_data(self.data)).replace("</", "<\\/")
        import html

        return (report.to_html(self.data)
                + f'<div class="bench-charts" data-bench-charts="{html.escape(charts, quote=True)}"></div>')

    def __repr__(self) -> str:
        return report.to_markdown(self.data)


async def benchmark(**settings: Any) -> BenchResult:
    """The page's benchmark with these settings (see app.core.settings.BenchSettings; `model="gemma3-270m"`
    picks an embedded model), progress printed."""
    s = BenchSettings.from_dict(settings)
    site_info = await site()
    model = await load_model(s.model)
    printer = ProgressPrinter(print)
    result = await run_benchmark(s, model, site_info, await environment.collect(site_info), site_info["pins"],
                                 printer.progress, printer.log, Controller())
    return BenchResult(result)
