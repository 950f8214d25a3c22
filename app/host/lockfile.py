"""Pyodide's lock file, cut down to the packages this site really serves.

The npm core lists 375 packages but ships none of their files; left as it is, the lock sends
`loadPackage` to a CDN that is not reachable, and fails with "Failed to fetch". The build keeps
only the wheels it vendors (with their real hashes and dependencies), so asking for anything else
fails at once with "No known package".
"""

from __future__ import annotations

from pathlib import Path

from pyodide_lock import PyodideLockSpec
from pyodide_lock.utils import add_wheels_to_spec


def write_lock(core_lock: Path, wheels: list[Path], dist: Path, out: Path) -> list[str]:
    spec = PyodideLockSpec.from_json(core_lock)
    spec = spec.model_copy(update={"packages": {}})
    spec = add_wheels_to_spec(spec, wheels, base_path=dist)
    spec.to_json(out)
    return sorted(spec.packages)
