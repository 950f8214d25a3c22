"""The one interface every runtime meets: what to run (`Job`), what a run shows (`Progress`), what it ends
with (`Outcome`), and `Runtime`, whose `run()` is the same for all and calls five primitives.

Shaped after pytest-pyodide's runner.py (one base class, a small subclass per browser overriding a handful of
primitives): a subclass overrides

  start(job)      serve dist/ (the base does that) and start the browser or process; raise `StartFailed` in words
  open(job)       open the benchmark with its settings
  follow()        follow progress and log lines until the run settles or the deadline passes: its state
  collect(state)  read the result (and the error) into an `Outcome`
  close(outcome)  always called, whatever happened: end every process, remove every temporary folder

and `run(job, timeout_s)` calls them in that order within the deadline; no primitive may outlive it by more
than a few seconds. `abandon()` is the last resort the command's watchdog calls from its own thread just before
it ends the process: quick, never blocking (kill, remove), for what `kill_own_children` cannot see.
"""

from __future__ import annotations

import abc
import argparse
import json
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from app.host.serve import ONCE_PREFIX, serve_in_thread, url_of

STATES = ("done", "error", "timeout", "lost")


class RuntimeMissing(RuntimeError):
    """What a runtime needs is not on this machine (a browser, a binary); the message says how to get it."""


class StartFailed(RuntimeError):
    """The browser or process did not start; the message says why in one line (the outcome is `lost`)."""


def say(line: str) -> None:
    """The default `echo`: one line on stderr, at once."""
    print(line, file=sys.stderr, flush=True)


@dataclass
class Progress:
    """What a run has shown so far, kept where a watchdog thread can read it at any moment.

    `activity`: the page's progress text (or its last log line, or the host's current step);
    `result_raw`: the last result JSON the run published (after every finished row)."""

    activity: str = "starting"
    result_raw: str | None = None

    def result(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.result_raw) if self.result_raw else None
        except ValueError:
            return None


@dataclass
class Outcome:
    state: str  # done | error (the benchmark reported one) | timeout (deadline passed) | lost (the runtime stopped answering)
    error: str  # the benchmark's error text, or for `lost` what the browser or process said, in one line
    result: dict[str, Any] | None  # for timeout / lost: what the run had published by then
    log: list[str]
    activity: str = ""  # what the run was doing last (progress text or last log line)
    elapsed_s: float = 0.0  # seconds from the start of run() to the end of the browser or process
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    """What a runtime runs: the built site and the benchmark's settings.

    settings:    BenchSettings.to_dict() (None for a page that takes its own query, e.g. overhead.html)
    model_route: a model served beside dist/, as the page names it ("user-model/my.gguf"); None: embedded
    extra:       routes served beside dist/ ({"/user-model/my.gguf": Path})
    page, query: for a runtime that opens a page: which one, and its query (default: autorun with the settings)

    The settings never travel in a URL or a command line (a long prompt outside ASCII would pass a server's
    request-line limit, or the kernel's for one argument): the runtime's server holds them at a one-time path
    (`settings_route()`, random and served to the first GET only), which the page (`?settings_url=`) and Deno
    (`settings_url` in its options) fetch.
    """

    dist: Path
    settings: dict[str, Any] | None = None
    model_route: str | None = None
    extra: dict[str, Path] | None = None
    page: str = "index.html"
    query: dict[str, str] | None = None
    token: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False, compare=False)

    def settings_route(self) -> str | None:
        """The one-time path the settings are served at ("/run-settings/TOKEN.json"); None without settings."""
        return None if self.settings is None else f"{ONCE_PREFIX}{self.token}.json"

    def once_routes(self) -> dict[str, bytes]:
        """What the runtime's server serves once: the settings as UTF-8 JSON at settings_route()."""
        route = self.settings_route()
        return {} if route is None else {route: json.dumps(self.settings, ensure_ascii=False).encode("utf-8")}

    def page_query(self) -> dict[str, str]:
        """The page's query string as a dict: `query` when given, else autorun with the settings' one-time path and
        the model."""
        if self.query is not None:
            return self.query
        query = {"autorun": "1"}
        route = self.settings_route()
        if route is not None:
            query["settings_url"] = route.lstrip("/")
        if self.model_route:
            query["model"] = self.model_route
        return query


_live: set[Runtime] = set()  # runtimes inside run(), for abandon_all()
_live_lock = threading.Lock()


def abandon_all() -> None:
    """Call `abandon()` on every runtime still inside run() (the watchdog, about to end the process)."""
    with _live_lock:
        live = list(_live)
    for runtime in live:
        try:
            runtime.abandon()
        except Exception:  # noqa: BLE001 - the process ends right after; nothing may stop that
            pass


class Runtime(abc.ABC):
    """One place the benchmark runs; one instance per run. Subclasses set the class fields and override the
    primitives (see the module docstring); `run()` and the option hooks are shared."""

    name: ClassVar[str] = ""  # --runtime NAME; the module's name in app/host/runtimes/
    help: ClassVar[str] = ""  # its part of --runtime's help
    program: ClassVar[str] = ""  # what messages call it: "Chromium stopped answering", "starting Deno"
    where: ClassVar[str] = ""  # "[bench] running ENGINES {where} (...)"
    in_words: ClassVar[str] = ""  # "--runtime NAME {in_words}; it does not go with --grid"
    default: ClassVar[bool] = False  # the runtime when --runtime is not given (exactly one)
    order: ClassVar[int] = 100  # place among --runtime's choices

    def __init__(self, serve_host: str | None = None) -> None:
        self.serve_host = serve_host  # the address dist/ is served on (None: loopback)
        self.server = None
        self.site_url = ""
        self.progress = Progress()
        self.echo: Callable[[str], None] = say
        self.started = self.deadline = 0.0

    # --- options: before anything starts ---------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, group: argparse._ArgumentGroup) -> None:
        """Add this runtime's own options to the bench command (none by default)."""

    @classmethod
    def implied_by(cls, args: argparse.Namespace) -> str | None:
        """The option that picks this runtime without --runtime (e.g. "--grid"), when given; else None."""
        return None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Runtime:
        """The runtime for these options; raises app.core.settings.SettingsError (exit 2) for bad ones."""
        return cls(serve_host=getattr(args, "serve_host", None))

    def preflight(self) -> None:
        """Before the build: raise RuntimeMissing when what this runtime needs is not here (exit 1)."""

    # --- the run --------------------------------------------------------------------------------------------
    def run(self, job: Job, timeout_s: float, progress: Progress | None = None,
            echo: Callable[[str], None] = say) -> Outcome:
        """Start, open `job`, follow it and collect its result within `timeout_s` seconds; always close.

        `progress` is kept up to date for a watchdog thread; log lines go to `echo`. Returns the outcome
        (done | error | timeout | lost); a failure of the browser or process is an outcome in words, not an
        exception. A few seconds past the deadline at most."""
        self.progress = progress if progress is not None else Progress()
        self.echo = echo
        self.started = time.monotonic()
        self.deadline = self.started + timeout_s
        outcome: Outcome | None = None
        with _live_lock:
            _live.add(self)
        try:
            try:
                self.start(job)
            except StartFailed as err:
                outcome = Outcome("lost", str(err), self.progress.result(), [], self.progress.activity)
            else:
                self.open(job)
                outcome = self.collect(self.follow())
        finally:
            try:
                self.close(outcome)
            finally:
                with _live_lock:
                    _live.discard(self)
        outcome.elapsed_s = time.monotonic() - self.started
        return outcome

    def start(self, job: Job) -> None:
        """Serve `job.dist` (and `job.extra`, and the settings at their one-time path) on `serve_host`; subclasses
        then start their browser or process."""
        self.server = serve_in_thread(job.dist, extra=job.extra, once=job.once_routes(),
                                      **({"host": self.serve_host} if self.serve_host else {}))
        self.site_url = url_of(self.server)

    @abc.abstractmethod
    def open(self, job: Job) -> None:
        """Open the benchmark with `job`'s settings."""

    @abc.abstractmethod
    def follow(self) -> str:
        """Follow progress and log lines until the run settles or the deadline passes; the state reached."""

    @abc.abstractmethod
    def collect(self, state: str) -> Outcome:
        """The outcome: `state`, the error in one line, the result (or what was published before the end)."""

    def close(self, outcome: Outcome | None) -> None:
        """Always called (`outcome` is None when a primitive raised): stop serving; subclasses end their
        processes first, then call this."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def abandon(self) -> None:
        """Quick cleanup from another thread just before the process ends (nothing by default)."""

    # --- for the primitives ---------------------------------------------------------------------------------
    def left(self) -> float:
        """Seconds until the deadline (negative once it has passed)."""
        return self.deadline - time.monotonic()

    def stamp(self) -> str:
        """'[  12.3s]': seconds since run() began, for log lines."""
        return f"[{time.monotonic() - self.started:6.1f}s]"
