"""Synthetic llama GGUFs of real sizes, made here with gguf-py: random weights of real shapes, no download.

For scale tests (issue 23): load time, memory and decode against model size, and the limits an engine refuses
before loading. The shapes are those of real models of each size (Qwen 2.5 0.5B's widths; Llama 3.2 1B's and 3B's),
under architecture "llama", with SmolLM2-135M's tokenizer (its `tokenizer.*` keys and 49,152-token vocabulary, so
prompts tokenize as they do for the embedded model): the embedding and output matrices are 49,152 rows, not the
originals' 128k-152k. Weights are random (Q8_0: a small float16 scale a block and random int8; Q4_K: small float16
scales and random 4-bit values), so every kernel does real arithmetic on finite numbers; the answers are nonsense
and are never a correctness figure. Norm weights are 1.0 (float32).

    python -m app.host.synthetic_gguf --size 1b --type q8_0 --out /tmp/llama-1b-q8_0.gguf

Formats: ggml/docs/gguf.md and gguf-py's GGML_QUANT_SIZES (block layouts: ggml-common.h block_q8_0, block_q4_K).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# (n_embd, n_layer, n_ff, n_head, n_head_kv): the real models these sizes are named after.
SHAPES = {
    "0.5b": (896, 24, 4864, 14, 2),     # Qwen 2.5 0.5B's widths
    "1b": (2048, 16, 8192, 32, 8),      # Llama 3.2 1B
    "3b": (3072, 28, 8192, 24, 8),      # Llama 3.2 3B
}
TYPES = {"q8_0": (8, 32, 34), "q4_k": (12, 256, 144)}  # name -> (GGML type id, elements a block, bytes a block)


@dataclass(frozen=True)
class Plan:
    size: str
    qtype: str
    n_embd: int
    n_layer: int
    n_ff: int
    n_head: int
    n_head_kv: int
    n_vocab: int

    def tensors(self) -> list[tuple[str, list[int], bool]]:
        """(name, dims ne0-first, quantized) in llama.cpp's LLM_ARCH_LLAMA names."""
        e, f, kv = self.n_embd, self.n_ff, self.n_embd // self.n_head * self.n_head_kv
        out = [("token_embd.weight", [e, self.n_vocab], True)]
        for i in range(self.n_layer):
            b = f"blk.{i}."
            out += [(b + "attn_norm.weight", [e], False), (b + "attn_q.weight", [e, e], True),
                    (b + "attn_k.weight", [e, kv], True), (b + "attn_v.weight", [e, kv], True),
                    (b + "attn_output.weight", [e, e], True), (b + "ffn_norm.weight", [e], False),
                    (b + "ffn_gate.weight", [e, f], True), (b + "ffn_up.weight", [e, f], True),
                    (b + "ffn_down.weight", [f, e], True)]
        return out + [("output_norm.weight", [e], False), ("output.weight", [e, self.n_vocab], True)]

    def parameters(self) -> int:
        return sum(int(np.prod(d)) for _, d, _ in self.tensors())


def _quantized(elements: int, qtype: str, rng: np.random.Generator) -> np.ndarray:
    """Random blocks of `qtype` with finite, small float16 scales (bytes, uint8)."""
    _, per_block, block_bytes = TYPES[qtype]
    blocks = elements // per_block
    raw = rng.integers(0, 256, size=(blocks, block_bytes), dtype=np.uint8)
    scales = rng.uniform(0.001, 0.02, size=(blocks, 2)).astype(np.float16).view(np.uint8)
    if qtype == "q8_0":
        raw[:, 0:2] = scales[:, 0:2]  # d
    else:
        raw[:, 0:4] = scales  # d, dmin
    return raw.reshape(-1)


def tensor_type(qtype: str, dims: list[int]) -> str:
    """The type a matrix is stored in: `qtype`, or Q8_0 where its rows do not fill whole `qtype` blocks (Q4_K's
    256-element blocks do not divide Qwen 2.5 0.5B's 896-wide rows; llama.cpp's quantizer falls back likewise)."""
    return qtype if dims[0] % TYPES[qtype][1] == 0 else "q8_0"


def plan(size: str, qtype: str, n_vocab: int) -> Plan:
    if size not in SHAPES:
        raise ValueError(f"size {size!r}: choose one of {', '.join(SHAPES)}")
    if qtype not in TYPES:
        raise ValueError(f"type {qtype!r}: choose one of {', '.join(TYPES)}")
    return Plan(size, qtype, *SHAPES[size], n_vocab)


def write(size: str, qtype: str, out: Path, tokenizer_from: Path, seed: int = 0) -> Plan:
    """Write the synthetic model to `out`, taking the `tokenizer.*` keys of the GGUF `tokenizer_from`.
    Returns its plan. Raises ValueError for an unknown size or type."""
    import gguf

    from app.core.gguf_header import read_header_from_path

    source = read_header_from_path(tokenizer_from)
    p = plan(size, qtype, len(source.metadata["tokenizer.ggml.tokens"]))
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(out), "llama")
    w.add_name(f"synthetic llama {size} {qtype} (random weights)")
    w.add_context_length(4096)
    w.add_embedding_length(p.n_embd)
    w.add_block_count(p.n_layer)
    w.add_feed_forward_length(p.n_ff)
    w.add_head_count(p.n_head)
    w.add_head_count_kv(p.n_head_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(p.n_embd // p.n_head)
    w.add_rope_freq_base(10000.0)
    w.add_file_type(7 if qtype == "q8_0" else 15)  # LLAMA_FTYPE_MOSTLY_Q8_0 / MOSTLY_Q4_K_M
    _copy_tokenizer(w, source)
    for name, dims, quantized in p.tensors():
        elements = int(np.prod(dims))
        if quantized:
            t = tensor_type(qtype, dims)
            nbytes = elements // TYPES[t][1] * TYPES[t][2]
            row_bytes = dims[0] // TYPES[t][1] * TYPES[t][2]  # gguf-py takes a quantized tensor's byte shape
            w.add_tensor_info(name, [*reversed(dims[1:]), row_bytes], np.dtype(np.uint8), nbytes,
                              raw_dtype=gguf.GGMLQuantizationType(TYPES[t][0]))
        else:
            w.add_tensor_info(name, list(reversed(dims)), np.dtype(np.float32), elements * 4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    for name, dims, quantized in p.tensors():
        elements = int(np.prod(dims))
        w.write_tensor_data(_quantized(elements, tensor_type(qtype, dims), rng) if quantized
                            else np.ones(elements, np.float32))
    w.close()
    return p


def _copy_tokenizer(w, source) -> None:
    import gguf

    for key, value in source.metadata.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = source.metadata_types[key]
        if vtype.startswith("array["):
            inner = vtype[len("array["):-1]
            w.add_key_value(key, value, gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType[inner.upper()])
        else:
            w.add_key_value(key, value, gguf.GGUFValueType[vtype.upper()])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m app.host.synthetic_gguf", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=sorted(SHAPES), required=True)
    ap.add_argument("--type", dest="qtype", choices=sorted(TYPES), default="q8_0")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tokenizer-from", type=Path, default=None,
                    help="the GGUF whose tokenizer.* keys to use (default: the embedded SmolLM2-135M in dist/)")
    args = ap.parse_args(argv)
    source = args.tokenizer_from or Path("dist/models/smollm2-135m-instruct.q8_0.gguf")
    if not source.exists():
        print(f"error: {source} not found: run `python -m app build` first, or pass --tokenizer-from", file=sys.stderr)
        return 1
    t0 = time.monotonic()
    p = write(args.size, args.qtype, args.out, source)
    print(f"{args.out}: llama {args.size} {args.qtype}, {p.parameters() / 1e9:.2f}B parameters, "
          f"{args.out.stat().st_size / 1e9:.2f} GB, written in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
