"""A download cache outside the repo, keyed by sha256, and the fetch-then-verify step.

Nothing reads a downloaded file before its hash has been checked: a fetcher writes into a
scratch folder, the hash is compared, and only a matching file is moved into the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from app.host.pins import Pin

# A fetcher puts the pinned file into the given folder and returns its path.
Fetcher = Callable[[Pin, Path], Path]


class IntegrityError(RuntimeError):
    """A file's sha256 is not the pinned one."""


class FetchError(RuntimeError):
    """The registry client could not hand out the pinned file."""


def default_cache_dir() -> Path:
    env = os.environ.get("BENCH_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "browser-llm-bench"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise FetchError(f"{what}: `{' '.join(cmd)}` failed:\n  " + "\n  ".join(tail))


def fetch_with_registry_client(pin: Pin, into: Path) -> Path:
    """`npm pack` for npm packages, `pip download` for wheels and sdists: the registries' ordinary clients."""
    if pin.kind == "npm":
        _run(["npm", "pack", pin.spec, "--pack-destination", str(into), "--silent"], pin.name)
        found = list(into.glob("*.tgz"))
    elif pin.kind == "sdist":
        # The source archive itself (the build makes the wheel, app.host.purewheel).
        _run(["pip", "download", "--quiet", "--no-deps", "--no-binary=:all:", "--dest", str(into), pin.spec], pin.name)
        found = list(into.glob("*.tar.gz"))
    else:
        # Pure-Python wheels as Pyodide's Python 3.13 would take them.
        _run(
            [
                "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                "--python-version", "3.13", "--implementation", "py", "--abi", "none",
                "--platform", "any", "--dest", str(into), pin.spec,
            ],
            pin.name,
        )
        found = list(into.glob("*.whl"))
    if len(found) != 1:
        raise FetchError(f"{pin.name}: expected one downloaded file, found {[f.name for f in found]}")
    return found[0]


class Cache:
    def __init__(self, root: Path, fetcher: Fetcher = fetch_with_registry_client) -> None:
        self.root = root
        self.fetcher = fetcher

    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    def filename_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / f"{sha256}.name"

    def get(self, pin: Pin, log: Callable[[str], None] = lambda _: None) -> tuple[Path, str]:
        """The verified file for `pin` and its original file name; fetches on a miss."""
        blob = self.blob_path(pin.sha256)
        if blob.exists():
            actual = sha256_file(blob)
            if actual == pin.sha256:
                return blob, self.filename_path(pin.sha256).read_text().strip()
            # A cache entry that no longer matches its own name was damaged: drop it, fetch again.
            log(f"cache entry for {pin.name} is damaged (sha256 {actual}); fetching again")
            blob.unlink()
        log(f"fetching {pin.spec}")
        blob.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=blob.parent, prefix=".fetch-") as scratch:
            downloaded = self.fetcher(pin, Path(scratch))
            actual = sha256_file(downloaded)
            if actual != pin.sha256:
                raise IntegrityError(
                    f"{pin.name} {pin.version} ({downloaded.name}) does not match its pin:\n"
                    f"  pinned sha256:     {pin.sha256}\n"
                    f"  downloaded sha256: {actual}\n"
                    "Nothing was built. If the new file is the one you want, update pins.toml."
                )
            self.filename_path(pin.sha256).write_text(downloaded.name + "\n")
            shutil.move(str(downloaded), blob)
        return blob, downloaded.name
