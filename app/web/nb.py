"""What a notebook cell needs to drive the engine and the benchmark in a few lines.

    from app.web import nb
    model = await nb.default_model()
    flare = await nb.flare_engine(model)            # app.web.engines.flare_engine.FlareEngine
    ids = nb.chat_ids(flare, "What is the capital of France?")
    async for token_id, text, ms in nb.stream(flare, ids, 24): print(text, end="")
    result = await nb.benchmark(max_tokens=8, runs=2)   # shows the page's table and charts
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from app.core import report
from app.core.chartdata import chart_data
from app.core.chat import chatml
from app.core.settings import BenchSettings
from app.web import environment, jsbridge, modelsource
from app.web.bench import Benchmark, Controller, make_engines, new_result
from app.web.engines.base import Model
from app.web.engines.flare_engine import FlareEngine

_site: dict[str, Any] | None = None
_manifest: dict[str, Any] | None = None


async def site() -> dict[str, Any]:
    global _site, _manifest
    if _manifest is None:
        _manifest = json.loads(await jsbridge.fetch_text("manifest.json"))
        _site = _manifest["site"]
    return _site  # type: ignore[return-value]


async def default_model() -> Model:
    """The embedded SmolLM2-135M-Instruct Q8_0 (bytes stay in JS memory; cached in OPFS)."""
    s = await site()
    model, fetch = await modelsource.site_model(s["model"], {f["path"]: f for f in _manifest["files"]})  # type: ignore[index]
    print(f"{model.name}: {model.size / 1e6:.1f} MB from {fetch['source']} in {fetch['fetch_ms']:.0f} ms")
    return model


async def flare_engine(model: Model, webgpu: bool = False) -> FlareEngine:
    engine = FlareEngine((await site())["flare"], webgpu=webgpu)
    times = await engine.load(model)
    print(f"flare-web {engine.backend} loaded: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    return engine


def chat_ids(engine: FlareEngine, user: str, system: str = "You are a helpful assistant.") -> list[int]:
    tokenizer = engine.tokenizer
    return [int(x) for x in tokenizer.encode(chatml(user, system)).to_py()]


async def stream(engine: FlareEngine, prompt_ids: list[int], max_tokens: int = 32) -> AsyncIterator[tuple[int, str, float]]:
    """Yield (token id, its text, ms since the previous token or since prefill began)."""
    await engine.reset()
    last = jsbridge.now_ms()
    await engine.prefill(prompt_ids, max_tokens)
    while True:
        token = await engine.next_token()
        now = jsbridge.now_ms()
        if token is None:
            return
        yield token, str(engine.tokenizer.decode_one(token)), now - last
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
    """The page's benchmark with these settings (see app.core.settings.BenchSettings), progress printed."""
    s = BenchSettings.from_dict(settings)
    site_info = await site()
    model = await default_model()
    result = await new_result(s, model, site_info, await environment.collect(site_info), site_info["pins"])
    last = [-1.0]

    def progress(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.1 or fraction >= 1:
            last[0] = fraction
            print(f"[{fraction:4.0%}] {message}")

    bench = Benchmark(s, model, result["prompt_ids"], result["passage_ids"], progress, print, Controller())
    await bench.run(make_engines(s.engines, site_info, s), result)
    return BenchResult(result)
