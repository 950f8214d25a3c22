"""Drive one page headless within a deadline (`run_page`), and the watchdog every command keeps.

Two guards keep a run from outliving its time limit:

- the runtime watches the deadline itself (app/host/runtimes: `Runtime.run`; for a page, the WebDriver loop in
  `runtimes/_webdriver.py` gives every WebDriver call an HTTP read timeout of at most `COMMAND_TIMEOUT_S`
  seconds, so it notices the deadline within seconds, keeps what the page published and ends the browser).
- `Watchdog`, for a command line, is the last resort: a thread that, `GRACE_S` seconds after the
  deadline, kills every process the command started, writes what was measured, prints one sentence
  and exits the process with code 1, whatever the main thread is blocked in.

`run_page` is the local-Chromium runtime on any page of a site (the overhead page, tests); no WebDriver or
urllib3 exception leaves it: each one becomes an outcome in words. The names below stay importable from here.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.host.chromium import kill_own_children
from app.host.runtimes._base import Job, Progress, abandon_all, say
from app.host.runtimes._base import Outcome as PageOutcome
from app.host.runtimes._webdriver import COMMAND_TIMEOUT_S, FINAL_READ_TIMEOUT_S, LOST_AFTER_FAILURES, POLL_S, describe

__all__ = ["COMMAND_TIMEOUT_S", "EXIT_FAILED", "FINAL_READ_TIMEOUT_S", "GRACE_S", "LOST_AFTER_FAILURES", "POLL_S",
           "PageOutcome", "Progress", "Watchdog", "describe", "run_page"]

EXIT_FAILED = 1
GRACE_S = 10.0  # seconds after the deadline before the watchdog kills everything and exits
_say = say


def run_page(dist: Path, page: str, query: dict[str, str], timeout_s: float,
             extra: dict[str, Path] | None = None, echo: Callable[[str], None] = say,
             result_global: str = "benchResultJSON", progress: Progress | None = None,
             serve_host: str | None = None, gpu_profile: str | None = None) -> PageOutcome:
    """Serve `dist`, open `page?query` in a local headless Chromium and follow it until its
    `data-state` is done or error, or `timeout_s` seconds pass; the browser and server are ended
    before this returns (at most a few seconds after the deadline).

    The page's log lines are passed to `echo` as they appear; `progress` (if given) is kept up to
    date for a watchdog thread; `window[result_global]` is the result JSON the page publishes;
    `serve_host`: the address dist/ is served on (loopback by default); `gpu_profile`: a named browser profile
    (app.host.gpu_profiles). Raises ValueError for a
    `result_global` that is not a JavaScript name."""
    from app.host.runtimes.chromium import ChromiumRuntime

    runtime = ChromiumRuntime(serve_host=serve_host, result_global=result_global, gpu_profile=gpu_profile)
    return runtime.run(Job(dist, extra=extra, page=page, query=query), timeout_s, progress, echo)


class Watchdog:
    """Ends this process `grace_s` seconds after `timeout_s`, whatever its main thread is blocked in.

    At that moment it kills every process below this one and every browser it started, calls
    `give_up()` (which writes what was measured and returns one sentence), prints that sentence on
    stderr and exits with code 1. `cancel()` once the command has finished its own way; a command
    that handles its deadline itself (every runtime's run()) normally does so well before the watchdog fires.
    The process cannot end on its own before `cancel()` or the deadline (the thread is no daemon)."""

    def __init__(self, command: str, timeout_s: float, give_up: Callable[[], str], grace_s: float = GRACE_S) -> None:
        self.command = command
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.grace_s = grace_s
        self.give_up = give_up
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        # Not a daemon: should the main thread end (say, by an exception) while the watchdog is
        # killing, the interpreter waits for it instead of exiting with processes half killed.
        self._thread = threading.Thread(target=self._watch, daemon=False, name=f"{command}-watchdog")

    def start(self) -> "Watchdog":
        self._thread.start()
        return self

    def remaining(self) -> float:
        """Seconds left until the deadline (0 once it has passed)."""
        return max(0.0, self.deadline - time.monotonic())

    def cancel(self) -> None:
        # Taking the lock means: if the watchdog is already ending the process, wait for that.
        with self._lock:
            self._cancelled.set()

    def _watch(self) -> None:
        if self._cancelled.wait(max(0.0, self.deadline + self.grace_s - time.monotonic())):
            return
        with self._lock:
            if self._cancelled.is_set():
                return
            # While the browser lives, the main thread stays blocked: write and say what happened first.
            try:
                message = self.give_up()
            except Exception as err:  # noqa: BLE001
                message = f"{self.command}: gave up after {self.timeout_s:g} s (--timeout); nothing written ({err})"
            try:
                sys.stdout.flush()
                print(message, file=sys.stderr, flush=True)
                # Killing the browser wakes the main thread up inside a failed WebDriver call: whatever
                # it prints from here on (a traceback) is beside the point, and goes nowhere.
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            except (OSError, ValueError):
                pass
            try:
                kill_own_children()
            except Exception:  # noqa: BLE001 - exiting below matters more than a failed kill
                pass
            abandon_all()  # what kill_own_children cannot see: a runtime's temporary folders
            os._exit(EXIT_FAILED)
