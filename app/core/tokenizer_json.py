"""A Hugging Face `tokenizer.json` built from a GGUF header's own vocabulary (pure Python).

flare-web's tokenizer built from the GGUF is wrong for byte-level BPE (SmolLM2): each space
becomes three <|endoftext|> ids. A tokenizer.json built from the same `tokenizer.ggml.tokens`,
`merges` and `token_type`, loaded with `FlareTokenizer.from_json`, gives llama.cpp's ids.
Used by the build for the embedded model and in the page for a GGUF picked from disk.
"""

from __future__ import annotations

from typing import Any

# llama.cpp's token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
CONTROL = 3


class TokenizerBuildError(ValueError):
    pass


def tokenizer_json(metadata: dict[str, Any], source: str = "the model") -> dict[str, Any]:
    def get(name: str):
        if name not in metadata:
            raise TokenizerBuildError(f"{source} has no {name}: cannot build a tokenizer from it")
        return metadata[name]

    model = get("tokenizer.ggml.model")
    if model != "gpt2":
        raise TokenizerBuildError(
            f"{source}: tokenizer.ggml.model is {model!r}; only byte-level BPE ('gpt2') is supported"
        )
    tokens: list[str] = get("tokenizer.ggml.tokens")
    token_types: list[int] = get("tokenizer.ggml.token_type")
    merges: list[str] = get("tokenizer.ggml.merges")
    added = [
        {"id": i, "content": tok, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, (tok, ttype) in enumerate(zip(tokens, token_types))
        if ttype == CONTROL
    ]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Digits", "individual_digits": True},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            ],
        },
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": {tok: i for i, tok in enumerate(tokens)},
            # flare's JSON reader wants "a b" strings, not ["a", "b"] pairs.
            "merges": list(merges),
        },
    }
