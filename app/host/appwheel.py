"""Build the `app` wheel that the page loads from the site's Pyodide lock (the notebook worker: micropip).

Written by hand rather than through a build backend so that the same sources always give the
same bytes (fixed timestamps, sorted entries): a rebuild with nothing changed rewrites nothing.
`app/host` (build, serve, headless driver) never runs in the page and is left out.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tomllib
import zipfile
from pathlib import Path

from app.host.pins import REPO_ROOT

EXCLUDED_DIRS = {"host", "__pycache__"}
# What the page needs inside Pyodide, beyond the stdlib (pyproject's dependencies are host-only there):
# micropip finds these in the site's pyodide-lock.json (wheels the build serves) when it installs this wheel.
PAGE_REQUIRES = ("jinja2>=3.1",)
FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _sources(package_dir: Path) -> list[Path]:
    files = []
    for path in sorted(package_dir.rglob("*")):
        rel = path.relative_to(package_dir)
        if path.is_file() and not EXCLUDED_DIRS.intersection(rel.parts[:-1]) and path.suffix in {".py", ".json", ".ipynb", ".typed"}:
            files.append(path)
    return files


def app_package_name(root: Path = REPO_ROOT) -> str:
    """The wheel's package name as pyodide-lock.json lists it (the page loads it by that name)."""
    name = tomllib.loads((root / "pyproject.toml").read_text())["project"]["name"]
    return re.sub(r"[-_.]+", "-", name).lower()


def build_app_wheel(out_dir: Path, root: Path = REPO_ROOT) -> Path:
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    dist_name = name.replace("-", "_")
    info = f"{dist_name}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}",
                f"Summary: {project.get('description', '')}", f"Requires-Python: {project['requires-python']}"]
    metadata += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    metadata += [f'Requires-Dist: {dep}; sys_platform == "emscripten"' for dep in PAGE_REQUIRES]
    entries: list[tuple[str, bytes]] = []
    package_dir = root / "app"
    for path in _sources(package_dir):
        entries.append((f"app/{path.relative_to(package_dir).as_posix()}", path.read_bytes()))
    entries.append((f"{info}/METADATA", ("\n".join(metadata) + "\n").encode()))
    entries.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: browser-llm-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    entries.append((f"{info}/top_level.txt", b"app\n"))
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d in entries) + f"{info}/RECORD,,\n"
    entries.append((f"{info}/RECORD", record.encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for entry_name, data in entries:
            zinfo = zipfile.ZipInfo(entry_name, FIXED_TIME)
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            zinfo.external_attr = 0o644 << 16
            zf.writestr(zinfo, data)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{dist_name}-{version}-py3-none-any.whl"
    out.write_bytes(buffer.getvalue())
    return out
