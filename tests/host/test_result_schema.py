"""Result schema v3: the JSON Schema file, app.core.result_schema.validate, the version history and the loaders.

Real results, trimmed (no model data): tests/host/data/result-v3.json (`python -m app bench` of llama.cpp, flare
CPU and flare WebGPU with a tg4 sweep, written and validated by the page; flare WebGPU a GPU ERROR on SwiftShader)
and tests/host/data/result-v2.json (the same engines with a pp16 sweep, written under schema_version 2)."""

from __future__ import annotations

import copy
import fnmatch
import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from app.core import result_schema, results
from app.host.pins import REPO_ROOT
from tests.host import synthetic as syn

V2_FILE = Path(__file__).parent / "data" / "result-v2.json"
V3_FILE = Path(__file__).parent / "data" / "result-v3.json"


def v2() -> dict:
    return json.loads(V2_FILE.read_text())


def real_v3() -> dict:
    """The real run as the current page writes it: the same fields, schema_version 3."""
    doc = v2()
    doc["schema_version"] = 3
    doc["field_docs"] = results.FIELD_DOCS
    return doc


def test_a_real_shaped_v3_result_validates_and_passes_check_result():
    for doc in (json.loads(V3_FILE.read_text()), real_v3()):
        assert doc["schema_version"] == 3
        assert result_schema.problems(doc) == []
        result_schema.validate(doc)
        results.check_result(doc)
    page = json.loads(V3_FILE.read_text())  # a GPU ERROR row and a sweep row are in it
    assert [r["gpu_errors"] is not None for r in page["rows"]] == [False, False, False, False, True, True]
    assert [r["test"] for r in page["rows"]] == ["chat", "tg4"] * 3


def test_synthetic_results_validate():
    rows = [
        syn.row(key="llamacpp-wasm", engine="llama.cpp (wllama)", reference=True),
        syn.row(run_list=syn.runs(20.0, 3, stopped_last=True)),
        syn.row(key="flare-webgpu", backend="webgpu", gpu_errors=2),
        syn.row(key="transformersjs-wasm", run_list=[], unsupported="not this model"),
        syn.row(run_list=syn.runs(20.0, 3, tokens=1, prompt_tokens=64), test="pp64", n_prompt=64, n_gen=1, n_depth=0),
    ]
    doc = syn.result(rows)
    assert doc["schema_version"] == 3
    result_schema.validate(doc)


def test_validate_never_changes_the_result():
    doc = real_v3()
    before = copy.deepcopy(doc)
    result_schema.validate(doc)
    assert doc == before


def _break(path: str, value, doc: dict) -> dict:
    """Set (or with value `...`, delete) the field at a dotted path with [i] indices."""
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    target = doc
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    key = int(last) if isinstance(target, list) else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return doc


@pytest.mark.parametrize("path, value, message", [
    ("schema_version", 2, "schema_version: must be same as const definition: 3"),
    ("schema", "browser-llm-bench/overhead", "schema: must be same as const definition"),
    ("rows", ..., "rows: missing (required)"),
    ("rows[0].runs[0].prefill_start_ms", "8652.3", "rows[0].runs[0].prefill_start_ms: must be number"),
    ("rows[0].runs[0].prefill_end_ms", None, "rows[0].runs[0].prefill_end_ms: must be number"),
    ("rows[1].runs[0].token_times_ms[2]", None, "rows[1].runs[0].token_times_ms[2]: must be number"),
    ("rows[1].runs[0].token_ids[0]", 1.5, "rows[1].runs[0].token_ids[0]: must be integer"),
    ("rows[1].runs[0].token_ids[0]", -1, "rows[1].runs[0].token_ids[0]: must be bigger than or equal to 0"),
    ("rows[1].runs[0].stop_reason", "tired", "rows[1].runs[0].stop_reason: must be one of"),
    ("rows[1].runs[0].stopped", "no", "rows[1].runs[0].stopped: must be boolean"),
    ("rows[1].runs[0].derived.decode_tok_s", "fast", "rows[1].runs[0].derived.decode_tok_s: must be number or null"),
    ("rows[1].runs[0].derived.speed", 1.0, "rows[1].runs[0].derived: must not contain {'speed'} properties"),
    ("rows[1].runs[0].derived.ttft_ms", ..., "rows[1].runs[0].derived.ttft_ms: missing (required)"),
    ("rows[1].summary.decode_tok_s.mean", ..., "rows[1].summary.decode_tok_s.mean: missing (required)"),
    ("rows[1].summary.decode_tok_s.samples", [], "rows[1].summary.decode_tok_s.samples: must contain at least 1 items"),
    ("rows[2].key", ..., "rows[2].key: missing (required)"),
    ("rows[2].backend", 7, "rows[2].backend: must be string"),
    ("rows[2].load.parse_ms", "slow", "rows[2].load.parse_ms: must be number"),
    ("rows[2].test", "pp 16", "rows[2].test: must match pattern"),
    ("rows[3].gpu_errors", {"count": 1}, "rows[3].gpu_errors.by_kind: missing (required)"),
    ("model.sha256", "0c1d", "model.sha256: must match pattern"),
    ("settings.max_tokens", ..., "settings.max_tokens: missing (required)"),
    ("environment.hardware_concurrency", "2", "environment.hardware_concurrency: must be integer"),
])
def test_a_broken_result_fails_with_the_path_of_the_field(path, value, message):
    doc = _break(path, value, real_v3())
    with pytest.raises(result_schema.ResultSchemaError) as caught:
        result_schema.validate(doc)
    assert isinstance(caught.value, ValueError)
    assert message in str(caught.value), str(caught.value)
    assert any(message in p for p in result_schema.problems(doc))
    if doc["schema_version"] == 3 and doc["schema"] == results.SCHEMA:  # else: not a v3 result at all
        with pytest.raises(ValueError, match="schema v3"):
            results.check_result(doc)


def test_problems_lists_every_bad_field():
    doc = real_v3()
    doc["rows"][0]["runs"][0]["prefill_start_ms"] = "x"
    doc["rows"][1]["is_reference"] = "no"
    del doc["model"]["name"]
    found = result_schema.problems(doc)
    assert {"rows[0].runs[0].prefill_start_ms: must be number", "rows[1].is_reference: must be boolean",
            "model.name: missing (required)"} <= set(found)
    with pytest.raises(result_schema.ResultSchemaError, match=r"\(and 2 more\)"):
        result_schema.validate(doc)


def test_places_that_grow_accept_keys_the_schema_does_not_name():
    doc = real_v3()
    doc["environment"]["gpu_vendor_driver"] = "x"
    doc["settings"]["new_option"] = True
    doc["rows"][0]["info"]["new_engine_fact"] = {"a": 1}
    doc["rows"][0]["correctness"]["new_check"] = 0.5
    doc["rows"][0]["memory"]["wasm_bytes"] = 1
    doc["rows"][0]["runs"][0]["hygiene"]["throttled"] = False
    doc["new_top_level_fact"] = "x"
    assert result_schema.problems(doc) == []


def test_a_grid_merge_validates():
    from app.host.grid import merge

    node = {"label": "n1 chrome 156 linux", "browser": "chrome", "browser_version": "156.0", "platform": "linux",
            "node_id": "abc", "adapter": None, "session": 1, "grid": "http://127.0.0.1:4444", "node_uri": ""}
    merged = merge([(node, real_v3()), ({**node, "label": "n2 chrome 156 linux"}, real_v3())], "http://127.0.0.1:4444")
    result_schema.validate(merged)
    result_schema.validate({**real_v3(), "node": node})  # one node's own file


def test_the_schema_names_exactly_what_results_computes():
    s = result_schema.schema()
    d = s["definitions"]
    fresh = results.make_run(0, 4, 0.0, 10.0, [1, 2, 3], [11.0, 12.0, 14.0])
    assert set(d["derived"]["required"]) == set(d["derived"]["properties"]) == set(fresh["derived"])
    assert set(d["summary"]["required"]) == set(d["summary"]["properties"]) == set(results.SUMMARY_KEYS)
    assert d["run"]["properties"]["stop_reason"]["enum"] == [*results.STOP_REASONS, None]
    assert set(d["run"]["required"]) <= set(fresh)
    assert s["properties"]["schema"]["const"] == results.SCHEMA
    assert s["properties"]["schema_version"]["const"] == results.SCHEMA_VERSION == 3


def test_the_schema_file_is_a_valid_draft_7_schema():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft7Validator.check_schema(result_schema.schema())
    # An independent implementation agrees on the real result and on a broken one.
    validator = jsonschema.Draft7Validator(result_schema.schema())
    assert not list(validator.iter_errors(real_v3()))
    assert list(validator.iter_errors(_break("rows[0].runs[0].prefill_start_ms", "x", real_v3())))


def test_the_version_history_names_every_version():
    text = (REPO_ROOT / "app" / "core" / "results.py").read_text()
    history = text[text.index("# Version history"):text.index("SCHEMA_VERSION = ")]
    for version in range(1, results.SCHEMA_VERSION + 1):
        assert f"# {version} - " in history
    for word in ("test", "memory", "hygiene", "notes", "nodes", "JSON Schema", "CSV"):
        assert word in history, word


# --- shipped in the wheel and the pins --------------------------------------------------------------


def test_the_app_wheel_ships_the_schema_and_requires_the_validator(tmp_path):
    from app.host.appwheel import build_app_wheel

    wheel = build_app_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert "app/core/result_schema_v3.json" in names and "app/core/result_schema.py" in names
    assert "Requires-Dist: fastjsonschema==2.22.3" in metadata.splitlines()


def test_setuptools_package_data_includes_the_schema():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["app.core"]
    assert any(fnmatch.fnmatch(result_schema.SCHEMA_FILE, p) for p in patterns)


def test_the_page_gets_the_same_validator_version_as_the_host():
    from app.host import pins as pinlib

    pin = {p.name: p for p in pinlib.load_pins()}["fastjsonschema"]
    assert pin.role == "pyodide-wheel" and pin.kind == "wheel"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert f"fastjsonschema=={pin.version}" in project["dependencies"]
    import fastjsonschema

    assert fastjsonschema.VERSION == pin.version


def test_validate_works_when_the_package_is_imported_from_the_wheel_zip(tmp_path):
    """As in the page: boot.js puts the wheel itself on sys.path (zipimport); the schema is read from the zip."""
    from app.host.appwheel import build_app_wheel

    wheel = build_app_wheel(tmp_path / "wheel")
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps(real_v3()))
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import app.core.result_schema as m; "
            "assert m.__file__.startswith(sys.argv[1]), m.__file__; "
            "doc = json.load(open(sys.argv[2])); m.validate(doc); doc['rows'][0]['key'] = 1; print(m.problems(doc))")
    out = subprocess.run([sys.executable, "-c", code, str(wheel), str(doc)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert "rows[0].key: must be string" in out.stdout


# --- the loaders ------------------------------------------------------------------------------------


def test_a_v2_file_is_upgraded_to_a_valid_v3_without_changing_the_file():
    doc = v2()
    before = copy.deepcopy(doc)
    upgraded = results.upgrade(doc)
    assert doc == before
    assert upgraded["schema_version"] == 3 and upgraded["upgraded_from"] == 2
    result_schema.validate(upgraded)
    results.check_result(upgraded)
    assert [r["runs"] for r in upgraded["rows"]] == [r["runs"] for r in doc["rows"]]  # stored figures kept


def test_an_early_v2_file_gets_its_test_names_and_figures():
    """Written before tests were named and before the ITL slope: read as the chat test, the slope computed."""
    doc = v2()
    doc["rows"] = [r for r in doc["rows"] if r["test"] == "chat"]
    for row in doc["rows"]:
        for key in ("test", "n_prompt", "n_gen", "n_depth", "memory", "correctness_from"):
            row.pop(key, None)
        for run in row["runs"]:
            run["derived"].pop("itl_slope_ms_per_1k")
            run.pop("hygiene")
        if row["summary"]:
            row["summary"].pop("itl_slope_ms_per_1k")
    upgraded = results.upgrade(doc)
    result_schema.validate(upgraded)
    row = upgraded["rows"][1]
    assert (row["test"], row["n_prompt"], row["n_gen"], row["n_depth"]) == ("chat", 32, 8, 0)
    again = results.derive_run(row["runs"][0])["itl_slope_ms_per_1k"]
    assert row["runs"][0]["derived"]["itl_slope_ms_per_1k"] == again
    assert row["summary"]["itl_slope_ms_per_1k"]["samples"] == [again]


def test_a_v1_file_is_upgraded_through_v2():
    doc = v2()
    doc["schema_version"] = 1
    for row in doc["rows"]:
        for key in ("gpu_errors", "console_errors", "gpu_devices", "shims", "unsupported", "context_tokens", "test",
                    "n_prompt", "n_gen", "n_depth", "memory", "correctness_from"):
            row.pop(key, None)
        for run in row["runs"] + row["warmups"]:
            for key in ("stop_reason", "cold", "hygiene"):
                run.pop(key, None)
    doc["rows"][1]["runs"][0]["stopped"] = True
    upgraded = results.upgrade(doc)
    assert upgraded["upgraded_from"] == 1
    result_schema.validate(upgraded)
    assert upgraded["rows"][1]["runs"][0]["stop_reason"] == "user"
    assert upgraded["rows"][0]["runs"][0]["stop_reason"] is None  # not recorded in version 1
    assert upgraded["rows"][0]["shims"] == [] and upgraded["rows"][0]["gpu_errors"] is None


def test_a_v3_result_is_read_unchanged_and_others_are_refused():
    doc = real_v3()
    assert results.upgrade(doc) == doc and "upgraded_from" not in results.upgrade(doc)
    for bad in ({**doc, "schema_version": 4}, {**doc, "schema": "x"}, [], {**doc, "rows": None}):
        with pytest.raises(ValueError):
            results.upgrade(bad)
