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
