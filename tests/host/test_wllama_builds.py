"""Builds for browsers without Memory64 or JSPI (WebKit): which wllama build each llama.cpp row loads, what is
served, what the rows declare, and how the table says which build ran. Decided without a browser."""

from __future__ import annotations

from app import engines
from app.core import report
from app.engines.llamacpp import support
from app.engines.llamacpp.host import build as llamacpp_build
from app.engines.llamacpp3.host import build as llamacpp3_build
from app.host import pins as pinlib

SITE = {"wllama": {"version": "2.4.0"}, "wllama-wasm32": {"version": "2.3.7"}}


def test_the_reference_loads_the_wasm32_build_only_where_memory64_is_missing():
    chromium = {"memory64": True, "jspi": True, "shared-array-buffer": True}
    webkit = {"memory64": False, "jspi": False, "shared-array-buffer": True}
    assert support.choose_build(chromium) == "memory64"
    assert support.choose_build(webkit) == "wasm32"
    assert support.choose_build({}) == "wasm32"  # a browser that says nothing gets the build that runs anywhere
    assert support.build_record(SITE, "memory64") == {"build": "memory64", "version": "2.4.0",
                                                      "build_text": "wllama 2.4.0 Memory64 build"}
    wasm32 = support.build_record(SITE, "wasm32")
    assert wasm32["version"] == "2.3.7" and "without Memory64" in wasm32["build_text"]


def test_the_pins_hold_both_2x_builds_and_the_313_compatibility_build():
    pins = pinlib.load_pins()
    by_role = {role: pinlib.one(pins, role) for role in ("wllama", "wllama-wasm32", "wllama3", "wllama3-compat")}
    assert (by_role["wllama"].name, by_role["wllama"].version) == ("@wllama/wllama", "2.4.0")
    assert (by_role["wllama-wasm32"].name, by_role["wllama-wasm32"].version) == ("@wllama/wllama", "2.3.7")
    assert (by_role["wllama3-compat"].name, by_role["wllama3-compat"].version) == ("@wllama/wllama-compat", "3.13.0")
    assert by_role["wllama3"].version == "3.13.0"


class PlanRecorder:
    def __init__(self):
        self.planned: dict[str, dict[str, str]] = {}

    def plan_npm_files(self, role, mapping, site):
        self.planned[role] = mapping
        site[role] = {"version": "x", "files": list(mapping.values())}


def test_each_build_is_served_from_its_engine_folders_plan():
    recorder, site = PlanRecorder(), {}
    llamacpp_build.plan(recorder, site)
    llamacpp3_build.plan(recorder, site)
    for build in support.BUILDS.values():
        files = set(recorder.planned[build["role"]].values())
        assert files == {f"{build['dir']}/index.js", f"{build['dir']}/single-thread/wllama.wasm",
                         f"{build['dir']}/multi-thread/wllama.wasm"}
    assert set(recorder.planned["wllama3-compat"].values()) == {"vendor/wllama3-compat/wllama.js",
                                                                 "vendor/wllama3-compat/wllama.wasm"}
    assert set(site) == {"wllama", "wllama-wasm32", "wllama3", "wllama3-compat"}


def test_the_rows_declare_only_what_every_build_needs():
    # The reference needs Memory64 for one build only, and 3.13's CPU row JSPI + Memory64 for one build only:
    # neither declares them, so a browser without them runs the other build instead of refusing the row.
    reference = engines.BY_KEY[engines.REFERENCE_KEY]
    assert "memory64" not in reference.needs and "jspi" not in reference.needs
    for spec, variant in engines.VARIANTS:
        if spec.name == "llamacpp3":
            assert "memory64" not in variant.needs and "jspi" not in variant.needs
            if variant.backend == "webgpu":
                assert set(variant.needs) == {"webgpu", "shader-f16"}
    webkit = {"webgpu": False, "shader-f16": False, "jspi": False, "memory64": False, "shared-array-buffer": True}
    assert engines.missing_features(reference, webkit) is None
    gpu = next(v for s, v in engines.VARIANTS if s.name == "llamacpp3" and v.backend == "webgpu")
    assert "webgpu" in engines.missing_features(gpu, webkit)


def test_the_table_says_which_build_ran():
    row = {"engine": "llama.cpp (wllama)", "backend": "wasm-cpu", "is_reference": True, "test": "chat",
           "info": {"version": "2.3.7", "threads": 4, "build": "wasm32"}}
    assert report.row_cells(row)[1] == "wasm-cpu (wasm32), 4 threads"
    row["info"] = {"threads": 1}  # an engine with one build says nothing more
    assert report.row_cells(row)[1] == "wasm-cpu, 1 thread"
