"""Headless Chromium through selenium, set up for a machine with no network but loopback.

Every browser started here can be ended for certain, even when WebDriver no longer answers (a page
whose main thread spins in WASM blocks every WebDriver command): it runs with its own profile folder
(`--user-data-dir` under the temporary folder) and an environment tag that chromedriver and the
browser inherit, so its processes can be found in /proc and killed even once they have been
re-parented away from us. `driver.quit()` is bounded in time and does exactly that.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    # Without these Chromium keeps dialling Google's hosts, which this machine cannot reach.
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    # WebGPU: without it requestAdapter() returns null; with it, SwiftShader answers on a CPU machine.
    "--enable-unsafe-webgpu",
    # performance.measureUserAgentSpecificMemory() answers at once instead of at the next garbage
    # collection (measured: 41 ms instead of 14 s).
    "--enable-blink-features=ForceEagerMeasureMemory",
    "--window-size=1400,1000",
]

PROFILE_PREFIX = "bench-chromium-"
TAG_VARIABLE = "BENCH_BROWSER_TAG"
# Seconds one WebDriver HTTP round trip may take before urllib3 gives up (selenium's own default is
# no limit at all). Callers that watch a deadline (pagerun) shorten it per command.
DEFAULT_COMMAND_TIMEOUT_S = 120.0
# Seconds `quit()` waits for chromedriver's polite QUIT before killing the processes.
QUIT_TIMEOUT_S = 3.0

_live: set = set()  # drivers started and not yet quit, for kill_all_browsers()
_live_lock = threading.Lock()


class ChromiumMissing(RuntimeError):
    pass


def find_binaries() -> tuple[str, str]:
    browser = os.environ.get("CHROMIUM_BINARY") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    if not browser or not driver:
        raise ChromiumMissing(
            "Chromium and chromedriver are needed: `apt-get install -y chromium chromium-driver` "
            "(or set CHROMIUM_BINARY and CHROMEDRIVER)."
        )
    return browser, driver


# --- processes ---------------------------------------------------------------------------------
def _processes() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line with NULs) for every process /proc shows; {} without /proc."""
    table: dict[int, tuple[int, bytes]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        # The command name in parentheses may hold spaces and parentheses: split after the last ')'.
        fields = stat.rsplit(b")", 1)[-1].split()
        if len(fields) < 2:
            continue
        if fields[0] == b"Z":
            continue  # a zombie has already exited; only its parent's wait() is missing
        table[int(name)] = (int(fields[1]), cmdline)
    return table


def descendants(pid: int, table: dict[int, tuple[int, bytes]] | None = None) -> set[int]:
    """Every live process below `pid` (children, their children...), from /proc."""
    table = _processes() if table is None else table
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _has_tag(pid: int, tag: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f"{TAG_VARIABLE}={tag}".encode() in f.read().split(b"\0")
    except OSError:
        return False


def browser_pids(driver) -> set[int]:
    """The live processes of one browser started by start_chromium: chromedriver and all below it,
    plus any re-parented process that carries its environment tag or names its profile folder."""
    table = _processes()
    pids: set[int] = set()
    process = getattr(getattr(driver, "service", None), "process", None)
    if process is not None and process.poll() is None:
        pids.add(process.pid)
        pids |= descendants(process.pid, table)
    profile = getattr(driver, "bench_profile", None)
    tag = getattr(driver, "bench_tag", None)
    for pid, (_, cmdline) in table.items():
        if pid == os.getpid():
            continue
        if (profile and profile.encode() in cmdline) or (tag and _has_tag(pid, tag)):
            pids.add(pid)
    return pids


def kill_pids(pids: set[int]) -> None:
    """SIGKILL each process; those already gone are skipped."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_browser(driver, settle_s: float = 3.0) -> set[int]:
    """Kill every process of `driver`'s browser until none is left (or `settle_s` seconds pass);
    returns the pids still alive (empty when all are gone), then removes its profile folder."""
    deadline = time.monotonic() + settle_s
    left = browser_pids(driver)
    while left and time.monotonic() < deadline:
        kill_pids(left)
        time.sleep(0.1)
        left = browser_pids(driver)
    process = getattr(getattr(driver, "service", None), "process", None)
    if process is not None:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))  # reap chromedriver: no zombie left
        except subprocess.TimeoutExpired:
            pass
    profile = getattr(driver, "bench_profile", None)
    if profile:
        shutil.rmtree(profile, ignore_errors=True)
    return left


def kill_all_browsers() -> None:
    """Kill every browser this process started and has not quit (for a watchdog about to exit)."""
    with _live_lock:
        drivers = list(_live)
    for driver in drivers:
        kill_browser(driver, settle_s=2.0)


def kill_own_children(settle_s: float = 3.0) -> None:
    """Kill every process below this one and every browser it started: what a command that gives up
    leaves behind otherwise (chromedriver, Chromium, a build's pip or npm)."""
    deadline = time.monotonic() + settle_s
    while True:
        pids = descendants(os.getpid())
        with _live_lock:
            drivers = list(_live)
        for driver in drivers:
            pids |= browser_pids(driver)
        if not pids:
            break
        kill_pids(pids)
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for driver in drivers:
        profile = getattr(driver, "bench_profile", None)
        if profile:
            shutil.rmtree(profile, ignore_errors=True)


# --- the driver --------------------------------------------------------------------------------
def set_command_timeout(driver, seconds: float) -> None:
    """Seconds the next WebDriver HTTP round trips may take before urllib3 raises a read timeout."""
    driver.command_executor.client_config.timeout = seconds


@functools.cache
def _chrome_class():
    from selenium import webdriver

    class BenchChrome(webdriver.Chrome):
        """webdriver.Chrome whose quit() always returns within seconds and leaves no process behind."""

        bench_profile: str | None = None
        bench_tag: str | None = None

        def kill(self) -> None:
            """End the browser without asking chromedriver (for a page that no longer answers)."""
            with _live_lock:
                _live.discard(self)
            try:
                self.stop_client()
                self.command_executor.close()
            except Exception:  # noqa: BLE001 - the kill below is what matters
                pass
            kill_browser(self)

        def quit(self) -> None:
            with _live_lock:
                _live.discard(self)
            try:
                set_command_timeout(self, QUIT_TIMEOUT_S)
                # The polite way first: chromedriver closes the browser. It cannot when the page hangs
                # the browser or chromedriver is gone; the kill below then does it.
                from selenium.webdriver.remote.webdriver import WebDriver

                WebDriver.quit(self)
            except Exception:  # noqa: BLE001 - any failure here is followed by the kill
                pass
            kill_browser(self)

    return BenchChrome


def start_chromium(extra_flags: list[str] | None = None, command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S,
                   extra_env: dict[str, str] | None = None):
    """A headless Chromium under chromedriver, with its own profile folder and process tag.

    `command_timeout_s`: seconds one WebDriver HTTP round trip may take; `extra_env`: variables for chromedriver,
    which Chromium inherits (a GPU profile's Vulkan / EGL driver files). Call `quit()` on the
    result (it returns within a few seconds and kills whatever did not exit)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Selenium Manager cannot download anything here; tell it not to try.
    os.environ.setdefault("SE_OFFLINE", "true")
    browser, driver_path = find_binaries()
    profile = tempfile.mkdtemp(prefix=PROFILE_PREFIX)
    tag = uuid.uuid4().hex
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS + (extra_flags or []):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(driver_path, env={**os.environ, **(extra_env or {}), TAG_VARIABLE: tag})
    cls = _chrome_class()
    try:
        driver = cls(service=service, options=options)
    except BaseException:
        # Chromium did not start (or we were interrupted): end what did start, then re-raise.
        stub = type("Stub", (), {"service": service, "bench_profile": profile, "bench_tag": tag})()
        kill_browser(stub)
        raise
    driver.bench_profile = profile
    driver.bench_tag = tag
    set_command_timeout(driver, command_timeout_s)
    with _live_lock:
        _live.add(driver)
    return driver
