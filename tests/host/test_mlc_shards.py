"""app.engines.mlc.host.shards: MLC q0 shards recreated from a GGUF with numpy, refused unless the md5 matches."""

import hashlib
import json

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import dequantize, quantize

from app.engines.mlc.host import shards


def permute(w, n_head):  # llama.cpp's convert_hf_to_gguf.py permutation of Q/K rows
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _tiny(tmp_path):
    """A 1-layer llama GGUF (Q8_0 matrices, F32 norms) and the HF float32 tensors it holds."""
    rng = np.random.default_rng(0)
    hf = {}
    writer = GGUFWriter(str(tmp_path / "t.gguf"), "llama")
    writer.add_uint32("llama.attention.head_count", 2)
    writer.add_uint32("llama.attention.head_count_kv", 1)
    shapes = {"token_embd": (16, 32), "blk.0.attn_q": (32, 32), "blk.0.attn_k": (16, 32), "blk.0.attn_v": (16, 32),
              "blk.0.ffn_gate": (64, 32), "blk.0.ffn_up": (64, 32)}
    for name, shape in shapes.items():
        w = rng.standard_normal(shape).astype(np.float32)
        stored = permute(w, 2) if name.endswith("attn_q") else permute(w, 1) if name.endswith("attn_k") else w
        q = quantize(stored, GGMLQuantizationType.Q8_0)
        writer.add_tensor(f"{name}.weight", q, raw_dtype=GGMLQuantizationType.Q8_0)
        exact = dequantize(q, GGMLQuantizationType.Q8_0).reshape(shape)
        hf[shards.hf_name(f"{name}.weight")] = (shards.unpermute(exact, 2) if name.endswith("attn_q")
                                                else shards.unpermute(exact, 1) if name.endswith("attn_k") else exact)
    norm = rng.standard_normal(32).astype(np.float32)
    writer.add_tensor("output_norm.weight", norm)
    hf["model.norm.weight"] = norm
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return tmp_path / "t.gguf", hf


def _cache(model_dir, arrays, dtype):
    """tensor-cache.json as TVM writes it, for `arrays` (name -> float32) cast to dtype, in one shard."""
    records, blob = [], b""
    for name, a in arrays.items():
        data = a.astype(dtype).tobytes()
        records.append({"name": name, "shape": list(a.shape), "dtype": dtype, "format": "raw",
                        "nbytes": len(data), "byteOffset": len(blob)})
        blob += data
    shard = {"dataPath": "params_shard_0.bin", "format": "raw-shard", "nbytes": len(blob), "records": records,
             "md5sum": hashlib.md5(blob).hexdigest()}
    (model_dir / "tensor-cache.json").write_text(json.dumps({"metadata": {}, "records": [shard]}))
    return blob


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_shards_equal_the_hf_weights_fused_and_cast(tmp_path, dtype):
    gguf, hf = _tiny(tmp_path)
    expected = {"model.embed_tokens.weight": hf["model.embed_tokens.weight"],
                "model.layers.0.self_attn.qkv_proj.weight": np.concatenate(
                    [hf[f"model.layers.0.self_attn.{p}_proj.weight"] for p in "qkv"]),
                "model.layers.0.mlp.gate_up_proj.weight": np.concatenate(
                    [hf["model.layers.0.mlp.gate_proj.weight"], hf["model.layers.0.mlp.up_proj.weight"]]),
                "model.norm.weight": hf["model.norm.weight"]}
    blob = _cache(tmp_path, expected, dtype)
    [path] = shards.regenerate(gguf, tmp_path, log=lambda _: None)
    assert path.read_bytes() == blob


def test_a_shard_that_differs_is_refused_not_written(tmp_path):
    gguf, hf = _tiny(tmp_path)
    wrong = {"model.norm.weight": hf["model.norm.weight"] + 1}
    _cache(tmp_path, wrong, "float32")
    with pytest.raises(shards.ShardError, match="md5"):
        shards.regenerate(gguf, tmp_path, log=lambda _: None)
    assert not (tmp_path / "params_shard_0.bin").exists()


def test_unknown_tensors_and_encodings_are_named():
    with pytest.raises(shards.ShardError, match="blk.0.attn_qkv"):
        shards.hf_name("blk.0.attn_qkv.weight")
    with pytest.raises(shards.ShardError, match="type 12"):
        shards.dequantize(np.zeros(10, np.uint8), 12, (10,))


@pytest.mark.parametrize("change, words", [
    (lambda shard: shard.update(dataPath="../escaped.bin"), "not a plain file name"),
    (lambda shard: shard.pop("md5sum"), "nothing to check the shard against"),
    (lambda shard: shard["records"][0].update(dtype="O"), "q0 models hold float32 or float16"),
])
def test_a_tensor_cache_that_is_not_tvms_is_refused_in_words(tmp_path, change, words):
    gguf, hf = _tiny(tmp_path)
    _cache(tmp_path, {"model.norm.weight": hf["model.norm.weight"]}, "float32")
    cache = json.loads((tmp_path / "tensor-cache.json").read_text())
    change(cache["records"][0])
    (tmp_path / "tensor-cache.json").write_text(json.dumps(cache))
    with pytest.raises(shards.ShardError, match=words):
        shards.regenerate(gguf, tmp_path, log=lambda _: None)
    assert not (tmp_path.parent / "escaped.bin").exists()
