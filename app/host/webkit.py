"""WebKit (Safari's engine) on Linux: WebKitGTK's MiniBrowser under its WebDriver, on a virtual X display.

`start_webkit()` starts `Xvfb` on a free display (`-displayfd`: the X server picks the number and writes it back),
then Debian's `WebKitWebDriver` (package webkit2gtk-driver) through Selenium's `webdriver.WebKitGTK`, which starts
`MiniBrowser --automation` on that display. WebKitGTK has no headless mode of its own, hence Xvfb. Its environment:

  JSC_useSharedArrayBuffer=1  JavaScriptCore leaves SharedArrayBuffer undefined without it, even on a
                              cross-origin isolated page (seen with WebKitGTK 2.50.6: ../shared/NOTES.md), and
                              wllama's multi-thread builds need it.
  XDG_*_HOME, HOME            a fresh folder per browser, removed at the end: no cache or storage carried over.

Every browser started here ends for certain, as Chromium's do (app.host.chromium): the driver, MiniBrowser, its
web and network processes and Xvfb carry an environment tag, the driver is on app.host.chromium's list of live
browsers (so the command's watchdog, `kill_own_children()`, finds it), and `quit()` asks politely for a few seconds,
then kills every tagged process, reaps Xvfb and removes the folder.
"""

from __future__ import annotations

import functools
import glob
import os
import select
import shutil
import subprocess
import tempfile
import time
import uuid

from app.host import chromium as browsers  # the live-browser list, the process tag, kill_browser

PROFILE_PREFIX = "bench-webkit-"
DEFAULT_COMMAND_TIMEOUT_S = 120.0
QUIT_TIMEOUT_S = 3.0
XVFB_START_TIMEOUT_S = 15.0
SCREEN = "1400x1000x24"
# Where Debian (and Ubuntu, Fedora) put MiniBrowser: it is not on PATH.
MINIBROWSER_GLOBS = ("/usr/lib/*/webkit2gtk-4.1/MiniBrowser", "/usr/lib/*/webkit2gtk-4.0/MiniBrowser",
                     "/usr/libexec/webkit2gtk-4.1/MiniBrowser", "/usr/libexec/webkit2gtk-4.0/MiniBrowser")
INSTALL = "`apt-get install -y webkit2gtk-driver xvfb` (scripts/setup.sh does)"


class WebKitMissing(RuntimeError):
    pass


def find_binaries() -> tuple[str, str, str]:
    """(WebKitWebDriver, MiniBrowser, Xvfb), from $WEBKIT_WEBDRIVER / $WEBKIT_MINIBROWSER / $XVFB or the usual
    places; WebKitMissing naming what is missing and how to install it."""
    def runnable(path: str | None) -> str | None:
        return path if path and os.path.isfile(path) and os.access(path, os.X_OK) else None

    driver = runnable(os.environ.get("WEBKIT_WEBDRIVER") or shutil.which("WebKitWebDriver"))
    browser = runnable(os.environ.get("WEBKIT_MINIBROWSER") or next(
        (p for pattern in MINIBROWSER_GLOBS for p in sorted(glob.glob(pattern)) if os.access(p, os.X_OK)), None))
    xvfb = runnable(os.environ.get("XVFB") or shutil.which("Xvfb"))
    missing = [name for name, path in (("WebKitWebDriver", driver), ("WebKitGTK's MiniBrowser", browser),
                                       ("Xvfb", xvfb)) if not path]
    if missing:
        raise WebKitMissing(f"WebKit needs {', '.join(missing)}: {INSTALL} "
                            "(or set WEBKIT_WEBDRIVER, WEBKIT_MINIBROWSER, XVFB)")
    return driver, browser, xvfb  # type: ignore[return-value]


def start_xvfb(xvfb: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """An Xvfb on a display it picks itself; (its process, ":N"). RuntimeError in words when it does not start."""
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", SCREEN, "-nolisten", "tcp"],
                                   pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=env)
    finally:
        os.close(write_fd)
    text = b""
    deadline = time.monotonic() + XVFB_START_TIMEOUT_S
    try:
        while not text.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(read_fd, 64)
            if not chunk:  # Xvfb exited before naming its display
                break
            text += chunk
    finally:
        os.close(read_fd)
    number = text.strip().decode(errors="replace")
    if not number.isdigit():
        process.kill()
        _, err = process.communicate(timeout=5)
        said = next((line for line in err.decode(errors="replace").splitlines() if line.strip()), "")
        raise RuntimeError(f"Xvfb did not start{': ' + said if said else ' within ' + str(int(XVFB_START_TIMEOUT_S)) + ' s'}")
    process.stderr.close()  # nothing reads it any more: never let a full pipe block the X server
    return process, f":{number}"


def _stop_xvfb(driver) -> None:
    process = getattr(driver, "bench_xvfb", None)
    if process is None:
        return
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=3)  # reaped: no zombie left
    except subprocess.TimeoutExpired:
        pass


@functools.cache
def _webkit_class():
    from selenium import webdriver

    class BenchWebKit(webdriver.WebKitGTK):
        """webdriver.WebKitGTK whose quit() always returns within seconds and leaves no process behind (Xvfb too)."""

        bench_profile: str | None = None
        bench_tag: str | None = None
        bench_xvfb: subprocess.Popen | None = None
        bench_display: str = ""

        def kill(self) -> None:
            """End the browser without asking its driver (for a page that no longer answers)."""
            with browsers._live_lock:
                browsers._live.discard(self)
            try:
                self.stop_client()
                self.command_executor.close()
            except Exception:  # noqa: BLE001 - the kill below is what matters
                pass
            browsers.kill_browser(self)
            _stop_xvfb(self)

        def quit(self) -> None:
            with browsers._live_lock:
                browsers._live.discard(self)
            try:
                browsers.set_command_timeout(self, QUIT_TIMEOUT_S)
                from selenium.webdriver.remote.webdriver import WebDriver

                WebDriver.quit(self)  # the driver closes MiniBrowser; it cannot when the page hangs it
            except Exception:  # noqa: BLE001 - any failure here is followed by the kill
                pass
            browsers.kill_browser(self)
            _stop_xvfb(self)

    return BenchWebKit


def start_webkit(command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S):
    """WebKitGTK's MiniBrowser under WebKitWebDriver on its own Xvfb display, SharedArrayBuffer on.

    `command_timeout_s`: seconds one WebDriver HTTP round trip may take. Call `quit()` on the result (it returns
    within a few seconds and kills whatever did not exit, Xvfb included). Raises WebKitMissing, RuntimeError (Xvfb
    did not start) or Selenium's errors (the driver or the browser did not start)."""
    from selenium.webdriver.webkitgtk.options import Options
    from selenium.webdriver.webkitgtk.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")
    driver_path, browser, xvfb_path = find_binaries()
    profile = tempfile.mkdtemp(prefix=PROFILE_PREFIX)
    tag = uuid.uuid4().hex
    env = {**os.environ, browsers.TAG_VARIABLE: tag, "JSC_useSharedArrayBuffer": "1", "HOME": profile,
           "XDG_CACHE_HOME": f"{profile}/cache", "XDG_DATA_HOME": f"{profile}/data",
           "XDG_CONFIG_HOME": f"{profile}/config", "NO_AT_BRIDGE": "1"}
    try:
        xvfb, display = start_xvfb(xvfb_path, env)
    except BaseException:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    env["DISPLAY"] = display
    options = Options()
    options.binary_location = browser
    options.add_argument("--automation")
    service = Service(driver_path, env=env)
    cls = _webkit_class()
    try:
        driver = cls(options=options, service=service)
    except BaseException:
        # The driver or the browser did not start (or we were interrupted): end what did start, then re-raise.
        stub = type("Stub", (), {"service": service, "bench_profile": profile, "bench_tag": tag, "bench_xvfb": xvfb})()
        browsers.kill_browser(stub)
        _stop_xvfb(stub)
        raise
    driver.bench_profile, driver.bench_tag, driver.bench_xvfb, driver.bench_display = profile, tag, xvfb, display
    browsers.set_command_timeout(driver, command_timeout_s)
    with browsers._live_lock:
        browsers._live.add(driver)
    return driver


def kill_webkit(driver) -> None:
    """The watchdog's last resort, from another thread: kill every process of `driver`'s browser and its Xvfb,
    remove its folder; quick and never blocking on WebDriver."""
    with browsers._live_lock:
        browsers._live.discard(driver)
    browsers.kill_browser(driver, settle_s=1.0)
    _stop_xvfb(driver)
