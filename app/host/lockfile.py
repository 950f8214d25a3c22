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


def wheels_needed(lock: Path, name: str) -> list[dict[str, str]]:
    """`name` and every package it depends on (transitively) in the lock `lock`: [{package, file, integrity}],
    `integrity` a Subresource Integrity value from the lock's sha256, so the page's fetch checks each wheel."""
    import base64
    import json

    packages = json.loads(lock.read_text())["packages"]
    order: list[str] = []

    def visit(package: str) -> None:
        if package in order:
            return
        if package not in packages:
            raise KeyError(f"{package} is not in {lock.name}")
        order.append(package)
        for dep in packages[package]["depends"]:
            visit(dep)

    visit(name)
    return [{"package": p, "file": packages[p]["file_name"],
             "integrity": "sha256-" + base64.b64encode(bytes.fromhex(packages[p]["sha256"])).decode()} for p in order]
