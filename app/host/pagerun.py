"""Drive the benchmark page headless: open it with settings, follow its log, collect its result."""

from __future__ import annotations

import json
import sys
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.host.chromium import start_chromium
from app.host.serve import serve_in_thread, url_of


@dataclass
class PageOutcome:
    state: str  # done | error | timeout
    error: str
    result: dict[str, Any] | None
    log: list[str]


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_page(dist: Path, page: str, query: dict[str, str], timeout_s: float,
             extra: dict[str, Path] | None = None, echo: Callable[[str], None] = _say,
             result_global: str = "benchResultJSON") -> PageOutcome:
    server = serve_in_thread(dist, extra=extra)
    driver = start_chromium()
    lines: list[str] = []
    try:
        url = url_of(server) + page + "?" + urllib.parse.urlencode(query)
        started = time.monotonic()
        driver.get(url)
        while True:
            # One round trip per poll: the page's state and its log.
            state, log_text = driver.execute_script(
                "const n = document.getElementById('log');"
                "return [document.documentElement.dataset.state || 'loading', n ? n.textContent : ''];")
            new = log_text.splitlines()
            for line in new[len(lines):]:
                echo(f"[{time.monotonic() - started:6.1f}s] {line}")
            lines = new
            # Settled states: the page waits for nothing more.
            if state in ("done", "error"):
                break
            if time.monotonic() - started > timeout_s:
                state = "timeout"
                break
            time.sleep(0.25)
        error = driver.execute_script(
            "return [document.getElementById('form-error'), document.getElementById('error')]"
            ".filter(n => n && !n.hidden).map(n => n.textContent).join('\\n')") or ""
        raw = driver.execute_script(f"return window.{result_global} || null")
        return PageOutcome(state, error.strip(), json.loads(raw) if raw else None, lines)
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
