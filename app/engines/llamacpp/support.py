"""Why llama.cpp in @wllama/wllama 2.4.0 cannot load a (well-formed) GGUF header: pure Python, host and Pyodide.

`gguf_header.parse_header` refuses malformed files outright. A well-formed file can still hold values
this engine reads differently from the spec or refuses; its rows are then `unsupported` with the reason
instead of loading garbage or aborting (app.engines.unsupported_engines). Each rule names its source.

The reference row (@wllama/wllama 2.4.0, its llama.cpp's ggml/src/gguf.cpp; the messages quoted are
strings in dist/vendor/wllama/*/wllama.wasm):
  - `general.alignment` must be stored as uint32: this llama.cpp reads it with
    `gguf_get_val_u32`, whose `GGML_ASSERT(type_to_gguf_type<T>::value == type)` aborts the WASM
    module with no message for any other type (newer llama.cpp says "key 'general.alignment' must
    be of type u32").
  - arrays of arrays: "key '%s' has invalid GGUF type %d".
  - tensor names of 64 bytes or more: "tensor name %lli is too long: %zu >= %d" (GGML_MAX_NAME 64).
  - tensor offsets must follow each other: tensor i must start where tensor i-1 ends, padded to the
    alignment: "tensor '%s' has offset %llu, expected %zu".
  - tensor types: its type table ends at NVFP4 (40); Q1_0 (41) is not in it (no "q1_0" type name
    in the wasm).

"""

from __future__ import annotations

from app.core.gguf_header import GGUFHeader, quote, type_words

LLAMACPP_MAX_NAME = 64
LLAMACPP_LAST_TYPE = 40  # NVFP4


def _pad(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def llamacpp_problems(h: GGUFHeader) -> list[str]:
    """Sentences saying why llama.cpp in @wllama/wllama 2.4.0 cannot load this header; [] when it can."""
    out = []
    vtype = h.metadata_types.get("general.alignment")
    if vtype is not None and vtype != "uint32":
        out.append(f"llama.cpp (wllama 2.4.0) reads general.alignment only as a uint32 and aborts on "
                   f"{type_words(vtype)}. Re-save general.alignment as uint32")
    nested = [k for k, t in h.metadata_types.items() if t.startswith("array[array")]
    if nested:
        out.append(f"llama.cpp (wllama 2.4.0) cannot read arrays inside arrays (metadata {quote(nested[0])})")
    long_names = [t.name for t in h.tensors if len(t.name.encode("utf-8")) >= LLAMACPP_MAX_NAME]
    if long_names:
        out.append(f"llama.cpp (wllama 2.4.0) refuses tensor names of {LLAMACPP_MAX_NAME} bytes or more "
                   f"({len(long_names)} here, e.g. {quote(long_names[0])})")
    expected = 0
    for t in h.tensors:
        if t.type_id > LLAMACPP_LAST_TYPE:
            out.append(f"llama.cpp (wllama 2.4.0) has no {t.type_name} tensor type (tensor {quote(t.name)})")
            break
        if t.offset != expected:
            out.append(f"llama.cpp (wllama 2.4.0) needs tensors stored back to back in table order: "
                       f"tensor {quote(t.name)} is at offset {t.offset:,} of the data section, "
                       f"expected {expected:,}")
            break
        expected += _pad(t.nbytes(), h.alignment)
    return out


# --- which wllama 2.x build a browser loads ---------------------------------------------------------------------
# wllama 2.4.0 ships Memory64 builds only; JavaScriptCore (WebKit, Safari) has no Memory64, and there 2.4 fails
# with "Conversion from 'BigInt' to 'number' is not allowed". wllama 2.3.7 is the last 2.x with wasm32 builds and
# has the same token-level API; tests/page/test_wllama_builds.py shows it gives 2.4's ids, text and
# end-of-generation set for both embedded models. Both are served (pins.toml roles "wllama", "wllama-wasm32");
# the reference row and the tokenizer of record pick one by the browser's features (`choose_build`).
BUILDS: dict[str, dict[str, str]] = {
    "memory64": {"role": "wllama", "dir": "vendor/wllama", "text": "Memory64 build"},
    "wasm32": {"role": "wllama-wasm32", "dir": "vendor/wllama-wasm32",
               "text": "wasm32 build, for browsers without Memory64"},
}


def choose_build(features: dict[str, bool]) -> str:
    """The wllama 2.x build for a browser with these features ({"memory64": bool, ...}): "memory64" (2.4.0) where a
    64-bit memory validates, else "wasm32" (2.3.7)."""
    return "memory64" if features.get("memory64") else "wasm32"


def build_record(site: dict, build: str) -> dict[str, str]:
    """What a row's info and the tokenizer say about the build that ran: {build, version, build_text}.
    KeyError for a build not in BUILDS or not served by this site."""
    spec = BUILDS[build]
    return {"build": build, "version": str(site[spec["role"]]["version"]),
            "build_text": f"wllama {site[spec['role']]['version']} {spec['text']}"}


def llamacpp_memory_problems(file_bytes: int, metadata: dict, features: dict | None, n_ctx: int | None) -> list[str]:
    """Whether the model fits the wllama 2.x build this browser runs (app.core.model_budget): the file once (wllama
    writes it into its WASM heap and llama.cpp uses it there: measured, a 1.25 GB file made the browser's processes
    grow by 1.80 GB, KV and compute buffers included) plus a float16 KV cache at `n_ctx`. [] when it fits."""
    from app.core import model_budget as mb

    build = choose_build(features) if features else "memory64"
    limit, what = ((mb.MEMORY64_CHROMIUM_BYTES, "wllama 2.4.0's Memory64 build in Chromium") if build == "memory64"
                   else (mb.WASM32_BYTES, "wllama 2.3.7's wasm32 build"))
    refusal = mb.over_limit(mb.estimate(file_bytes, metadata, n_ctx or 2048), limit, what)
    return [f"llama.cpp {refusal}"] if refusal else []
