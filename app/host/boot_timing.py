"""python -m app boot-time: the page's time-to-ready next to bare Pyodide's, in one browser.

The two pages are opened alternately in the same Chromium, several rounds, so that machine noise
hits both alike; the last line is the ratio of medians.
"""

from __future__ import annotations

import statistics
import sys
import time

from app.host.chromium import ChromiumMissing, set_command_timeout, start_chromium
from app.host.serve import serve_in_thread, url_of

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
PAGE_TIMEOUT_S = 120.0  # seconds one page may take to become ready
# Seconds left to a page once it is ready, before the next one is opened: what it does after 'ready' (the
# benchmark page imports the run's modules then) must not land in the next page's time from navigation.
SETTLE_S = 1.0
COMMAND_TIMEOUT_S = 10.0  # seconds one WebDriver round trip may take


class BootError(RuntimeError):
    """A page did not become ready: the message says which and why."""


def _ready_ms(driver, url: str, deadline: float) -> float:
    """Open `url` and wait for its data-state 'ready'; its data-readyMs (ms since navigation)."""
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from urllib3.exceptions import HTTPError

    page_deadline = time.monotonic() + PAGE_TIMEOUT_S
    why = f"was not ready within {PAGE_TIMEOUT_S:g} s"
    if deadline < page_deadline:
        why = "was not ready when the --timeout ran out"
    deadline = min(deadline, page_deadline)
    try:
        set_command_timeout(driver, max(1.0, deadline - time.monotonic() + 2))
        driver.get(url)
    except (TimeoutException, HTTPError) as err:
        raise BootError(f"{url} did not load: {type(err).__name__}") from None
    while time.monotonic() < deadline:
        set_command_timeout(driver, max(0.5, min(COMMAND_TIMEOUT_S, deadline - time.monotonic())))
        try:
            state = driver.execute_script("return document.documentElement.dataset.state")
            if state == "ready":
                return float(driver.execute_script("return document.documentElement.dataset.readyMs"))
            if state == "error":
                raise BootError(f"{url}: " + " ".join(driver.execute_script("return document.body.innerText")[:500].split()))
        except (TimeoutException, HTTPError):
            continue  # the page's main thread is busy: ask again until the deadline
        except WebDriverException as err:
            raise BootError(f"{url}: the browser failed: {(err.msg or str(err)).splitlines()[0][:200]}") from None
        time.sleep(0.05)
    raise BootError(f"{url} {why}")


def run(dist, rounds: int = 4, timeout_s: float = 900) -> int:
    """Exit code 0 (measured), 1 (a page failed, Chromium missing, timeout), 2 (bad input)."""
    from app.host.pagerun import Watchdog

    if not 1 <= rounds <= 50 or not timeout_s > 0:
        print("boot-time: --rounds must be 1-50 and --timeout a positive number of seconds", file=sys.stderr)
        return EXIT_BAD_INPUT
    activity = ["starting Chromium"]
    watchdog = Watchdog("boot-time", timeout_s,
                        lambda: f"boot-time: gave up after {timeout_s:g} s (--timeout) while '{activity[0]}'").start()
    page: list[float] = []
    bare: list[float] = []
    driver = None
    try:
        server = serve_in_thread(dist)
    except (FileNotFoundError, OSError) as err:
        watchdog.cancel()
        print(f"boot-time: {err}", file=sys.stderr)
        return EXIT_FAILED
    try:
        driver = start_chromium(command_timeout_s=COMMAND_TIMEOUT_S)
        base = url_of(server)
        for i in range(rounds):
            # Alternate which page goes first: the second load of a round finds the browser's
            # HTTP and WASM code caches warm, and neither page should always get that.
            order = [("bare", bare), ("page", page)] if i % 2 == 0 else [("page", page), ("bare", bare)]
            for which, samples in order:
                activity[0] = f"round {i + 1}/{rounds}: loading the {'bare Pyodide' if which == 'bare' else 'benchmark'} page"
                samples.append(_ready_ms(driver, base + ("pyodide-baseline.html" if which == "bare" else "index.html"),
                                         watchdog.deadline))
                time.sleep(min(SETTLE_S, max(0.0, watchdog.deadline - time.monotonic())))
            print(f"round {i + 1}/{rounds}: bare Pyodide {bare[-1] / 1000:.2f} s, benchmark page {page[-1] / 1000:.2f} s", file=sys.stderr, flush=True)
    except (BootError, ChromiumMissing) as err:
        print(f"boot-time: {err}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as err:  # noqa: BLE001 - WebDriver / urllib3 failures become a sentence, not a traceback
        from selenium.common.exceptions import WebDriverException
        from urllib3.exceptions import HTTPError

        if not isinstance(err, (WebDriverException, HTTPError, OSError)):
            raise
        print(f"boot-time: the browser failed while '{activity[0]}': {str(err).splitlines()[0][:200] if str(err) else type(err).__name__}",
              file=sys.stderr)
        return EXIT_FAILED
    finally:
        if driver is not None:
            driver.quit()
        server.shutdown()
        server.server_close()
        watchdog.cancel()
    fmt = lambda xs: f"median {statistics.median(xs) / 1000:.2f} s (min {min(xs) / 1000:.2f}, max {max(xs) / 1000:.2f})"  # noqa: E731
    print(f"bare Pyodide load:            {fmt(bare)}")
    print(f"benchmark page time-to-ready: {fmt(page)}")
    print(f"ratio page / bare Pyodide (medians): {statistics.median(page) / statistics.median(bare):.2f}")
    return 0
