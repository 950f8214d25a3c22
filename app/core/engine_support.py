"""Which engines cannot honour a (well-formed) GGUF header, and why: pure Python, host and Pyodide.

`gguf_header.parse_header` refuses malformed files outright. A well-formed file can still hold
values one engine reads differently from the spec or refuses; the benchmark marks that engine's
rows `unsupported` with the reason instead of letting it load garbage or abort. Each rule below
names the source it comes from.

flare-cpu / flare-webgpu (flare-web 0.2.21 = github.com/sauravpanda/flarellm at a8cb07c,
"Release flare-web 0.2.21"; both rows load through `FlareEngine.load` / `begin_load` in
flare-web/src/lib.rs, which call `GgufFile::parse_header` and `to_model_config` in
flare-loader/src/gguf.rs):
  - alignment: `parse_header` ignores `general.alignment` and computes
    `tensor_data_offset = header_end.div_ceil(32) * 32` (`let alignment = 32u64;`). When the
    file's own alignment puts the data section elsewhere, flare would read every tensor from the
    wrong bytes. Only that case is refused: an alignment other than 32 whose data offset happens
    to equal the 32-byte one is read correctly.
  - arrays of arrays: `read_typed_value` has no case for type 9, so such a key fails the parse.
  - strings over 1 MiB: `read_gguf_string` refuses them (`MAX_STRING_LEN = 1024 * 1024`).
  - architecture: `to_model_config` knows llama, qwen2, mistral, phi3 and gemma2 only.
  - hyper-parameters: `meta_usize` accepts uint8/uint16/uint32/int32/uint64/int64 for
    `{arch}.embedding_length`, `{arch}.block_count` and `{arch}.attention.head_count` (missing or
    another type: "Model config error"), and `head_dim = hidden_dim / num_heads` panics when the
    head count is 0.
  - tensor types: flare has kernels for FLARE_RUNNABLE only (gguf_header.flare_type_problem; the
    same rule `check_types_runnable_by_flare` raises).

llamacpp-wasm (@wllama/wllama 2.4.0, its llama.cpp's ggml/src/gguf.cpp; the messages quoted are
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

transformersjs-wasm / transformersjs-webgpu: no header rule. Transformers.js never reads the GGUF
at run time: it runs the ONNX model that `build.py --transformersjs` converted, and
app/web/engines/tjs_engine.py refuses any GGUF whose sha256 differs from the converted one.
"""

from __future__ import annotations

from app.core.gguf_header import GGUFHeader, flare_type_problem, quote, type_words

FLARE_KEYS = ("flare-cpu", "flare-webgpu")
LLAMACPP_KEY = "llamacpp-wasm"

FLARE_ALIGNMENT = 32
FLARE_MAX_STRING = 1024 * 1024
FLARE_ARCHITECTURES = ("llama", "qwen2", "mistral", "phi3", "gemma2")
FLARE_USIZE_TYPES = frozenset({"uint8", "uint16", "uint32", "int32", "uint64", "int64"})
LLAMACPP_MAX_NAME = 64
LLAMACPP_LAST_TYPE = 40  # NVFP4


def _pad(n: int, alignment: int) -> int:
    return (n + alignment - 1) // alignment * alignment


def flare_problems(h: GGUFHeader) -> list[str]:
    """Sentences saying why flare-web 0.2.21 cannot load this header; [] when it can."""
    out = []
    flare_offset = _pad(h.header_end, FLARE_ALIGNMENT)
    if flare_offset != h.data_offset:
        out.append(
            f"flare-web 0.2.21 ignores general.alignment and assumes {FLARE_ALIGNMENT} bytes: "
            f"with this file's alignment of {h.alignment} it would read the tensor data from byte "
            f"{flare_offset:,} instead of {h.data_offset:,}. "
            "Re-save the model with alignment 32 (llama.cpp's default)"
        )
    nested = [k for k, t in h.metadata_types.items() if t.startswith("array[array")]
    if nested:
        out.append(f"flare-web 0.2.21 cannot read arrays inside arrays (metadata {quote(nested[0])})")
    where, length = h.longest_string
    if length > FLARE_MAX_STRING:
        out.append(f"flare-web 0.2.21 refuses strings over 1 MiB; {where} is {length:,} bytes")
    arch = h.architecture.lower()
    if arch not in FLARE_ARCHITECTURES:
        out.append(f"flare-web 0.2.21 has no {quote(h.architecture)} architecture "
                   f"(it runs {', '.join(FLARE_ARCHITECTURES)})")
    else:
        for suffix in ("embedding_length", "block_count", "attention.head_count"):
            key = f"{arch}.{suffix}"  # flare builds the key from the lower-cased architecture
            vtype = h.metadata_types.get(key)
            if vtype is None:
                out.append(f"flare-web 0.2.21 needs {key}, which the file lacks")
            elif vtype not in FLARE_USIZE_TYPES:
                out.append(f"flare-web 0.2.21 reads {key} only as an integer; "
                           f"the file stores it as {type_words(vtype)}")
            elif suffix == "attention.head_count" and h.metadata[key] == 0:
                out.append(f"{key} is 0: flare-web 0.2.21 divides by it and would panic")
    types = flare_type_problem(h.type_counts)
    if types:
        out.append(types.rstrip("."))
    return out


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


def unsupported_engines(header: GGUFHeader) -> dict[str, str]:
    """{engine key: reason} for the engines that cannot honour this header's values.

    Keys are among "flare-cpu", "flare-webgpu" and "llamacpp-wasm" (the transformers.js rows never
    read the GGUF: see the module docstring); an engine that can load the file is absent. Each
    reason is one line of one or more sentences joined by "; ". Raises nothing for a header
    parse_header returned.
    """
    out: dict[str, str] = {}
    flare = flare_problems(header)
    if flare:
        for key in FLARE_KEYS:
            out[key] = "; ".join(flare) + "."
    llama = llamacpp_problems(header)
    if llama:
        out[LLAMACPP_KEY] = "; ".join(llama) + "."
    return out

