"""The engines, one folder each, found by looking: every subpackage of app/engines with a `SPEC` (pure).

Adding an engine is a folder app/engines/<name>/ (its `EngineSpec` in `__init__.py`, its Pyodide class,
its JavaScript, optionally a host build hook) plus its pins in pins.toml. Everything that used to list the
engines by hand reads this registry instead: settings' keys and aliases, the page's checkboxes, `--engines`
help, `--cpu` / `--gpu`, the run order (the reference first), chart colours, the header refusals, the build
plan and the environment's version lines. Specs are checked when they register (`SpecError`), and each
engine class against the one protocol when it is made (app/engines/protocol.py).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from app.engines.spec import EngineSpec, SpecError, Variant, resolve

if TYPE_CHECKING:
    from app.engines.protocol import Engine


def _discover() -> tuple[EngineSpec, ...]:
    specs = []
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(module, "SPEC", None)
        if not isinstance(spec, EngineSpec):
            raise SpecError(f"app/engines/{info.name}/ has no SPEC (an EngineSpec) in its __init__.py")
        if spec.name != info.name:
            raise SpecError(f"app/engines/{info.name}/: SPEC.name is {spec.name!r}; it must be the folder's name")
        spec.check()
        specs.append(spec)
    specs.sort(key=lambda s: (s.order, s.name))
    keys = [v.key for s in specs for v in s.variants]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise SpecError(f"engine keys declared twice: {dupes}")
    refs = [v.key for s in specs for v in s.variants if v.reference]
    if len(refs) != 1:
        raise SpecError(f"exactly one variant must be the reference; found {refs}")
    return tuple(specs)


SPECS: tuple[EngineSpec, ...] = _discover()
# Every variant in run order (the reference first), with the spec it belongs to.
VARIANTS: tuple[tuple[EngineSpec, Variant], ...] = tuple(
    sorted(((s, v) for s in SPECS for v in s.variants), key=lambda sv: not sv[1].reference))
SPECS_BY_NAME: dict[str, EngineSpec] = {s.name: s for s in SPECS}
BY_KEY: dict[str, Variant] = {v.key: v for _, v in VARIANTS}
SPEC_OF: dict[str, EngineSpec] = {v.key: s for s, v in VARIANTS}
ENGINE_KEYS: tuple[str, ...] = tuple(BY_KEY)
DEFAULT_ENGINES: tuple[str, ...] = tuple(k for k, v in BY_KEY.items() if v.default)
REFERENCE_KEY: str = next(k for k, v in BY_KEY.items() if v.reference)
# `--engines flare` = every variant of the folder; a name that is itself a key means that key alone.
ENGINE_ALIASES: dict[str, tuple[str, ...]] = {
    s.name: (s.name,) if s.name in BY_KEY else tuple(v.key for v in s.variants) for s in SPECS}


# Engines whose rows run in the host process after the page (EngineSpec.runs_on "host"), never in the page.
HOST_KEYS: tuple[str, ...] = tuple(v.key for s in SPECS if s.runs_on == "host" for v in s.variants)


def in_run_order(keys: Iterable[str]) -> list[str]:
    """`keys` in the registry's run order (reference first); unknown keys are dropped."""
    wanted = set(keys)
    return [k for k in ENGINE_KEYS if k in wanted]


def keys_with_backend(backend: str) -> tuple[str, ...]:
    """Every key whose variant runs on `backend` ("wasm-cpu" for --cpu, "webgpu" for --gpu)."""
    return tuple(k for k, v in BY_KEY.items() if v.backend == backend)


def page_choices() -> list[dict[str, str]]:
    """The page's engine checkboxes: {key, label, needs} of every variant not hidden (needs: a site feature)."""
    return [{"key": v.key, "label": v.label, "needs": s.can_run.site_feature} for s, v in VARIANTS
            if not v.hidden and s.runs_on == "page"]


def colors() -> dict[str, str]:
    """Chart colour of each key's correct row."""
    return {k: v.color for k, v in BY_KEY.items()}


def engines_help() -> str:
    """`--engines` help: each folder's name (its alias) and its keys."""
    return "; ".join(f"{s.name}: {', '.join(v.key for v in s.variants)}" for s in SPECS)


def site_features() -> dict[str, tuple[str, ...]]:
    """Build option -> the keys that need it (e.g. "transformersjs" -> its two keys)."""
    out: dict[str, tuple[str, ...]] = {}
    for s in SPECS:
        if s.can_run.site_feature:
            out[s.can_run.site_feature] = out.get(s.can_run.site_feature, ()) + tuple(v.key for v in s.variants)
    return out


def missing_features(variant: Variant, features: dict[str, bool] | None) -> str | None:
    """Why `variant` cannot run in this runtime, from the features it declares (Variant.needs) and the ones
    the runtime has (environment "features", app.web.environment.browser_features); None when it can, or
    when the features are unknown (`features` None: a result or runtime that does not record them)."""
    if features is None:
        return None
    lacking = [n for n in variant.needs if not features.get(n, False)]
    if not lacking:
        return None
    return f"this runtime lacks {', '.join(lacking)}, which the row needs"


def memory_refusal(spec: EngineSpec, file_bytes: int, metadata: dict[str, Any], features: dict[str, bool] | None,
                   n_ctx: int | None) -> str | None:
    """Why the model cannot fit the engine of `spec` here (its can_run.memory_problems, from the file's size and
    metadata, the runtime's features and the context the engine allocates), or None. Pure: nothing loads."""
    rule = spec.can_run.memory_problems
    problems = rule(file_bytes, metadata, features, n_ctx) if rule is not None else []
    return "; ".join(problems) + "." if problems else None


def unsupported_engines(header: Any) -> dict[str, str]:
    """{engine key: reason} for the variants whose engine cannot honour this GGUF header (a GGUFHeader).

    Each engine's `can_run.header_problems` says why in sentences; the reason is them joined by "; ".
    Engines that never read the GGUF (or declare no rule) are absent. Raises nothing for a parsed header.
    """
    out: dict[str, str] = {}
    for s in SPECS:
        rule = s.can_run.header_problems
        problems = rule(header) if rule is not None else []
        if problems:
            for v in s.variants:
                out[v.key] = "; ".join(problems) + "."
    return out


def make_engine(key: str, site: dict[str, Any], settings: Any) -> Engine:
    """The Pyodide engine of one key (browser only: imports the folder's engine.py).

    The spec's factory is called as factory(site, settings, variant); the class it returns is checked
    against the Engine protocol (TypeError naming every missing member), and the engine gets its `key`,
    `spec` and `variant`. Raises KeyError for an unknown key.
    """
    from app.engines.protocol import check_engine_class

    spec, variant = SPEC_OF[key], BY_KEY[key]
    engine = resolve(spec.factory)(site, settings, variant)
    check_engine_class(type(engine), spec.factory)
    engine.key, engine.spec, engine.variant = key, spec, variant
    return engine


def make_engines(keys: list[str], site: dict[str, Any], settings: Any) -> list[Engine]:
    """The engines asked for, in run order (the reference first); see make_engine."""
    return [make_engine(key, site, settings) for key in in_run_order(keys)]


def versions(site: dict[str, Any]) -> dict[str, str]:
    """The environment's version lines: {engine name: version} from each spec's version pin in the site."""
    out = {}
    for s in SPECS:
        entry = site.get(s.version_pin) if s.version_pin else None
        if isinstance(entry, dict) and entry.get("version"):
            out[s.name] = str(entry["version"])
    return out
