"""Shims that let mlc-llm HEAD's Python compile path (written against mlc's own TVM fork) run on PyPI's
apache-tvm 0.27.0.post1, whose IR moved and renamed several things.

Two kinds of shim, each recorded in `SHIMS_APPLIED` (what the build record reports):
- `install()`: monkeypatches on the imported `tvm` / `tvm_ffi` modules (idempotent: a second call does nothing).
- `prepare_source(mlc_src, work)`: copies `mlc_src/python/mlc_llm` into `work/python/mlc_llm` and applies
  textual fixes to the COPY only (never to the checkout), each with an exact expected count of matches;
  a text that is not found the expected number of times raises `CompatError` (mlc-llm moved on: re-derive).

Nothing here is mlc-llm's or TVM's code: the replacements are small and written against what the 0.27 wheel
exposes (read from its Python sources).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

SHIMS_APPLIED: dict[str, str] = {}  # name -> what it did (filled by install() and prepare_source())
_INSTALLED = False


class CompatError(RuntimeError):
    """A shim's precondition failed: the text or name it fixes is not where it was expected."""


# --------------------------------------------------------------------------------------------------------------
# Monkeypatches


def _note(name: str, what: str) -> None:
    SHIMS_APPLIED[name] = what


def install() -> dict[str, str]:
    """Apply every runtime shim (idempotent) -> SHIMS_APPLIED. Import mlc_llm only after this."""
    global _INSTALLED
    if _INSTALLED:
        return SHIMS_APPLIED
    os.environ.setdefault("SKIP_LOADING_MLCLLM_SO", "1")
    import tvm
    import tvm_ffi
    import tvm_ffi.registry
    from tvm import relax, s_tir, tirx

    # 1. mlc-llm registers Python classes for objects its native library (libmlc_llm_module.so) defines
    #    (mlc.serve.*, mlc.json_ffi.*, ...). We never load that library (SKIP_LOADING_MLCLLM_SO=1: compile and
    #    weight conversion need none of it), so tvm_ffi.register_object raises "Cannot find object type index".
    #    tvm_ffi has a switch for exactly this: skip registration of unknown type keys.
    tvm_ffi.registry._SKIP_UNKNOWN_OBJECTS = True
    _note("ffi_skip_unknown_objects", "tvm_ffi.registry._SKIP_UNKNOWN_OBJECTS = True (mlc's native objects are "
          "not loaded; their Python classes stay unregistered)")

    # 2. relax.Constant -> tvm.ir.Constant (0.27 unified literal constants in tvm.ir; relax.const() now makes a
    #    tvm.ir.GenericConst, a subclass of tvm.ir.Constant).
    if not hasattr(relax, "Constant"):
        relax.Constant = tvm.ir.Constant
        _note("relax.Constant", "relax.Constant -> tvm.ir.Constant (moved to tvm.ir)")

    # 3. relax.StringImm -> tvm.ir.StringImm (moved to tvm.ir, same constructor StringImm(value)).
    if not hasattr(relax, "StringImm"):
        relax.StringImm = tvm.ir.StringImm
        _note("relax.StringImm", "relax.StringImm -> tvm.ir.StringImm (moved to tvm.ir)")

    # 4. relax.DataTypeImm is gone: 0.27 spells a dtype immediate as GenericConst(DataType(d), relax.AnyType())
    #    (what relax.op.builtin.alloc_tensor builds; it prints as R.dtype("...")). mlc both constructs it
    #    (kv_cache.py, attach_embedding_allocator.py) and tests isinstance (dispatch_kv_cache_creation.py): a
    #    class whose construction returns that GenericConst and whose isinstance accepts a GenericConst
    #    holding a dtype.
    if not hasattr(relax, "DataTypeImm"):
        relax.DataTypeImm = _make_datatype_imm(tvm, relax)
        _note("relax.DataTypeImm", "relax.DataTypeImm(d) -> tvm.ir.GenericConst(tvm.DataType(d), relax.AnyType())"
              "; isinstance accepts a GenericConst whose value is a dtype")

    # 5. tirx.SBlock / tirx.SBlockRealize -> tvm.s_tir.SBlock / SBlockRealize (schedulable blocks moved to the
    #    s_tir dialect). Constructors: SBlock(iter_vars, reads, writes, name_hint, body, init, alloc_buffers,
    #    match_buffers, annotations), SBlockRealize(iter_values, predicate, block): same order as mlc uses.
    for name in ("SBlock", "SBlockRealize"):
        if not hasattr(tirx, name):
            setattr(tirx, name, getattr(s_tir, name))
            _note(f"tirx.{name}", f"tirx.{name} -> tvm.s_tir.{name} (moved to the s_tir dialect)")

    # 6. tirx.stmt_functor (substitute, post_order_visit) is gone; 0.27 walks and rewrites any IR node with
    #    tvm_ffi's generic structural_walk / structural_map.
    if not hasattr(tirx, "stmt_functor"):
        tirx.stmt_functor = _make_stmt_functor(tirx)
        _note("tirx.stmt_functor", "tirx.stmt_functor.substitute/post_order_visit -> tvm_ffi.structural_map/"
              "structural_walk (post order) over tirx.Var")

    # 8. PrimFunc.buffer_map is gone: in 0.27 a PrimFunc's buffer parameters ARE the buffers (params are Vars
    #    whose type is tirx.BufferType, carrying shape/dtype; T.match_buffer folds into the signature). mlc reads
    #    func.buffer_map.values() / buffer_map[param] for shapes (low_batch_specialization.py,
    #    fuse_dequantize_transpose.py): a read-only property mapping each buffer-typed param to itself.
    if not hasattr(tirx.PrimFunc, "buffer_map"):
        from tvm.tirx.buffer import BufferType

        tirx.PrimFunc.buffer_map = property(
            lambda self: {p: p for p in self.params if isinstance(p.ty, BufferType)})
        _note("tirx.PrimFunc.buffer_map", "PrimFunc.buffer_map -> {param: param} over params of tirx.BufferType "
              "(buffers are the params themselves in 0.27)")

    # 9. Var.name_hint -> Var.name: 0.27 has one tvm.ir.Var for relax (Var, DataflowVar) and tirx variables,
    #    with `name`; GlobalVar keeps name_hint. mlc reads var.name_hint (scatter_tuple_get_item.py,
    #    pipeline_parallel_rewrite.py): a read-only alias.
    if not hasattr(tvm.ir.Var, "name_hint"):
        tvm.ir.Var.name_hint = property(lambda self: self.name)
        _note("tvm.ir.Var.name_hint", "Var.name_hint -> Var.name (relax/tirx Vars unified in tvm.ir.Var)")

    # 10. WebGPU has no blockIdx.z: the wheel's WebGPU codegen (codegen_webgpu.cc) refuses any kernel using it,
    #    and topi.gpu.sort._sort_common (the GPU merge sort behind mlc's sampler: argsort/top-p) launches its
    #    merge step on blockIdx.z (nbx) x blockIdx.y (batch) x blockIdx.x (nbz). apache/tvm main launches it with
    #    _get_threads(ntx, nbx, nthread_by * nbz): nbx on blockIdx.x, batch and nbz folded into blockIdx.y
    #    (batch = by % nthread_by, section = by // nthread_by). We rebuild _sort_common from the wheel's own
    #    source with that launch (text checked: exactly one match) and rebind it in tvm.topi.gpu.sort.
    _patch_sort_launch()

    # 7. mlc.tokenizers.DetectTokenizerInfo lives in mlc's native library (cpp/tokenizers/tokenizers.cc), which
    #    we do not load; gen_config calls it to fill mlc-chat-config.json's tokenizer_info. Registered here as a
    #    global function (before mlc_llm.tokenizers._ffi_api is imported, so init_ffi_api picks it up), in
    #    Python, from the same reading of tokenizer.json (see _detect_tokenizer_info).
    if tvm_ffi.get_global_func("mlc.tokenizers.DetectTokenizerInfo", allow_missing=True) is None:
        tvm_ffi.register_global_func("mlc.tokenizers.DetectTokenizerInfo", _detect_tokenizer_info)
        _note("mlc.tokenizers.DetectTokenizerInfo", "native tokenizer-info detection -> a Python reading of "
              "tokenizer.json (decoder ByteLevel/ByteFallback, normalizer Prepend '\u2581', decoder Strip ' ' 1 0)")

    _INSTALLED = True
    return SHIMS_APPLIED


def _detect_tokenizer_info(path: str) -> str:
    """mlc's TokenizerInfo (JSON) for the tokenizer.json in `path` (a folder or a file in it): how decoded tokens
    are post-processed (byte_level for GPT-2 style byte-level BPE, else byte_fallback), whether encoding prepends
    a space, whether decoding strips one."""
    import json

    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    info = {"token_postproc_method": "byte_fallback", "prepend_space_in_encode": False,
            "strip_space_in_decode": False}
    file = folder / "tokenizer.json"
    if not file.is_file():
        return json.dumps(info)
    tok = json.loads(file.read_text(encoding="utf-8"))

    def parts(node: Any, key: str) -> list[dict]:
        if not isinstance(node, dict):
            return []
        return list(node.get(key) or []) if node.get("type") == "Sequence" else [node]

    decoders = parts(tok.get("decoder"), "decoders")
    for dec in decoders:
        if dec.get("type") == "ByteLevel":
            info["token_postproc_method"] = "byte_level"
        elif dec.get("type") == "ByteFallback":
            info["token_postproc_method"] = "byte_fallback"
    info["prepend_space_in_encode"] = any(
        n.get("type") == "Prepend" and n.get("prepend") == "\u2581" for n in parts(tok.get("normalizer"), "normalizers"))
    info["strip_space_in_decode"] = any(
        d.get("type") == "Strip" and d.get("content") == " " and d.get("start") == 1 and d.get("stop") == 0
        for d in decoders)
    return json.dumps(info)


def patch_webgpu_object_export() -> None:
    """mlc-llm's webgpu build (support/auto_target.py, PRESET["webgpu:generic"]["build"]) links the model into a
    .wasm with tvmjs.create_tvmjs_wasm, which emits LLVM bitcode and needs mlc_wasm_runtime.bc. Debian's emcc
    3.1.6 (LLVM 14) cannot read apache-tvm 0.27's LLVM 22 bitcode, so we replace that build step: the same
    relax.build(..., system_lib=True), exported with export_library("<out>.tar"), whose default object format is
    "o": the tar then holds wasm32 OBJECT files (lib0.o: host code + system-lib registration; devc.o: the
    packed WebGPU shaders), which the final emcc link (runtime_objects.link_model_library) reads.
    Call after mlc_llm is importable (needs sys.path) and after install()."""
    if "webgpu_object_export" in SHIMS_APPLIED:
        return
    from mlc_llm.support import auto_target
    from tvm import relax

    def _build_webgpu_objects():
        def build(mod: Any, args: Any, pipeline: Any = None) -> None:
            output = Path(args.output)
            if output.suffix != ".tar":
                raise CompatError(f"webgpu object export writes a .tar of wasm objects; got --output {output}")
            mod = auto_target._add_system_lib_prefix(mod, args.system_lib_prefix, is_system_lib=True)
            relax.build(mod, target=args.target, relax_pipeline=pipeline, system_lib=True).export_library(
                str(output))

        return build

    preset = auto_target.PRESET["webgpu:generic"]
    if "build" not in preset:
        raise CompatError("mlc_llm.support.auto_target.PRESET['webgpu:generic'] has no build step to replace")
    preset["build"] = _build_webgpu_objects
    _note("webgpu_object_export", "auto_target.PRESET['webgpu:generic'].build -> relax.build(system_lib=True)."
          "export_library('<out>.tar'): wasm32 objects (lib0.o, devc.o) instead of an LLVM-bitcode .wasm link")


def patch_compile_passes() -> None:
    """Replace mlc-llm compiler-pass helpers whose IR surgery no longer fits 0.27 (call after install(), with
    mlc_llm importable)."""
    if "lift_global_buffer_alloc" in SHIMS_APPLIED:
        return
    from mlc_llm.compiler_pass import lift_global_buffer_alloc as lift

    # LiftTIRGlobalBufferAlloc turns a PrimFunc's global-scope scratch allocations (TVM's GPU sort/scan kernels
    # allocate some) into extra output parameters, so Relax allocates them. mlc's remove_global_buf_alloc
    # walks the old IR: handle params (PointerType) + buffer_map, alloc_buffers of Buffer objects, and
    # PrimFunc(params, body, ret_type, buffer_map, attrs). In 0.27 the buffers ARE the params (Vars typed
    # tirx.BufferType), a root SBlock's alloc_buffers are such Vars too, and PrimFunc takes no buffer_map. Our
    # version: the same transformation on the new IR (global allocs -> params inserted after the last buffer
    # param, in allocation order; other allocs stay in the root block).
    if not hasattr(lift, "remove_global_buf_alloc"):
        raise CompatError("mlc_llm.compiler_pass.lift_global_buffer_alloc.remove_global_buf_alloc not found")
    lift.remove_global_buf_alloc = _remove_global_buf_alloc
    _note("lift_global_buffer_alloc", "lift_global_buffer_alloc.remove_global_buf_alloc -> our version for "
          "0.27's IR (buffer-typed params, Var alloc_buffers, PrimFunc without buffer_map)")


def _remove_global_buf_alloc(func: Any) -> tuple[Any, list]:
    from tvm import relax, s_tir, tirx
    from tvm.tirx.buffer import BufferType

    realize = func.body
    if not isinstance(realize, s_tir.SBlockRealize):
        return func, []
    root = realize.block
    params = list(func.params)
    insertion_point = 0
    for i, param in enumerate(params):
        if isinstance(param.ty, BufferType):
            insertion_point = i + 1
    tensor_types, kept = [], []
    for buf in root.alloc_buffers:
        scope = buf.ty.storage_scope if isinstance(buf.ty, BufferType) else buf.scope()
        if str(scope) == "global":
            params.insert(insertion_point, buf)
            insertion_point += 1
            tensor_types.append(relax.TensorType(list(buf.shape), buf.dtype))
        else:
            kept.append(buf)
    if not tensor_types:
        return func, []
    if len(root.iter_vars) or len(root.reads) or len(root.writes) or len(root.match_buffers) or root.init is not None:
        raise CompatError(f"LiftTIRGlobalBufferAlloc: unexpected root block in {func.attrs}")
    new_root = s_tir.SBlock([], [], [], root.name_hint, root.body, None, kept, [], root.annotations)
    body = s_tir.SBlockRealize([], True, new_root)
    return tirx.PrimFunc(params, body, func.ret_type, func.attrs), tensor_types


_SORT_LAUNCH_OLD = """        is_cuda = target.kind.name == "cuda"
        tx = te.thread_axis("threadIdx.x")
        bx = te.thread_axis("blockIdx.z")  # nbx
        if is_cuda:
            by = te.thread_axis("blockIdx.x")  # batch
            bz = te.thread_axis("blockIdx.y")  # nbz
        else:
            by = te.thread_axis("blockIdx.y")  # batch
            bz = te.thread_axis("blockIdx.x")  # nbz
        with T.frame_scope(
            [
                T.attr(tx, "thread_extent", ntx),
                T.attr(bx, "thread_extent", nbx),
                T.attr(by, "thread_extent", nthread_by),
                T.attr(bz, "thread_extent", nbz),
            ]
        ):
            base_idx = by * size
"""
_SORT_LAUNCH_NEW = """        tx, bx, by, _, _, _ = _get_threads(ntx, nbx, nthread_by * nbz)
        with T.frame_scope(
            [
                T.attr(tx, "thread_extent", ntx),
                T.attr(bx, "thread_extent", nbx),
                T.attr(by, "thread_extent", nthread_by * nbz),
            ]
        ):
            bz = by // nthread_by
            base_idx = (by % nthread_by) * size
"""


def _patch_sort_launch() -> None:
    import importlib
    import inspect

    # not `from tvm.topi.gpu import sort`: tvm.topi.gpu re-exports the function sort() under that name
    sort_mod = importlib.import_module("tvm.topi.gpu.sort")

    if getattr(sort_mod._sort_common, "_tvm_compat", False):
        return
    source = inspect.getsource(sort_mod._sort_common)
    found = source.count(_SORT_LAUNCH_OLD)
    if found != 1:
        raise CompatError(f"tvm.topi.gpu.sort._sort_common: expected 1 blockIdx.z merge launch, found {found} "
                          f"(apache-tvm changed; re-derive shim 10)")
    namespace = dict(vars(sort_mod))
    exec(compile(source.replace(_SORT_LAUNCH_OLD, _SORT_LAUNCH_NEW), inspect.getsourcefile(sort_mod), "exec"),  # noqa: S102 - the wheel's own function, one checked edit
         namespace)
    patched = namespace["_sort_common"]
    patched._tvm_compat = True
    sort_mod._sort_common = patched
    _note("topi.gpu.sort._sort_common", "merge launch blockIdx.z/y/x -> _get_threads(ntx, nbx, nthread_by*nbz) "
          "as in apache/tvm main (WebGPU codegen refuses blockIdx.z)")


def _make_datatype_imm(tvm: Any, relax: Any) -> type:
    GenericConst = tvm.ir.GenericConst

    class _DataTypeImmMeta(type):
        def __instancecheck__(cls, obj: Any) -> bool:
            if not isinstance(obj, GenericConst):
                return False
            try:
                return isinstance(obj.value, tvm.DataType) or type(obj.value).__name__ == "dtype"
            except (AttributeError, TypeError):  # a GenericConst of another payload
                return False

        def __call__(cls, dtype: Any, span: Any = None) -> Any:
            return GenericConst(tvm.DataType(str(dtype)), relax.AnyType(), span)

    class DataTypeImm(metaclass=_DataTypeImmMeta):
        """relax.DataTypeImm as 0.27 spells it (see install(), shim 4)."""

    return DataTypeImm


def _make_stmt_functor(tirx: Any) -> Any:
    import types

    import tvm_ffi

    def substitute(node: Any, vmap: Any) -> Any:
        mapping = dict(vmap.items()) if hasattr(vmap, "items") else dict(vmap)
        if not mapping:
            return node

        def _sub(var: Any) -> Any:
            return mapping.get(var, var)

        return tvm_ffi.structural_map(node, (tirx.Var, _sub))

    def post_order_visit(node: Any, fvisit: Any) -> None:
        def _visit(value: Any) -> None:
            fvisit(value)

        tvm_ffi.structural_walk(node, _visit, order="post")

    return types.SimpleNamespace(substitute=substitute, post_order_visit=post_order_visit)


# --------------------------------------------------------------------------------------------------------------
# Source patches (applied to a copy)

# (relative path, old text, new text, expected count, why)
SOURCE_PATCHES: list[tuple[str, str, str, int, str]] = [
    ("mlc_llm/__init__.py", "from . import protocol, serve\n", "", 1,
     ("mlc_llm/__init__ imports the serving engine (fastapi, openai, the native library): compile and "
     "convert_weight need none of it")),
    ("mlc_llm/__init__.py", "from .serve import AsyncMLCEngine, MLCEngine\n", "", 1,
     "same: the engine classes need the native library"),
    ("mlc_llm/interface/convert_weight.py", 'encode_format="f32-to-bf16",',
     'encode_format=os.environ.get("MLC_ENCODE_FORMAT", "f32-to-bf16"),', 1,
     ("convert_weight always stores float32 tensors as bfloat16 (f32-to-bf16), losing precision; "
     "MLC_ENCODE_FORMAT=raw keeps float32 bit-exact (tvm.contrib.tvmjs.dump_tensor_cache takes 'raw')")),
    ("mlc_llm/compiler_pass/attach_sampler.py", "def full(var_result: T.handle, value: T.int32):",
     "def full(value: T.int64, var_result: T.handle):", 1,
     ("sample_with_top_p's `full` kernel: 0.27's nn.tensor_ir_op passes a scalar argument (vocab_size, int64) "
     "inline, in order, before the output buffer, so the PrimFunc must take (value, result), not (result, "
     "value); CallTIRRewrite otherwise fails 'Argument 0 type mismatch ... given T.int64'")),
    ("mlc_llm/compiler_pass/attach_sampler.py", "result[vi, 0] = value",
     'result[vi, 0] = T.Cast("int32", value)', 1,
     "same kernel: the int64 scalar is cast to the int32 output"),
]


PATCHED_MARKER = ".tvm_compat_patched"  # written into a prepared copy's python/ folder


def is_prepared(root: Path) -> bool:
    """Whether `root`/python is a copy prepare_source() made (and patched)."""
    return (Path(root) / "python" / PATCHED_MARKER).is_file()


def prepare_source(mlc_src: Path, work: Path) -> Path:
    """Copy `mlc_src`/python/mlc_llm into `work`/python (replaced if there) and patch the copy -> the folder to
    put on sys.path. Raises CompatError when a patch's text is not found exactly as often as expected."""
    src = Path(mlc_src) / "python" / "mlc_llm"
    if not (src / "__init__.py").is_file():
        raise CompatError(f"{mlc_src} is not an mlc-llm checkout: no python/mlc_llm/__init__.py")
    dest_root = Path(work) / "python"
    if dest_root.exists():
        shutil.rmtree(dest_root)
    shutil.copytree(src, dest_root / "mlc_llm", ignore=shutil.ignore_patterns("__pycache__"))
    for rel, old, new, count, why in SOURCE_PATCHES:
        path = dest_root / rel
        text = path.read_text()
        found = text.count(old)
        if found != count:
            raise CompatError(f"source patch of {rel}: expected {count} occurrence(s) of {old!r}, found {found} "
                              f"(mlc-llm changed; this shim: {why})")
        path.write_text(text.replace(old, new))
        _note(f"src:{rel}:{old.strip()[:40]}", f"{why} ({count} replacement(s))")
    (dest_root / PATCHED_MARKER).write_text(str(Path(mlc_src).resolve()) + "\n")
    return dest_root
