"""wllama 3.13 rows (llamacpp3-*): the decisions made without a browser, and the pin beside 2.4."""

from __future__ import annotations

import pytest

from app.engines import ENGINE_ALIASES, REFERENCE_KEY, in_run_order
from app.engines.llamacpp3 import notes as wllama3
from app.host import pins as pinlib
from app.host.pins import PinError, parse_pins


def test_missing_jspi_or_memory64_chooses_the_compatibility_build():
    assert wllama3.choose_build(jspi=True, memory64=True) == "jspi-memory64"
    assert wllama3.choose_build(jspi=False, memory64=True) == "compat"
    assert wllama3.choose_build(jspi=True, memory64=False) == "compat"
    assert wllama3.choose_build(jspi=False, memory64=False) == "compat"
    assert "Asyncify + wasm32" in wllama3.BUILDS["compat"].format(version="3.13.0")


def test_the_compatibility_build_without_shared_memory_or_webgpu_is_a_refusal_in_words():
    assert wllama3.requirement_refusal(True, True, webgpu_wanted=False, webgpu=False) is None
    assert wllama3.requirement_refusal(True, True, webgpu_wanted=True, webgpu=True) is None
    # WebKit: neither JSPI nor Memory64, SharedArrayBuffer on: the compatibility build runs the CPU row.
    assert wllama3.requirement_refusal(False, False, webgpu_wanted=False, webgpu=False, shared_memory=True) is None
    assert "no WebGPU" in wllama3.requirement_refusal(False, False, webgpu_wanted=True, webgpu=False)
    # Its memory is shared: without SharedArrayBuffer it cannot load; the main build does not need it here.
    only_jspi = wllama3.requirement_refusal(False, True, webgpu_wanted=False, webgpu=False, shared_memory=False)
    assert "JSPI" in only_jspi and "Memory64" not in only_jspi and "wllama-compat" in only_jspi
    assert "SharedArrayBuffer" in only_jspi
    assert wllama3.requirement_refusal(True, True, webgpu_wanted=False, webgpu=False, shared_memory=False) is None
    assert "no WebGPU" in wllama3.requirement_refusal(True, True, webgpu_wanted=True, webgpu=False)


def test_an_adapter_without_shader_f16_is_refused_for_the_webgpu_row():
    swiftshader = {"vendor": "google", "architecture": "swiftshader", "description": "", "is_fallback_adapter": True,
                   "features": ["subgroups", "timestamp-query"]}
    reason = wllama3.adapter_refusal(swiftshader)
    assert "shader-f16" in reason and "google swiftshader" in reason and "fallback" in reason
    assert wllama3.adapter_refusal({**swiftshader, "features": ["shader-f16"]}) is None
    assert "no WebGPU adapter" in wllama3.adapter_refusal(None)


def test_run_notes_show_every_mismatch_and_nothing_when_all_agree():
    good = {"ids": [504, 3575], "text": "The capital", "prompt_tokens": 27, "cached_tokens": 0, "failure": None}
    assert wllama3.run_notes("run 1", good, 27, "The capital") == []
    notes = wllama3.run_notes("run 2", {**good, "prompt_tokens": 28, "cached_tokens": 26}, 27, "The capitol")
    assert len(notes) == 3
    assert "counted 28 prompt tokens" in notes[0] and "27" in notes[0]
    assert "26 prompt tokens came from the KV cache" in notes[1]
    assert "'The capitol'" in notes[2] and "'The capital'" in notes[2]
    lost = wllama3.run_notes("run 3", {**good, "failure": "RuntimeError: Invalid typed array length: 1", "utf8_loss": True},
                             27, None)
    assert len(lost) == 1 and "incomplete UTF-8" in lost[0] and "after 2 tokens" in lost[0]


def test_the_3_13_engines_follow_the_reference_and_share_a_short_name():
    assert ENGINE_ALIASES["llamacpp3"] == ("llamacpp3-webgpu", "llamacpp3-wasm")
    assert in_run_order(["llamacpp3-wasm", "llamacpp-wasm", "llamacpp3-webgpu"])[0] == REFERENCE_KEY


def test_one_package_may_be_pinned_at_two_versions_but_not_twice_at_one():
    a = {"name": "@wllama/wllama", "kind": "npm", "version": "2.4.0", "sha256": "a" * 64, "role": "wllama"}
    b = {**a, "version": "3.13.0", "sha256": "b" * 64, "role": "wllama3"}
    assert [p.spec for p in parse_pins({"pin": [a, b]})] == ["@wllama/wllama@2.4.0", "@wllama/wllama@3.13.0"]
    with pytest.raises(PinError, match="pinned twice"):
        parse_pins({"pin": [a, {**a, "role": "wllama3"}]})
    pins = pinlib.load_pins()
    assert pinlib.one(pins, "wllama").version == "2.4.0" and pinlib.one(pins, "wllama3").version == "3.13.0"
