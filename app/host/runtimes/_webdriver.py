"""A page driven over WebDriver within a deadline: the part every browser runtime shares.

`WebDriverRuntime` opens `page?query` (the benchmark page with autorun and its settings), polls the page's
`data-state`, log and progress text, reads `window[result_global]` after every finished row, and ends the
browser. A subclass says how its browser starts (`new_driver`) and, optionally, what it checks before the
build (`preflight`) and records once the browser is up (`started_driver`): local Chromium, a Grid session,
and next Firefox or WebKit.

Every WebDriver call gets an HTTP read timeout of at most `COMMAND_TIMEOUT_S` seconds (a page whose main
thread is busy in WASM blocks every WebDriver command until it yields), so the loop notices the deadline
within seconds, reads what the page has published (or keeps the copy it read after the last finished row),
and ends the browser. No WebDriver or urllib3 exception leaves `run()`: each one becomes an outcome in words.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from app.host import process_memory
from app.host.chromium import set_command_timeout
from app.host.runtimes._base import Job, Outcome, Runtime, StartFailed

POLL_S = 0.25  # seconds between two looks at the page
COMMAND_TIMEOUT_S = 10.0  # seconds one WebDriver round trip may take while the deadline is further away
FINAL_READ_TIMEOUT_S = 3.0  # seconds for reading the result once the deadline has passed
LOST_AFTER_FAILURES = 3  # consecutive failed WebDriver calls (not timeouts) that mean the browser is gone


def is_timeout(err: BaseException) -> bool:
    """A WebDriver call that took too long (the page is busy), as opposed to one that failed."""
    from selenium.common.exceptions import TimeoutException
    from urllib3.exceptions import MaxRetryError, ReadTimeoutError, TimeoutError as Urllib3Timeout

    if isinstance(err, MaxRetryError):
        err = err.reason or err
    return isinstance(err, (TimeoutException, ReadTimeoutError, Urllib3Timeout, TimeoutError))


def webdriver_errors() -> tuple[type[BaseException], ...]:
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


class Browser:
    """WebDriver calls that always return within a given time, as (status, value)."""

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
        except webdriver_errors() as err:
            if is_timeout(err):
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


class WebDriverRuntime(Runtime):
    """The benchmark page in a browser driven over WebDriver. Subclasses override `new_driver`."""

    program = "Chromium"

    def __init__(self, serve_host: str | None = None, result_global: str = "benchResultJSON") -> None:
        super().__init__(serve_host)
        if not result_global.isidentifier():
            raise ValueError(f"not a JavaScript global name: {result_global!r}")
        self.result_global = result_global  # window[result_global]: the result JSON the page publishes
        self.driver = None
        self.browser: Browser | None = None
        self.lines: list[str] = []
        self.notes: list[str] = []
        self.sampler: process_memory.Sampler | None = None
        self.clock = process_memory.ClockMap()

    # --- what a browser subclass overrides --------------------------------------------------------------------
    def new_driver(self, site_url: str, command_timeout_s: float):
        """A started WebDriver session whose quit() returns within seconds and whose kill() ends the browser
        without asking it; WebDriver / urllib3 / OS errors when it cannot start."""
        raise NotImplementedError(f"{type(self).__name__} must say how its browser starts (new_driver)")

    def started_driver(self, driver) -> None:
        """Called once the browser is up (a Grid session records which node it got)."""

    def process_ids(self) -> set[int]:
        """The browser's live processes on this machine, for the host's memory samples (app.host.process_memory);
        empty where the browser is elsewhere (a Grid node) or they cannot be found."""
        from app.host.chromium import browser_pids

        return browser_pids(self.driver) if self.driver is not None else set()

    # --- the primitives ---------------------------------------------------------------------------------------
    def start(self, job: Job) -> None:
        super().start(job)
        try:
            self.driver = self.new_driver(self.site_url, COMMAND_TIMEOUT_S)
        except webdriver_errors() as err:
            raise StartFailed(f"{self.program} did not start: {describe(err)}") from None
        self.browser = Browser(self.driver)
        self.started_driver(self.driver)
        self.sampler = process_memory.Sampler(self.process_ids).start()

    def open(self, job: Job) -> None:
        driver, browser = self.driver, self.browser
        url = self.site_url + job.page + "?" + urllib.parse.urlencode(job.page_query())
        status, _ = browser.call(lambda: driver.set_page_load_timeout(max(1, int(self.left()) + 1)), COMMAND_TIMEOUT_S)
        if status == "ok":
            browser.call(lambda: driver.get(url), self.left() + 2)

    def follow(self) -> str:
        driver, browser, progress = self.driver, self.browser, self.progress
        poll_js = (
            "const n = document.getElementById('log'), p = document.getElementById('progress-text');"
            f"const r = window.{self.result_global};"
            "return [document.documentElement.dataset.state || 'loading', n ? n.textContent : '',"
            " p ? p.textContent : '', typeof r === 'string' ? r.length : 0, performance.now()];")
        published = 0  # length of the result JSON last read
        busy_since: float | None = None
        while True:
            if self.left() <= 0:
                return "timeout"
            if browser.gone():
                return "lost"
            asked = time.monotonic()
            status, value = browser.call(lambda: driver.execute_script(poll_js), min(COMMAND_TIMEOUT_S, self.left()))
            if status == "busy":
                if busy_since is None:
                    busy_since = time.monotonic()
                    self._note("the page does not answer: its main thread is busy; waiting until it yields or the time is up")
                continue
            if status == "failed":
                time.sleep(min(POLL_S, max(0.0, self.left())))
                continue
            if busy_since is not None:
                self._note(f"the page answers again after {time.monotonic() - busy_since:.0f} s")
                busy_since = None
            state, log_text, progress_text, result_len, page_now = value
            if isinstance(page_now, (int, float)):
                self.clock.add(asked, float(page_now), time.monotonic())
            new = log_text.splitlines()
            for line in new[len(self.lines):]:
                self.echo(f"{self.stamp()} {line}")
            self.lines = new
            activity = progress_text.strip() or (self.lines[-1].strip() if self.lines else "")
            if activity:
                progress.activity = activity
            if result_len and result_len != published:
                ok, raw = browser.call(lambda: driver.execute_script(self._result_js()),
                                       min(COMMAND_TIMEOUT_S, max(self.left(), 1)))
                if ok == "ok" and raw:
                    progress.result_raw, published = raw, result_len
            if state in ("done", "error"):  # settled: the page waits for nothing more
                return state
            time.sleep(min(POLL_S, max(0.0, self.left())))

    def collect(self, state: str) -> Outcome:
        driver, browser, progress = self.driver, self.browser, self.progress
        error = ""
        if state in ("done", "error"):
            limit = max(FINAL_READ_TIMEOUT_S, min(COMMAND_TIMEOUT_S, self.left() + FINAL_READ_TIMEOUT_S))
            ok, text = browser.call(lambda: driver.execute_script(
                "return [document.getElementById('form-error'), document.getElementById('error')]"
                ".filter(n => n && !n.hidden).map(n => n.textContent).join('\\n')"), limit)
            error = (text or "").strip() if ok == "ok" else ""
            ok, raw = browser.call(lambda: driver.execute_script(self._result_js()), limit)
            if ok == "ok" and raw:
                progress.result_raw = raw
        elif state == "timeout" and not browser.busy:
            # The page still answers (it is idle between awaits): take its latest result, briefly.
            ok, raw = browser.call(lambda: driver.execute_script(self._result_js()), FINAL_READ_TIMEOUT_S)
            if ok == "ok" and raw:
                progress.result_raw = raw
        elif state == "lost":
            error = browser.failure or "chromedriver exited"
        result = progress.result()
        if result is not None and self.sampler is not None:
            samples = self.sampler.stop()
            process_memory.attribute(result, samples, self.clock, self.sampler.interval_s)
        return Outcome(state, error, result, self.lines, progress.activity, notes=self.notes)

    def close(self, outcome: Outcome | None) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        try:
            if self.driver is not None:
                if outcome is not None and (outcome.state == "lost" or self.browser.busy):
                    self.driver.kill()  # it would not answer a QUIT either
                else:
                    self.driver.quit()  # bounded: a polite QUIT for a few seconds, then every process is killed
                self.driver = None
        finally:
            super().close(outcome)

    # --- helpers ----------------------------------------------------------------------------------------------
    def _result_js(self) -> str:
        return f"return window.{self.result_global} || null"

    def _note(self, text: str) -> None:
        self.notes.append(text)
        self.echo(f"{self.stamp()} ({text})")
