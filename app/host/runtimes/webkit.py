"""`--browser webkit` (`--runtime webkit`): the benchmark page in WebKit, Safari's engine, as WebKitGTK ships it.

app.host.webkit starts Xvfb on a free display, then Debian's WebKitWebDriver, which starts `MiniBrowser --automation`
there with `JSC_useSharedArrayBuffer=1` (without it JavaScriptCore has no SharedArrayBuffer, even cross-origin
isolated); the shared page loop (`_webdriver.py`) drives it over WebDriver like Chromium. Everything it started ends
with the run: the browser's processes and Xvfb (by their environment tag), and its temporary folder.

What differs from Chromium here (WebKitGTK 2.50): no JSPI, no Memory64 and no `navigator.gpu`. So the llama.cpp
reference and the tokenizer of record load wllama 2.3.7's wasm32 build, llama.cpp 3.13's CPU row the
@wllama/wllama-compat build (Asyncify + wasm32), and every WebGPU row is `unsupported` (the engines' own choices,
app/engines/llamacpp*/); no `performance.measureUserAgentSpecificMemory()` either. And WebKit reports
`navigator.hardwareConcurrency` 4 on any machine with fewer than 8 cores (8 above: a fingerprinting guard), so
llama.cpp's "every core" (`llamacpp_threads` 0) would start 4 threads on this 2-core machine, whose busy-waiting
barriers then crawl (seen: 0.04 tok/s against 9.7 with 1 thread); the runtime turns 0 into the cores this process
may use (`real_cores`), and the result's settings say the number.
"""

from __future__ import annotations

import dataclasses
import os

from app.host.runtimes._base import Job, Outcome, RuntimeMissing
from app.host.runtimes._webdriver import WebDriverRuntime


class WebKitRuntime(WebDriverRuntime):
    """WebKitGTK's MiniBrowser under WebKitWebDriver on Xvfb (app.host.webkit.start_webkit)."""

    name = "webkit"
    browser = "webkit"  # --browser webkit
    help = ("the page in WebKit (Safari's engine): WebKitGTK's MiniBrowser under WebKitWebDriver on Xvfb, "
            "SharedArrayBuffer on; no JSPI, Memory64 or WebGPU there, so the wasm32 / compatibility builds run")
    program = "WebKit"
    where = "in WebKit (WebKitGTK MiniBrowser on Xvfb)"
    in_words = "runs WebKitGTK's MiniBrowser on Xvfb"
    order = 2

    def __init__(self, serve_host: str | None = None) -> None:
        super().__init__(serve_host)
        self.job: Job | None = None

    @staticmethod
    def real_cores(job: Job) -> Job:
        """`job` with llamacpp_threads 0 ("every core the page may use") made the host's own core count, which
        WebKit's navigator.hardwareConcurrency does not tell (it says 4 below 8 cores)."""
        settings = job.settings
        if not settings or settings.get("llamacpp_threads") != 0:
            return job
        return dataclasses.replace(job, settings={**settings, "llamacpp_threads": len(os.sched_getaffinity(0))})

    def start(self, job: Job) -> None:
        self.job = self.real_cores(job)
        if self.job is not job:
            self.echo(f"{self.stamp()} (llamacpp_threads 0 -> {self.job.settings['llamacpp_threads']}: this machine's cores; "
                      "WebKit's navigator.hardwareConcurrency says 4 below 8 cores)")
        super().start(self.job)

    def open(self, job: Job) -> None:
        super().open(self.job or job)

    def preflight(self) -> None:
        from app.host.webkit import WebKitMissing, find_binaries

        try:
            find_binaries()
        except WebKitMissing as err:
            raise RuntimeMissing(str(err)) from None

    def new_driver(self, site_url: str, command_timeout_s: float):
        from app.host.webkit import start_webkit

        try:
            return start_webkit(command_timeout_s=command_timeout_s)
        except RuntimeError as err:  # Xvfb did not start, or the binaries went missing since preflight
            raise OSError(str(err)) from None  # the shared loop turns OSError into "WebKit did not start: ..."

    def started_driver(self, driver) -> None:
        caps = driver.capabilities
        self.echo(f"{self.stamp()} (WebKitGTK {caps.get('browserVersion', '?')}, MiniBrowser on Xvfb "
                  f"{getattr(driver, 'bench_display', '?')}, JSC_useSharedArrayBuffer=1)")

    def collect(self, state: str) -> Outcome:
        outcome = super().collect(state)
        if outcome.state == "lost" and outcome.error == "chromedriver exited":  # the shared loop's word for it
            process = getattr(getattr(self.driver, "service", None), "process", None)
            code = process.poll() if process is not None else None
            outcome.error = (f"WebKitWebDriver exited (code {code})" if code is not None
                             else "WebKit stopped answering")
        return outcome

    def abandon(self) -> None:
        """The watchdog's last resort: kill the browser, its processes and its Xvfb at once."""
        driver = self.driver
        if driver is not None:
            from app.host.webkit import kill_webkit

            kill_webkit(driver)


RUNTIME = WebKitRuntime
