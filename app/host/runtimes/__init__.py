"""Where a benchmark runs: one `Runtime` class per module of this folder, found by looking, picked by name.

Every module here whose name does not start with "_" declares `RUNTIME = SomeRuntime` (a subclass of
app.host.runtimes._base.Runtime whose `name` is the module's name); it is checked when the registry is first
read (a missing primitive or field fails at start, not mid-run). `--runtime`'s choices and help, the runtimes'
own options (`--grid`...) and the choice between them come from here, so adding a browser (Firefox, WebKit)
is one more module here, and nothing in bench_cli:

    chromium.py  the page in a local headless Chromium (the default)
    firefox.py   the page in a local headless Firefox over WebDriver BiDi (no geckodriver)
    webkit.py    the page in WebKitGTK's MiniBrowser under WebKitWebDriver on Xvfb (Safari's engine)
    grid.py      the page on N remote sessions of a Selenium Grid 4, merged (`--grid URL` picks it)
    deno.py      the Python benchmark in Pyodide under Deno, no browser

A runtime whose class sets `browser` (chromium, firefox, ...) is also picked by `--browser NAME`, the user-facing
name; `--browser all` runs every such runtime one after another and merges their rows (`_browsers.py`).

`_base.py` is the interface (Job, Progress, Outcome, Runtime); `_webdriver.py` the page loop every browser
runtime shares (a browser module overrides `new_driver`).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import pkgutil
from typing import Any

from app.host.runtimes._base import (
    Job,
    Outcome,
    Progress,
    Runtime,
    RuntimeMissing,
    StartFailed,
    abandon_all,
)


class RegistryError(TypeError):
    """A runtime module that does not meet the interface (raised when the registry is first read)."""


def _check(cls: Any, module: str) -> None:
    where = f"app/host/runtimes/{module}.py"
    if not (isinstance(cls, type) and issubclass(cls, Runtime)):
        raise RegistryError(f"{where}: RUNTIME must be a subclass of Runtime, not {cls!r}")
    if cls.name != module:
        raise RegistryError(f"{where}: {cls.__name__}.name is {cls.name!r}; it must be the module's name")
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        raise RegistryError(f"{where}: {cls.__name__} does not override {', '.join(missing)}")
    blank = [f for f in ("help", "program", "where", "in_words") if not getattr(cls, f)]
    if blank:
        raise RegistryError(f"{where}: {cls.__name__} leaves {', '.join(blank)} empty")


@functools.cache
def registry() -> dict[str, type[Runtime]]:
    """name -> class, the default first, then by `order`."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        cls = getattr(module, "RUNTIME", None)
        _check(cls, info.name)
        found.append(cls)
    found.sort(key=lambda c: (not c.default, c.order, c.name))
    defaults = [c.name for c in found if c.default]
    if len(defaults) != 1:
        raise RegistryError(f"exactly one runtime must be the default; found {defaults}")
    return {c.name: c for c in found}


def names() -> list[str]:
    return list(registry())


def default_name() -> str:
    return next(iter(registry()))


def get(name: str) -> type[Runtime]:
    """The runtime class called `name`; KeyError naming the choices."""
    try:
        return registry()[name]
    except KeyError:
        raise KeyError(f"no runtime {name!r}; choose from {', '.join(names())}") from None


def help_text() -> str:
    """--runtime's help: each runtime's name and its line."""
    return "; ".join(f"{cls.name}: {cls.help}" for cls in registry().values()) + "; environment.runtime says which"


def browser_names() -> list[str]:
    """--browser's choices: each local browser runtime's `browser` (registry order), then "all"."""
    from app.host.runtimes._browsers import browser_runtimes

    return [*browser_runtimes(), "all"]


def add_arguments(group: argparse._ArgumentGroup) -> None:
    """--runtime, --browser, then each runtime's own options (in registry order), then --serve-host (every runtime
    serves dist/)."""
    group.add_argument("--runtime", choices=names(), default=default_name(), help=help_text())
    group.add_argument("--browser", choices=browser_names(), default=None,
                       help="the browser the page runs in (the same as --runtime NAME for a browser); 'all': every "
                            "one installed here, one after another, rows merged and labelled with their browser, "
                            "each browser's own result beside --json (NAME.firefox.json...); default: the default "
                            "runtime's")
    group.add_argument("--isolate", action="store_true",
                       help="each engine in a page of its own (a fresh browser each; the reference runs again in each "
                            "page, for correctness): an engine that takes its page down costs only its own row")
    for cls in registry().values():
        cls.add_arguments(group)
    group.add_argument("--serve-host", default="127.0.0.1", metavar="ADDR",
                       help="the address dist/ is served on and named by in the page's URL: loopback by default; give one "
                            "the Grid's nodes can reach when they run on other machines")


def from_args(args: argparse.Namespace) -> Runtime:
    """The runtime the options ask for: --runtime NAME, or the one an option of its own implies (--grid URL)
    when --runtime is left at the default. Raises app.core.settings.SettingsError (exit 2) for options that
    contradict each other or that the runtime refuses."""
    from app.core.settings import SettingsError

    name = getattr(args, "runtime", None) or default_name()
    browser = getattr(args, "browser", None)
    if getattr(args, "isolate", False) and browser == "all":
        raise SettingsError("--isolate runs one browser once per engine; it does not go with --browser all")
    if browser is not None:
        if name not in (default_name(), browser):
            raise SettingsError(f"--runtime {name} {get(name).in_words}; it does not go with --browser {browser}")
        implied = [flag for cls in registry().values() if (flag := cls.implied_by(args)) is not None]
        if implied:
            raise SettingsError(f"--browser {browser} runs local browsers; it does not go with {implied[0]}")
        if browser == "all":
            from app.host.runtimes._browsers import AllBrowsersRuntime

            return AllBrowsersRuntime.from_args(args)
        name = browser
    for cls in registry().values():
        flag = cls.implied_by(args)
        if flag is None or cls.name == name:
            continue
        if name != default_name():
            raise SettingsError(f"--runtime {name} {get(name).in_words}; it does not go with {flag}")
        name = cls.name
    if getattr(args, "isolate", False):
        if name == "grid":
            raise SettingsError("--isolate runs one local runtime once per engine; it does not go with --grid")
        from app.host.runtimes._isolated import IsolatedRuntime

        return IsolatedRuntime(lambda: get(name).from_args(args), serve_host=getattr(args, "serve_host", None))
    return get(name).from_args(args)


def check_received(result: dict[str, Any]) -> dict[str, Any]:
    """The one place a result collected from any runtime passes before the host prints or compares it.

    Returns `result`; raises ValueError, KeyError or TypeError naming what is inconsistent
    (app.core.results.check_result: figures recomputed from the raw timestamps, rows, settings)."""
    from app.core import results

    results.check_result(result)
    return result


__all__ = ["Job", "Outcome", "Progress", "Runtime", "RuntimeMissing", "StartFailed", "RegistryError", "abandon_all",
           "add_arguments", "check_received", "default_name", "from_args", "get", "help_text", "names", "registry"]
