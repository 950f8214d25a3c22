"""Drive a page headless within a deadline: open it with settings, follow its log, collect its result.

Two guards keep a run from outliving its time limit:

- `run_page` watches the deadline itself. Every WebDriver call gets an HTTP read timeout of at most
  `COMMAND_TIMEOUT_S` seconds (a page whose main thread is busy in WASM blocks every WebDriver
  command until it yields), so the loop notices the deadline within seconds, reads what the page
  has published (or keeps the copy it read after the last finished row), and ends the browser.
- `Watchdog`, for a command line, is the last resort: a thread that, `GRACE_S` seconds after the
  deadline, kills every process the command started, writes what was measured, prints one sentence
  and exits the process with code 1, whatever the main thread is blocked in.

No WebDriver or urllib3 exception leaves `run_page`: each one becomes an outcome in words.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.host.chromium import kill_own_children, set_command_timeout, start_chromium
from app.host.serve import serve_in_thread, url_of

EXIT_FAILED = 1
POLL_S = 0.25  # seconds between two looks at the page
COMMAND_TIMEOUT_S = 10.0  # seconds one WebDriver round trip may take while the deadline is further away
FINAL_READ_TIMEOUT_S = 3.0  # seconds for reading the result once the deadline has passed
GRACE_S = 10.0  # seconds after the deadline before the watchdog kills everything and exits
LOST_AFTER_FAILURES = 3  # consecutive failed WebDriver calls (not timeouts) that mean the browser is gone


@dataclass
class Progress:
    """What a run has shown so far, kept where a watchdog thread can read it at any moment.

    `activity`: the page's progress text (or its last log line, or the host's current step);
    `result_raw`: the last result JSON the page published (after every finished row)."""

    activity: str = "starting"
    result_raw: str | None = None

    def result(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.result_raw) if self.result_raw else None
        except ValueError:
            return None


@dataclass
class PageOutcome:
    state: str  # done | error (the page reported one) | timeout (deadline passed) | lost (browser stopped answering)
    error: str  # the page's error text, or for `lost` what WebDriver said, in one line
    result: dict[str, Any] | None  # for timeout / lost: what the page had published by then
    log: list[str]
    activity: str = ""  # what the page was doing last (progress text or last log line)
    elapsed_s: float = 0.0  # seconds from the start of run_page to the end of the browser
    notes: list[str] = field(default_factory=list)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _is_timeout(err: BaseException) -> bool:
    """A WebDriver call that took too long (the page is busy), as opposed to one that failed."""
    from selenium.common.exceptions import TimeoutException
    from urllib3.exceptions import MaxRetryError, ReadTimeoutError, TimeoutError as Urllib3Timeout

    if isinstance(err, MaxRetryError):
        err = err.reason or err
    return isinstance(err, (TimeoutException, ReadTimeoutError, Urllib3Timeout, TimeoutError))


def _webdriver_errors() -> tuple[type[BaseException], ...]:
    from selenium.common.exceptions import WebDriverException
    from urllib3.exceptions import HTTPError

    return (WebDriverException, HTTPError, OSError, http.client.HTTPException, ValueError)


def describe(err: BaseException) -> str:
    """One line for a WebDriver / urllib3 exception: no stack trace, no chromedriver backtrace."""
    from urllib3.exceptions import MaxRetryError

    if isinstance(err, MaxRetryError) and err.reason is not None:
        err = err.reason
    text = getattr(err, "msg", None) or str(err) or type(err).__name__
    first = next((line.strip() for line in str(text).splitlines() if line.strip()), type(err).__name__)
    first = first.split("; For documentation on this error")[0]  # selenium's link to its own docs
    return first[:200]


class _Browser:
    """WebDriver calls that always return within a given time, as (ok, value)."""

    def __init__(self, driver) -> None:
        self.driver = driver
        self.failures = 0  # consecutive calls that failed other than by a timeout
        self.failure = ""
        self.busy = False  # the last call timed out: the page's main thread does not yield

    def call(self, fn: Callable[[], Any], timeout_s: float) -> tuple[str, Any]:
        """('ok', value) | ('busy', None): it timed out | ('failed', message)."""
        set_command_timeout(self.driver, max(0.5, timeout_s))
        try:
            value = fn()
        except _webdriver_errors() as err:
            if _is_timeout(err):
                self.busy = True
                return "busy", None
            self.busy = False
            self.failures += 1
            self.failure = describe(err)
            return "failed", self.failure
        self.failures = 0
        self.busy = False
        return "ok", value

    def gone(self) -> bool:
        process = getattr(getattr(self.driver, "service", None), "process", None)
        return self.failures >= LOST_AFTER_FAILURES or (process is not None and process.poll() is not None)


def run_page(dist: Path, page: str, query: dict[str, str], timeout_s: float,
             extra: dict[str, Path] | None = None, echo: Callable[[str], None] = _say,
             result_global: str = "benchResultJSON", progress: Progress | None = None,
             driver_factory: Callable[[str, float], Any] | None = None, serve_host: str | None = None,
             on_start: Callable[[Any], None] | None = None) -> PageOutcome:
    """Serve `dist`, open `page?query` in headless Chromium and follow it until its
    `data-state` is done or error, or `timeout_s` seconds pass; the browser and server are ended
    before this returns (at most a few seconds after the deadline).

    The page's log lines are passed to `echo` as they appear; `progress` (if given) is kept up to
    date for a watchdog thread; `window[result_global]` is the result JSON the page publishes.
    `driver_factory(site_url, command_timeout_s)`: another browser than a local Chromium (a Grid session,
    app.host.grid.start_remote); `serve_host`: the address dist/ is served on (loopback by default);
    `on_start(driver)`: called once the browser is up (the Grid records which node it got)."""
    if not result_global.isidentifier():
        raise ValueError(f"not a JavaScript global name: {result_global!r}")
    progress = progress if progress is not None else Progress()
    started = time.monotonic()
    deadline = started + timeout_s
    server = serve_in_thread(dist, extra=extra, **({"host": serve_host} if serve_host else {}))
    driver = None
    outcome: PageOutcome | None = None
    try:
        try:
            if driver_factory is not None:
                driver = driver_factory(url_of(server), COMMAND_TIMEOUT_S)
            else:
                driver = start_chromium(command_timeout_s=COMMAND_TIMEOUT_S)
        except _webdriver_errors() as err:
            return PageOutcome("lost", f"Chromium did not start: {describe(err)}", progress.result(), [],
                               progress.activity, time.monotonic() - started)
        if on_start is not None:
            on_start(driver)
        url = url_of(server) + page + "?" + urllib.parse.urlencode(query)
        browser = _Browser(driver)
        outcome = _follow(browser, url, started, deadline, echo, result_global, progress)
    finally:
        if driver is not None:
            if outcome is not None and (outcome.state == "lost" or browser.busy):
                driver.kill()  # it would not answer a QUIT either
            else:
                driver.quit()  # bounded: a polite QUIT for QUIT_TIMEOUT_S, then every process is killed
        server.shutdown()
        server.server_close()
    outcome.elapsed_s = time.monotonic() - started
    return outcome


def _follow(browser: _Browser, url: str, started: float, deadline: float, echo: Callable[[str], None],
            result_global: str, progress: Progress) -> PageOutcome:
    driver = browser.driver
    poll_js = (
        "const n = document.getElementById('log'), p = document.getElementById('progress-text');"
        f"const r = window.{result_global};"
        "return [document.documentElement.dataset.state || 'loading', n ? n.textContent : '',"
        " p ? p.textContent : '', typeof r === 'string' ? r.length : 0];")
    result_js = f"return window.{result_global} || null"
    lines: list[str] = []
    notes: list[str] = []
    published = 0  # length of the result JSON last read
    busy_since: float | None = None

    def stamp() -> str:
        return f"[{time.monotonic() - started:6.1f}s]"

    def note(text: str) -> None:
        notes.append(text)
        echo(f"{stamp()} ({text})")

    def left() -> float:
        return deadline - time.monotonic()

    status, _ = browser.call(lambda: driver.set_page_load_timeout(max(1, int(left()) + 1)), COMMAND_TIMEOUT_S)
    if status == "ok":
        status, _ = browser.call(lambda: driver.get(url), left() + 2)
    state = "loading"
    while True:
        if left() <= 0:
            state = "timeout"
            break
        if browser.gone():
            state = "lost"
            break
        status, value = browser.call(lambda: driver.execute_script(poll_js), min(COMMAND_TIMEOUT_S, left()))
        if status == "busy":
            if busy_since is None:
                busy_since = time.monotonic()
                note("the page does not answer: its main thread is busy; waiting until it yields or the time is up")
            continue
        if status == "failed":
            time.sleep(min(POLL_S, max(0.0, left())))
            continue
        if busy_since is not None:
            note(f"the page answers again after {time.monotonic() - busy_since:.0f} s")
            busy_since = None
        state, log_text, progress_text, result_len = value
        new = log_text.splitlines()
        for line in new[len(lines):]:
            echo(f"{stamp()} {line}")
        lines = new
        activity = progress_text.strip() or (lines[-1].strip() if lines else "")
        if activity:
            progress.activity = activity
        if result_len and result_len != published:
            ok, raw = browser.call(lambda: driver.execute_script(result_js), min(COMMAND_TIMEOUT_S, max(left(), 1)))
            if ok == "ok" and raw:
                progress.result_raw, published = raw, result_len
        # Settled states: the page waits for nothing more.
        if state in ("done", "error"):
            break
        time.sleep(min(POLL_S, max(0.0, left())))

    error = ""
    if state in ("done", "error"):
        limit = max(FINAL_READ_TIMEOUT_S, min(COMMAND_TIMEOUT_S, left() + FINAL_READ_TIMEOUT_S))
        ok, text = browser.call(lambda: driver.execute_script(
            "return [document.getElementById('form-error'), document.getElementById('error')]"
            ".filter(n => n && !n.hidden).map(n => n.textContent).join('\\n')"), limit)
        error = (text or "").strip() if ok == "ok" else ""
        ok, raw = browser.call(lambda: driver.execute_script(result_js), limit)
        if ok == "ok" and raw:
            progress.result_raw = raw
    elif state == "timeout" and not browser.busy:
        # The page still answers (it is idle between awaits): take its latest result, briefly.
        ok, raw = browser.call(lambda: driver.execute_script(result_js), FINAL_READ_TIMEOUT_S)
        if ok == "ok" and raw:
            progress.result_raw = raw
    elif state == "lost":
        error = browser.failure or "chromedriver exited"
    return PageOutcome(state, error, progress.result(), lines, progress.activity, notes=notes)


class Watchdog:
    """Ends this process `grace_s` seconds after `timeout_s`, whatever its main thread is blocked in.

    At that moment it kills every process below this one and every browser it started, calls
    `give_up()` (which writes what was measured and returns one sentence), prints that sentence on
    stderr and exits with code 1. `cancel()` once the command has finished its own way; a command
    that handles its deadline itself (run_page) normally does so well before the watchdog fires.
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
            os._exit(EXIT_FAILED)
