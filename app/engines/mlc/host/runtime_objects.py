"""TVM's web runtime and mlc-llm's wasm runtime, compiled with Debian's emscripten (3.1.6, LLVM 14), and the final
emcc link of a model library `<model>-webgpu.wasm` for web-llm 0.2.86.

Why we build these ourselves: the PyPI apache-tvm wheel ships the C++ sources of TVM's web runtime (tvm/web/emcc,
tvm/src/runtime, tvm/include) but not the compiled `web/dist/wasm/*.bc` that TVM's `create_tvmjs_wasm` looks for,
and Debian's emcc (LLVM 14) could not read bitcode from a newer compiler anyway. The model's own code comes from
apache-tvm 0.27 (LLVM 22) as wasm OBJECT files (lib0.o + devc.o, see tvm_compat.patch_webgpu_object_export),
which LLVM 14's wasm-ld links as plain objects.

Sources, all read from what is installed, never patched:
- apache-tvm's wheel: web/emcc/{wasm_runtime,tvmjs_support,webgpu_runtime}.cc, src/runtime/**, include/tvm/runtime.
- apache-tvm-ffi's wheel: include/ (tvm/ffi/*, dlpack/dlpack.h) and src/ffi/** (wasm_runtime.cc includes
  `3rdparty/tvm-ffi/src/ffi/*.cc`). web-llm 0.2.86's bundled tvmjs speaks this C ABI (tvm-ffi 0.1.x type indices).
- TVM_SRC_HEADERS below: nine small headers the wheel lacks, from an apache/tvm source checkout (`--mlc-tvm PATH`,
  or the 3rdparty/tvm submodule of a recursive mlc-llm checkout).
- mlc-llm: web/emcc/mlc_wasm_runtime.cc. Since mlc-llm's XGrammar move (9214f71f, Nov 2024) it only #defines a few
  macros and includes nothing: its object defines no symbols. We still build and link it, as mlc-llm does.

These files are laid out under `out/tvm-root/` as TVM's own tree (copies, never links: relative includes such as
`../../support/ring_buffer.h` resolve through the real directory, so a symlinked folder would send them, and any
file written there, into site-packages).

Flags: TVM's web/Makefile compiles with `-O3 -std=c++17 -Wno-ignored-attributes` and `-emit-llvm`; mlc-llm's
web/Makefile the same. emcc 3.1.6 takes all of them. We emit plain wasm objects by default instead of bitcode
(object_format="o"): compiled once at -O3 instead of LTO-compiled again in every model link (measured on 2 cores:
the runtime-only link took 41-58 s either way, most of it binaryen's wasm-opt -O3; the wasm is 3.57 MB both ways);
object_format="bc" gives TVM's exact form (wasm_runtime.bc 16 MB, .o 7.4 MB). Include
dirs: TVM's `-I3rdparty/tvm-ffi/3rdparty/dlpack/include` is not needed (the tvm-ffi wheel's include/ holds
dlpack/dlpack.h) and mlc-llm's tokenizers-cpp / cpp include dirs are not needed (mlc_wasm_runtime.cc includes
nothing). TVM's runtime link flags `--pre-js emcc/preload.js -s ASYNCIFY=1` belong to its own tvmjs_runtime.wasm,
not to model libraries: create_tvmjs_wasm leaves ASYNCIFY out on purpose, and so do we.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib.metadata
import importlib.util
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.host.cache import sha256_file

Log = Callable[[str], None]

WEB_RUNTIME = ("wasm_runtime", "tvmjs_support", "webgpu_runtime")  # tvm/web/emcc/<name>.cc
MLC_RUNTIME = "mlc_wasm_runtime"  # mlc-llm web/emcc/<name>.cc
LINK_ORDER = WEB_RUNTIME + (MLC_RUNTIME,)  # create_tvmjs_wasm: runtime libraries before the model's objects

# What the apache-tvm 0.27.0.post1 wheel lacks for the three web runtime sources (found by compiling them
# against the wheel alone: each is #included by a file the wheel does ship). Paths in TVM's source tree.
TVM_SRC_HEADERS = (
    "3rdparty/compiler-rt/builtin_fp16.h",  # src/runtime/extra/contrib/sort/sort.cc
    "include/tvm/support/io.h",  # include/tvm/runtime/tensor.h
    "include/tvm/support/serializer.h",  # include/tvm/runtime/tensor.h
    "include/tvm/support/cuda/nvtx.h",  # src/runtime/vm/attn_utils.h (no-op off CUDA)
    "src/support/bytes_io.h",  # src/runtime/file_utils.cc, web/emcc/webgpu_runtime.cc
    "src/support/ring_buffer.h",  # src/runtime/rpc/rpc_endpoint.h
    "src/support/arena.h",  # src/runtime/rpc/rpc_endpoint.cc
    "src/support/utils.h",  # src/runtime/rpc/rpc_endpoint.cc
    "src/support/base64.h",  # src/runtime/tensor.cc
)

CFLAGS = ("-O3", "-std=c++17", "-Wno-ignored-attributes")  # TVM's and mlc-llm's web/Makefile EMCC_CFLAGS

# tvm/support/emcc.py create_tvmjs_wasm (what mlc-llm's webgpu build calls through export_library): a standalone
# wasm "reactor" (no main; _initialize runs the static registrations), BigInt for i64 across JS, growable memory,
# 160 MB initial memory, and undefined symbols left as imports (the TVMFFIWasm* callbacks tvmjs provides).
LINK_FLAGS = ("-O3", "-std=c++17", "--no-entry", "-s", "WASM_BIGINT=1", "-s", "ERROR_ON_UNDEFINED_SYMBOLS=0",
              "-s", "STANDALONE_WASM=1", "-s", "ALLOW_MEMORY_GROWTH=1", "-s", "TOTAL_MEMORY=160MB")

# What web-llm 0.2.86's tvmjs gives a model library to import (its EmccWASI glue's wasmImports, for both "env"
# and "wasi_snapshot_preview1", plus tvmjs Environment's own env entries). Anything else fails to instantiate.
TVMJS_IMPORTS = frozenset({
    "TVMFFIWasmFunctionDeleter", "TVMFFIWasmSafeCall", "clock_time_get", "emscripten_notify_memory_growth",
    "environ_get", "environ_sizes_get", "fd_close", "fd_read", "fd_seek", "fd_write", "proc_exit",
    "__cxa_thread_atexit", "__console_log"})
# Exports tvmjs 0.2.86 calls by name (FFILibrary.validateInstance checks TVMWasmAllocSpace/FreeSpace; its
# emscripten glue calls _initialize).
TVMJS_EXPORTS = ("memory", "_initialize", "TVMWasmAllocSpace", "TVMWasmFreeSpace", "TVMFFIWasmFunctionCreate",
                 "TVMFFIWasmGetLastError", "TVMFFIFunctionGetGlobal", "TVMFFIFunctionSetGlobal",
                 "TVMFFIFunctionCall",
                 "TVMFFIObjectIncRef", "TVMFFIObjectDecRef", "TVMFFITypeKeyToIndex", "TVMFFIGetTypeInfo",
                 "TVMFFIAnyViewToOwnedAny", "TVMFFIDataTypeToString", "TVMFFIErrorSetRaisedFromCStr")
# A symbol each runtime object must define (checked with llvm-nm when present); mlc_wasm_runtime defines none.
KEY_SYMBOLS = {"wasm_runtime": "TVMFFIFunctionGetGlobal", "tvmjs_support": "TVMWasmAllocSpace",
               # what loads devc.o's packed shaders (ffi.Module.load_from_bytes.webgpu)
               "webgpu_runtime": "_ZN3tvm7runtime25WebGPUModuleLoadFromBytesERKNS_3ffi5BytesE"}

STAMP = "runtime-build.json"
INSTALL_EMCC = "Debian's emscripten: `apt-get install -y emscripten` (3.1.6 on Debian 12)"


class RuntimeBuildError(RuntimeError):
    """A build or link step failed; the message says what to do."""


# ---------------------------------------------------------------------------------------------------------------
# Locating the inputs


def _package_dir(module: str, dist: str) -> Path:
    """The installed package folder, found without importing it (importing tvm is slow and loads libtvm)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeBuildError(f"the Python package {dist} is not installed (pip install -e '.[mlc]')")
    return Path(next(iter(spec.submodule_search_locations)))


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _tvm_source(mlc_src: Path, tvm_src: Path | None) -> Path | None:
    """An apache/tvm source tree for the headers the wheel lacks: tvm_src, else mlc-llm's 3rdparty/tvm if the
    submodule is checked out (a bare folder when it is not)."""
    if tvm_src is not None:
        if not (Path(tvm_src) / "include" / "tvm").is_dir():
            raise RuntimeBuildError(f"--mlc-tvm {tvm_src}: not an apache/tvm source checkout (no include/tvm)")
        return Path(tvm_src)
    sub = Path(mlc_src) / "3rdparty" / "tvm"
    return sub if (sub / "include" / "tvm").is_dir() else None


def emcc_version(emcc: str = "emcc") -> str:
    exe = shutil.which(emcc)
    if exe is None:
        raise RuntimeBuildError(f"emcc not found on PATH: install {INSTALL_EMCC}")
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120, check=True).stdout
    except (subprocess.SubprocessError, OSError) as err:
        raise RuntimeBuildError(f"`emcc --version` failed ({err}); reinstall {INSTALL_EMCC}") from None
    first = out.strip().splitlines()[0] if out.strip() else ""
    m = re.search(r"(\d+\.\d+\.\d+)", first)
    return m.group(1) if m else first


def _copytree(src: Path, dst: Path, skip: tuple[str, ...] = ("__pycache__",)) -> None:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(*skip, "*.pyc"), dirs_exist_ok=True)


def stage_tvm_root(root: Path, mlc_src: Path, tvm_src: Path | None, log: Log) -> dict[str, str]:
    """Lay out TVM's source tree at `root` from the installed wheels (+ TVM_SRC_HEADERS from a TVM checkout) and
    mlc-llm's mlc_wasm_runtime.cc at root/mlc/. Returns where each header came from."""
    tvm_pkg = _package_dir("tvm", "apache-tvm")
    ffi_pkg = _package_dir("tvm_ffi", "apache-tvm-ffi")
    wheel_web = tvm_pkg / "web" / "emcc"
    expected = [wheel_web / f"{n}.cc" for n in WEB_RUNTIME]
    expected += [tvm_pkg / "src" / "runtime", tvm_pkg / "include" / "tvm"]
    missing_in_wheel = [str(p) for p in expected if not p.exists()]
    if missing_in_wheel:
        raise RuntimeBuildError(f"apache-tvm {_version('apache-tvm')} does not ship its web runtime sources "
                                f"({', '.join(missing_in_wheel)}); this build expects apache-tvm 0.27.0.post1")
    if not (ffi_pkg / "src" / "ffi").is_dir() or not (ffi_pkg / "include" / "tvm" / "ffi").is_dir():
        raise RuntimeBuildError(f"apache-tvm-ffi {_version('apache-tvm-ffi')} at {ffi_pkg} lacks src/ffi or "
                                "include/tvm/ffi (the web runtime compiles tvm-ffi's sources in)")
    mlc_cc = Path(mlc_src) / "web" / "emcc" / f"{MLC_RUNTIME}.cc"
    if not mlc_cc.is_file():
        raise RuntimeBuildError(f"{mlc_cc} not found: --mlc must be an mlc-llm source checkout")

    if root.exists():
        shutil.rmtree(root)
    (root / "src").mkdir(parents=True)
    _copytree(tvm_pkg / "src" / "runtime", root / "src" / "runtime")
    _copytree(tvm_pkg / "include", root / "include")
    _copytree(wheel_web, root / "web" / "emcc")
    _copytree(ffi_pkg / "include", root / "3rdparty" / "tvm-ffi" / "include")
    _copytree(ffi_pkg / "src", root / "3rdparty" / "tvm-ffi" / "src")
    (root / "mlc").mkdir()
    shutil.copy2(mlc_cc, root / "mlc" / mlc_cc.name)

    source = _tvm_source(mlc_src, tvm_src)
    origin: dict[str, str] = {}
    lacking: list[str] = []
    for rel in TVM_SRC_HEADERS:
        if (tvm_pkg / rel).is_file():  # a later wheel may ship it
            shutil.copy2(tvm_pkg / rel, _mkparent(root / rel))
            origin[rel] = "apache-tvm wheel"
        elif source is not None and (source / rel).is_file():
            shutil.copy2(source / rel, _mkparent(root / rel))
            origin[rel] = str(source)
        else:
            lacking.append(rel)
    if lacking:
        where = (f"{source} lacks them" if source is not None else
                 f"no TVM source given and {Path(mlc_src) / '3rdparty' / 'tvm'} is not checked out")
        raise RuntimeBuildError(
            f"TVM's web runtime needs {len(lacking)} header(s) the apache-tvm wheel does not ship: "
            f"{', '.join(lacking)} ({where}). Pass --mlc-tvm PATH with PATH an apache/tvm source checkout "
            "(git clone https://github.com/apache/tvm), or use a recursive mlc-llm checkout "
            "(git submodule update --init 3rdparty/tvm), which provides them.")
    log(f"mlc runtime: staged TVM tree at {root} (apache-tvm {_version('apache-tvm')}, apache-tvm-ffi "
        f"{_version('apache-tvm-ffi')}; {len(TVM_SRC_HEADERS)} headers from {source or 'the wheel'})")
    return origin


def _mkparent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _include_flags(root: Path) -> list[str]:
    # TVM web/Makefile INCLUDE_FLAGS (its dlpack dir is folded into tvm-ffi's include/, see the module docstring)
    return [f"-I{root}", f"-I{root / 'include'}", f"-I{root / '3rdparty' / 'tvm-ffi' / 'include'}",
            f"-I{root / '3rdparty' / 'compiler-rt'}"]


# ---------------------------------------------------------------------------------------------------------------
# Building


def _run(cmd: list[str], what: str, timeout: int = 1800) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise RuntimeBuildError(f"{cmd[0]} not found: install {INSTALL_EMCC}") from None
    except subprocess.TimeoutExpired:
        raise RuntimeBuildError(f"{what}: emcc ran past {timeout} s") from None
    out = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        m = re.search(r"fatal error: '([^']+)' file not found", out)
        if m:
            raise RuntimeBuildError(
                f"{what}: header {m.group(1)} not found. The apache-tvm wheel lacks it: pass --mlc-tvm PATH (an "
                "apache/tvm source checkout) or use a recursive mlc-llm checkout (3rdparty/tvm), and report it: "
                f"runtime_objects.TVM_SRC_HEADERS should list it.\n{_tail(out)}")
        if "unknown" in out and ("bitcode" in out.lower() or "Unknown attribute kind" in out):
            raise RuntimeBuildError(f"{what}: emcc's LLVM cannot read an input (LLVM bitcode from a newer "
                                    f"compiler? export wasm objects, not .bc)\n{_tail(out)}")
        raise RuntimeBuildError(f"{what} failed (exit {proc.returncode}):\n{_tail(out)}")
    return out


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])



def _stamp_key(root: Path, emcc: str, object_format: str) -> str:
    """Hash of every staged input and the flags: equal key, equal objects."""
    h = hashlib.sha256(json.dumps([emcc, object_format, CFLAGS, _include_flags(Path("."))]).encode())
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(root)).encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def build_runtime(mlc_src: Path, tvm_src: Path | None, out: Path, log: Log, *, jobs: int = 2,
                  object_format: str = "o") -> dict[str, Path]:
    """Compile wasm_runtime, tvmjs_support, webgpu_runtime (apache-tvm wheel's web/emcc) and mlc_wasm_runtime
    (mlc_src/web/emcc) with emcc into `out/`: {name: object path}. `object_format` "o" (wasm objects, default) or
    "bc" (LLVM 14 bitcode, as TVM's web/Makefile). Reuses the objects when `out/runtime-build.json` matches the
    inputs. `jobs` compiles in parallel (wasm_runtime alone is about a minute; keep 1-2 on a shared machine)."""
    if object_format not in ("o", "bc"):
        raise ValueError(f"object_format must be 'o' or 'bc', not {object_format!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    version = emcc_version()
    root = out / "tvm-root"
    origin = stage_tvm_root(root, Path(mlc_src), Path(tvm_src) if tvm_src else None, log)
    key = _stamp_key(root, version, object_format)
    objects = {name: out / f"{name}.{object_format}" for name in LINK_ORDER}
    stamp = out / STAMP
    if stamp.is_file() and all(p.is_file() for p in objects.values()):
        try:
            if json.loads(stamp.read_text()).get("key") == key:
                check_runtime_objects(objects, log)
                log(f"mlc runtime: reusing {', '.join(p.name for p in objects.values())} in {out}")
                return objects
        except (ValueError, RuntimeBuildError):
            pass
    stamp.unlink(missing_ok=True)

    sources = {name: root / "web" / "emcc" / f"{name}.cc" for name in WEB_RUNTIME}
    sources[MLC_RUNTIME] = root / "mlc" / f"{MLC_RUNTIME}.cc"
    mode = ["-emit-llvm", "-c"] if object_format == "bc" else ["-c"]

    def compile_one(name: str) -> tuple[str, float]:
        t0 = time.monotonic()
        tmp = objects[name].with_name(objects[name].name + ".part")
        _run(["emcc", *_include_flags(root), *CFLAGS, *mode, "-o", str(tmp), str(sources[name])],
             f"emcc {sources[name].name}")
        tmp.replace(objects[name])
        return name, time.monotonic() - t0

    log(f"mlc runtime: emcc {version} compiling {', '.join(LINK_ORDER)} ({object_format}, {max(1, jobs)} at a "
        "time; wasm_runtime takes about a minute)")
    timings: dict[str, float] = {}
    # the largest first, so the small ones overlap it
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for name, secs in pool.map(compile_one, LINK_ORDER):
            timings[name] = round(secs, 1)
            log(f"mlc runtime: {objects[name].name} {objects[name].stat().st_size:,} bytes in {secs:.0f} s")
    check_runtime_objects(objects, log)
    stamp.write_text(json.dumps({
        "key": key, "emcc": version, "object_format": object_format, "cflags": list(CFLAGS),
        "apache_tvm": _version("apache-tvm"), "apache_tvm_ffi": _version("apache-tvm-ffi"),
        "headers_from": origin, "timings_s": timings,
        "objects": {n: {"file": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)}
                    for n, p in objects.items()},
    }, indent=1, sort_keys=True))
    return objects


# ---------------------------------------------------------------------------------------------------------------
# Checks


def _llvm_nm() -> str | None:
    for name in ("llvm-nm-14", "llvm-nm"):  # Debian's emscripten runs on LLVM 14, whose nm reads its bitcode
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def check_runtime_objects(objects: dict[str, Path], log: Log) -> None:
    """Each object exists and is wasm (\\0asm) or LLVM bitcode (BC\\xc0\\xde); with llvm-nm, each defines its key
    symbol. mlc_wasm_runtime legitimately defines nothing (see the module docstring)."""
    for name, path in objects.items():
        if not path.is_file() or path.stat().st_size == 0:
            raise RuntimeBuildError(f"{name}: {path} missing or empty")
        head = path.read_bytes()[:4]
        if head not in (b"\0asm", b"BC\xc0\xde", b"\xde\xc0\x17\x0b"):
            raise RuntimeBuildError(f"{name}: {path} is neither a wasm object nor LLVM bitcode")
    nm = _llvm_nm()
    if nm is None:
        log("mlc runtime: llvm-nm not found, objects checked by their magic only")
        return
    for name, sym in KEY_SYMBOLS.items():
        if name not in objects:
            continue
        proc = subprocess.run([nm, "--defined-only", str(objects[name])], capture_output=True, text=True,
                              check=False)
        if proc.returncode != 0:
            log(f"mlc runtime: {Path(nm).name} could not read {objects[name].name} ({_tail(proc.stderr, 2)})")
            continue
        if not re.search(rf"\s{re.escape(sym)}$", proc.stdout, re.MULTILINE):
            raise RuntimeBuildError(f"{name}: {objects[name]} does not define {sym}")


def wasm_interface(path: Path) -> tuple[list[tuple[str, str, int]], list[tuple[str, int]]]:
    """(imports [(module, name, kind)], exports [(name, kind)]) of a wasm module, read from its sections."""
    data = Path(path).read_bytes()
    if data[:4] != b"\0asm":
        raise RuntimeBuildError(f"{path} is not a wasm module")

    def uleb(pos: int) -> tuple[int, int]:
        result = shift = 0
        while True:
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result, pos

    def name(pos: int) -> tuple[str, int]:
        n, pos = uleb(pos)
        return data[pos:pos + n].decode("utf-8", "replace"), pos + n

    def limits(pos: int) -> int:
        flags, pos = uleb(pos)
        _, pos = uleb(pos)
        if flags & 1:
            _, pos = uleb(pos)
        return pos

    imports: list[tuple[str, str, int]] = []
    exports: list[tuple[str, int]] = []
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, body = uleb(pos + 1)
        end = body + size
        if sid == 2:
            count, p = uleb(body)
            for _ in range(count):
                mod, p = name(p)
                field, p = name(p)
                kind = data[p]
                p += 1
                if kind == 0:  # func: type index
                    _, p = uleb(p)
                elif kind == 1:  # table: reftype + limits
                    p = limits(p + 1)
                elif kind == 2:  # memory
                    p = limits(p)
                elif kind == 3:  # global: valtype + mut
                    p += 2
                else:  # tag: attribute + type index
                    _, p = uleb(p + 1)
                imports.append((mod, field, kind))
        elif sid == 7:
            count, p = uleb(body)
            for _ in range(count):
                field, p = name(p)
                kind = data[p]
                _, p = uleb(p + 1)
                exports.append((field, kind))
        pos = end
    return imports, exports


def check_tvmjs_interface(wasm: Path, label: str | None = None) -> dict[str, list[str]]:
    """Raise unless web-llm 0.2.86's tvmjs can instantiate `wasm`: every import among TVMJS_IMPORTS and every
    export in TVMJS_EXPORTS present. Returns {"imports": [...], "exports": [...]}."""
    imports, exports = wasm_interface(wasm)
    label = label or Path(wasm).name
    names = {e for e, _ in exports}
    extra = sorted(f"{m}.{n}" for m, n, _ in imports if m not in ("env", "wasi_snapshot_preview1")
                   or n not in TVMJS_IMPORTS)
    if extra:
        raise RuntimeBuildError(
            f"{label} imports what web-llm's tvmjs does not provide: {', '.join(extra)} (an undefined symbol "
            "at link time: a model object compiled against a different runtime, or a missing runtime object)")
    lacking = [e for e in TVMJS_EXPORTS if e not in names]
    if lacking:
        raise RuntimeBuildError(f"{label} lacks exports tvmjs calls: {', '.join(lacking)}")
    return {"imports": [f"{m}.{n}" for m, n, _ in imports], "exports": sorted(names)}


# ---------------------------------------------------------------------------------------------------------------
# Linking


def link_model_library(model_objects: list[Path], runtime: dict[str, Path], out_wasm: Path, log: Log) -> Path:
    """The emcc link of TVM's create_tvmjs_wasm: runtime objects first, then the model's wasm objects (lib0.o,
    devc.o, ...), into a standalone wasm web-llm loads as `<model>-webgpu.wasm`. Checks the result's imports and
    exports against what web-llm 0.2.86's tvmjs provides and calls."""
    missing = [n for n in LINK_ORDER if n not in runtime]
    if missing:
        raise RuntimeBuildError(f"runtime objects missing: {', '.join(missing)} (run build_runtime first)")
    objs = [Path(p) for p in model_objects]
    for p in objs:
        if not p.is_file():
            raise RuntimeBuildError(f"model object {p} not found")
        head = p.read_bytes()[:4]
        if head in (b"BC\xc0\xde", b"\xde\xc0\x17\x0b"):
            raise RuntimeBuildError(f"{p} is LLVM bitcode: Debian's emcc (LLVM 14) cannot read apache-tvm 0.27's "
                                    "LLVM 22 bitcode; export wasm objects (export_library to a .tar)")
        if head != b"\0asm":
            raise RuntimeBuildError(f"{p} is not a wasm object")
    out_wasm = Path(out_wasm)
    out_wasm.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_wasm.with_name(out_wasm.stem + ".part.wasm")
    cmd = ["emcc", *LINK_FLAGS, "-o", str(tmp), *(str(runtime[n]) for n in LINK_ORDER), *(str(p) for p in objs)]
    t0 = time.monotonic()
    try:
        out = _run(cmd, f"emcc link of {out_wasm.name}")
        undefined = sorted(set(re.findall(r"undefined symbol: (\S+)", out)))
        iface = check_tvmjs_interface(tmp, label=out_wasm.name)
        tmp.replace(out_wasm)
    finally:
        tmp.unlink(missing_ok=True)
    log(f"mlc runtime: linked {out_wasm.name} ({out_wasm.stat().st_size:,} bytes, {time.monotonic() - t0:.0f} s; "
        f"{len(iface['exports'])} exports, imports {', '.join(iface['imports'])}"
        + (f"; left to tvmjs: {', '.join(undefined)}" if undefined else "") + ")")
    return out_wasm


def smoke_link_runtime(runtime: dict[str, Path], out_wasm: Path, log: Log) -> dict[str, list[str]]:
    """Link the runtime alone (no model) and check its interface: a quick proof the objects link."""
    link_model_library([], runtime, out_wasm, log)
    return check_tvmjs_interface(out_wasm)


# A node check of a linked wasm: instantiate with the imports tvmjs gives (stubs), run _initialize (the static
# registrations), look up global functions through the tvm-ffi C ABI, and optionally open the system library and
# get functions from it. No WebGPU: a model whose SystemLib() loads its WebGPU module may need tvmjs's WebGPU
# globals; this was tried only on the runtime alone and on a CPU-only TVM 0.27 object.
_NODE_PROBE = r"""
const fs = require("fs");
const [file, globalsJson, syslibJson] = process.argv.slice(-3);
let mem;
const u32 = (p, n) => new Uint32Array(mem.buffer, p, n);
const env = { TVMFFIWasmSafeCall: () => -1, TVMFFIWasmFunctionDeleter: () => {},
  emscripten_notify_memory_growth: () => {}, __cxa_thread_atexit: () => 0, __console_log: () => {} };
const wasi = { clock_time_get: (id, pr, p) => { new BigUint64Array(mem.buffer, p, 1)[0] = 0n; return 0; },
  proc_exit: (c) => { throw new Error("proc_exit " + c); },
  fd_write: (fd, iov, n, pn) => { let t = 0; for (let i = 0; i < n; i++) t += u32(iov + 8 * i + 4, 1)[0];
    u32(pn, 1)[0] = t; return 0; },
  fd_read: () => 0, fd_close: () => 0, fd_seek: () => 0, environ_get: () => 0,
  environ_sizes_get: (c, s) => { u32(c, 1)[0] = 0; u32(s, 1)[0] = 0; return 0; } };
const inst = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(file)),
  { env, wasi_snapshot_preview1: wasi });
const ex = inst.exports; mem = ex.memory; ex._initialize();
const scratch = ex.TVMWasmAllocSpace(4096);
const getGlobal = (name) => { const b = Buffer.from(name); new Uint8Array(mem.buffer, scratch + 64, b.length).set(b);
  const v = u32(scratch, 3); v[0] = scratch + 64; v[1] = b.length; v[2] = 0;
  const rc = ex.TVMFFIFunctionGetGlobal(scratch, scratch + 8); return rc === 0 ? u32(scratch + 8, 1)[0] : 0; };
const call = (f, anys) => { const a = scratch + 1024, r = scratch + 1536; const dv = new DataView(mem.buffer);
  anys.forEach(([t, v], i) => { dv.setInt32(a + 16 * i, t, true); dv.setInt32(a + 16 * i + 4, 0, true);
    dv.setBigUint64(a + 16 * i + 8, BigInt(v), true); });
  dv.setInt32(r, 0, true); dv.setBigUint64(r + 8, 0n, true);
  const rc = ex.TVMFFIFunctionCall(f, a, anys.length, r); const d = new DataView(mem.buffer);
  return { rc, type: d.getInt32(r, true), value: Number(d.getBigUint64(r + 8, true)) }; };
const out = { globals: {}, syslib: {} };
for (const g of JSON.parse(globalsJson)) out.globals[g] = getGlobal(g) !== 0;
const wanted = JSON.parse(syslibJson);
if (wanted.length) {
  const lib = call(getGlobal("ffi.SystemLib"), []);
  out.syslib_module = lib.rc === 0 && lib.type === 73;  // kTVMFFIModule
  for (const fn of wanted) { const b = Buffer.from(fn + "\0"); new Uint8Array(mem.buffer, scratch + 2048, b.length).set(b);
    const r = out.syslib_module ? call(getGlobal("ffi.ModuleGetFunction"), [[73, lib.value], [8, scratch + 2048], [2, 1]])
                                : { rc: -1, type: 0 };
    out.syslib[fn] = r.rc === 0 && r.type === 68; }  // kTVMFFIRawStr = 8, kTVMFFIBool = 2, kTVMFFIFunction = 68
}
console.log(JSON.stringify(out));
"""


def node_probe(wasm: Path, global_names: Sequence[str],
               syslib_functions: Sequence[str] = ()) -> dict[str, Any] | None:
    """{"globals": {name: found}, "syslib_module": bool, "syslib": {name: found}}, or None without node. Raises
    RuntimeBuildError when the wasm does not instantiate or _initialize traps."""
    node = shutil.which("node")
    if node is None:
        return None
    proc = subprocess.run([node, "-e", _NODE_PROBE, "--", str(wasm), json.dumps(list(global_names)),
                           json.dumps(list(syslib_functions))], capture_output=True, text=True, timeout=300,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeBuildError(f"{Path(wasm).name} did not instantiate in node:\n{_tail(proc.stderr, 15)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# Global functions web-llm 0.2.86 asks the runtime for (getGlobalFunc in its index.js), a sample.
WEBLLM_GLOBALS = ("ffi.SystemLib", "ffi.ModuleGetFunction", "ffi.FunctionListGlobalNamesFunctor",
                  "runtime.TVMTensorAllocWithScope", "tvmjs.array.decode_storage",
                  "tvmjs.runtime.TensorCopyFromBytes",
                  "vm.builtin.kv_state_begin_forward", "vm.builtin.sample_top_p_from_logits",
                  "vm.builtin.param_module_from_cache_by_name", "vm.builtin.tensor_cache.get",
                  "ffi.Module.load_from_bytes.webgpu")


def _main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="build TVM's web runtime + mlc_wasm_runtime objects with emcc")
    ap.add_argument("mlc_src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--tvm-src", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--format", choices=("o", "bc"), default="o")
    ap.add_argument("--smoke", action="store_true", help="also link the runtime alone into out/runtime-smoke.wasm")
    ap.add_argument("--link", nargs="+", type=Path, metavar="OBJ",
                    help="link these model objects into out/model.wasm")
    args = ap.parse_args(argv)
    try:
        rt = build_runtime(args.mlc_src, args.tvm_src, args.out, print, jobs=args.jobs, object_format=args.format)
        if args.smoke:
            smoke_link_runtime(rt, args.out / "runtime-smoke.wasm", print)
            print(f"node probe: {node_probe(args.out / 'runtime-smoke.wasm', list(WEBLLM_GLOBALS), ['nope'])}")
        if args.link:
            link_model_library(args.link, rt, args.out / "model.wasm", print)
    except RuntimeBuildError as err:
        print(f"error: {err}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
