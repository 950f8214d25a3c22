"""python -m app.engines.native.host.wheel: the llama.cpp binding's wheel, built once from the pinned sdist, cached
by the sdist's sha256, and installed (host only).

PyPI ships llama-cpp-python as an sdist that compiles llama.cpp (minutes on 2 cores). The sdist is the pins.toml
host-tool pin `llama-cpp-python` (fetched with pip download, hash-checked and kept by app.host.cache, the project's
download cache); its wheel is built with `pip wheel` and CMAKE_ARGS `-DGGML_NATIVE=OFF` (llama.cpp's portable x86
CPU code: AVX2, FMA, F16C, no AVX-512, so the wheel runs on any recent x86-64 machine, not only the one that built
it), and kept under the cache's derived/ folder, keyed by the sdist's sha256, the CMake arguments and the machine.
The next call reuses it: installing takes seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app.engines.native.support import BINDING, BINDING_VERSION
from app.host import pins as pinlib
from app.host.cache import Cache, FetchError, IntegrityError, default_cache_dir

CMAKE_ARGS = "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"  # portable CPU code (AVX2 on x86-64); no multimodal library (unused)
BUILD_VERSION = "v1"  # bump when the way the wheel is built changes (a new key, a new build)


class WheelError(RuntimeError):
    """The binding's wheel could not be fetched, built or installed: the message says which step and why."""


def wheel_key(sdist_sha256: str, cmake_args: str = CMAKE_ARGS, machine: str | None = None) -> str:
    """The cache folder name of a wheel: the sdist's sha256 (16 hex digits), the CMake arguments' hash and the
    machine ("native-wheel-832db0699007f1be-3f2a9c1e-x86_64-v1")."""
    flags = hashlib.sha256(cmake_args.encode()).hexdigest()[:8]
    return f"native-wheel-{sdist_sha256[:16]}-{flags}-{machine or platform.machine()}-{BUILD_VERSION}"


def cached_wheel(folder: Path) -> Path | None:
    """The one .whl in `folder`, or None."""
    found = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    return found[0] if len(found) == 1 else None


def build_wheel(cache: Cache, log=print, jobs: int | None = None) -> tuple[Path, float | None]:
    """The binding's wheel (path) and the seconds its build took now (None: reused from the cache).

    Raises WheelError naming the step that failed (the pin, the fetch, the compile with its last lines)."""
    try:
        pin = pinlib.host_tool(BINDING)
        if pin.version != BINDING_VERSION:
            raise WheelError(f"pins.toml pins {BINDING} {pin.version}; this engine is written for {BINDING_VERSION}")
        sdist, name = cache.get(pin, log=log)
    except (pinlib.PinError, FetchError, IntegrityError) as err:
        raise WheelError(f"the {BINDING} sdist: {err}") from err
    folder = cache.root / "derived" / wheel_key(pin.sha256)
    found = cached_wheel(folder)
    if found is not None:
        return found, None
    log(f"building {BINDING} {pin.version} from its sdist (sha256 {pin.sha256[:12]}…), CMAKE_ARGS={CMAKE_ARGS}: "
        "this compiles llama.cpp and takes minutes")
    started = time.monotonic()
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".build-") as scratch:
        source = Path(scratch) / name
        shutil.copyfile(sdist, source)
        env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS,
               "CMAKE_BUILD_PARALLEL_LEVEL": str(jobs or os.cpu_count() or 1)}
        out = Path(scratch) / "wheel"
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                               "-w", str(out), str(source)], env=env, check=False, capture_output=True, text=True)
        built = cached_wheel(out)
        if proc.returncode != 0 or built is None:
            tail = "\n  ".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise WheelError(f"pip wheel {name} failed (exit {proc.returncode}):\n  {tail}")
        staged = Path(scratch) / "done"
        staged.mkdir()
        shutil.move(str(built), staged / built.name)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staged, folder)
    return folder / built.name, time.monotonic() - started


def install(wheel: Path, log=print) -> None:
    """pip install the wheel (its dependencies from the registry: numpy, typing-extensions, diskcache, jinja2).
    Raises WheelError with pip's last lines."""
    log(f"installing {wheel.name}")
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                           "--force-reinstall", "--no-deps", str(wheel)], check=False, capture_output=True, text=True)
    if proc.returncode == 0:
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
                               str(wheel)], check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n  ".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
        raise WheelError(f"pip install {wheel.name} failed (exit {proc.returncode}):\n  {tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.engines.native.host.wheel", description=__doc__.splitlines()[0])
    parser.add_argument("--no-install", action="store_true", help="build (or find) the wheel and print its path only")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="the download cache (default: $BENCH_CACHE_DIR or ~/.cache/browser-llm-bench)")
    parser.add_argument("--jobs", type=int, default=None, help="compile jobs (default: every core)")
    args = parser.parse_args(argv)

    def log(line: str) -> None:
        print(f"[native] {line}", file=sys.stderr, flush=True)

    try:
        wheel, seconds = build_wheel(Cache(args.cache_dir or default_cache_dir()), log, args.jobs)
        log(f"built {wheel} in {seconds:.0f} s" if seconds is not None else f"reused the cached {wheel}")
        if not args.no_install:
            install(wheel, log)
    except WheelError as err:
        print(f"native wheel: {err}", file=sys.stderr)
        return 1
    print(wheel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
