"""Will a model fit an engine here (app.core.model_budget and the engines' memory_problems), decided from the
file's size and metadata before anything loads."""

from __future__ import annotations

import pytest

from app.core import model_budget as mb
from app.engines import SPEC_OF, memory_refusal
from app.host.synthetic_gguf import plan

LLAMA_1B = {"general.architecture": "llama", "llama.block_count": 16, "llama.embedding_length": 2048,
            "llama.attention.head_count": 32, "llama.attention.head_count_kv": 8, "llama.context_length": 4096}
LLAMA_3B = {**LLAMA_1B, "llama.block_count": 28, "llama.embedding_length": 3072, "llama.attention.head_count": 24}


def test_the_kv_cache_is_k_and_v_for_every_layer_at_the_context():
    # 2 x 16 layers x 2048 tokens x (64 x 8) values x 2 bytes
    assert mb.kv_bytes(LLAMA_1B, 2048, 2) == 2 * 16 * 2048 * 512 * 2
    assert mb.kv_bytes({"general.architecture": "llama"}, 2048, 2) == 0  # shapes unknown: no guess
    est = mb.estimate(1_000, LLAMA_1B, 2048, copies=2, kv_value_bytes=4)
    assert est.weights == 2_000 and est.total == 2_000 + 2 * 16 * 2048 * 512 * 4


def test_the_refusal_names_the_limit_the_estimate_and_what_to_do():
    est = mb.estimate(3 * mb.GIB, LLAMA_3B, 4096, copies=2, kv_value_bytes=4)
    text = mb.over_limit(est, mb.WASM32_BYTES, "a wasm32 memory")
    assert text.startswith("needs at least 6.88 GiB (the file 2 times 6.00 GiB + its KV cache at 4,096 tokens 0.88 GiB)")
    assert "more than a wasm32 memory can address (4.00 GiB)" in text and "smaller model" in text
    assert mb.over_limit(mb.estimate(100, LLAMA_1B, 512), mb.WASM32_BYTES, "x") is None


def test_flare_refuses_a_3b_q4_k_and_takes_a_1b_q8_0_as_seen():
    # Seen here: flare-web trapped loading a synthetic 1.76 GB 3B Q4_K and loaded a 1.25 GB 1B Q8_0.
    flare = SPEC_OF["flare-cpu"]
    refusal = memory_refusal(flare, 1_757_800_000, LLAMA_3B, None, 4096)
    assert refusal and "flare-web 0.2.21's wasm32 memory" in refusal and "(4.00 GiB)" in refusal
    assert memory_refusal(flare, 1_249_900_000, LLAMA_1B, None, 4096) is None


def test_llama_cpp_is_held_to_the_build_the_browser_runs():
    ref = SPEC_OF["llamacpp-wasm"]
    big = 5 * mb.GIB
    memory64 = {"memory64": True, "jspi": True, "shared_array_buffer": True}
    assert memory_refusal(ref, big, LLAMA_3B, memory64, 2048) is None  # Memory64: 16 GiB
    wasm32 = memory_refusal(ref, big, LLAMA_3B, {**memory64, "memory64": False}, 2048)
    assert wasm32 and "wllama 2.3.7's wasm32 build" in wasm32 and "(4.00 GiB)" in wasm32
    assert "Memory64" in memory_refusal(ref, 17 * mb.GIB, LLAMA_3B, memory64, 2048)


@pytest.mark.parametrize("size,params", [("0.5b", 0.45e9), ("1b", 1.17e9), ("3b", 3.12e9)])
def test_the_synthetic_shapes_have_their_names_size(size, params):
    assert plan(size, "q8_0", 49152).parameters() == pytest.approx(params, rel=0.02)


def test_the_pages_budget_names_each_limit_the_browser_tells():
    adapter = {"max_buffer_size": 4 * mb.GIB, "max_storage_buffer_binding_size": 2 * mb.GIB}
    rows = dict(mb.budget_lines({"memory64": True}, adapter, 8.0))
    assert rows["wasm32 engines (flare-web 0.2.21; wllama 2.3.7, 3.13 compat)"] == "4.00 GiB address space each"
    assert rows["Memory64 engines (wllama 2.4.0; 3.13 JSPI)"].startswith("16.00 GiB")
    assert rows["WebGPU adapter"] == "one buffer at most 4.00 GiB, one storage binding at most 2.00 GiB"
    assert "about 8 GB" in rows["Device memory (navigator.deviceMemory)"]
    rows = dict(mb.budget_lines({"memory64": False}, None, None))
    assert rows["WebGPU adapter"] == "none" and "no 64-bit" in rows["Memory64 engines"]
    assert not any("Device memory" in k for k in rows)


def test_an_embedded_models_line_marks_the_engines_it_is_too_big_for():
    from app.engines.flare.support import flare_memory_problems
    from app.engines.llamacpp.support import llamacpp_memory_problems

    rules = [("llama.cpp", llamacpp_memory_problems), ("flare-web", flare_memory_problems)]
    assert mb.fit_words(145_000_000, {}, {"memory64": True}, rules) == "fits: llama.cpp, flare-web"
    assert mb.fit_words(2_500_000_000, {}, {"memory64": True}, rules) == "fits: llama.cpp; too big for: flare-web"


def test_a_tensor_bigger_than_the_adapters_storage_binding_is_named():
    lavapipe = {"max_storage_buffer_binding_size": 128 << 20, "max_buffer_size": 1 << 30}
    text = mb.storage_binding_problem(160 << 20, lavapipe)
    assert text == ("its largest tensor is 160 MiB, more than this WebGPU adapter binds as one storage buffer "
                    "(128 MiB: maxStorageBufferBindingSize / maxBufferSize)")
    assert mb.storage_binding_problem(30 << 20, lavapipe) is None
    assert mb.storage_binding_problem(160 << 20, None) is None  # no adapter: the row's WebGPU need refuses it
    h200 = {"max_storage_buffer_binding_size": 2 << 30, "max_buffer_size": 4 << 30}
    assert mb.storage_binding_problem(3 << 30, h200).endswith("(2,048 MiB: maxStorageBufferBindingSize / maxBufferSize)")


def test_the_header_summary_names_the_largest_tensor():
    from app.core.gguf_header import read_header_from_path
    from tests.conftest import DIST

    path = DIST / "models" / "smollm2-135m-instruct.q8_0.gguf"
    if not path.exists():
        pytest.skip("built by `python -m app build` (the test session builds it)")
    s = read_header_from_path(path).summary()
    assert s["largest_tensor_bytes"] == 49152 * 576 // 32 * 34  # token_embd.weight, Q8_0
