"""The pin table (pins.toml): every asset the site serves, by version and sha256."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.engines import SPECS as ENGINE_SPECS  # the pure registry: each engine folder names its pin roles

REPO_ROOT = Path(__file__).resolve().parents[2]
PINS_PATH = REPO_ROOT / "pins.toml"
KINDS = ("npm", "wheel", "sdist")
# The site's own roles; each engine folder adds the roles its spec names (app/engines/<name>/__init__.py `pins`).
SITE_ROLES = ("pyodide-core", "chartjs", "chartjs-errorbars", "pyodide-wheel", "model", "esm", "pyodide-sdist",
              "build-tool", "model-package", "model-part", "host-tool")
ROLES = SITE_ROLES + tuple(role for spec in ENGINE_SPECS for role in spec.pins if role not in SITE_ROLES)
MODEL_RECIPES = ("transcode-q8_0", "concatenate")
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
    member_sha256: str = ""  # role model-part: sha256 of model_member's bytes (the chunk inside the wheel)
    wheel_sha256: str = ""  # role pyodide-sdist: sha256 of the wheel the build makes from the sdist
    tool_file: str = ""  # role host-tool: the file inside the package that the host runs (a jar, a binary, a script)

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
        if raw["role"] == "model-part":
            if not raw.get("model_member"):
                raise PinError(f"{where}: a model-part pin needs 'model_member', the chunk file inside the wheel")
            if not _SHA256.match(str(raw.get("member_sha256", ""))):
                raise PinError(f"{where}: a model-part pin needs 'member_sha256', 64 lowercase hex digits")
        if raw["role"] == "pyodide-sdist" and not _SHA256.match(str(raw.get("wheel_sha256", ""))):
            raise PinError(f"{where}: a pyodide-sdist pin needs 'wheel_sha256' (the wheel built from it), "
                           "64 lowercase hex digits")
        if raw["role"] == "host-tool" and (raw["kind"] not in ("npm", "sdist") or not isinstance(raw.get("tool_file"), str)
                                           or not raw["tool_file"]):
            raise PinError(f"{where}: a host-tool pin is an npm package or an sdist with 'tool_file', the file inside "
                           "it the host runs")
        if (raw["kind"] == "sdist" and raw["role"] not in ("pyodide-sdist", "host-tool")
                or raw["role"] == "pyodide-sdist" and raw["kind"] != "sdist"):
            raise PinError(f"{where}: kind 'sdist' goes with role 'pyodide-sdist' (or 'host-tool') and only with them")
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
                member_sha256=raw.get("member_sha256", ""),
                wheel_sha256=raw.get("wheel_sha256", ""),
                tool_file=raw.get("tool_file", ""),
            )
        )
    # One package may be pinned at two versions with different roles (@wllama/wllama 2.4.0 and 3.13.0);
    # the same name and version twice is a mistake.
    specs = [p.spec for p in pins]
    duplicates = {s for s in specs if specs.count(s) > 1}
    if duplicates:
        raise PinError(f"pinned twice: {sorted(duplicates)}")
    return pins


def load_pins(path: Path = PINS_PATH) -> list[Pin]:
    with open(path, "rb") as f:
        return parse_pins(tomllib.load(f))


@dataclass(frozen=True)
class Model:
    """An embedded model ([[model]] in pins.toml): what dist/models/ gets and site["models"] lists."""

    id: str
    name: str
    format: str
    file: str  # path in dist/
    recipe: str  # "transcode-q8_0" (from the role-model pin) or "concatenate" (the model-part pins, in order)
    default: bool = False
    sha256: str = ""  # of the built file; required for "concatenate" (checked after assembly)
    size: int = 0
    source: str = ""  # "transcode-q8_0": the pin; "concatenate": the package pin
    parts: tuple[str, ...] = ()  # "concatenate": model-part pin names, in file order
    sums_member: str = ""  # "concatenate": the package's own SHA256SUMS, which must list `sha256`
    terms_member: str = ""  # "concatenate": the licence terms served beside the file
    note: str = ""


_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


def parse_models(data: dict[str, Any], pins: list[Pin]) -> list[Model]:
    by_name = {p.name: p for p in pins}
    models = []
    for i, raw in enumerate(data.get("model", [])):
        where = f"model #{i + 1} ({raw.get('id', '?')})"
        for key in ("id", "name", "format", "file", "recipe", "source"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise PinError(f"{where}: missing or empty '{key}'")
        if not _MODEL_ID.match(raw["id"]):
            raise PinError(f"{where}: id must be lowercase letters, digits, '.' and '-'")
        if not raw["file"].startswith("models/") or not raw["file"].endswith(".gguf"):
            raise PinError(f"{where}: file must be models/NAME.gguf")
        if raw["recipe"] not in MODEL_RECIPES:
            raise PinError(f"{where}: recipe must be one of {MODEL_RECIPES}, not {raw['recipe']!r}")
        source = by_name.get(raw["source"])
        if source is None:
            raise PinError(f"{where}: source {raw['source']!r} is not a pin")
        parts = tuple(raw.get("parts", ()))
        if raw["recipe"] == "transcode-q8_0":
            if source.role != "model":
                raise PinError(f"{where}: a transcode-q8_0 model's source must be the role-model pin")
        else:
            if source.role != "model-package":
                raise PinError(f"{where}: a concatenate model's source must be a model-package pin")
            if not _SHA256.match(str(raw.get("sha256", ""))):
                raise PinError(f"{where}: a concatenate model needs 'sha256' (of the assembled file), 64 lowercase hex")
            if not isinstance(raw.get("size"), int) or raw["size"] <= 0:
                raise PinError(f"{where}: a concatenate model needs 'size' (bytes of the assembled file)")
            if not parts:
                raise PinError(f"{where}: a concatenate model needs 'parts', the model-part pins in file order")
            for part in parts:
                if part not in by_name or by_name[part].role != "model-part":
                    raise PinError(f"{where}: part {part!r} is not a model-part pin")
        models.append(Model(
            id=raw["id"], name=raw["name"], format=raw["format"], file=raw["file"], recipe=raw["recipe"],
            default=bool(raw.get("default", False)), sha256=raw.get("sha256", ""), size=int(raw.get("size", 0)),
            source=raw["source"], parts=parts, sums_member=raw.get("sums_member", ""),
            terms_member=raw.get("terms_member", ""), note=raw.get("note", ""),
        ))
    ids = [m.id for m in models]
    if len(set(ids)) != len(ids):
        raise PinError(f"model ids listed twice: {sorted({x for x in ids if ids.count(x) > 1})}")
    files = [m.file for m in models]
    if len(set(files)) != len(files):
        raise PinError("two models share one file")
    if models and sum(m.default for m in models) != 1:
        raise PinError(f"exactly one model must be the default, found {sum(m.default for m in models)}")
    return models


def load_models(path: Path = PINS_PATH) -> list[Model]:
    """The embedded models, checked against the pins they are built from."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    return parse_models(data, parse_pins(data))


def model_ids(path: Path = PINS_PATH) -> list[str]:
    return [m.id for m in load_models(path)]


def host_tool(name: str, path: Path = PINS_PATH) -> Pin:
    """A role host-tool pin by package name: fetched and hash-checked like the others, kept in the cache,
    never served in dist/ (the Selenium Grid jar, the deno binary, llama.cpp's compare script from an sdist)."""
    for pin in load_pins(path):
        if pin.role == "host-tool" and pin.name == name:
            return pin
    raise PinError(f"no host-tool pin named {name!r} in {path.name}")


def by_role(pins: list[Pin], role: str) -> list[Pin]:
    return [p for p in pins if p.role == role]


def one(pins: list[Pin], role: str) -> Pin:
    found = by_role(pins, role)
    if len(found) != 1:
        raise PinError(f"expected exactly one pin with role {role!r}, found {len(found)}")
    return found[0]
