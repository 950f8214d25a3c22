"""Carry a GGUF's Q8_0 blocks into an ONNX graph unchanged, and prove it.

A Q8_0 block is 32 int8 values and one float16 scale: w = d * q. ONNX Runtime's `MatMulNBits`
(com.microsoft) with bits=8 and block_size=32 holds exactly that: B is uint8 [N, K/32, 32] read as
(b - zero_point) with the default zero point 128 (so b = q + 128, the same int8 value offset into
uint8), scales is float32 [N * K/32] (the float16 scale widened, exactly). accuracy_level=0 keeps the
activations in float32: each block is dequantized in the kernel and the product summed in float32.

Why not blocked `DequantizeLinear` (opset 21, block_size) feeding `MatMul`: ONNX Runtime's default graph
optimizations (host 1.32 and the pinned onnxruntime-web build alike carry `DQMatMulNBitsFusion`) fuse
that pair into MatMulNBits with accuracy_level 4, which quantizes the activations to int8 as well
(measured: 0.4-0.5% relative error on a test product, against 3e-7 for MatMulNBits at level 0).

The rewrite starts from the float32 export of the model transformers dequantized from the GGUF. Each
float weight there is matched, by exact value, to the GGUF tensor it came from (transformers applies
`gguf.quants.dequantize`, then reorders the rows of attn_q / attn_k to undo llama.cpp's rope
permutation; a row reorder keeps every block whole), and replaced by that tensor's own blocks, rows in
the same order. The input embedding (a Gather) becomes a Gather of the uint8 blocks and of the scales,
dequantized in the graph by the same formula (Cast, Sub 128, Mul); with tied embeddings the output
projection is a MatMulNBits on the same two initializers, so the table is stored once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BLOCK = 32
ZERO_POINT = 128  # MatMulNBits' default zero point for bits=8: 2 ** (bits - 1)
MS_DOMAIN = "com.microsoft"
LINEAR_OP = "MatMulNBits"
# Initializers smaller than this are graph constants (shapes, scalars, the rotary inv_freq), not weights.
WEIGHT_MIN_ELEMENTS = 64


class Q8Error(RuntimeError):
    pass


# ---------------------------------------------------------------------------------------------- blocks


def q8_0_blocks(raw: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """A Q8_0 tensor's bytes (as gguf's reader gives them) -> (q int8 [rows, cols], d float16 [rows, cols/32])."""
    if cols % BLOCK:
        raise Q8Error(f"a Q8_0 row of {cols} values is not whole blocks of {BLOCK}")
    blocks = np.ascontiguousarray(raw, dtype=np.uint8).reshape(rows * cols // BLOCK, 2 + BLOCK)
    d = blocks[:, :2].copy().view(np.float16).reshape(rows, cols // BLOCK)
    q = blocks[:, 2:].copy().view(np.int8).reshape(rows, cols)
    return q, d


def to_matmulnbits(q: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(q int8 [N, K], d float16 [N, K/32]) -> MatMulNBits' B uint8 [N, K/32, 32] and scales float32 [N * K/32]."""
    n, k = q.shape
    b = (q.astype(np.int16) + ZERO_POINT).astype(np.uint8).reshape(n, k // BLOCK, BLOCK)
    return b, d.astype(np.float32).reshape(-1)


def dequantize_like_ort(b: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """MatMulNBits' dequantization of B (8 bits, default zero point): (float(b) - float(zp)) * scale, in float32."""
    n, blocks, size = b.shape
    s = np.asarray(scales, dtype=np.float32).reshape(n, blocks, 1)
    return ((b.astype(np.float32) - np.float32(ZERO_POINT)) * s).reshape(n, blocks * size)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal as float32 bit patterns (stricter than ==: +0.0 and -0.0 differ)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def _digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a, dtype=np.float32)
    return hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()


def rope_row_order(rows: int, n_head: int, n_kv_head: int | None = None) -> np.ndarray:
    """The row order transformers gives attn_q / attn_k when it loads a llama GGUF (undoing llama.cpp's rope
    permutation): the same formula as its LlamaTensorProcessor._reverse_permute_weights, applied to row indices."""
    if n_kv_head is not None and n_head != n_kv_head:
        n_head = n_kv_head
    dim = rows // n_head // 2
    return np.arange(rows).reshape(n_head, dim, 2).swapaxes(2, 1).reshape(rows)


# ------------------------------------------------------------------------------------------- the GGUF


@dataclass
class GgufWeight:
    name: str
    kind: str  # "Q8_0" or "F32"
    shape: tuple[int, ...]  # numpy order: (rows, cols) for a matrix
    q: np.ndarray | None = None  # Q8_0: int8 [rows, cols]
    d: np.ndarray | None = None  # Q8_0: float16 [rows, cols/32]
    f32: np.ndarray | None = None  # F32 values
    orders: dict[str, np.ndarray] = field(default_factory=dict)  # row orders under which it may appear
    reference: np.ndarray | None = None  # gguf.quants.dequantize of the tensor: what every check compares with

    def dequantized(self) -> np.ndarray:
        assert self.reference is not None
        return self.reference


def read_gguf(path) -> tuple[dict[str, GgufWeight], dict[str, Any]]:
    """Every tensor of a GGUF, with its Q8_0 blocks or F32 values and gguf.quants.dequantize's result."""
    from gguf import GGMLQuantizationType, GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))
    arch = str(bytes(reader.fields["general.architecture"].parts[-1]), "utf-8")

    def scalar(key: str):
        f = reader.fields.get(f"{arch}.{key}")
        return None if f is None else int(f.parts[-1][0])

    meta = {"architecture": arch, "n_head": scalar("attention.head_count"),
            "n_kv_head": scalar("attention.head_count_kv")}
    out: dict[str, GgufWeight] = {}
    for t in reader.tensors:
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))  # GGUF lists ne[0] (the row length) first
        if t.tensor_type == GGMLQuantizationType.Q8_0:
            rows, cols = (1, shape[0]) if len(shape) == 1 else shape
            q, d = q8_0_blocks(t.data, rows, cols)
            w = GgufWeight(t.name, "Q8_0", shape, q=q, d=d)
        elif t.tensor_type == GGMLQuantizationType.F32:
            w = GgufWeight(t.name, "F32", shape, f32=np.asarray(t.data, dtype=np.float32).reshape(shape))
        else:
            w = GgufWeight(t.name, t.tensor_type.name, shape)
        w.reference = np.asarray(dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)
        w.orders["as stored"] = np.arange(shape[0])
        if arch == "llama" and len(shape) == 2 and meta["n_head"]:
            if ".attn_q." in t.name:
                w.orders["rope rows reordered as transformers does"] = rope_row_order(shape[0], meta["n_head"], meta["n_head"])
            elif ".attn_k." in t.name:
                w.orders["rope rows reordered as transformers does"] = rope_row_order(shape[0], meta["n_head"], meta["n_kv_head"])
        out[t.name] = w
    return out, meta


def value_index(weights: dict[str, GgufWeight]) -> dict[str, tuple[str, str]]:
    """sha256 of each tensor's dequantized values (under each row order it may appear in) -> (name, order)."""
    index: dict[str, tuple[str, str]] = {}
    for w in weights.values():
        for order_name, order in w.orders.items():
            key = _digest(w.dequantized()[order])
            if key in index:
                raise Q8Error(f"GGUF tensors {index[key][0]} and {w.name} hold identical values: cannot tell them apart")
            index[key] = (w.name, order_name)
    return index


# ------------------------------------------------------------------------------------------ the rewrite


def _block_names(gguf_name: str, order_name: str) -> tuple[str, str]:
    """The initializer names (B, scales) the rewrite gives a GGUF tensor's blocks in one row order:
    "<name>.q8_0_blocks" and "<name>.q8_0_scales", with ".rope_rows" after the name unless the order is "as
    stored". Raises nothing."""
    stem = gguf_name + ("" if order_name == "as stored" else ".rope_rows")
    return f"{stem}.q8_0_blocks", f"{stem}.q8_0_scales"


def _is_float_weight(init) -> bool:
    """Whether an onnx TensorProto is a float32 weight (WEIGHT_MIN_ELEMENTS values or more), no constant."""
    from onnx import TensorProto

    return init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= WEIGHT_MIN_ELEMENTS


class _Tracer:
    """A graph's initializers, traced by exact value to the GGUF tensors they came from, and the blocks made.

    `blocks_made` maps (GGUF name, row order) -> (B name, scales name); `new_inits` holds the onnx
    TensorProtos the rewrite adds (blocks, scales, the embedding's constants), in the order they were made."""

    def __init__(self, graph, weights: dict[str, GgufWeight]):
        """`graph`: an onnx GraphProto; raises Q8Error when two GGUF tensors hold identical values
        (value_index)."""
        self.graph = graph
        self.weights = weights
        self.inits = {i.name: i for i in graph.initializer}
        self.producer = {o: n for n in graph.node for o in n.output}
        self.index = value_index(weights)
        self._arrays: dict[str, np.ndarray] = {}
        self.blocks_made: dict[tuple[str, str], tuple[str, str]] = {}
        self.new_inits: list = []

    def array(self, name: str) -> np.ndarray:
        """The initializer `name` as a numpy array, in its own shape and type (read once); KeyError if there
        is none."""
        from onnx import numpy_helper

        if name not in self._arrays:
            self._arrays[name] = numpy_helper.to_array(self.inits[name])
        return self._arrays[name]

    def trace(self, values: np.ndarray, what: str) -> tuple[GgufWeight, str]:
        """The GGUF tensor whose dequantized values (under one of its row orders) are exactly `values`
        (float32, a GGUF tensor's shape: [N, K] for a matrix), and that order's name; raises Q8Error naming
        `what` if none is."""
        hit = self.index.get(_digest(values))
        if hit is None:
            raise Q8Error(f"{what}: its values are not any GGUF tensor's dequantized values")
        return self.weights[hit[0]], hit[1]

    def blocks_for(self, w: GgufWeight, order_name: str) -> tuple[str, str]:
        """The names of the initializers holding Q8_0 tensor `w`'s blocks with its rows in `order_name`'s
        order: B uint8 [N, K/32, 32] and scales float32 [N * K/32], made (and added to `new_inits`) the first
        time only."""
        from onnx import numpy_helper

        key = (w.name, order_name)
        if key not in self.blocks_made:
            order = w.orders[order_name]
            b, s = to_matmulnbits(w.q[order], w.d[order])
            names = _block_names(w.name, order_name)
            self.new_inits.append(numpy_helper.from_array(b, names[0]))
            self.new_inits.append(numpy_helper.from_array(s, names[1]))
            self.blocks_made[key] = names
        return self.blocks_made[key]


def _tied_transpose(src: str, tracer: _Tracer) -> Any:
    """The Transpose node (perm [1, 0] or none) that makes MatMul input `src` from an initializer (the tied
    embedding table [N, K] turned into the lm_head's [K, N]), or None when `src` is not made that way."""
    inits, producer = tracer.inits, tracer.producer
    if src not in inits and src in producer and producer[src].op_type == "Transpose" \
            and producer[src].input[0] in inits and list(producer[src].attribute[0].ints if producer[src].attribute else [1, 0]) == [1, 0]:
        return producer[src]
    return None


def _linear(node, tracer: _Tracer) -> tuple[Any, str | None, dict[str, str]] | None:
    """A MatMul on a weight -> (its MatMulNBits replacement, the name of a Transpose node only it used or
    None, a record {node, gguf, rows}); None for a MatMul whose B ([K, N]) is no 2-D initializer, direct or
    transposed. Raises Q8Error when the weight is no GGUF tensor's values, or is one that is not Q8_0."""
    from onnx import helper

    src = node.input[1]
    via = _tied_transpose(src, tracer)
    if via is not None:
        values = tracer.array(via.input[0])  # [N, K]: the tied embedding table, transposed for the lm_head
        what = f"MatMul {node.name} (through {via.name})"
    elif src in tracer.inits and len(tracer.inits[src].dims) == 2:
        values = tracer.array(src).T  # ONNX MatMul's B is [K, N]; a GGUF matrix is [N, K]
        what = f"MatMul {node.name}"
    else:
        return None
    w, order_name = tracer.trace(values, what)
    if w.kind != "Q8_0":
        raise Q8Error(f"{what}: GGUF tensor {w.name} is {w.kind}, not Q8_0 (only Q8_0 blocks are carried over)")
    b_name, s_name = tracer.blocks_for(w, order_name)
    n, k = w.q.shape
    replacement = helper.make_node(
        LINEAR_OP, [node.input[0], b_name, s_name], list(node.output), name=node.name + "_q8_0",
        domain=MS_DOMAIN, K=k, N=n, bits=8, block_size=BLOCK, accuracy_level=0)
    dropped = None
    if via is not None and sum(via.output[0] in n.input for n in tracer.graph.node) == 1:
        dropped = via.name
    return replacement, dropped, {"node": node.name, "gguf": w.name, "rows": order_name}


def _is_weight_lookup(node, tracer: _Tracer) -> bool:
    """Whether `node` is a Gather from a 2-D initializer (an embedding table [N, K] indexed by token ids)."""
    inits = tracer.inits
    return node.op_type == "Gather" and node.input[0] in inits and len(inits[node.input[0]].dims) == 2


def _embedding(node, tracer: _Tracer) -> tuple[list, dict[str, str]]:
    """An embedding Gather (table [N, K] float32, ids int64 [batch, seq]) -> the nodes that gather the token's
    Q8_0 blocks and scales and dequantize them, (float(b) - 128) * scale, into the same output (float32
    [batch, seq, K]), and a record {node, gguf, rows}; their constants go to `tracer.new_inits`. Raises
    Q8Error when the Gather is not along axis 0, or its table is no GGUF tensor's values or is one that is not
    Q8_0."""
    from onnx import TensorProto, helper, numpy_helper

    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    if axis != 0:
        raise Q8Error(f"Gather {node.name} on a weight along axis {axis}: not an embedding lookup")
    w, order_name = tracer.trace(tracer.array(node.input[0]), f"Gather {node.name}")
    if w.kind != "Q8_0":
        raise Q8Error(f"Gather {node.name}: GGUF tensor {w.name} is {w.kind}, not Q8_0")
    b_name, s_name = tracer.blocks_for(w, order_name)
    n, k = w.q.shape
    p = node.name + "_q8_0"
    ids, out = node.input[1], node.output[0]
    c128, sshape, last, oshape = (f"{p}/zero_point", f"{p}/scales_shape", f"{p}/last_axis", f"{p}/out_shape")
    tracer.new_inits += [numpy_helper.from_array(np.array(ZERO_POINT, np.float32), c128),
                         numpy_helper.from_array(np.array([n, k // BLOCK], np.int64), sshape),
                         numpy_helper.from_array(np.array([-1], np.int64), last),
                         numpy_helper.from_array(np.array([0, 0, k], np.int64), oshape)]
    nodes = [
        helper.make_node("Gather", [b_name, ids], [f"{p}/blocks"], name=f"{p}/GatherBlocks", axis=0),
        helper.make_node("Cast", [f"{p}/blocks"], [f"{p}/blocks_f"], name=f"{p}/Cast", to=TensorProto.FLOAT),
        helper.make_node("Sub", [f"{p}/blocks_f", c128], [f"{p}/q"], name=f"{p}/SubZeroPoint"),
        helper.make_node("Reshape", [s_name, sshape], [f"{p}/scale_table"], name=f"{p}/ScaleTable"),
        helper.make_node("Gather", [f"{p}/scale_table", ids], [f"{p}/scales"], name=f"{p}/GatherScales", axis=0),
        helper.make_node("Unsqueeze", [f"{p}/scales", last], [f"{p}/scales_1"], name=f"{p}/Unsqueeze"),
        helper.make_node("Mul", [f"{p}/q", f"{p}/scales_1"], [f"{p}/values"], name=f"{p}/Scale"),
        helper.make_node("Reshape", [f"{p}/values", oshape], [out], name=f"{p}/Rows"),
    ]
    return nodes, {"node": node.name, "gguf": w.name, "rows": order_name}


def _replace_weight_nodes(tracer: _Tracer) -> tuple[list, list[dict[str, str]], list[dict[str, str]]]:
    """The graph's nodes with every MatMul on a weight made a MatMulNBits and every embedding Gather a gather
    of blocks (Transpose nodes left unused dropped) -> (nodes in graph order, linear records, embedding
    records). The graph itself is not changed. Raises Q8Error as _linear and _embedding do."""
    nodes_out = []
    dropped_nodes = set()
    linear: list[dict[str, str]] = []
    embedding: list[dict[str, str]] = []
    for node in tracer.graph.node:
        if node.op_type == "MatMul" and (done := _linear(node, tracer)) is not None:
            replacement, dropped, record = done
            nodes_out.append(replacement)
            if dropped is not None:
                dropped_nodes.add(dropped)
            linear.append(record)
        elif _is_weight_lookup(node, tracer):
            nodes, record = _embedding(node, tracer)
            nodes_out += nodes
            embedding.append(record)
        else:
            nodes_out.append(node)
    return [n for n in nodes_out if n.name not in dropped_nodes], linear, embedding


def _kept_float(tracer: _Tracer, used: set[str]) -> dict[str, str]:
    """Every float weight the new nodes still read (names in `used`) must be a GGUF tensor kept as it is (F32
    stays F32): initializer name -> GGUF name. Raises Q8Error for one that is no GGUF tensor's values, or a
    non-F32 one."""
    kept_float: dict[str, str] = {}
    for name, init in tracer.inits.items():
        if name not in used:
            continue
        if _is_float_weight(init):
            w, _ = tracer.trace(tracer.array(name).reshape(tuple(init.dims)), f"initializer {name}")
            if w.kind != "F32":
                raise Q8Error(f"initializer {name} is GGUF tensor {w.name} ({w.kind}) left as float32")
            kept_float[name] = w.name
    return kept_float


def _install(model, nodes_out: list, new_inits: list, used: set[str]) -> None:
    """Make `nodes_out` the graph of `model` (an onnx ModelProto, changed in place), with the initializers in
    `used` followed by `new_inits`, and import the com.microsoft opset for MatMulNBits. Raises nothing."""
    from onnx import helper

    graph = model.graph
    keep = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep + new_inits)
    del graph.node[:]
    graph.node.extend(nodes_out)
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))


def rewrite(model, weights: dict[str, GgufWeight]) -> dict[str, Any]:
    """Replace, in place, every float weight of `model` (an onnx ModelProto from the float32 export) that came
    from a Q8_0 GGUF tensor by that tensor's blocks. Returns what was done ("linear" and "embedding": a record
    {node, gguf, rows} per node replaced; "kept_float": initializer -> F32 GGUF tensor; "blocks": "gguf name
    (row order)" -> (B, scales) initializer names); raises Q8Error where a weight cannot be traced to the
    GGUF."""
    tracer = _Tracer(model.graph, weights)
    nodes_out, linear, embedding = _replace_weight_nodes(tracer)
    used = {i for n in nodes_out for i in n.input}
    kept_float = _kept_float(tracer, used)
    _install(model, nodes_out, tracer.new_inits, used)
    return {"linear": linear, "embedding": embedding, "kept_float": kept_float,
            "blocks": {f"{k[0]} ({k[1]})": v for k, v in tracer.blocks_made.items()}}


# ---------------------------------------------------------------------------------------- the self-check


@dataclass
class _Tally:
    """What check_weights has found so far: messages, GGUF tensors matched, block initializers read, values
    compared (elements), and nodes still computing with a float weight."""

    mismatches: list[str] = field(default_factory=list)
    checked_q8: set[str] = field(default_factory=set)
    checked_f32: set[str] = field(default_factory=set)
    block_inits: set[str] = field(default_factory=set)
    elements: int = 0
    float_nodes: list[str] = field(default_factory=list)


def _blocks_by_name(weights: dict[str, GgufWeight]) -> dict[tuple[str, str], tuple[GgufWeight, np.ndarray]]:
    """(B name, scales name) the rewrite would give each Q8_0 tensor under each row order -> (tensor, row
    order: int indices [rows]). Raises nothing."""
    by_blocks: dict[tuple[str, str], tuple[GgufWeight, np.ndarray]] = {}
    for w in weights.values():
        if w.kind != "Q8_0":
            continue
        for order_name, order in w.orders.items():
            by_blocks[_block_names(w.name, order_name)] = (w, order)
    return by_blocks


def _block_inputs(node, inits: dict, tally: _Tally) -> tuple[str, str] | None:
    """The (B, scales) initializer names a node computes with: a MatMulNBits' inputs 1 and 2, or an embedding
    Gather's blocks and their scales. None for any other node, which goes to tally.float_nodes if it computes
    with a float weight; None too for a MatMulNBits that is not 8-bit, block 32, default zero point, level 0
    (a mismatch in `tally`). Raises nothing."""
    if node.domain == MS_DOMAIN and node.op_type == LINEAR_OP:
        attrs = {a.name: a.i for a in node.attribute}
        if attrs.get("bits") != 8 or attrs.get("block_size") != BLOCK or attrs.get("accuracy_level", 0) != 0 \
                or len(node.input) > 3 and any(node.input[3:]):
            tally.mismatches.append(f"{node.name}: MatMulNBits attributes {attrs} / inputs {list(node.input)} are not "
                                    "8-bit, block 32, default zero point, float32 activations")
            return None
        return node.input[1], node.input[2]
    if node.op_type == "Gather" and node.input[0].endswith(".q8_0_blocks"):
        scales = node.input[0][: -len("blocks")] + "scales"
        return node.input[0], scales
    if node.op_type in ("MatMul", "Gemm", "Gather", "Conv") and any(
            i in inits and _is_float_weight(inits[i]) for i in node.input):
        tally.float_nodes.append(node.name)
    return None


def _ort_mismatch(node, b: np.ndarray, s: np.ndarray, expected: np.ndarray, gguf_name: str) -> str | None:
    """A message if ONNX Runtime's own reading of MatMulNBits `node`'s weight (B uint8 [N, K/32, 32], scales
    float32 [N * K/32]) is not `expected` (float32 [N, K]) bit for bit (zeros of either sign alike), or if
    onnxruntime cannot run the node; None when they agree. Raises nothing: onnxruntime's errors become the
    message."""
    try:
        by_ort = _ort_dequantized(node, b, s)
    except Exception as err:  # noqa: BLE001 - onnxruntime's errors derive from Exception only; one without
        # 8-bit MatMulNBits on the CPU says so here
        import onnxruntime

        return (f"{node.name}: onnxruntime {onnxruntime.__version__} could not run MatMulNBits "
                f"(bits=8, block_size=32): {str(err).splitlines()[0][:300]}")
    if not same_bits_or_zero(by_ort, expected):
        return (f"{node.name}: ONNX Runtime's MatMulNBits on an identity matrix differs from "
                f"gguf.quants.dequantize({gguf_name})")
    return None


def _check_blocks(node, pair: tuple[str, str], inits: dict, by_blocks: dict, ort_check: bool,
                  tally: _Tally) -> None:
    """The blocks `node` reads (`pair`: B and scales initializer names), dequantized by ORT's formula in numpy
    (and, with `ort_check`, for a MatMulNBits by ONNX Runtime itself), against gguf.quants.dequantize of the
    GGUF tensor they were made from; results go into `tally`. Raises nothing."""
    from onnx import numpy_helper

    if pair not in by_blocks:
        tally.mismatches.append(f"{node.name}: {pair} are not blocks made from the GGUF")
        return
    w, order = by_blocks[pair]
    tally.block_inits.update(pair)
    b, s = numpy_helper.to_array(inits[pair[0]]), numpy_helper.to_array(inits[pair[1]])
    ours = dequantize_like_ort(b, s)
    if not same_bits(ours, w.dequantized()[order]):
        tally.mismatches.append(f"{node.name}: dequantized {pair[0]} differs from gguf.quants.dequantize({w.name})")
    if ort_check and node.op_type == LINEAR_OP:
        problem = _ort_mismatch(node, b, s, w.dequantized()[order], w.name)
        if problem is not None:
            tally.mismatches.append(problem)
    tally.checked_q8.add(w.name)
    tally.elements += ours.size


def _check_float_initializers(inits: dict, index: dict[str, tuple[str, str]], weights: dict[str, GgufWeight],
                              tally: _Tally) -> None:
    """Every float weight initializer that is not blocks must be bit-equal to an F32 GGUF tensor (found in
    `index`, value_index's digests); results go into `tally`. Raises nothing."""
    from onnx import numpy_helper

    for name, init in inits.items():
        if name in tally.block_inits:
            continue
        if _is_float_weight(init):
            values = numpy_helper.to_array(init)
            hit = index.get(_digest(values))
            if hit is None or weights[hit[0]].kind != "F32":
                tally.mismatches.append(f"float initializer {name} {tuple(init.dims)} is no F32 GGUF tensor")
            else:
                tally.checked_f32.add(hit[0])
                tally.elements += values.size


def _weights_record(weights: dict[str, GgufWeight], tally: _Tally, ort_check: bool) -> dict[str, Any]:
    """check_weights' record from `tally`, adding a mismatch for nodes still on float weights and one for GGUF
    tensors the graph does not use; at most 20 mismatches are kept. Raises nothing."""
    if tally.float_nodes:
        float_nodes = tally.float_nodes
        tally.mismatches.append(f"{len(float_nodes)} node(s) still compute with a float weight: {float_nodes[:3]}")
    q8_in_gguf = {n for n, w in weights.items() if w.kind == "Q8_0"}
    f32_in_gguf = {n for n, w in weights.items() if w.kind == "F32"}
    missing = sorted((q8_in_gguf - tally.checked_q8) | (f32_in_gguf - tally.checked_f32))
    if missing:
        tally.mismatches.append(f"{len(missing)} GGUF tensor(s) not used by the graph: {missing[:3]}")
    return {
        "passed": not tally.mismatches,
        "q8_0_tensors": len(tally.checked_q8), "q8_0_tensors_in_gguf": len(q8_in_gguf),
        "f32_tensors": len(tally.checked_f32), "f32_tensors_in_gguf": len(f32_in_gguf),
        "elements_compared": tally.elements,
        "rule": "bit-equal float32 to gguf.quants.dequantize of the GGUF tensor (rows of attn_q/attn_k in "
                "transformers' order); MatMulNBits blocks dequantized as (float(b) - 128) * scale"
                + (", and by ONNX Runtime itself (the node on an identity matrix)" if ort_check else ""),
        "mismatches": tally.mismatches[:20],
    }


def check_weights(model, weights: dict[str, GgufWeight], ort_check: bool = True) -> dict[str, Any]:
    """Every weight the rewritten graph computes with, dequantized on the host, against gguf.quants.dequantize.

    - each MatMulNBits (bits 8, block 32, default zero point): B and scales dequantized by ORT's formula
      (numpy, float32), and, with `ort_check`, by ONNX Runtime itself (the node run on an identity matrix);
    - each embedding Gather of blocks: the same initializers, same formula;
    - each float initializer of weight size: bit-equal to an F32 GGUF tensor;
    all bit for bit equal to the GGUF tensor's dequantized values (rows in the order transformers loads them).
    Returns a record with `passed` and the mismatches (a failed comparison is a mismatch, not an error);
    raises Q8Error only where two GGUF tensors hold identical values (value_index)."""
    inits = {i.name: i for i in model.graph.initializer}
    index = value_index(weights)
    by_blocks = _blocks_by_name(weights)
    tally = _Tally()
    for node in model.graph.node:
        pair = _block_inputs(node, inits, tally)
        if pair is not None:
            _check_blocks(node, pair, inits, by_blocks, ort_check, tally)
    _check_float_initializers(inits, index, weights, tally)
    return _weights_record(weights, tally, ort_check)


def same_bits_or_zero(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, bit for bit except the sign of zero (a product summed with zeros loses -0.0)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    b = np.ascontiguousarray(b, dtype=np.float32)
    if a.shape != b.shape:
        return False
    za, zb = a == 0, b == 0
    return bool(np.array_equal(za, zb) and np.array_equal(a[~za].view(np.uint32), b[~zb].view(np.uint32)))


def _ort_dequantized(node, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """ONNX Runtime's own reading of a MatMulNBits node's weight: the node alone, run on the K x K identity."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    attrs = {a.name: a.i for a in node.attribute}
    k, n = attrs["K"], attrs["N"]
    g = helper.make_graph(
        [helper.make_node(LINEAR_OP, ["a", "b", "s"], ["y"], domain=MS_DOMAIN, K=k, N=n, bits=8,
                          block_size=BLOCK, accuracy_level=0)],
        "one_weight", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [k, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [k, n])],
        [numpy_helper.from_array(b, "b"), numpy_helper.from_array(s, "s")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(MS_DOMAIN, 1)])
    m.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    session = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return session.run(None, {"a": np.eye(k, dtype=np.float32)})[0].T
