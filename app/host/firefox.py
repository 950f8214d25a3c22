"""Headless Firefox driven over WebDriver BiDi (app/host/bidi.py), no geckodriver.

`start_firefox()` writes a fresh profile folder (`user.js`: WebGPU on, no slow-script dialog, nothing dialling
out), starts `firefox-esr --headless --no-remote --remote-debugging-port 0 --profile DIR` in a process group of its
own, reads the port Firefox chose from the profile's `WebDriverBiDiServer.json`, opens a BiDi session and returns
a `FirefoxDriver`: the few Selenium WebDriver calls the benchmark's page loop (app/host/runtimes/_webdriver.py)
and the page tests make (get, execute_script, execute_async_script, find_element, refresh, title, quit, kill),
over BiDi.

Every Firefox started here ends for certain: `quit()` asks it to close for a few seconds, then kills its process
group; the driver is registered with app.host.chromium's list of live browsers and carries the same environment
tag and profile folder attributes, so `kill_own_children()` (the command's watchdog) finds and kills it and
removes its profile folder too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from selenium.common.exceptions import NoSuchElementException, WebDriverException

from app.host import chromium as browsers  # the live-browser list, the process tag, kill_browser
from app.host.bidi import BiDiConnection, BiDiPage, RemoteNode

PROFILE_PREFIX = "bench-firefox-"
START_TIMEOUT_S = 60.0  # Firefox's first start with a fresh profile takes 3-10 s here; more on a loaded machine
QUIT_TIMEOUT_S = 3.0
DEFAULT_COMMAND_TIMEOUT_S = 120.0

# user.js of every profile. Cross-origin isolation needs nothing here: the site's COOP/COEP headers do it.
PREFS: dict[str, Any] = {
    # WebGPU: off by default on Linux; the blocklist refuses a software (lavapipe) adapter without the second pref.
    "dom.webgpu.enabled": True,
    "gfx.webgpu.ignore-blocklist": True,
    # A page busy in WASM for a long time must not get the "this page is slowing down Firefox" stop.
    "dom.max_script_run_time": 0,
    "dom.max_chrome_script_run_time": 0,
    # Nothing outside loopback can be reached: no first-run pages, updates, telemetry or remote settings.
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.startup.homepage_override.mstone": "ignore",
    "startup.homepage_welcome_url": "about:blank",
    "browser.aboutwelcome.enabled": False,
    "app.update.disabledForTesting": True,
    "app.update.auto": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "browser.tabs.unloadOnLowMemory": False,
}


class FirefoxMissing(RuntimeError):
    pass


class FirefoxStartFailed(WebDriverException):
    """Firefox did not start or did not open its WebDriver BiDi endpoint; the message says what it printed."""


def find_binary() -> str:
    """firefox-esr (Debian), or firefox, or $FIREFOX_BINARY; FirefoxMissing in words otherwise."""
    found = (os.environ.get("FIREFOX_BINARY") or shutil.which("firefox-esr") or shutil.which("firefox"))
    if not found:
        raise FirefoxMissing("Firefox is needed for --browser firefox: `apt-get install -y firefox-esr "
                             "mesa-vulkan-drivers` (lavapipe, its WebGPU adapter here), or set FIREFOX_BINARY")
    return found


def version(binary: str | None = None) -> str:
    """'153.8.0esr' (from `firefox --version`), or '' when it does not say."""
    try:
        out = subprocess.run([binary or find_binary(), "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired, FirefoxMissing):
        return ""
    return out.strip().split()[-1] if out.strip() else ""


def user_js(prefs: dict[str, Any]) -> str:
    return "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())


# --- the driver -------------------------------------------------------------------------------------------------
class FirefoxElement:
    """A DOM element found by a FirefoxDriver: text, click, send_keys, get_attribute, find_element."""

    def __init__(self, driver: FirefoxDriver, node: RemoteNode) -> None:
        self.driver = driver
        self.node = node

    @property
    def text(self) -> str:
        """The rendered text, as selenium's: innerText with table cells apart by a space (Firefox puts a tab), no
        non-breaking spaces, each line trimmed."""
        return self.driver.execute_script(
            "return arguments[0].innerText.replace(/[\\t\\u00a0]/g, ' ').split('\\n')"
            ".map(l => l.replace(/ +$/, '')).join('\\n').trim()", self)

    def get_attribute(self, name: str) -> str | None:
        """As selenium's: the property when it is a plain value ('true' / None for a boolean), else the attribute."""
        return self.driver.execute_script(
            "const [e, n] = arguments, p = e[n];"
            "if (typeof p === 'boolean') return p ? 'true' : null;"
            "if (p !== undefined && p !== null && typeof p !== 'object' && typeof p !== 'function') return String(p);"
            "return e.getAttribute(n)", self, name)

    def click(self) -> None:
        """A real pointer click in the element's centre (scrolled into view first), as a user's."""
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", self)
        origin = {"type": "element", "element": {"sharedId": self.node.shared_id}}
        self.driver.perform_actions([{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                                      "actions": [{"type": "pointerMove", "x": 0, "y": 0, "origin": origin},
                                                  {"type": "pointerDown", "button": 0},
                                                  {"type": "pointerUp", "button": 0}]}])

    def send_keys(self, *values: str) -> None:
        """A file input gets the file (input.setFiles); anything else is focused and typed into, key by key.
        selenium.webdriver.common.keys.Keys work: a modifier (Shift, Control, Alt, Meta) stays down until the end."""
        text = "".join(values)
        if self.driver.execute_script("return arguments[0].tagName === 'INPUT' && arguments[0].type === 'file'", self):
            self.driver.page.set_files(self.node, [str(Path(text).resolve())], self.driver.timeout())
            return
        self.driver.execute_script("if (document.activeElement !== arguments[0]) arguments[0].focus()", self)
        modifiers = {"\ue008", "\ue009", "\ue00a", "\ue03d"}  # Shift, Control, Alt, Meta
        held: list[str] = []
        actions: list[dict[str, Any]] = []
        for ch in text:
            if ch in modifiers:
                held.append(ch)
                actions.append({"type": "keyDown", "value": ch})
            else:
                actions += [{"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch}]
        actions += [{"type": "keyUp", "value": ch} for ch in reversed(held)]
        self.driver.perform_actions([{"type": "key", "id": "keyboard", "actions": actions}])

    def find_element(self, by: str, value: str) -> FirefoxElement:
        return self.driver._find(by, value, self)


_FIND_JS = """
const [by, value, root] = arguments, scope = root || document;
if (by === 'id') return root ? root.querySelector('#' + CSS.escape(value)) : document.getElementById(value);
if (by === 'css selector') return scope.querySelector(value);
if (by === 'tag name') return scope.querySelector(value);
if (by === 'xpath') return document.evaluate(value, scope, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
throw new Error('find_element: unknown locator ' + by);
"""


class FirefoxDriver:
    """The Selenium-like face of one headless Firefox driven over BiDi (see the module docstring)."""

    bench_profile: str | None = None
    bench_tag: str | None = None

    def __init__(self, process: subprocess.Popen, profile: str, tag: str, command_timeout_s: float) -> None:
        self.service = SimpleNamespace(process=process)  # what _webdriver's Browser.gone() and kill_browser look at
        self.bench_profile = profile
        self.bench_tag = tag
        # app.host.chromium.set_command_timeout sets this before each call of the page loop: the time one call may take.
        self.command_executor = SimpleNamespace(client_config=SimpleNamespace(timeout=command_timeout_s))
        self.page_load_timeout_s = 300.0
        self.bidi: BiDiConnection | None = None
        self.page: BiDiPage | None = None
        self.capabilities: dict[str, Any] = {}
        self.session_id: str | None = None

    # --- selenium's calls ---
    def timeout(self) -> float:
        return float(self.command_executor.client_config.timeout)

    def set_page_load_timeout(self, seconds: float) -> None:
        self.page_load_timeout_s = float(seconds)

    def get(self, url: str) -> None:
        self.page.navigate(url, min(self.page_load_timeout_s, self.timeout()))

    def refresh(self) -> None:
        self.page.reload(min(self.page_load_timeout_s, self.timeout()))

    @property
    def title(self) -> str:
        return self.execute_script("return document.title")

    def execute_script(self, script: str, *args: Any) -> Any:
        """As selenium's: `script` is a function body reading `arguments`; a returned promise is awaited."""
        return self._to_elements(self.page.call(f"function() {{ {script}\n}}", [self._arg(a) for a in args],
                                                self.timeout()))

    def execute_async_script(self, script: str, *args: Any) -> Any:
        """As selenium's: the last argument is a callback; its value is the result."""
        declaration = ("function(...args) { return new Promise((resolve) => { (function() { "
                       f"{script}\n}}).apply(this, [...args, resolve]); }}); }}")
        return self._to_elements(self.page.call(declaration, [self._arg(a) for a in args], self.timeout()))

    def find_element(self, by: str, value: str) -> FirefoxElement:
        return self._find(by, value, None)

    def perform_actions(self, actions: list[dict[str, Any]]) -> None:
        self.page.perform_actions(actions, self.timeout())

    def quit(self) -> None:
        """Ask Firefox to close (browser.close) for a few seconds, then kill whatever is left; remove the profile."""
        with browsers._live_lock:
            browsers._live.discard(self)
        if self.bidi is not None:
            try:
                self.bidi.command("browser.close", {}, QUIT_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - the kill below is what matters
                pass
            self.bidi.close()
            self.bidi = None
            try:
                self.service.process.wait(timeout=QUIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        """End Firefox without asking it: its process group, anything carrying its tag, then its profile folder."""
        with browsers._live_lock:
            browsers._live.discard(self)
        if self.bidi is not None:
            self.bidi.close()
            self.bidi = None
        process = self.service.process
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        browsers.kill_browser(self)  # re-parented processes (by tag or profile), reaps Firefox, removes the profile

    # --- helpers ---
    def _arg(self, value: Any) -> Any:
        return value.node if isinstance(value, FirefoxElement) else value

    def _to_elements(self, value: Any) -> Any:
        if isinstance(value, RemoteNode):
            return FirefoxElement(self, value)
        if isinstance(value, list):
            return [self._to_elements(v) for v in value]
        if isinstance(value, dict):
            return {k: self._to_elements(v) for k, v in value.items()}
        return value

    def _find(self, by: str, value: str, root: FirefoxElement | None) -> FirefoxElement:
        found = self.execute_script(_FIND_JS, by, value, root)
        if not isinstance(found, FirefoxElement):
            raise NoSuchElementException(f"no element for {by} {value!r}")
        return found


def start_firefox(command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S, extra_prefs: dict[str, Any] | None = None,
                  start_timeout_s: float = START_TIMEOUT_S) -> FirefoxDriver:
    """A headless Firefox with a fresh profile, its BiDi session open on a blank page.

    Raises FirefoxMissing (no binary) or FirefoxStartFailed (it exited, or opened no BiDi endpoint in
    `start_timeout_s`, with the last lines it printed). Call `quit()` on the result."""
    binary = find_binary()
    profile = tempfile.mkdtemp(prefix=PROFILE_PREFIX)
    Path(profile, "user.js").write_text(user_js({**PREFS, **(extra_prefs or {})}))
    tag = uuid.uuid4().hex
    log_path = Path(profile, "firefox.log")
    env = {**os.environ, browsers.TAG_VARIABLE: tag, "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1",
           "MOZ_DISABLE_AUTO_SAFE_MODE": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [binary, "--headless", "--no-remote", "--remote-debugging-port", "0", "--profile", profile, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    driver = FirefoxDriver(process, profile, tag, command_timeout_s)
    with browsers._live_lock:
        browsers._live.add(driver)
    try:
        url = _wait_for_endpoint(process, Path(profile), log_path, start_timeout_s)
        driver.bidi = BiDiConnection(url)
        driver.capabilities = driver.bidi.new_session(timeout_s=start_timeout_s)
        driver.session_id = driver.bidi.session_id
        driver.page = BiDiPage.first(driver.bidi, timeout_s=start_timeout_s)
    except BaseException as err:
        tail = _tail(log_path)
        driver.kill()
        if isinstance(err, (OSError, WebDriverException)) and not isinstance(err, FirefoxStartFailed):
            raise FirefoxStartFailed(f"Firefox's WebDriver BiDi session did not open ({err}){tail}") from None
        raise
    return driver


def _wait_for_endpoint(process: subprocess.Popen, profile: Path, log_path: Path, timeout_s: float) -> str:
    """ws://HOST:PORT/session once Firefox has written WebDriverBiDiServer.json into the profile."""
    marker = profile / "WebDriverBiDiServer.json"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FirefoxStartFailed(f"Firefox exited at start with code {process.returncode}{_tail(log_path)}")
        try:
            server = json.loads(marker.read_text())
            return f"ws://{server['ws_host']}:{server['ws_port']}/session"
        except (OSError, ValueError, KeyError):
            time.sleep(0.1)
    raise FirefoxStartFailed(f"Firefox opened no WebDriver BiDi endpoint within {timeout_s:g} s{_tail(log_path)}")


def _tail(log_path: Path, lines: int = 4) -> str:
    try:
        text = [x for x in log_path.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return (": " + " | ".join(x.strip() for x in text[-lines:]))[:400] if text else ""
