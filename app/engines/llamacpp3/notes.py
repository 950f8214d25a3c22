"""wllama 3.x rows (llamacpp3-*): what is decided without a browser (pure: host tests and Pyodide).

wllama 3.13's main WASM build (`esm/wasm/wllama.wasm`) needs JSPI (`WebAssembly.Suspending`) and Memory64
(`new WebAssembly.Memory({address: "i64"})`); wllama itself checks exactly these (`needCompat()` in its
esm/index.js) and otherwise loads `@wllama/wllama-compat`'s build (Asyncify instead of JSPI, wasm32 instead of
Memory64; a multi-thread build whose memory is shared, so it needs SharedArrayBuffer), which the site serves
(`choose_build`).
"""

from __future__ import annotations

from typing import Any

FORCED_METHOD = "text-prefix"
FORCED_METHOD_TEXT = ("text prefix: the prompt text plus llama.cpp 2.4's text of the reference prefix, one "
                      "max_tokens 1 / n_probs 1 request per position (KV cache reused); a position counts only where "
                      "that text tokenizes back to exactly the reference ids, in llama.cpp 2.4 and in 3.13")
PERPLEXITY_REASON = "not measured: wllama 3.x returns log-probabilities of generated tokens only, none of the prompt's"
LOOP_NOTE = ("runs its own generation loop (createCompletion streaming); token times are llama.cpp's own per-token "
             "clock (timings_per_token), since a streamed chunk reaches the page one loop iteration late")


BUILDS = {
    "jspi-memory64": "wllama {version} JSPI + Memory64 build",
    "compat": "@wllama/wllama-compat {version} Asyncify + wasm32 build, for browsers without JSPI or Memory64",
}


def choose_build(jspi: bool, memory64: bool) -> str:
    """The wllama 3.13 build a browser loads: "jspi-memory64" (the main one) where it has both, else "compat"
    (exactly wllama's own needCompat())."""
    return "jspi-memory64" if jspi and memory64 else "compat"


def requirement_refusal(jspi: bool, memory64: bool, webgpu_wanted: bool, webgpu: bool,
                        shared_memory: bool = True) -> str | None:
    """Why the browser cannot run wllama 3.13 (the engine's `unsupported_reason`), or None. Without JSPI or
    Memory64 the compatibility build runs; it needs SharedArrayBuffer (`shared_memory`)."""
    if choose_build(jspi, memory64) == "compat" and not shared_memory:
        missing = [name for name, ok in (("JSPI", jspi), ("Memory64", memory64)) if not ok]
        return (f"this browser lacks {' and '.join(missing)}, so wllama 3.13 needs its compatibility build "
                "(@wllama/wllama-compat), whose shared memory needs SharedArrayBuffer, which this page lacks")
    if webgpu_wanted and not webgpu:
        return "this browser has no WebGPU (navigator.gpu is missing)"
    return None


def adapter_refusal(adapter: dict[str, Any] | None) -> str | None:
    """Why llama.cpp's WebGPU backend cannot use this adapter (`{features: [...], vendor, ...}`), or None.

    ggml-webgpu asks for `shader-f16` when it creates its device (its shaders `enable f16`). Seen here: on
    headless Chromium's SwiftShader adapter, which lacks it, wllama 3.13 creates no WebGPU device and runs every
    layer on the CPU, so a "webgpu" row would be a second CPU row."""
    if adapter is None:
        return "this browser offers no WebGPU adapter (requestAdapter() returned null)"
    if "shader-f16" not in (adapter.get("features") or []):
        return (f"its WebGPU adapter ({adapter_text(adapter)}) lacks shader-f16, which llama.cpp's WebGPU backend "
                "requires: wllama 3.13 would run every layer on the CPU")
    return None


def adapter_text(adapter: dict[str, Any] | None) -> str:
    """The WebGPU adapter wllama's worker got, in words ("none" if it reported none)."""
    if not adapter:
        return "none reported"
    name = " ".join(x for x in (adapter.get("vendor"), adapter.get("architecture"), adapter.get("description")) if x)
    kind = "fallback (software)" if adapter.get("is_fallback_adapter") else "hardware"
    return f"{name or 'unnamed'} - {kind}"


def run_notes(label: str, generation: dict[str, Any], expected_prompt_tokens: int, text_of_ids: str | None) -> list[str]:
    """What one generation's own checks found wrong, in words: prompt token count, cached tokens, ids vs text.

    `generation`: the runner's summary (ids, text, prompt_tokens, cached_tokens, clamped, failure, utf8_loss);
    `text_of_ids`: llama.cpp 2.4's text of those ids (end-of-generation ids left out), None when not checked."""
    notes = []
    got = generation.get("prompt_tokens")
    if got is None:
        notes.append(f"{label}: wllama 3.13 reported no prompt token count")
    elif got != expected_prompt_tokens:
        notes.append(f"{label}: wllama 3.13 counted {got} prompt tokens, llama.cpp 2.4 (the other rows) {expected_prompt_tokens}")
    if generation.get("cached_tokens"):
        notes.append(f"{label}: {generation['cached_tokens']} prompt tokens came from the KV cache (cache_prompt false "
                     "was not honoured): its TTFT is not cold")
    if text_of_ids is not None and text_of_ids != generation.get("text", ""):
        notes.append(f"{label}: the ids wllama 3.13 reported give {text_of_ids[:80]!r} in llama.cpp 2.4, its text was "
                     f"{str(generation.get('text', ''))[:80]!r}")
    if generation.get("failure"):
        why = " (a result holding incomplete UTF-8, a known wllama 3.x limit)" if generation.get("utf8_loss") else ""
        notes.append(f"{label}: the request failed after {len(generation.get('ids') or [])} tokens{why}: "
                     f"{str(generation['failure'])[:200]}")
    return notes
