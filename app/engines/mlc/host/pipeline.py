"""The MLC WebLLM model build, offline, from the project's GGUF:

1. GGUF -> float32 Hugging Face LlamaForCausalLM folder (transformers dequantizes the GGUF and undoes llama.cpp's
   Q/K row permutation; the tokenizer is saved alongside).
2. per quantization (q0f32: float32, stored raw so it stays bit-exact; q0f16: float16 rounding), with mlc-llm's own
   entry points run by `python -m app.engines.mlc.host.mlc_tool` (apache-tvm 0.27 + tvm_compat's shims):
   gen_config (conv template chatml) -> mlc-chat-config.json + tokenizer files; convert_weight
   (MLC_ENCODE_FORMAT=raw) -> params_shard_*.bin + tensor-cache.json; compile --device webgpu -> a tar of wasm32
   OBJECT files (lib0.o, devc.o; not LLVM bitcode: Debian's emcc 3.1.6 is LLVM 14 and cannot read LLVM 22's).
3. the final link (runtime_objects.link_model_library: emcc with the TVM web runtime and mlc_wasm_runtime) ->
   out/<model_id>-webgpu.wasm, the model library web-llm loads.

out/<model_id>/ is the folder web-llm fetches as <model_url>/resolve/main/<file>. Nothing of the work (the HF
folder, the patched mlc-llm copy, the objects) is left in `out`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app.host.cache import sha256_file

MODEL_NAME = "SmolLM2-135M-Instruct"
CONV_TEMPLATE = "chatml"  # SmolLM2-Instruct's chat format (<|im_start|> ... <|im_end|>)
QUANTIZATIONS = ("q0f32", "q0f16")
REQUIRED_FEATURES = {"q0f16": ["shader-f16"]}
TVM_VERSION = "0.27.0.post1"
# the `mlc` extra of pyproject.toml must list what this build imports (apache-tvm itself, mlc-llm's Python
# compile path and the GGUF dequantization):
MLC_EXTRA = ("apache-tvm==0.27.0.post1", "torch", "transformers>=4.50,<4.58", "safetensors", "pydantic>=2",
             "tqdm", "ml_dtypes", "gguf")
# Web-sized model: mlc's defaults are the HF config's 8,192 for both (a 377 MB float32 KV cache and 8,192-token
# prefill buffers); web-llm's own builds of small models use 4,096 / 2,048.
CONTEXT_WINDOW = 4096
PREFILL_CHUNK = 2048
REPO_ROOT = Path(__file__).resolve().parents[4]


class MlcBuildError(Exception):
    """The build cannot run or failed: the message says what is missing and the command that fixes it."""


def model_id(quant: str) -> str:
    return f"{MODEL_NAME}-{quant}-MLC"



def _check_prerequisites(mlc_src: Path) -> dict:
    try:
        tvm_version = importlib.metadata.version("apache-tvm")
    except importlib.metadata.PackageNotFoundError:
        raise MlcBuildError(
            "apache-tvm is not installed: `pip install -e '.[mlc]'` (the mlc extra: "
            + ", ".join(MLC_EXTRA) + ")") from None
    if tvm_version != TVM_VERSION:
        raise MlcBuildError(f"apache-tvm {tvm_version} is installed; the shims (tvm_compat.py) are for "
                            f"{TVM_VERSION}: `pip install apache-tvm=={TVM_VERSION}`")
    for module, dist in (("torch", "torch"), ("transformers", "transformers"), ("safetensors", "safetensors"),
                         ("pydantic", "pydantic"), ("tqdm", "tqdm")):
        try:
            importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            raise MlcBuildError(f"{module} is not installed: `pip install -e '.[mlc]'` (the mlc extra: "
                                + ", ".join(MLC_EXTRA) + ")") from None
    if not (mlc_src / "python" / "mlc_llm" / "__init__.py").is_file() and not _is_bare_git(mlc_src):
        raise MlcBuildError(
            f"{mlc_src} is not an mlc-llm checkout (no python/mlc_llm): pass a clone of "
            "https://github.com/mlc-ai/mlc-llm (`git clone https://github.com/mlc-ai/mlc-llm`; its submodules "
            "are not needed) or a bare git repository of it")
    emcc = shutil.which("emcc")
    if emcc is None:
        raise MlcBuildError("emcc (emscripten) is not installed: `apt-get install emscripten` (Debian 12: 3.1.6)")
    out = subprocess.run([emcc, "--version"], capture_output=True, text=True, check=False)
    return {"apache_tvm": tvm_version, "emcc": (out.stdout or out.stderr).splitlines()[0].strip() if out.returncode == 0 else None}


def _is_bare_git(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def _git_head(path: Path) -> str | None:
    git_dir = path if _is_bare_git(path) else path / ".git"
    if not git_dir.exists() or shutil.which("git") is None:
        return None
    out = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "HEAD"], capture_output=True, text=True,
                         check=False)
    return out.stdout.strip() if out.returncode == 0 else None


def _source_tree(mlc_src: Path, work: Path) -> Path:
    """An mlc-llm tree with python/mlc_llm: the checkout itself, or (a bare repository) HEAD's python/ extracted."""
    if (mlc_src / "python" / "mlc_llm" / "__init__.py").is_file():
        return mlc_src
    tree = work / "mlc-llm-head"
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "--git-dir", str(mlc_src), "archive", "HEAD", "python", "web"], capture_output=True,
                             check=False)
    if archive.returncode != 0:
        raise MlcBuildError(f"git archive of {mlc_src} failed: {archive.stderr.decode(errors='replace')[-500:]}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def _run(args: list[str], log: Callable[[str], None], step: str, env: dict[str, str] | None = None) -> None:
    """Run a python -m app.engines.mlc.host.mlc_tool step as a subprocess; its output is logged on failure."""
    full_env = dict(os.environ)
    full_env.pop("PYTHONPATH", None)
    full_env["PYTHONPATH"] = str(REPO_ROOT)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "app.engines.mlc.host.mlc_tool", *args], cwd=REPO_ROOT,
                          env=full_env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise MlcBuildError(f"{step} failed (exit {proc.returncode}):\n{tail}")


def _hf_folder(gguf: Path, hf: Path, work: Path) -> dict:
    """Dequantize the GGUF into a float32 LlamaForCausalLM folder `hf` (with its tokenizer) -> its config."""
    code = (
        "import sys, torch\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "d, f, out = sys.argv[1:4]\n"
        "m = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)\n"
        "AutoTokenizer.from_pretrained(d, gguf_file=f).save_pretrained(out)\n"
        "m.save_pretrained(out)\n"
    )
    src = work / "gguf"
    src.mkdir()
    os.link(gguf, src / "model.gguf") if os.stat(gguf).st_dev == os.stat(work).st_dev else shutil.copyfile(
        gguf, src / "model.gguf")
    proc = subprocess.run([sys.executable, "-c", code, str(src), "model.gguf", str(hf)], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise MlcBuildError(f"dequantizing the GGUF with transformers failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return json.loads((hf / "config.json").read_text())


def build(gguf: Path, mlc_src: Path, out: Path, quantizations: tuple[str, ...], log: Callable[[str], None],
          tvm_src: Path | None = None) -> dict:
    """Write out/<model_id>/ and out/<model_id>-webgpu.wasm per quantization -> the build record (JSON-able).
    Raises MlcBuildError (what is missing and how to fix it, or which step failed)."""
    gguf, mlc_src, out = Path(gguf), Path(mlc_src), Path(out)
    unknown = [q for q in quantizations if q not in QUANTIZATIONS]
    if unknown:
        raise MlcBuildError(f"unsupported quantization(s) {unknown}: this build makes {QUANTIZATIONS}")
    started = time.monotonic()
    timings: dict[str, float] = {}
    record: dict = {**_check_prerequisites(mlc_src), "mlc_llm": _git_head(mlc_src), "quantizations": list(quantizations),
                    "conv_template": CONV_TEMPLATE, "context_window_size": CONTEXT_WINDOW,
                    "prefill_chunk_size": PREFILL_CHUNK, "source_gguf_sha256": sha256_file(gguf), "models": {}}
    try:
        from app.engines.mlc.host import runtime_objects
    except ImportError:
        runtime_objects = None
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlc-build-") as tmp:
        work = Path(tmp)
        from app.engines.mlc.host import tvm_compat

        t = time.monotonic()
        tree = _source_tree(mlc_src, work)
        prepared = work / "mlc-src"
        try:
            tvm_compat.prepare_source(tree, prepared)
        except tvm_compat.CompatError as err:
            raise MlcBuildError(f"mlc-llm source shim: {err}") from None
        timings["prepare_source_s"] = time.monotonic() - t

        log("MLC build: dequantizing the GGUF into a float32 Hugging Face folder (transformers)")
        t = time.monotonic()
        hf = work / "hf"
        _hf_folder(gguf, hf, work)
        timings["dequantize_s"] = time.monotonic() - t

        shims: dict[str, str] = dict(tvm_compat.SHIMS_APPLIED)  # source patches, then the compile step's
        runtime = None
        if runtime_objects is not None:
            log("MLC build: building the TVM web runtime and mlc_wasm_runtime (emcc)")
            t = time.monotonic()
            try:
                runtime = runtime_objects.build_runtime(tree, tvm_src, work / "runtime", log)
            except runtime_objects.RuntimeBuildError as err:
                raise MlcBuildError(f"web runtime: {err}") from None
            timings["runtime_s"] = time.monotonic() - t

        for quant in quantizations:
            mid = model_id(quant)
            model_dir = out / mid
            if model_dir.exists():
                shutil.rmtree(model_dir)
            times: dict[str, float] = {}
            log(f"MLC build: {mid}: gen_config")
            t = time.monotonic()
            _run([str(prepared), "gen_config", str(hf), "--quantization", quant, "--conv-template", CONV_TEMPLATE,
                  "--context-window-size", str(CONTEXT_WINDOW), "--prefill-chunk-size", str(PREFILL_CHUNK),
                  "-o", str(model_dir)], log, f"{mid} gen_config")
            times["gen_config_s"] = time.monotonic() - t
            log(f"MLC build: {mid}: convert_weight (MLC_ENCODE_FORMAT=raw)")
            t = time.monotonic()
            _run([str(prepared), "convert_weight", str(hf), "--quantization", quant, "--device", "cpu",
                  "-o", str(model_dir)], log, f"{mid} convert_weight", env={"MLC_ENCODE_FORMAT": "raw"})
            times["convert_weight_s"] = time.monotonic() - t
            log(f"MLC build: {mid}: compile (webgpu, wasm32 objects)")
            t = time.monotonic()
            tar = work / f"{mid}-webgpu.tar"
            _run([str(prepared), "compile", str(model_dir / "mlc-chat-config.json"), "--device", "webgpu",
                  "-o", str(tar)], log, f"{mid} compile", env={"MLC_TOOL_SHIMS_JSON": str(work / "shims.json")})
            shims.update(json.loads((work / "shims.json").read_text()))
            times["compile_s"] = time.monotonic() - t
            objects_dir = work / f"{mid}-objects"
            with tarfile.open(tar) as tf:
                tf.extractall(objects_dir, filter="data")
            objects = sorted(objects_dir.glob("*.o"))
            lib_name = f"{mid}-webgpu.wasm"
            model: dict = {"model_id": mid, "dir": mid, "lib": None, "objects": {
                o.name: {"size": o.stat().st_size, "sha256": sha256_file(o)} for o in objects},
                "required_features": REQUIRED_FEATURES.get(quant, []), "context_window_size": CONTEXT_WINDOW}
            if runtime is not None:
                log(f"MLC build: {mid}: linking {lib_name} (emcc)")
                t = time.monotonic()
                try:
                    runtime_objects.link_model_library(objects, runtime, out / lib_name, log)
                except runtime_objects.RuntimeBuildError as err:
                    raise MlcBuildError(f"{mid} link: {err}") from None
                times["link_s"] = time.monotonic() - t
                model["lib"] = lib_name
            else:
                # not linked: keep the objects next to the model (the final link is runtime_objects' job)
                keep = out / f"{mid}-webgpu-objects"
                if keep.exists():
                    shutil.rmtree(keep)
                shutil.copytree(objects_dir, keep)
                model["objects_dir"] = keep.name
            cache = json.loads((model_dir / "tensor-cache.json").read_text())
            shards = [r["dataPath"] for r in cache["records"]]
            model["weight_files"] = shards
            whole = hashlib.sha256()
            for shard in shards:
                with (model_dir / shard).open("rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        whole.update(chunk)
            model["weights_sha256"] = whole.hexdigest()  # of the shards concatenated in tensor-cache order
            model["files"] = {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
                              for p in sorted(model_dir.iterdir()) if p.is_file()}
            if model["lib"]:
                lib = out / lib_name
                model["files"][lib_name] = {"size": lib.stat().st_size, "sha256": sha256_file(lib)}
            model["timings_s"] = {k: round(v, 2) for k, v in times.items()}
            record["models"][quant] = model
    timings["total_s"] = time.monotonic() - started
    record["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    record["shims"] = shims
    record["linked"] = runtime_objects is not None
    return record
