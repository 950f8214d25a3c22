"""What an engine declares about itself: one `EngineSpec` per engine folder (pure: host, build and page).

An engine folder (app/engines/<name>/) holds its spec in `__init__.py` (`SPEC`), its Pyodide class in
`engine.py` (browser only), its JavaScript beside them (served under `engines/<name>/`), and, when it needs
one, a host-side build hook. Nothing else in the tree names its keys: the catalog, the page's checkboxes,
`--engines` help, `--cpu`/`--gpu`, the build plan and the environment's version lines are all read from
these records (app/engines/__init__.py). The shape follows pluggy's hook specs: small frozen records,
checked when they register, so a missing capability fails at start, not mid-run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

BACKENDS = ("wasm-cpu", "webgpu", "js", "native-cpu")
NATIVE_BACKEND = "native-cpu"  # llama.cpp compiled for the host's CPU, run by the host Python: the rows the others cost against
RUNS_ON = ("page", "host")  # where an engine's rows run: in the page (Pyodide), or in the host process after the page
BROWSER_FEATURES = ("webgpu", "shader-f16", "jspi", "memory64", "shared-array-buffer")
INPUTS = ("ids", "text")  # what prefill takes: llama.cpp's prompt ids, or the rendered prompt text
CORRECTNESS = ("forced-ids", "forced-text", "none")  # how the teacher-forced check reaches the engine


class SpecError(ValueError):
    """An engine spec that contradicts itself or the registry (raised when it registers)."""


@dataclass(frozen=True)
class Variant:
    """One row kind of an engine: a key the settings, the JSON and `--engines` use.

    key:     "<folder>-webgpu" by habit; unique across every engine.
    label:   the page's checkbox text.
    backend: "wasm-cpu" (`--cpu` keeps it), "webgpu" (`--gpu` keeps it), "js" (neither: no model) or "native-cpu"
             (an engine run by the host process, runs_on "host"; kept by both).
    color:   the chart colour of a correct row (CSS hex).
    needs:   browser features the row needs, among BROWSER_FEATURES (refused in words where absent).
    """

    key: str
    label: str
    backend: str
    color: str
    default: bool = False
    hidden: bool = False
    reference: bool = False
    needs: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)  # handed to the factory (e.g. {"webgpu": True})


@dataclass(frozen=True)
class Drive:
    """How the benchmark drives the engine (the capabilities app/web/bench.py reads; never probed).

    takes_text:             prefill gets the rendered prompt text (`prefill_text`), not ids (wllama 3.x).
    stamps_tokens:          the engine records when each id was produced (`token_time_ms`), and that time
                            is the token's, not Python's receipt (engines that run their own loop).
    prefill_is_first_token: no separate prefill call: prefill ends when the first id arrives.
    correctness:            "forced-ids" (teacher_forced(prefix ids, continuation) + perplexity),
                            "forced-text" (forced_step(text) by text prefix; no perplexity) or "none".
    """

    takes_text: bool = False
    stamps_tokens: bool = False
    prefill_is_first_token: bool = False
    correctness: str = "forced-ids"
    # "forced-text" engines: a pure module with FORCED_METHOD, FORCED_METHOD_TEXT, PERPLEXITY_REASON and
    # run_notes(label, generation, expected_prompt_tokens, text) -> [str] (the words of their checks).
    text_notes: str = ""


@dataclass(frozen=True)
class CanRun:
    """What the engine can load, decided from the GGUF header before anything loads.

    architectures: the GGUF `general.architecture` values it runs; () means any.
    header_problems: pure function header -> [sentences]; [] when the engine can load the file.
    memory_problems: pure function (file bytes, GGUF metadata, runtime features or None, n_ctx or None) ->
                     [sentences]; [] when the model fits what the engine can address here (app.core.model_budget).
    """

    architectures: tuple[str, ...] = ()
    header_problems: Callable[[Any], list[str]] | None = None
    memory_problems: Callable[[int, dict, Any, Any], list[str]] | None = None
    site_feature: str = ""  # a build option the engine needs ("transformersjs": python build.py --transformersjs)


@dataclass(frozen=True)
class EngineSpec:
    """One engine folder's declaration.

    name:     the folder's name and the CLI's group (`--engines flare` = every variant of flare).
    title:    what the table's engine column says ("flare-web").
    variants: its rows, in run order.
    pins:     the roles in pins.toml it needs served (build.py plans them).
    version_pin: the pin role whose version is the engine's (environment's version lines); "" for none.
    factory:  "module:function" making the Pyodide engine: (site, settings, variant) -> Engine; imported lazily.
    build:    "module:function" the host build calls as build(builder, site) to plan the engine's files; "".
    js:       the folder's JavaScript files, served as `engines/<name>/<file>`.
    """

    name: str
    title: str
    variants: tuple[Variant, ...]
    factory: str
    drive: Drive = Drive()
    can_run: CanRun = CanRun()
    pins: tuple[str, ...] = ()
    version_pin: str = ""
    build: str = ""
    js: tuple[str, ...] = ()
    order: int = 100  # run order between engines: the reference first
    # "page": the engine runs in the browser (Pyodide). "host": it runs in the host process (`python -m app bench`),
    # after the page, through the same Benchmark loop with the page's prompt ids (app/host/host_rows.py); never on the
    # page, so it has no checkboxes, JavaScript, pins or browser needs.
    runs_on: str = "page"

    def check(self) -> None:
        """Raise SpecError naming what is wrong with this spec."""
        if not self.variants:
            raise SpecError(f"engine {self.name!r} declares no variants")
        for v in self.variants:
            if v.backend not in BACKENDS:
                raise SpecError(f"{v.key}: backend {v.backend!r} is not one of {BACKENDS}")
            bad = [n for n in v.needs if n not in BROWSER_FEATURES]
            if bad:
                raise SpecError(f"{v.key}: unknown browser feature(s) {bad}; known: {BROWSER_FEATURES}")
            if v.backend == "webgpu" and "webgpu" not in v.needs:
                raise SpecError(f"{v.key}: a webgpu variant must list 'webgpu' in needs")
        if self.drive.correctness not in CORRECTNESS:
            raise SpecError(f"{self.name}: correctness {self.drive.correctness!r} is not one of {CORRECTNESS}")
        if self.drive.takes_text and self.drive.correctness == "forced-ids":
            raise SpecError(f"{self.name}: an engine that takes text cannot be forced by ids")
        if (self.drive.correctness == "forced-text") != bool(self.drive.text_notes):
            raise SpecError(f"{self.name}: drive.text_notes names the notes module of a 'forced-text' engine, and only then")
        if self.runs_on not in RUNS_ON:
            raise SpecError(f"{self.name}: runs_on {self.runs_on!r} is not one of {RUNS_ON}")
        if self.runs_on == "host" and (self.js or self.pins or any(v.needs for v in self.variants)):
            raise SpecError(f"{self.name}: an engine that runs on the host has no JavaScript, pins or browser needs")
        if (self.runs_on == "host") != all(v.backend == NATIVE_BACKEND for v in self.variants):
            raise SpecError(f"{self.name}: the {NATIVE_BACKEND!r} backend is the host's, and a host engine's only one")
        if ":" not in self.factory:
            raise SpecError(f"{self.name}: factory {self.factory!r} is not 'module:function'")
        if self.build and ":" not in self.build:
            raise SpecError(f"{self.name}: build {self.build!r} is not 'module:function'")


def resolve(path: str) -> Any:
    """The object named by "package.module:attribute" (imported now). Raises ImportError / AttributeError."""
    import importlib

    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
