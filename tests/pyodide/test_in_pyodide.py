"""run_in_pyodide: the app wheel, flare-web and the model, from Python inside Pyodide in Chromium."""

from __future__ import annotations

import pytest
from pytest_pyodide import run_in_pyodide

APP = "browser-llm-bench"  # the app wheel's name in pyodide-lock.json


@run_in_pyodide(packages=[APP])
def test_app_imports_in_pyodide(selenium):
    import sys

    import pytest

    import app
    from app.core.chat import chatml
    from app.web import jsbridge  # noqa: F401 - the browser seam must import where `js` exists

    assert sys.version_info[:2] == (3, 13)
    assert app.__version__
    assert chatml("hi").endswith("<|im_start|>assistant\n")
    with pytest.raises(ImportError):
        import app.host.build  # noqa: F401 - host code is left out of the browser wheel


@pytest.mark.driver_timeout(60)
@run_in_pyodide(packages=[APP])
async def test_flare_module_reachable_through_pyodide_ffi(selenium):
    import json

    from pyodide.ffi import JsProxy

    from app.web import jsbridge
    from app.engines.flare.loader import load_flare_module

    site = json.loads(await jsbridge.fetch_text("manifest.json"))["site"]
    module = await load_flare_module(site["flare"])
    assert isinstance(module, JsProxy)
    assert callable(module.FlareEngine.load) and callable(module.FlareTokenizer.from_json)
    assert isinstance(bool(module.webgpu_available()), bool)


@pytest.mark.model
@pytest.mark.driver_timeout(180)
@run_in_pyodide(packages=[APP])
async def test_model_loads_and_tokenizer_gives_llama_cpp_ids(selenium):
    import json

    from app.core.chat import chatml
    from app.web import jsbridge
    from app.engines.flare.loader import load_flare_module

    site = json.loads(await jsbridge.fetch_text("manifest.json"))["site"]
    flare = await load_flare_module(site["flare"])
    model_bytes = await jsbridge.fetch_bytes(site["model"]["gguf"])
    assert model_bytes.constructor.name == "Uint8Array"  # stays a JS object: never copied into Python
    engine = flare.FlareEngine.load(model_bytes)
    assert "llama" in str(engine.backend_info()).lower() or engine.backend_info()
    tokenizer = flare.FlareTokenizer.from_json(await jsbridge.fetch_text(site["model"]["tokenizer"]))
    ids = list(tokenizer.encode(chatml("What is the capital of France?")).to_py())
    assert ids == [1, 9690, 198, 2683, 359, 253, 5356, 11173, 30, 2, 198, 1, 4093, 198, 1780, 314, 260,
                   3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]
    # One greedy step on those ids: the engine really runs (correctness is the benchmark's job).
    engine.begin_stream_with_params(tokenizer.encode(chatml("What is the capital of France?")), 1, 0.0, 1.0, 1, 1.0, 0.0)
    first = await engine.next_token_async()
    assert isinstance(first, int) and 0 <= first < 49152
    engine.free()


@pytest.mark.model
@pytest.mark.driver_timeout(120)
@run_in_pyodide(packages=[APP])
async def test_model_bytes_without_opfs_fall_back_to_the_network(selenium):
    import json

    from app.web import jsbridge, modelsource

    manifest = json.loads(await jsbridge.fetch_text("manifest.json"))

    async def no_opfs():
        return None  # as in a browser without navigator.storage.getDirectory

    modelsource._opfs_dir = no_opfs
    model, fetch = await modelsource.site_model(manifest["site"]["model"], {f["path"]: f for f in manifest["files"]})
    assert fetch["source"] == "network" and fetch["opfs_available"] is False and "warm_fetch_ms" not in fetch
    assert model.size == 144811072 and model.tensor_types == {"Q8_0": 211, "F32": 61}


@pytest.mark.driver_timeout(60)
@run_in_pyodide(packages=[APP])
async def test_a_run_that_fails_mid_way_keeps_its_tokens_and_says_why(selenium):
    """An engine error after two tokens: the run keeps both ids and their timestamps, stop_reason 'error'.
    The stop set ends every engine at the same ids, uncounted; an engine that ends itself says 'engine end'."""
    import pytest

    from app.engines.protocol import EngineBase, EngineError
    from app.web import bench

    class Scripted(EngineBase):  # the protocol's defaults: ended_at_id None, no own token times
        key, engine, backend = "fake", "fake", "wasm-cpu"

        def __init__(self, script):
            self.script = script

        async def reset(self):
            self.left = list(self.script)

        async def prefill(self, ids, max_tokens):
            pass

        async def next_token(self):
            item = self.left.pop(0)
            if isinstance(item, Exception):
                raise item
            return item

        async def stop(self):
            pass

    failing = Scripted([5, 6, EngineError("llama_decode failed: the context is full (n_ctx 2048)")])
    with pytest.raises(bench.RunFailed) as caught:
        await bench.one_run(failing, 0, [1, 2, 3], 8, bench.Controller(), lambda n: None)
    run = caught.value.run
    assert run["token_ids"] == [5, 6] and len(run["token_times_ms"]) == 2
    assert run["stop_reason"] == "context" and run["stopped"] is True and "n_ctx 2048" in run["error"]

    run = await bench.one_run(Scripted([5, 2, 7]), 0, [1], 8, bench.Controller(), lambda n: None, frozenset({2}))
    assert run["token_ids"] == [5] and run["stop_reason"] == "end token"
    run = await bench.one_run(Scripted([5, None]), 0, [1], 8, bench.Controller(), lambda n: None, frozenset({2}), cold=True)
    assert run["token_ids"] == [5] and run["stop_reason"] == "engine end" and run["cold"] is True
    run = await bench.one_run(Scripted([5, 6, 7]), 0, [1], 2, bench.Controller(), lambda n: None)
    assert run["token_ids"] == [5, 6] and run["stop_reason"] == "max tokens"
