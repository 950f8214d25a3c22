"""Issue 18: an engine is one folder. The registry, the spec checks, the one protocol, and the rule that an
engine's keys are spelled only inside its folder (app/ and web/, tests and docs aside)."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import types
from pathlib import Path

import pytest

from app import engines
from app.engines.protocol import EngineBase, check_engine_class, protocol_problems
from app.engines.spec import CanRun, Drive, EngineSpec, SpecError, Variant

ROOT = Path(__file__).resolve().parents[2]
SOURCE_SUFFIXES = {".py", ".js", ".mjs", ".html", ".toml", ".json"}


def test_every_folder_registers_once_with_one_reference_first():
    names = {p.name for p in (ROOT / "app" / "engines").iterdir() if (p / "__init__.py").is_file()}
    assert {s.name for s in engines.SPECS} == names
    assert len(engines.ENGINE_KEYS) == len(set(engines.ENGINE_KEYS))
    assert engines.ENGINE_KEYS[0] == engines.REFERENCE_KEY
    assert [k for k, v in engines.BY_KEY.items() if v.reference] == [engines.REFERENCE_KEY]
    for spec in engines.SPECS:
        for name in spec.js:
            assert (ROOT / "app" / "engines" / spec.name / name).is_file(), f"{spec.name} declares missing {name}"


def test_each_engine_key_is_spelled_only_inside_its_own_folder():
    files = [p for top in ("app", "web") for p in (ROOT / top).rglob("*")
             if p.is_file() and p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts]
    strays = []
    for spec in engines.SPECS:
        home = ROOT / "app" / "engines" / spec.name
        for variant in spec.variants:
            if variant.key == spec.name:
                continue  # a key that is also the folder's name (null) is an ordinary word elsewhere
            for path in files:
                if home not in path.parents and variant.key in path.read_text(errors="replace"):
                    strays.append(f"{variant.key} in {path.relative_to(ROOT)}")
    assert strays == []


def test_cpu_and_gpu_selections_come_from_the_declared_backends():
    webgpu = engines.keys_with_backend("webgpu")
    cpu = engines.keys_with_backend("wasm-cpu")
    assert webgpu and cpu and not set(webgpu) & set(cpu)
    for key in webgpu:
        assert "webgpu" in engines.BY_KEY[key].needs
    assert engines.REFERENCE_KEY in cpu


def test_a_runtime_missing_a_declared_feature_refuses_the_row_in_words():
    webgpu_key = engines.BY_KEY[engines.keys_with_backend("webgpu")[0]]
    assert engines.missing_features(webgpu_key, None) is None  # unknown features: no verdict
    everything = dict.fromkeys(("webgpu", "shader-f16", "jspi", "memory64", "shared-array-buffer"), True)
    assert engines.missing_features(webgpu_key, everything) is None
    reason = engines.missing_features(webgpu_key, {**everything, "webgpu": False})
    assert reason is not None and "webgpu" in reason


def _spec(**changes):
    base = {"name": "x", "title": "x", "variants": (Variant("x-wasm", "x", "wasm-cpu", "#000000"),),
            "factory": "app.engines.x.engine:make"}
    return EngineSpec(**{**base, **changes})


@pytest.mark.parametrize("changes, words", [
    ({"variants": ()}, "no variants"),
    ({"variants": (Variant("x-gpu", "x", "webgpu", "#000000"),)}, "must list 'webgpu'"),
    ({"variants": (Variant("x-gpu", "x", "tpu", "#000000"),)}, "backend 'tpu'"),
    ({"variants": (Variant("x-wasm", "x", "wasm-cpu", "#000000", needs=("warp-drive",)),)}, "unknown browser feature"),
    ({"drive": Drive(takes_text=True, correctness="forced-ids")}, "cannot be forced by ids"),
    ({"drive": Drive(correctness="vibes")}, "correctness 'vibes'"),
    ({"factory": "no_colon"}, "module:function"),
])
def test_a_spec_that_contradicts_itself_is_refused_when_it_registers(changes, words):
    with pytest.raises(SpecError, match=words):
        _spec(**changes).check()
    _spec().check()  # the unchanged base passes


class _Half(EngineBase):
    engine = "half"

    async def load(self, model):
        return {}


def test_a_class_missing_protocol_members_is_named_member_by_member():
    problems = protocol_problems(_Half)
    assert "no async method 'next_token'" in problems and "no method 'info'" in problems
    assert not any("prefill_text" in p for p in problems)  # EngineBase gives the optional ones
    with pytest.raises(TypeError, match="does not meet the Engine protocol.*next_token"):
        check_engine_class(_Half, "tests:_Half")


@pytest.fixture
def fake_browser_modules(monkeypatch):
    """Just enough of `js` and `pyodide` for the engine modules to import on the host (they run in Pyodide)."""
    js = types.ModuleType("js")
    pyodide = types.ModuleType("pyodide")
    ffi = types.ModuleType("pyodide.ffi")
    code = types.ModuleType("pyodide.code")
    ffi.JsException = type("JsException", (Exception,), {})
    ffi.JsProxy = object
    ffi.to_js = ffi.create_proxy = lambda *a, **k: None
    code.run_js = lambda source: (lambda *a: None)
    code.eval_code_async = None
    pyodide.ffi, pyodide.code = ffi, code
    for name, module in (("js", js), ("pyodide", pyodide), ("pyodide.ffi", ffi), ("pyodide.code", code)):
        monkeypatch.setitem(sys.modules, name, module)
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:  # engine modules imported against the fakes are not kept
        if name.startswith("app."):
            sys.modules.pop(name, None)


def test_every_engine_class_meets_the_one_protocol(fake_browser_modules):
    for spec in engines.SPECS:
        module_name, _, factory_name = spec.factory.partition(":")
        module = importlib.import_module(module_name)
        factory = getattr(module, factory_name)
        made = inspect.signature(factory).return_annotation
        cls = getattr(module, made) if isinstance(made, str) else made
        assert protocol_problems(cls) == [], f"{spec.name}: {cls.__name__}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_the_pure_parts_of_an_engine_folder_import_no_browser_and_no_host():
    pure = [ROOT / "app" / "engines" / n for n in ("__init__.py", "spec.py", "protocol.py")]
    for spec in engines.SPECS:
        folder = ROOT / "app" / "engines" / spec.name
        # engine.py / loader.py run in Pyodide; host/ is the build side, left out of the app wheel.
        pure += [p for p in folder.glob("*.py") if p.name not in ("engine.py", "loader.py")]
        for path in folder.glob("*.py"):
            bad = {m for m in _imports(path) if m.startswith("app.host")}
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}: host code belongs in {spec.name}/host/"
        if spec.build:
            assert spec.build.startswith(f"app.engines.{spec.name}.host."), spec.build
    for path in pure:
        bad = {m for m in _imports(path) if m in ("js", "pyodide") or m.startswith(("pyodide.", "app.web", "app.host"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
    for path in (ROOT / "app" / "core").glob("*.py"):
        bad = {m for m in _imports(path) if m.startswith(("app.web", "app.host"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_header_refusals_come_from_each_folders_rule():
    rules = {s.name for s in engines.SPECS if s.can_run.header_problems is not None}
    assert rules and all(isinstance(s.can_run, CanRun) for s in engines.SPECS)
    assert engines.engines_help().count(":") == len(engines.SPECS)
