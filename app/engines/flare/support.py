"""Why flare-web 0.2.21 cannot load a (well-formed) GGUF header: pure Python, host and Pyodide.

`gguf_header.parse_header` refuses malformed files outright. A well-formed file can still hold values
this engine reads differently from the spec or refuses; its rows are then `unsupported` with the reason
instead of loading garbage or aborting (app.engines.unsupported_engines). Each rule names its source.

Both rows (flare-web 0.2.21 = github.com/sauravpanda/flarellm at a8cb07c,
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

"""

from __future__ import annotations

from app.core.gguf_header import GGUFHeader, flare_type_problem, quote, type_words

FLARE_ALIGNMENT = 32
FLARE_MAX_STRING = 1024 * 1024
FLARE_ARCHITECTURES = ("llama", "qwen2", "mistral", "phi3", "gemma2")
FLARE_USIZE_TYPES = frozenset({"uint8", "uint16", "uint32", "int32", "uint64", "int64"})


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


def flare_memory_problems(file_bytes: int, metadata: dict, features: dict | None, n_ctx: int | None) -> list[str]:
    """Whether the model fits flare-web 0.2.21's wasm32 memory (4 GiB; app.core.model_budget): the file twice
    (the page's bytes copied into its WASM memory, and the weights it builds from them: an estimate that matches
    what was seen, a synthetic 1.76 GB 3B Q4_K trapping while loading and a 1.25 GB 1B Q8_0 loading) plus a KV cache
    of float32 values at `n_ctx` (assumed: flare computes in f32). [] when it fits."""
    from app.core import model_budget as mb

    est = mb.estimate(file_bytes, metadata, n_ctx or 2048, copies=2, kv_value_bytes=4)
    refusal = mb.over_limit(est, mb.WASM32_BYTES, "flare-web 0.2.21's wasm32 memory")
    return [f"flare-web {refusal}"] if refusal else []
