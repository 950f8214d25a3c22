"""Unpack verified archives (npm tarballs, wheels) into a cache folder keyed by their hash."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path


def unpacked(archive: Path, sha256: str, cache_root: Path) -> Path:
    """The folder holding `archive`'s contents; unpacked once, then reused."""
    target = cache_root / "unpacked" / sha256
    if (target / ".complete").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".unpack-") as scratch:
        scratch_path = Path(scratch)
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(scratch_path)
        else:
            with tarfile.open(archive, "r:gz") as tf:
                tf.extractall(scratch_path, filter="data")
        (scratch_path / ".complete").write_text(sha256)
        if target.exists():
            shutil.rmtree(target)
        scratch_path.rename(target)
        scratch_path.mkdir()  # TemporaryDirectory wants something to remove
    return target
