"""The engines the benchmark knows, in one place (pure: host CLI, build and page share it).

Adding an engine: one `EngineInfo` here (key, label, group, colour...) and one factory in
app/web/engines/registry.py. Settings, the CLI's --engines, the page's checkboxes, the run order
and the chart colours all come from this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineInfo:
    key: str  # "flare-cpu": settings, JSON rows, --engines
    label: str  # the page's checkbox
    group: str  # the CLI's short name: --engines flare = every engine of the group
    color: str  # chart colour of a correct row
    default: bool = False  # in the default run
    hidden: bool = False  # not offered on the page (still runnable by key)
    reference: bool = False  # the correctness reference (run first; others are checked against it)
    needs: str = ""  # a site feature the engine needs ("transformersjs": built with --transformersjs)


# Run order: the reference first, so its greedy tokens exist when the other rows are checked.
CATALOG: tuple[EngineInfo, ...] = (
    EngineInfo("llamacpp-wasm", "llama.cpp WASM (reference)", "llamacpp", "#6e7781", default=True, reference=True),
    # llama.cpp through wllama 3.13 (text in; its own loop; app/web/engines/wllama3_engine.py): its WebGPU
    # backend and its CPU path, checked against the 2.4 reference. `--engines llamacpp3` = both.
    EngineInfo("llamacpp3-webgpu", "llama.cpp 3.13 WebGPU (wllama 3)", "llamacpp3", "#cf222e"),
    EngineInfo("llamacpp3-wasm", "llama.cpp 3.13 WASM CPU (wllama 3)", "llamacpp3", "#8250df"),
    EngineInfo("flare-cpu", "flare-web WASM CPU", "flare", "#1f6feb", default=True),
    EngineInfo("flare-webgpu", "flare-web WebGPU", "flare", "#bf3989", default=True),
    EngineInfo("transformersjs-wasm", "transformers.js WASM", "transformersjs", "#1a7f37", needs="transformersjs"),
    EngineInfo("transformersjs-webgpu", "transformers.js WebGPU", "transformersjs", "#9a6700", needs="transformersjs"),
    # No model: flare's streaming API answering at once (the harness's ceiling) or after 5 ms of busy work
    # (a 200 tok/s engine). Not on the page; `--engines null` / `null-5ms` (app/web/engines/null_engine.py).
    EngineInfo("null", "null engine (harness ceiling)", "null", "#8c959f", hidden=True),
    EngineInfo("null-5ms", "null engine, 5 ms a token", "null-5ms", "#d0d7de", hidden=True),
)

BY_KEY = {e.key: e for e in CATALOG}
ENGINE_KEYS = tuple(e.key for e in CATALOG)
DEFAULT_ENGINES = tuple(e.key for e in CATALOG if e.default)
REFERENCE_KEY = next(e.key for e in CATALOG if e.reference)
ENGINE_ALIASES: dict[str, tuple[str, ...]] = {}
for _e in CATALOG:
    ENGINE_ALIASES.setdefault(_e.group, ())
    ENGINE_ALIASES[_e.group] += (_e.key,)


def in_run_order(keys: list[str]) -> list[str]:
    """`keys` in the catalog's run order (reference first); unknown keys are dropped."""
    return [e.key for e in CATALOG if e.key in keys]


def page_choices() -> list[dict]:
    """The page's engine checkboxes: {key, label, needs} of every engine not hidden."""
    return [{"key": e.key, "label": e.label, "needs": e.needs} for e in CATALOG if not e.hidden]
