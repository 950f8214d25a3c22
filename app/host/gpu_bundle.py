"""The GPU bundle: what a benchmark run needs on a machine with an NVIDIA GPU and no registry, in pieces.

    python -m app.host.gpu_bundle [--runtime chromium|deno] [--out build/gpu-bundle] [--piece-mb 60] [--with-gemma]
                                  [--with-transformersjs]

packs into one xz tar, split into pieces of at most --piece-mb MB (`bundle.tar.xz.part000`, ...) with SHA256SUMS:
  app/, pins.toml  this package's Python source (the host side: the server, the runtimes, the table)
  dist/            the built site minus what the GPU rows do not load (notebooks, test wheels; the Transformers.js
                   runtime and model unless --with-transformersjs; Gemma unless --with-gemma; web-llm and the MLC
                   model unless --with-mlc, and then without its weight shards: gpu_run.sh recreates them from the
                   GGUF with numpy, md5-checked, app/engines/mlc/host/shards.py)
  gpu_run.sh       scripts/gpu_run.sh: checks and reassembles the pieces and runs the benchmark there
  native/          with --with-native DIR: llama.cpp's own llama-bench and what it needs there (DIR as
                   ../shared/recipes/native-llama-bench-vulkan.sh makes it, plus smollm2-zeroed.gguf.xz) and
                   scripts/native_gpu_run.sh: gpu_run.sh runs it first (native CPU and Vulkan figures)
 --runtime chromium (the default; `bench --gpu-profile nvidia-vulkan`):
  chromium/        Debian's Chromium and chromedriver (/usr/lib/chromium, without the Vulkan validation layer, the mock
                   ICD and all locales but en-US) and lib/: their shared-library closure (ldd) but the C library's
  debs/            Debian's libvulkan1, libegl1, libglvnd0, libgl1, libglx0, libgles2, libopengl0 (`apt-get download`):
                   unpacked into / there (NOTES: the EGL and Vulkan loaders the NVIDIA driver plugs into)
  wheels/          the host side's pure-Python wheels that such a machine lacks (selenium and its own, fastjsonschema)
 --runtime deno:
  deno             the pinned binary (npm @deno/linux-x64-glibc 2.9.6, hash-checked in the cache)
  debs/            Debian's libvulkan1, unpacked beside deno there
The machine needs python3 (>= 3.11, with numpy and jinja2), xz, tar and an NVIDIA driver with its Vulkan ICD file;
nothing is fetched there.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from app.host.pins import REPO_ROOT

DIST = REPO_ROOT / "dist"
# Not loaded by the GPU rows (llama.cpp 2.x / 3.x, flare): left out of the bundle.
SKIP_DIST = ("static/notebooks/", "notebook.html", "pytest-", "pluggy-", "iniconfig-", "pygments-", "tblib-")
TRANSFORMERSJS = ("vendor/ort/", "vendor/transformers/", "models/smollm2-135m-instruct-onnx/")
GEMMA = "models/gemma-3-270m"
MLC = ("vendor/web-llm/", "models/mlc/")
MLC_SHARD = "params_shard_"  # recreated on the GPU machine from the GGUF (shards.py), never carried
DEBS = {"deno": ("libvulkan1",),
        "chromium": ("libvulkan1", "libegl1", "libglvnd0", "libgl1", "libglx0", "libgles2", "libopengl0")}
CHROMIUM_DIR = Path("/usr/lib/chromium")
CHROMIUM_SKIP = ("libVkLayer_khronos_validation", "libVkICD_mock_icd")
# The C library's own group: the GPU machine has a newer one, and mixing two breaks every program.
LIBC = ("libc.so", "libm.so", "libpthread.so", "libdl.so", "librt.so", "libresolv.so", "ld-linux")
# Pure-Python wheels the host side needs there beyond what such a machine has (numpy, jinja2, urllib3, certifi...).
WHEELS = ("selenium==4.51.0", "trio==0.35.0", "trio-websocket==0.12.2", "websocket-client==1.9.2", "outcome",
          "sniffio", "wsproto", "fastjsonschema==2.22.3")


def bundle_files(dist: Path, with_gemma: bool, with_transformersjs: bool = False, with_mlc: bool = False) -> list[Path]:
    """The files of the built site that the GPU run serves."""
    skip = SKIP_DIST + (() if with_transformersjs else TRANSFORMERSJS) + (() if with_mlc else MLC)
    out = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        rel = path.relative_to(dist).as_posix()
        if rel.startswith(skip) or (not with_gemma and rel.startswith(GEMMA)) or path.name.startswith(MLC_SHARD):
            continue
        out.append(path)
    return out


def chromium_files() -> list[Path]:
    """Chromium's own files to carry (see the module docstring)."""
    out = []
    for path in sorted(p for p in CHROMIUM_DIR.rglob("*") if p.is_file()):
        rel = path.relative_to(CHROMIUM_DIR).as_posix()
        if path.name.startswith(CHROMIUM_SKIP) or (rel.startswith("locales/") and path.name != "en-US.pak"):
            continue
        out.append(path)
    return out


def library_closure(binaries: list[Path]) -> list[Path]:
    """The shared libraries `binaries` load from outside Chromium's folder (ldd), the C library's group excepted."""
    found: set[Path] = set()
    for binary in binaries:
        run = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
        for line in run.stdout.splitlines():
            parts = line.split("=>")
            if len(parts) != 2 or not parts[1].strip().startswith("/"):
                continue
            lib = Path(parts[1].split()[0])
            if CHROMIUM_DIR not in lib.parents and not lib.name.startswith(LIBC):
                found.add(lib)
    return sorted(found)


def _stage_chromium(root: Path, log) -> None:
    files = chromium_files()
    for path in files:
        target = root / "chromium" / path.relative_to(CHROMIUM_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path.resolve())
    libs = library_closure([p for p in files if os.access(p, os.X_OK) or p.suffix == ".so"])
    (root / "lib").mkdir()
    for lib in libs:
        (root / "lib" / lib.name).symlink_to(lib.resolve())
    log(f"[gpu-bundle] Chromium: {len(files)} files, {len(libs)} libraries of its closure")
    wheels = root / "wheels"
    wheels.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "py", "--abi", "none", "--platform", "any",
                    "-d", str(wheels), *WHEELS], check=True)


def pack(out: Path, piece_mb: int = 60, with_gemma: bool = False, runtime: str = "chromium",
         with_transformersjs: bool = False, log=print, with_mlc: bool = False, native: Path | None = None) -> list[Path]:
    """Write the bundle's pieces and SHA256SUMS into `out`; returns the pieces. Raises SystemExit in words when
    dist/ is not built or a packing step fails."""
    if not (DIST / "manifest.json").exists():
        raise SystemExit("dist/ is not built: run `python build.py` first")
    if native is not None and not (native / "llama-bench").is_file():  # before the old pieces are removed
        raise SystemExit(f"--with-native {native}: no llama-bench there (../shared/recipes/native-llama-bench-vulkan.sh)")
    if with_mlc and not any((DIST / "models" / "mlc").glob("*/resolve/main/tensor-cache.json")):
        raise SystemExit("--with-mlc: dist/ has no MLC model: run `python build.py --mlc PATH` first")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("bundle.tar.xz.part*"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="gpu-bundle-") as scratch:
        root = Path(scratch) / "bundle"
        (root / "dist").mkdir(parents=True)
        for path in bundle_files(DIST, with_gemma, with_transformersjs, with_mlc):
            target = root / "dist" / path.relative_to(DIST)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
        if runtime == "deno":
            from app.host.deno_runtime import deno_binary

            (root / "deno").symlink_to(deno_binary())
        else:
            _stage_chromium(root, log)
        shutil.copytree(REPO_ROOT / "app", root / "app", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO_ROOT / "pins.toml", root / "pins.toml")
        shutil.copy(REPO_ROOT / "scripts" / "gpu_run.sh", root / "gpu_run.sh")
        if native is not None:
            shutil.copytree(native, root / "native", symlinks=False)
            shutil.copy(REPO_ROOT / "scripts" / "native_gpu_run.sh", root / "native_gpu_run.sh")
        (root / "RUNTIME").write_text(runtime + "\n")
        (root / "debs").mkdir()
        subprocess.run(["apt-get", "download", *DEBS[runtime]], cwd=root / "debs", check=True, capture_output=True)
        log(f"[gpu-bundle] packing {sum(1 for _ in root.rglob('*'))} entries (xz, pieces of {piece_mb} MB)…")
        tar = subprocess.Popen(["tar", "-chf", "-", "-C", scratch, "bundle"], stdout=subprocess.PIPE)
        xz = subprocess.Popen(["xz", "-T0", "-6", "-c"], stdin=tar.stdout, stdout=subprocess.PIPE)
        tar.stdout.close()
        split = subprocess.run(["split", "-b", str(piece_mb * 1_000_000), "-d", "-a", "3", "-", str(out / "bundle.tar.xz.part")],
                               stdin=xz.stdout, check=True)
        xz.stdout.close()
        if tar.wait() != 0 or xz.wait() != 0 or split.returncode != 0:
            raise SystemExit("[gpu-bundle] tar | xz | split failed")
    pieces = sorted(out.glob("bundle.tar.xz.part*"))
    sums = [f"{hashlib.sha256(piece.read_bytes()).hexdigest()}  {piece.name}" for piece in pieces]
    (out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    shutil.copy(REPO_ROOT / "scripts" / "gpu_run.sh", out / "gpu_run.sh")
    for piece in pieces:
        log(f"[gpu-bundle] {piece.name}: {piece.stat().st_size / 1e6:.1f} MB")
    log("[gpu-bundle] on the GPU machine: bash gpu_run.sh DIR_WITH_PIECES RESULTS_DIR")
    return pieces


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.host.gpu_bundle", description=__doc__.splitlines()[0])
    p.add_argument("--runtime", choices=("chromium", "deno"), default="chromium",
                   help="chromium: the page in Chromium with --gpu-profile nvidia-vulkan (default); deno: no browser")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "gpu-bundle")
    p.add_argument("--piece-mb", type=int, default=60)
    p.add_argument("--with-gemma", action="store_true", help="also the Gemma 3 270M file (llama.cpp rows only; +240 MB)")
    p.add_argument("--with-transformersjs", action="store_true",
                   help="also Transformers.js, ONNX Runtime Web and the converted model (build with --transformersjs)")
    p.add_argument("--with-mlc", action="store_true",
                   help="also web-llm and the MLC model (build with --mlc PATH); its weight shards are recreated there")
    p.add_argument("--with-native", type=Path, default=None, metavar="DIR",
                   help="also llama-bench (Vulkan + CPU) and its libraries from DIR: native figures beside the browser rows")
    args = p.parse_args(argv)
    pack(args.out, args.piece_mb, args.with_gemma, args.runtime, args.with_transformersjs, with_mlc=args.with_mlc,
         native=args.with_native)
    return 0


if __name__ == "__main__":
    sys.exit(main())
