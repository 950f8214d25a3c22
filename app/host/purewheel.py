"""A pure-Python wheel for Pyodide, built from a pinned sdist (markupsafe: PyPI has only binary wheels).

`pip wheel --no-deps --no-build-isolation --no-index` with the pinned setuptools on PYTHONPATH, so nothing
is fetched and nothing unpinned takes part; `CC=false` makes the C extension fail to compile, and the
package's setup.py then builds without it; `SOURCE_DATE_EPOCH` fixes the zip timestamps. The wheel must
be py3-none-any, hold no compiled module, and have the sha256 recorded in pins.toml (`wheel_sha256`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from app.host.cache import sha256_file

SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can hold
COMPILED = (".so", ".pyd", ".dylib", ".dll", ".a", ".o")


class WheelBuildError(RuntimeError):
    pass


def check_pure(wheel: Path, what: str) -> None:
    """Refuse a wheel that is not py3-none-any or that carries a compiled module."""
    if not wheel.name.endswith("-py3-none-any.whl"):
        raise WheelBuildError(f"{what}: built {wheel.name}, not a py3-none-any wheel (a C extension got in?)")
    with zipfile.ZipFile(wheel) as zf:
        compiled = [n for n in zf.namelist() if n.endswith(COMPILED)]
    if compiled:
        raise WheelBuildError(f"{what}: the wheel holds compiled files {compiled}; Pyodide cannot load them")


def build_pure_wheel(sdist: Path, setuptools_dir: Path, out: Path, expected_sha256: str, what: str) -> Path:
    """Build the wheel of `sdist` into `out`, check it is pure and has `expected_sha256`; return its path."""
    out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(CC="false", CXX="false", SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, PYTHONPATH=str(setuptools_dir),
               PYTHONDONTWRITEBYTECODE="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
           "--no-cache-dir", "--wheel-dir", str(out), str(sdist)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=out, check=False)
    wheels = list(out.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        raise WheelBuildError(f"{what}: `pip wheel` of {sdist.name} failed (exit {proc.returncode}):\n  " + "\n  ".join(tail))
    wheel = wheels[0]
    check_pure(wheel, what)
    actual = sha256_file(wheel)
    if actual != expected_sha256:
        raise WheelBuildError(
            f"{what}: the wheel built from the pinned sdist ({wheel.name}) is not the expected one:\n"
            f"  expected sha256 (pins.toml wheel_sha256): {expected_sha256}\n"
            f"  built sha256:                             {actual}\n"
            "Nothing was built. The sdist and setuptools are pinned, so a difference means the build tools "
            "behave differently here (pip, Python): compare the wheel's files, and if it is right, update wheel_sha256."
        )
    return wheel
