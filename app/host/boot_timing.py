"""python -m app boot-time: the page's time-to-ready next to bare Pyodide's, in one browser.

The two pages are opened alternately in the same Chromium, several rounds, so that machine noise
hits both alike; the last line is the ratio of medians.
"""

from __future__ import annotations

import statistics
import sys
import time

from app.host.chromium import start_chromium
from app.host.serve import serve_in_thread, url_of


def _ready_ms(driver, url: str, timeout: float = 120) -> float:
    driver.get(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = driver.execute_script("return document.documentElement.dataset.state")
        if state == "ready":
            return float(driver.execute_script("return document.documentElement.dataset.readyMs"))
        if state == "error":
            raise RuntimeError(f"{url}: " + driver.execute_script("return document.body.innerText")[:500])
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready after {timeout} s")


def run(dist, rounds: int = 4) -> int:
    server = serve_in_thread(dist)
    driver = start_chromium()
    base = url_of(server)
    page, bare = [], []
    try:
        for i in range(rounds):
            # Alternate which page goes first: the second load of a round finds the browser's
            # HTTP and WASM code caches warm, and neither page should always get that.
            order = [("bare", bare), ("page", page)] if i % 2 == 0 else [("page", page), ("bare", bare)]
            for which, samples in order:
                samples.append(_ready_ms(driver, base + ("pyodide-baseline.html" if which == "bare" else "index.html")))
            print(f"round {i + 1}/{rounds}: bare Pyodide {bare[-1] / 1000:.2f} s, benchmark page {page[-1] / 1000:.2f} s", file=sys.stderr, flush=True)
    finally:
        driver.quit()
        server.shutdown()
    fmt = lambda xs: f"median {statistics.median(xs) / 1000:.2f} s (min {min(xs) / 1000:.2f}, max {max(xs) / 1000:.2f})"  # noqa: E731
    print(f"bare Pyodide load:            {fmt(bare)}")
    print(f"benchmark page time-to-ready: {fmt(page)}")
    print(f"ratio page / bare Pyodide (medians): {statistics.median(page) / statistics.median(bare):.2f}")
    return 0
