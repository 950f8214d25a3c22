"""The browser's memory as the operating system counts it, sampled by the host while the page runs, and each row's
share of it.

Why: the page's own figure (`performance.measureUserAgentSpecificMemory()`, app.web.gpu_capture) misses what
matters here. In Chromium 156 it did not count a single-thread wllama 2.4 worker's Memory64 WebAssembly memory at
all (0.9 MB after loading a 145 MB model), and it stops answering for good once a worker of the page has ended,
so every row after the first engine's unload has no figure. The kernel's count has neither gap: every process
of the browser (browser, renderer with the page and its workers, GPU process) is read from
/proc/PID/smaps_rollup (PSS: each shared page divided among the processes that map it, so nothing is counted
twice; Linux 4.14+), or RSS from /proc/PID/statm where that file is missing.

A row's share: the page stamps each row's start and end with performance.now() (`rows[].memory.window_ms`); the
host maps page time to its own clock (`ClockMap`, from performance.now() read at each poll) and takes, among the
samples inside the row's window, the largest: `process_bytes_peak`. Its own is that minus the baseline, the last
sample before the first row began (the browser with Pyodide, the tokenizer of record and the model's bytes
loaded, no engine yet): `process_own_bytes_peak`, and its ratio to the model file, `process_own_to_model`.
Samples every `interval_s` (0.25 s): a peak shorter than that can be missed, and the row says the interval.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
SOURCE = "PSS of every browser process (/proc/PID/smaps_rollup), sampled by the host every {interval:g} s"


def process_bytes(pid: int) -> int | None:
    """The process's proportional set size in bytes (RSS where smaps_rollup is missing); None when it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
            for line in f:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * PAGE_SIZE
    except (OSError, IndexError, ValueError):
        return None


def total_bytes(pids: set[int]) -> int:
    """The summed memory of `pids` in bytes (processes that have gone count 0)."""
    return sum(b for b in (process_bytes(p) for p in pids) if b)


class Sampler:
    """A daemon thread that records (host monotonic s, bytes) every `interval_s` for the processes `pids()` names."""

    def __init__(self, pids: Callable[[], set[int]], interval_s: float = 0.25) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="process-memory", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join(timeout=5)
        return list(self.samples)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                pids = self.pids()
                if pids:
                    self.samples.append((time.monotonic(), total_bytes(pids)))
            except Exception:  # noqa: BLE001 - a process table read racing a process's exit: try again next time
                pass
            self._stop.wait(self.interval_s)


class ClockMap:
    """Page time (performance.now() ms) to host time (monotonic s), from pairs read at each poll: the page's
    clock read between two host readings. As NTP does, the pair with the shortest round trip wins: its midpoint
    is off by at most half that round trip (recorded as `error_s`)."""

    def __init__(self) -> None:
        self.best: tuple[float, float] | None = None  # (round trip s, offset s)

    def add(self, host_before_s: float, page_ms: float, host_after_s: float) -> None:
        trip = host_after_s - host_before_s
        if trip >= 0 and (self.best is None or trip < self.best[0]):
            self.best = (trip, (host_before_s + host_after_s) / 2 - page_ms / 1000)

    @property
    def error_s(self) -> float | None:
        return self.best[0] / 2 if self.best else None

    def host_s(self, page_ms: float) -> float | None:
        return page_ms / 1000 + self.best[1] if self.best else None


def attribute(result: dict[str, Any], samples: list[tuple[float, int]], clock: ClockMap, interval_s: float) -> int:
    """Put each row's process memory into its `memory` (bytes; see the module docstring) where the row has a
    window and samples fall inside it. Returns how many rows got figures. Changes `result` in place."""
    windows = []
    for row in result.get("rows") or []:
        m = row.get("memory")
        w = (m or {}).get("window_ms")
        if not (isinstance(w, list) and len(w) == 2 and all(isinstance(x, (int, float)) for x in w)):
            continue
        start, end = clock.host_s(w[0]), clock.host_s(w[1])
        if start is not None:
            windows.append((row, start, end))
    if not windows or not samples:
        return 0
    first = min(start for _, start, _ in windows)
    before = [b for t, b in samples if t <= first]
    baseline = before[-1] if before else None
    model_bytes = (result.get("model") or {}).get("size") or 0
    done = 0
    for row, start, end in windows:
        inside = [b for t, b in samples if start <= t <= end]
        if not inside:
            continue
        peak = max(inside)
        own = max(0, peak - baseline) if baseline is not None else None
        row["memory"].update(
            process_bytes_baseline=baseline, process_bytes_peak=peak, process_own_bytes_peak=own,
            process_own_to_model=own / model_bytes if own is not None and model_bytes else None,
            process_source=SOURCE.format(interval=interval_s))
        done += 1
    return done
