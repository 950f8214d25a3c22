"""A tokenizer-only GGUF: the model's vocabulary in a tiny llama-shaped model, so llama.cpp can tokenize for the
benchmark (app/web/tokenizer.py) without a second copy of the model's weights.

llama.cpp reads its tokenizer from the `tokenizer.*` metadata alone (llama-vocab.cpp: model type, pre-tokenizer,
tokens, scores, token types, merges, special ids and flags); none of it depends on the architecture or the
weights. wllama 2.x cannot load a vocabulary only, so the file carries every `tokenizer.*` key of the model,
unchanged, under architecture "llama" with one layer of EMBD-wide zero tensors (llama.cpp's LLM_ARCH_LLAMA
tensor list, llama-model.cpp). SmolLM2-135M's is 3.3 MB instead of 145 MB; Gemma 3 270M's (262,144 tokens)
14.9 MB instead of 253 MB. The page test tests/page/test_tokenizer_gguf.py shows it gives the full model's ids, text and
end-of-generation set on both embedded models.
"""

from __future__ import annotations

from typing import Any

from app.core.gguf_write import Tensor, write_gguf

EMBD = 8  # the tiny model's width: head size EMBD, one head, feed-forward EMBD
F32 = 0
KEPT_GENERAL = ("general.name",)


class NoVocabulary(ValueError):
    """The GGUF has no tokenizer.ggml.tokens: nothing to build a tokenizer from."""


def _hyperparameters(context_length: int, n_vocab: int) -> tuple[dict[str, Any], dict[str, str]]:
    values = {
        "general.architecture": "llama",
        "llama.context_length": context_length,
        "llama.embedding_length": EMBD,
        "llama.block_count": 1,
        "llama.feed_forward_length": EMBD,
        "llama.attention.head_count": 1,
        "llama.attention.head_count_kv": 1,
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "llama.rope.dimension_count": EMBD,
        "llama.vocab_size": n_vocab,
    }
    types = {k: "uint32" for k in values}
    types["general.architecture"] = "string"
    types["llama.attention.layer_norm_rms_epsilon"] = "float32"
    return values, types


def _tensors(n_vocab: int) -> list[Tensor]:
    """llama.cpp's LLM_ARCH_LLAMA tensors for one layer (the output head tied to token_embd), all zeros."""
    shapes = {"token_embd.weight": [EMBD, n_vocab], "output_norm.weight": [EMBD],
              "blk.0.attn_norm.weight": [EMBD], "blk.0.attn_q.weight": [EMBD, EMBD],
              "blk.0.attn_k.weight": [EMBD, EMBD], "blk.0.attn_v.weight": [EMBD, EMBD],
              "blk.0.attn_output.weight": [EMBD, EMBD], "blk.0.ffn_norm.weight": [EMBD],
              "blk.0.ffn_gate.weight": [EMBD, EMBD], "blk.0.ffn_down.weight": [EMBD, EMBD],
              "blk.0.ffn_up.weight": [EMBD, EMBD]}
    out = []
    for name, dims in shapes.items():
        elements = 1
        for d in dims:
            elements *= d
        out.append(Tensor(name, dims, F32, bytes(4 * elements)))
    return out


def tokenizer_gguf(metadata: dict[str, Any], types: dict[str, str]) -> bytes:
    """The tokenizer-only GGUF (bytes) for the model whose metadata and value types (app.core.gguf_header's
    GGUFHeader.metadata and .metadata_types) are given. Raises NoVocabulary when the file has no
    `tokenizer.ggml.tokens` array."""
    tokens = metadata.get("tokenizer.ggml.tokens")
    if not isinstance(tokens, list) or not tokens:
        raise NoVocabulary("the GGUF has no tokenizer.ggml.tokens array, so no engine can tokenize with it")
    arch = metadata.get("general.architecture")
    context = metadata.get(f"{arch}.context_length")
    context = context if isinstance(context, int) and not isinstance(context, bool) and context > 0 else 2048
    out, out_types = _hyperparameters(min(context, (1 << 32) - 1), len(tokens))
    for key, value in metadata.items():
        if key.startswith("tokenizer.") or key in KEPT_GENERAL:
            out[key], out_types[key] = value, types[key]
    return write_gguf(out, out_types, _tensors(len(tokens)))
