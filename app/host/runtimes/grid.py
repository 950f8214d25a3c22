"""`--runtime grid` (or just `--grid URL`): the page on remote WebDriver sessions of a Selenium Grid 4, N at once.

Each session is a `GridSessionRuntime`: the WebDriver page loop of every browser runtime, with a remote session
(app.host.grid.start_remote) instead of a local browser and its own server thread on `--serve-host`. The Grid
runtime runs them in threads, writes each node's result as it came beside --json (NAME.n1.json...) and returns
the merged set (app.host.grid.merge) as its result; its state is the worst of the sessions'.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path
from typing import Any

from app.host.runtimes._base import Job, Outcome, Progress, Runtime
from app.host.runtimes._webdriver import WebDriverRuntime, describe

MAX_SESSIONS = 16
WORST_FIRST = ("lost", "timeout", "error", "done")


class GridSessionRuntime(WebDriverRuntime):
    """One session of the Grid runtime: the page in a node's browser; `node` says who ran it."""

    def __init__(self, grid_url: str, index: int, serve_host: str | None = None) -> None:
        super().__init__(serve_host)
        self.grid_url = grid_url
        self.index = index  # 1, 2, ...
        self.node: dict[str, Any] = {}

    def new_driver(self, site_url: str, command_timeout_s: float):
        from app.host.grid import start_remote

        return start_remote(self.grid_url, site_url, command_timeout_s)

    def started_driver(self, driver) -> None:
        from app.host.grid import node_of

        self.node = node_of(driver, self.grid_url, self.index, None)
        self.echo(f"session {driver.session_id} on {self.node['node_uri'] or self.grid_url}: "
                  f"{self.node['browser']} {self.node['browser_version']} on {self.node['platform']}")

    def node_record(self, outcome: Outcome) -> dict[str, Any]:
        """The node that ran this session, with the user agent and WebGPU adapter its page recorded."""
        node = self.node or {"session": self.index, "browser": "", "browser_version": "", "platform": "",
                             "grid": self.grid_url, "node_id": "", "node_uri": ""}
        env = (outcome.result or {}).get("environment") or {}
        node.update(user_agent=env.get("user_agent", ""), adapter=env.get("webgpu"))
        node.setdefault("label", f"n{self.index}")
        return node


class GridRuntime(Runtime):
    """N Grid sessions at once, each running the full benchmark; one merged result."""

    name = "grid"
    help = "the page on remote WebDriver sessions of a Selenium Grid 4 (--grid URL picks it)"
    program = "Chromium"
    where = "in headless Chromium"
    in_words = "runs the page on a Selenium Grid"
    order = 10

    def __init__(self, grid_url: str, sessions: int = 1, serve_host: str | None = None,
                 json_path: Path | None = None) -> None:
        super().__init__(serve_host)
        self.grid_url = grid_url.rstrip("/")
        self.count = sessions
        self.json_path = json_path  # each node's own result goes beside it (None: not written)
        self.sessions: list[GridSessionRuntime] = []
        self.outcomes: list[Outcome | None] = []
        self.threads: list[threading.Thread] = []

    @classmethod
    def add_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--grid", default=None, metavar="URL",
                           help="run the page on remote WebDriver sessions of a Selenium Grid 4 (e.g. http://127.0.0.1:4444) "
                                "instead of a local Chromium; each node's result is written beside --json (NAME.n1.json...) "
                                "and the merged set to --json")
        group.add_argument("--grid-browsers", type=int, default=1, metavar="N",
                           help=f"with --grid: N sessions at once, each running the full benchmark (1-{MAX_SESSIONS})")

    @classmethod
    def implied_by(cls, args: argparse.Namespace) -> str | None:
        return "--grid" if getattr(args, "grid", None) is not None else None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> GridRuntime:
        from app.core.settings import SettingsError

        url, sessions = getattr(args, "grid", None), getattr(args, "grid_browsers", 1)
        if url is None:
            raise SettingsError("--runtime grid needs --grid URL, the address of a Selenium Grid 4 "
                                "(e.g. http://127.0.0.1:4444)")
        if not (url.startswith(("http://", "https://")) and 1 <= sessions <= MAX_SESSIONS):
            raise SettingsError(f"--grid must be an http(s) URL of a Selenium Grid and --grid-browsers 1-{MAX_SESSIONS}, "
                                f"not {url!r} and {sessions}")
        return cls(url, sessions, serve_host=getattr(args, "serve_host", None), json_path=getattr(args, "json", None))

    # --- the primitives: each session serves dist/ and starts its own browser -------------------------------
    def start(self, job: Job) -> None:
        self.echo(f"[bench] {self.count} session{'s' if self.count != 1 else ''} on the Selenium Grid at "
                  f"{self.grid_url}, the site served on {self.serve_host or '127.0.0.1'}")
        self.sessions = [GridSessionRuntime(self.grid_url, i + 1, self.serve_host) for i in range(self.count)]
        self.outcomes = [None] * self.count

    def open(self, job: Job) -> None:
        timeout_s = max(0.0, self.left())
        self.threads = [threading.Thread(target=self._run_session, args=(i, job, timeout_s), name=f"grid-session-{i + 1}")
                        for i in range(self.count)]
        for thread in self.threads:
            thread.start()

    def follow(self) -> str:
        """Wait for every session (each ends by the deadline itself); the worst of their states."""
        for thread in self.threads:
            thread.join()
        return min((o.state for o in self.outcomes),
                   key=lambda s: WORST_FIRST.index(s) if s in WORST_FIRST else 0)

    def collect(self, state: str) -> Outcome:
        from app.host.grid import GridError, GridSession, merge, node_result_path

        done = [GridSession(s.index, o, s.node_record(o)) for s, o in zip(self.sessions, self.outcomes)]
        for session in done:
            o = session.outcome
            line = f"[bench] {session.node.get('label')}: {o.state}" + (f" ({o.error})" if o.error else "")
            if o.result is not None and self.json_path is not None:
                path = node_result_path(self.json_path, session)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps({**o.result, "node": session.node}, indent=1))
                line += f", its result in {path}"
            self.echo(line)
        errors = "; ".join(f"{s.node.get('label')}: {s.outcome.error}" for s in done if s.outcome.error)
        try:
            merged = merge([(s.node, s.outcome.result) for s in done], self.grid_url)
        except GridError as err:
            merged, errors = None, errors or str(err)
        activity = "; ".join(f"{s.node.get('label')}: {s.outcome.activity}" for s in done)
        return Outcome(state, errors, merged, [], activity)

    # --- helpers ----------------------------------------------------------------------------------------------
    def _run_session(self, i: int, job: Job, timeout_s: float) -> None:
        session, label, own = self.sessions[i], f"n{i + 1}", Progress()

        def say(line: str) -> None:
            self.echo(f"[{label}] {line}")
            self.progress.activity = f"{label}: {own.activity}"
            if i == 0:
                self.progress.result_raw = own.result_raw

        try:
            self.outcomes[i] = session.run(job, timeout_s, own, say)
        except Exception as err:  # noqa: BLE001 - e.g. --serve-host not an address of this machine
            self.outcomes[i] = Outcome("lost", describe(err), own.result(), [], own.activity)


RUNTIME = GridRuntime
