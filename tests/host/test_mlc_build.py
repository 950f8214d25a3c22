"""MLC's build hook without TVM: refusals in words, and the planned site from a cached build (what the page gets)."""

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.engines.mlc.host import build as mlc_build
from app.engines.mlc.host import pipeline


def _run(*args):
    return subprocess.run([sys.executable, "build.py", *args], capture_output=True, text=True, timeout=120, check=False)


def test_bad_mlc_arguments_end_in_one_line_and_exit_2(tmp_path):
    proc = _run("--mlc", str(tmp_path / "nowhere"), "--dist", str(tmp_path / "d"))
    assert proc.returncode == 2 and "no such folder (give an mlc-llm checkout)" in proc.stderr
    proc = _run("--mlc", str(tmp_path), "--mlc-quantizations", "q4f16_1", "--dist", str(tmp_path / "d"))
    assert proc.returncode == 2 and "use q0f32, q0f16 or both" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_folder_that_is_not_mlc_llm_is_named(tmp_path, monkeypatch):
    # Whatever is installed here, the first missing prerequisite is named with the command that fixes it.
    with pytest.raises(pipeline.MlcBuildError) as err:
        pipeline.build(tmp_path / "m.gguf", tmp_path, tmp_path / "out", ("q0f32",), log=lambda _: None)
    text = str(err.value)
    assert ("pip install -e '.[mlc]'" in text or "is not an mlc-llm checkout" in text
            or "apt-get install emscripten" in text), text


class _Planned:
    def __init__(self, path: Path, digest: str = "ab" * 32):
        self.path, self.source, self._digest = path, path, digest

    def digest(self):
        return self._digest

    def size(self):
        return self.path.stat().st_size


class _Builder:
    """The few Builder members the hook uses (app/host/build.py), over a temporary cache."""

    def __init__(self, root: Path, gguf: Path):
        self.cache = SimpleNamespace(root=root)
        self.files = {"models/smollm2-135m-instruct.q8_0.gguf": _Planned(gguf)}
        self.mlc = None
        self.mlc_quantizations = ()
        self.log = lambda _: None

    def planned(self, path):
        return self.files[path]

    def add(self, path, source, origin, sha256=""):
        self.files[path] = _Planned(Path(source), "cd" * 32)


def _cached_build(root: Path, quant: str = "q0f32") -> Path:
    derived = root / "derived" / f"mlc-{'ab' * 8}-{mlc_build.MLC_RECIPE}-{quant}"
    model = derived / f"M-{quant}"
    model.mkdir(parents=True)
    for name in ("mlc-chat-config.json", "tensor-cache.json", "params_shard_0.bin"):
        (model / name).write_text("x")
    (derived / f"M-{quant}-webgpu.wasm").write_text("wasm")
    record = {"apache_tvm": "0.27.0.post1", "models": {quant: {
        "model_id": f"M-{quant}", "dir": f"M-{quant}", "lib": f"M-{quant}-webgpu.wasm", "required_features": [],
        "context_window_size": 4096, "weight_files": ["params_shard_0.bin"], "weights_sha256": "ef" * 32,
        "weights_check": "all 1 shards equal"}}}
    (derived / "mlc-build.json").write_text(json.dumps(record))
    (derived / ".complete").write_text("")
    return derived


def test_a_cached_build_is_served_under_resolve_main_without_the_mlc_source(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    _cached_build(tmp_path)
    builder = _Builder(tmp_path, gguf)
    site = {"importmap": {"imports": {}}, "mlc": {"version": "0.2.86", "models": {}}}
    mlc_build.plan_model(builder, site)
    model = site["mlc"]["models"]["q0f32"]
    assert model["dir"] == "models/mlc/M-q0f32" and model["lib"] == "models/mlc/M-q0f32-webgpu.wasm"
    # web-llm fetches <model>/resolve/main/<file>
    assert "models/mlc/M-q0f32/resolve/main/tensor-cache.json" in builder.files
    assert model["weights_format"].startswith("MLC q0f32 (float32") and model["source_gguf_sha256"] == "ab" * 32
    assert site["mlc"]["model"] == ["q0f32"]  # the page's checkbox is enabled


def test_no_cached_build_and_no_source_leaves_the_rows_to_say_how(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    site = {"importmap": {"imports": {}}, "mlc": {"version": "0.2.86", "models": {}}}
    mlc_build.plan_model(_Builder(tmp_path, gguf), site)
    assert site["mlc"]["models"] == {} and "model" not in site["mlc"]


def test_each_quantization_is_cached_apart_so_one_build_never_hides_another(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    _cached_build(tmp_path, "q0f32")
    _cached_build(tmp_path, "q0f16")
    builder = _Builder(tmp_path, gguf)
    builder.mlc_quantizations = ("q0f16",)  # what a later `--mlc-quantizations q0f16` asks: q0f32 stays served
    site = {"importmap": {"imports": {}}, "mlc": {"version": "0.2.86", "models": {}}}
    mlc_build.plan_model(builder, site)
    assert site["mlc"]["model"] == ["q0f16", "q0f32"]
