"""MLC's weight shards of a q0 model (q0f32, q0f16) recreated from the GGUF with numpy alone, checked by md5.

A q0 model's weights are the GGUF's tensors dequantized, renamed to MLC's parameters (q/k/v fused into qkv_proj,
gate/up into gate_up_proj) and cast to the model's dtype: nothing mlc-llm or TVM adds. So a machine that has the
GGUF, numpy and the small files of the build (tensor-cache.json, mlc-chat-config.json) can write the shards
without carrying them (538 MB for q0f32): the GPU machine, which reaches no registry and takes 64 MiB a call.
Every shard is checked against the md5sum tensor-cache.json records (TVM's tvmjs.dump_tensor_cache writes it),
so a shard that differs by one byte from what mlc-llm's convert_weight wrote is refused, never served. Seen on
2026-12-05 for SmolLM2-135M Q8_0: all 16 q0f32 shards (538 MB) and 8 q0f16 shards equal convert_weight's byte for
byte (3 s), which also shows that MLC's q0f32 weights are the GGUF's Q8_0 dequantized exactly.

Steps per parameter: GGUF tensor (Q8_0: float16 scale x 32 int8 a block; F32; F16) -> float32, numpy shape =
the GGUF's dims reversed; llama.cpp's Q/K row permutation undone (convert_hf_to_gguf.py permutes rows of
attn_q / attn_k by head halves for its rope); HF name -> MLC name (fused along axis 0, as mlc-llm's standard HF
loader concatenates); `astype(dtype)` (numpy's round-to-nearest-even for float16, as mlc-llm's loader).

    python -m app.engines.mlc.host.shards GGUF MODEL_DIR   # writes MODEL_DIR/params_shard_*.bin; exit 0, 1 refused
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.core.gguf_header import read_header_from_path

Q8_0, F32, F16 = 8, 0, 1  # ggml type ids
LAYER_NAMES = {  # GGUF blk.{i}.<name>.weight -> HF model.layers.{i}.<name>.weight (llama architecture)
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}
TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
FUSED = {"self_attn.qkv_proj": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
         "mlp.gate_up_proj": ("mlp.gate_proj", "mlp.up_proj")}


class ShardError(RuntimeError):
    """The shards cannot be recreated (an unknown tensor or type, a shape or md5 that differs): says which."""


def hf_name(gguf_name: str) -> str:
    """The HF parameter name of a llama GGUF tensor name ("blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight")."""
    stem, _, suffix = gguf_name.rpartition(".")
    parts = stem.split(".")
    if parts[0] == "blk" and len(parts) == 3 and parts[2] in LAYER_NAMES:
        return f"model.layers.{parts[1]}.{LAYER_NAMES[parts[2]]}.{suffix}"
    if stem in TOP_NAMES:
        return f"{TOP_NAMES[stem]}.{suffix}"
    raise ShardError(f"GGUF tensor {gguf_name!r} has no known HF name (llama architecture only)")


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Undo llama.cpp's rope permutation of Q/K rows (convert_hf_to_gguf.py viewed each head's rows as (2, r/2) and
    swapped to (r/2, 2)): view as (r/2, 2), swap back to (2, r/2)."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def dequantize(raw: np.ndarray, type_id: int, shape: tuple[int, ...]) -> np.ndarray:
    """float32 array of `shape` from a tensor's bytes (Q8_0, F32 or F16). Raises ShardError for another type."""
    if type_id == F32:
        return raw.view(np.float32).reshape(shape)
    if type_id == F16:
        return raw.view(np.float16).astype(np.float32).reshape(shape)
    if type_id == Q8_0:
        blocks = raw.reshape(-1, 34)
        scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
        quants = blocks[:, 2:].copy().view(np.int8).astype(np.float32)
        return (scale * quants).reshape(shape)
    raise ShardError(f"GGUF tensor type {type_id} is not recreated here (Q8_0, F32 and F16 only)")


class GGUFTensors:
    """The GGUF's tensors as float32 HF-named arrays, Q/K unpermuted (read on demand from a memory map)."""

    def __init__(self, path: Path) -> None:
        try:
            self.header = read_header_from_path(path)
        except (OSError, ValueError) as err:
            raise ShardError(f"{path}: not a GGUF it can read ({err})") from None
        self.data = np.memmap(path, dtype=np.uint8, mode="r")
        meta = self.header.metadata
        arch = self.header.architecture
        if arch != "llama":
            raise ShardError(f"the GGUF's architecture is {arch!r}: shards are recreated for llama only")
        if "llama.attention.head_count" not in meta:
            raise ShardError("the GGUF has no llama.attention.head_count: Q/K cannot be un-permuted")
        self.n_head = int(meta["llama.attention.head_count"])
        self.n_head_kv = int(meta.get("llama.attention.head_count_kv", self.n_head))
        self.by_hf = {hf_name(t.name): t for t in self.header.tensors}

    def get(self, name: str) -> np.ndarray:
        info = self.by_hf.get(name)
        if info is None:
            raise ShardError(f"MLC parameter needs {name}, which the GGUF does not hold")
        start = self.header.data_offset + info.offset
        array = dequantize(np.asarray(self.data[start:start + info.nbytes()]), info.type_id, tuple(reversed(info.dims)))
        if name.endswith("self_attn.q_proj.weight"):
            array = unpermute(array, self.n_head)
        elif name.endswith("self_attn.k_proj.weight"):
            array = unpermute(array, self.n_head_kv)
        return array


def mlc_param(tensors: GGUFTensors, name: str) -> np.ndarray:
    """MLC parameter `name` in float32: a GGUF tensor, or several fused along axis 0."""
    for fused, parts in FUSED.items():
        if f".{fused}." in name:
            return np.concatenate([tensors.get(name.replace(fused, part)) for part in parts], axis=0)
    return tensors.get(name)


RECORD_KEYS = {"name": str, "shape": list, "dtype": str, "format": str, "nbytes": int, "byteOffset": int}


def _check_shard(shard: object) -> None:
    """Raise ShardError unless `shard` is a record TVM writes: a plain file name, sizes, an md5 to check against."""
    if not isinstance(shard, dict):
        raise ShardError(f"tensor-cache.json: a shard record is {type(shard).__name__}, not an object")
    path = shard.get("dataPath")
    if not isinstance(path, str) or not path or Path(path).name != path or path in (".", ".."):
        raise ShardError(f"tensor-cache.json: shard dataPath {path!r} is not a plain file name in the model folder")
    if shard.get("format") != "raw-shard":
        raise ShardError(f"{path}: format {shard.get('format')!r}, expected raw-shard")
    if not isinstance(shard.get("md5sum"), str) or not shard["md5sum"]:
        raise ShardError(f"{path}: no md5sum in tensor-cache.json: nothing to check the shard against")
    if not isinstance(shard.get("nbytes"), int) or not 0 < shard["nbytes"] <= 1 << 32:
        raise ShardError(f"{path}: nbytes {shard.get('nbytes')!r} is not a shard size (1 byte to 4 GiB)")
    if not isinstance(shard.get("records"), list):
        raise ShardError(f"{path}: no list of tensor records")
    for rec in shard["records"]:
        bad = [k for k, t in RECORD_KEYS.items() if not isinstance(rec, dict) or not isinstance(rec.get(k), t)]
        if bad:
            raise ShardError(f"{path}: a tensor record lacks or mistypes {', '.join(bad)}")
        if rec["dtype"] not in ("float32", "float16"):
            raise ShardError(f"{path}: {rec['name']}: dtype {rec['dtype']!r} (q0 models hold float32 or float16)")


def regenerate(gguf: Path, model_dir: Path, log: Callable[[str], None] = print, write: bool = True) -> list[Path]:
    """Write every shard tensor-cache.json in `model_dir` lists, from `gguf`; each checked by its md5sum.
    Returns the shard paths. With write=False only checks (the build's proof that mlc-llm's shards hold the GGUF's
    weights). Raises ShardError naming the parameter or shard that differs, OSError for files."""
    try:
        cache = json.loads((model_dir / "tensor-cache.json").read_text())
    except ValueError as err:
        raise ShardError(f"{model_dir / 'tensor-cache.json'}: not JSON ({err})") from None
    shards = cache.get("records") if isinstance(cache, dict) else None
    if not isinstance(shards, list) or not shards:
        raise ShardError("tensor-cache.json lists no shards (expected TVM's {\"records\": [shard, ...]})")
    tensors = GGUFTensors(gguf)
    written = []
    for shard in shards:
        _check_shard(shard)
        buf = bytearray(shard["nbytes"])
        for rec in shard["records"]:
            if rec.get("format") != "raw":
                raise ShardError(f"{rec['name']}: encoded as {rec.get('format')!r}; only raw (MLC_ENCODE_FORMAT=raw) is recreated")
            array = mlc_param(tensors, rec["name"]).astype(rec["dtype"])
            if list(array.shape) != list(rec["shape"]) or array.nbytes != rec["nbytes"]:
                raise ShardError(f"{rec['name']}: the GGUF gives shape {list(array.shape)} ({array.nbytes} bytes of "
                                 f"{rec['dtype']}), tensor-cache.json says {rec['shape']} ({rec['nbytes']} bytes)")
            if rec["byteOffset"] + rec["nbytes"] > len(buf):
                raise ShardError(f"{rec['name']}: bytes {rec['byteOffset']}..{rec['byteOffset'] + rec['nbytes']} lie "
                                 f"outside its shard ({len(buf)} bytes)")
            buf[rec["byteOffset"]:rec["byteOffset"] + rec["nbytes"]] = array.tobytes()
        digest = hashlib.md5(buf).hexdigest()  # noqa: S324 - the checksum TVM records, not a security check
        if digest != shard["md5sum"]:
            raise ShardError(f"{shard['dataPath']}: md5 {digest} differs from tensor-cache.json's {shard['md5sum']}: "
                             "these are not the weights mlc-llm's convert_weight wrote")
        path = model_dir / shard["dataPath"]
        if write:
            path.write_bytes(buf)
        written.append(path)
        log(f"[mlc-shards] {shard['dataPath']}: {len(buf) / 1e6:.1f} MB, md5 ok")
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m app.engines.mlc.host.shards GGUF MODEL_DIR", file=sys.stderr)
        return 2
    try:
        regenerate(Path(args[0]), Path(args[1]))
    except (ShardError, ValueError) as err:
        print(f"mlc-shards: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"mlc-shards: {err.filename or args[0]}: {err.strerror or err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
