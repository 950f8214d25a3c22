"""`--browser all`: every registered browser runtime (a runtime class with `browser` set: chromium, firefox, ...),
one after another on this machine, each running the full benchmark; one merged result.

Merged by the Grid's path (app.host.grid.merge, `runtime` "browsers"): every row carries `node` (the browser's
label, "firefox 153", its name and version, its WebGPU adapter) and a backend labelled with it
(`webgpu [firefox 153]`), so a browser's rows never match another browser's in `compare`; each browser's own result
is written beside --json as it came (`bench-latest.firefox.json`). A browser that is not installed here gets rows
that say so (`unsupported`: how to install it), copied from the other browsers' rows without figures; the run goes
on with the others. Not registered itself (its module starts with "_"): `--browser all` picks it.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path
from typing import Any

from app.host.runtimes._base import Job, Outcome, Progress, Runtime, RuntimeMissing

WORST_FIRST = ("lost", "timeout", "error", "done")
_VERSION = {"chromium": r"(?:HeadlessChrome|Chromium|Chrome)/(\d+)", "firefox": r"Firefox/(\d+)"}


def browser_runtimes() -> dict[str, type[Runtime]]:
    """browser name -> runtime class, for every registered runtime that is a local browser (in registry order)."""
    from app.host import runtimes

    return {cls.browser: cls for cls in runtimes.registry().values() if getattr(cls, "browser", "")}


def browser_version(browser: str, result: dict[str, Any] | None) -> str:
    """The browser's major version from the user agent its page recorded ('153'), or '' (WebKitGTK's user agent
    carries a Safari-like 'Version/60.5', not its own: the session's capabilities say that)."""
    agent = ((result or {}).get("environment") or {}).get("user_agent") or ""
    match = re.search(_VERSION.get(browser, r"$^"), agent)
    return match.group(1) if match else ""


def browser_node(browser: str, result: dict[str, Any] | None, version: str = "") -> dict[str, Any]:
    """A merge node for one browser's result: label 'firefox 153', browser, version (the session's, else the user
    agent's), its WebGPU adapter."""
    from app.core.report import short_version

    env = (result or {}).get("environment") or {}
    version = version or browser_version(browser, result)
    return {"label": f"{browser} {short_version(version)}".strip(), "browser": browser, "browser_version": version,
            "platform": "linux" if "Linux" in str(env.get("user_agent", "")) else "", "node_id": "",
            "adapter": env.get("webgpu"), "user_agent": env.get("user_agent", ""), "runtime": browser}


def missing_rows(template: dict[str, Any], browser: str, why: str) -> dict[str, Any]:
    """A result for a browser that could not run: `template`'s rows without figures, each `unsupported` with `why`."""
    from app.core import results

    out = copy.deepcopy(template)
    rows = []
    for row in out["rows"]:
        if row.get("test") not in (None, "chat"):
            continue  # one row per engine is enough to say it
        row.update(load={}, warmups=[], runs=[], summary=results.summarize_row([]), correctness=None, info={},
                   output_text="", error=None, unsupported=why, shims=[], gpu_errors=None, console_errors=None,
                   gpu_devices=[], notes=[])
        for key in ("memory", "weights"):
            row.pop(key, None)
        rows.append(row)
    out["rows"] = rows
    out["environment"] = {"runtime": browser, "user_agent": "", "webgpu": None, "webgpu_absent": why}
    return out


class AllBrowsersRuntime(Runtime):
    """Each browser runtime in turn, each with an equal share of the time left; one merged result."""

    name = "browsers"
    help = "every local browser runtime, one after another, merged"
    program = "the browsers"
    where = "in each browser in turn"
    in_words = "runs every local browser"

    def __init__(self, serve_host: str | None = None, json_path: Path | None = None,
                 browsers: list[str] | None = None) -> None:
        super().__init__(serve_host)
        self.json_path = json_path  # each browser's own result goes beside it (None: not written)
        self.browsers = browsers or list(browser_runtimes())
        self.missing: dict[str, str] = {}  # browser -> why it cannot run here
        self.runs: list[tuple[str, Outcome]] = []
        self.versions: dict[str, str] = {}  # browser -> the version its WebDriver session reported
        self.job: Job | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AllBrowsersRuntime:
        return cls(serve_host=getattr(args, "serve_host", None), json_path=getattr(args, "json", None))

    def preflight(self) -> None:
        """Fails only when no browser is here; a missing one is said in its rows."""
        found = browser_runtimes()
        for browser in self.browsers:
            try:
                found[browser](serve_host=self.serve_host).preflight()
            except RuntimeMissing as err:
                self.missing[browser] = str(err)
        if len(self.missing) == len(self.browsers):
            raise RuntimeMissing("no browser is installed: " + "; ".join(self.missing.values()))

    # --- the primitives: each browser runtime serves dist/ and starts its own browser ------------------------
    def start(self, job: Job) -> None:
        present = [b for b in self.browsers if b not in self.missing]
        self.echo(f"[bench] {len(present)} browser{'s' if len(present) != 1 else ''} one after another: "
                  + ", ".join(present) + "".join(f"; {b} is missing" for b in self.missing))

    def open(self, job: Job) -> None:
        self.job = job

    def follow(self) -> str:
        found = browser_runtimes()
        present = [b for b in self.browsers if b not in self.missing]
        for i, browser in enumerate(present):
            share = max(0.0, self.left()) / (len(present) - i)
            own = Progress()

            def say(line: str, browser: str = browser, own: Progress = own) -> None:
                self.echo(f"[{browser}] {line}")
                self.progress.activity = f"{browser}: {own.activity}"
                if own.result_raw:
                    self.progress.result_raw = own.result_raw

            runtime = found[browser](serve_host=self.serve_host)
            self._record_version(runtime, browser)
            self.echo(f"[bench] {browser}: starting ({share:.0f} s of the time left)")
            try:
                outcome = runtime.run(self.job, share, own, say)
            except Exception as err:  # noqa: BLE001 - one browser's failure must not lose the others' rows
                outcome = Outcome("lost", f"{type(err).__name__}: {err}", own.result(), [], own.activity)
            self.runs.append((browser, outcome))
        states = [o.state for _, o in self.runs] or ["lost"]
        return min(states, key=lambda s: WORST_FIRST.index(s) if s in WORST_FIRST else 0)

    def collect(self, state: str) -> Outcome:
        from app.host.grid import GridError, merge

        pairs = []
        for browser, outcome in self.runs:
            node = browser_node(browser, outcome.result, self.versions.get(browser, ""))
            line = f"[bench] {node['label']}: {outcome.state}" + (f" ({outcome.error})" if outcome.error else "")
            if outcome.result is not None and self.json_path is not None:
                path = self.json_path.with_name(f"{self.json_path.stem}.{browser}{self.json_path.suffix}")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({**outcome.result, "node": node}, indent=1))
                line += f", its result in {path}"
            self.echo(line)
            pairs.append((node, outcome.result))
        template = next((r for _, r in pairs if r and r.get("rows")), None)
        if template is not None:
            for browser, why in self.missing.items():
                node = {**browser_node(browser, None), "label": f"{browser} (not installed)"}
                pairs.append((node, missing_rows(template, browser, why)))
        errors = "; ".join(f"{b}: {o.error}" for b, o in self.runs if o.error)
        try:
            merged = merge(pairs, None, runtime="browsers")
        except GridError as err:
            merged, errors = None, errors or str(err)
        if merged is not None:
            merged["environment"]["browsers"] = [node["label"] for node, _ in pairs]
        activity = "; ".join(f"{b}: {o.activity}" for b, o in self.runs)
        return Outcome(state, errors, merged, [], activity)

    def _record_version(self, runtime: Runtime, browser: str) -> None:
        """Keep the browser version the runtime's WebDriver session reports (capabilities' browserVersion), for the
        label: wraps the runtime's `started_driver` hook on this one instance."""
        hook = getattr(runtime, "started_driver", None)
        if hook is None:
            return

        def started_driver(driver, hook=hook) -> None:
            version = (getattr(driver, "capabilities", None) or {}).get("browserVersion")
            if version:
                self.versions[browser] = str(version)
            hook(driver)

        runtime.started_driver = started_driver
