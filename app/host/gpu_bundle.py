"""The GPU bundle: what `bench --runtime deno` needs on a machine with an NVIDIA GPU and no registry, in pieces.

    python -m app.host.gpu_bundle [--out build/gpu-bundle] [--piece-mb 60] [--with-gemma]

packs into one xz tar, split into pieces of at most --piece-mb MB (`bundle.tar.xz.part000`, ...) with SHA256SUMS:
  deno          the pinned binary (npm @deno/linux-x64-glibc 2.9.6, hash-checked in the cache)
  app/          this package's Python source (the host side: the server, the Deno runner, the table)
  dist/         the built site minus what the Deno rows do not load (Transformers.js, ONNX, notebooks, test wheels;
                Gemma unless --with-gemma)
  debs/         Debian's libvulkan1 (`apt-get download`), unpacked beside deno there: the Vulkan loader
  gpu_run.sh    scripts/gpu_run.sh: checks and reassembles the pieces, unpacks the loader, sets VK_DRIVER_FILES and
                runs every engine that can run there, with and without the WebGPU limits shim
The machine needs python3 (>= 3.11), xz, tar and an NVIDIA driver with its Vulkan ICD file; nothing is fetched there.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from app.host.pins import REPO_ROOT

DIST = REPO_ROOT / "dist"
# Not loaded by the Deno rows (llama.cpp 2.x / 3.x, flare): left out of the bundle.
SKIP_DIST = ("vendor/ort/", "vendor/transformers/", "vendor/chartjs/", "models/smollm2-135m-instruct-onnx/",
             "static/notebooks/", "notebook.html", "pytest-", "pluggy-", "iniconfig-", "pygments-", "tblib-")
GEMMA = "models/gemma-3-270m"
DEBS = ("libvulkan1",)


def bundle_files(dist: Path, with_gemma: bool) -> list[Path]:
    out = []
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        rel = path.relative_to(dist).as_posix()
        if rel.startswith(SKIP_DIST) or (not with_gemma and rel.startswith(GEMMA)):
            continue
        out.append(path)
    return out


def pack(out: Path, piece_mb: int = 60, with_gemma: bool = False, log=print) -> list[Path]:
    from app.host.deno_runtime import deno_binary

    if not (DIST / "manifest.json").exists():
        raise SystemExit("dist/ is not built: run `python build.py` first")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("bundle.tar.xz.part*"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="gpu-bundle-") as scratch:
        root = Path(scratch) / "bundle"
        (root / "dist").mkdir(parents=True)
        for path in bundle_files(DIST, with_gemma):
            target = root / "dist" / path.relative_to(DIST)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
        (root / "deno").symlink_to(deno_binary())
        shutil.copytree(REPO_ROOT / "app", root / "app", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(REPO_ROOT / "scripts" / "gpu_run.sh", root / "gpu_run.sh")
        (root / "debs").mkdir()
        subprocess.run(["apt-get", "download", *DEBS], cwd=root / "debs", check=True, capture_output=True)
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
    sums = []
    for piece in pieces:
        digest = hashlib.sha256(piece.read_bytes()).hexdigest()
        sums.append(f"{digest}  {piece.name}")
    (out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    shutil.copy(REPO_ROOT / "scripts" / "gpu_run.sh", out / "gpu_run.sh")
    for piece in pieces:
        log(f"[gpu-bundle] {piece.name}: {piece.stat().st_size / 1e6:.1f} MB")
    log("[gpu-bundle] on the GPU machine: bash gpu_run.sh DIR_WITH_PIECES RESULTS_DIR")
    return pieces


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m app.host.gpu_bundle", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "gpu-bundle")
    p.add_argument("--piece-mb", type=int, default=60)
    p.add_argument("--with-gemma", action="store_true", help="also the Gemma 3 270M file (llama.cpp rows only; +240 MB)")
    args = p.parse_args(argv)
    pack(args.out, args.piece_mb, args.with_gemma)
    return 0


if __name__ == "__main__":
    sys.exit(main())
