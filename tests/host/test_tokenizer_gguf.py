"""The tokenizer-only GGUF (app.core.tokenizer_gguf) and the writer under it (app.core.gguf_write): what they
write, read back by gguf-py's GGUFReader and by our own reader. That llama.cpp tokenizes with it exactly as with
the full model is the page test tests/page/test_tokenizer_gguf.py."""

from __future__ import annotations

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from app.core.gguf_header import parse_header, read_header_from_path
from app.core.gguf_write import Tensor, write_gguf
from app.core.tokenizer_gguf import NoVocabulary, tokenizer_gguf
from tests.conftest import DIST

MODELS = [DIST / "models" / "smollm2-135m-instruct.q8_0.gguf", DIST / "models" / "gemma-3-270m-q4_k_m.gguf"]


def _reader_values(path) -> dict:
    reader = gguf.GGUFReader(path)
    out = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        out[name] = field.contents()
    return out, reader


def test_written_values_read_back_with_gguf_py(tmp_path):
    metadata = {"general.architecture": "llama", "a.u32": 7, "a.f32": 0.5, "a.bool": True, "a.i64": -3,
                "a.strings": ["x", "ü", ""], "a.ints": [1, -2, 3], "a.nested": [[1, 2], [3]]}
    types = {"general.architecture": "string", "a.u32": "uint32", "a.f32": "float32", "a.bool": "bool",
             "a.i64": "int64", "a.strings": "array[string]", "a.ints": "array[int32]",
             "a.nested": "array[array[uint8]]"}
    data = np.arange(6, dtype=np.float32).tobytes()
    blob = write_gguf(metadata, types, [Tensor("t", [3, 2], 0, data), Tensor("u", [1], 0, b"\0" * 4)])
    path = tmp_path / "x.gguf"
    path.write_bytes(blob)
    values, reader = _reader_values(path)
    assert {k: v for k, v in values.items() if k != "a.nested"} == {k: v for k, v in metadata.items() if k != "a.nested"}
    assert [t.name for t in reader.tensors] == ["t", "u"]
    assert reader.tensors[0].data.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    ours = parse_header(blob, len(blob))
    assert ours.metadata == metadata and ours.metadata_types == types
    assert [(t.name, t.dims, t.offset) for t in ours.tensors] == [("t", [3, 2], 0), ("u", [1], 32)]


def test_a_tensor_whose_data_does_not_fit_is_refused_by_name():
    with pytest.raises(ValueError, match="tensor 't': 8 bytes of data, its dims and type need 24"):
        write_gguf({}, {}, [Tensor("t", [3, 2], 0, b"\0" * 8)])
    with pytest.raises(ValueError, match="no GGUF type given for 'k'"):
        write_gguf({"k": 1}, {}, [])


def test_a_file_without_a_vocabulary_is_refused():
    with pytest.raises(NoVocabulary, match="tokenizer.ggml.tokens"):
        tokenizer_gguf({"general.architecture": "llama"}, {"general.architecture": "string"})


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.name)
def test_the_tokenizer_gguf_keeps_every_tokenizer_key_and_is_small(model, tmp_path):
    if not model.exists():
        pytest.skip(f"{model} is built by `python -m app build` (the test session builds it)")
    header = read_header_from_path(model)
    blob = tokenizer_gguf(header.metadata, header.metadata_types)
    path = tmp_path / "tok.gguf"
    path.write_bytes(blob)
    values, reader = _reader_values(path)
    full, _ = _reader_values(model)
    tokenizer_keys = {k for k in full if k.startswith("tokenizer.")}
    assert tokenizer_keys and {k for k in values if k.startswith("tokenizer.")} == tokenizer_keys
    for key in tokenizer_keys:
        assert values[key] == full[key], key
    assert values["general.architecture"] == "llama"
    assert values["llama.vocab_size"] == len(full["tokenizer.ggml.tokens"])
    n_vocab = len(full["tokenizer.ggml.tokens"])
    assert len(blob) < model.stat().st_size / 10
    assert len(blob) < 32 * n_vocab + header.data_offset + (64 << 10)  # the embedding (8 float32 a token) + the header
    emb = next(t for t in reader.tensors if t.name == "token_embd.weight")
    assert list(emb.shape) == [8, n_vocab] and not emb.data.any()
