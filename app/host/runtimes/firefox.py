"""`--browser firefox` (`--runtime firefox`): the benchmark page in a local headless Firefox, driven over WebDriver BiDi.

Firefox speaks WebDriver BiDi itself, so no geckodriver is involved (none can be had here): app.host.firefox starts
`firefox-esr --headless --no-remote --remote-debugging-port 0` with a fresh profile whose `user.js` turns WebGPU on
(`dom.webgpu.enabled`, `gfx.webgpu.ignore-blocklist`: on a machine without a GPU, wgpu then finds Mesa's lavapipe
through Vulkan) and gives back a driver with the Selenium calls the shared page loop makes (`_webdriver.py`), over
app.host.bidi. The profile folder and the process group are removed and killed when the run ends, whatever happened.
"""

from __future__ import annotations

from app.host.runtimes._base import Outcome, RuntimeMissing
from app.host.runtimes._webdriver import WebDriverRuntime


class FirefoxRuntime(WebDriverRuntime):
    """Debian's firefox-esr over WebDriver BiDi (app.host.firefox.start_firefox)."""

    name = "firefox"
    browser = "firefox"
    help = ("the page in a local headless Firefox (Debian's firefox-esr) over WebDriver BiDi, no geckodriver; WebGPU is "
            "Firefox's wgpu (Mesa's lavapipe, software Vulkan, on a machine without a GPU)")
    program = "Firefox"
    where = "in headless Firefox"
    in_words = "runs a local headless Firefox"
    order = 1

    def preflight(self) -> None:
        from app.host.firefox import FirefoxMissing, find_binary

        try:
            find_binary()
        except FirefoxMissing as err:
            raise RuntimeMissing(str(err)) from None

    def new_driver(self, site_url: str, command_timeout_s: float):
        from app.host.firefox import start_firefox

        return start_firefox(command_timeout_s=command_timeout_s)

    def started_driver(self, driver) -> None:
        caps = driver.capabilities
        self.echo(f"{self.stamp()} (Firefox {caps.get('browserVersion', '?')} on {caps.get('platformName', '?')}, "
                  f"WebDriver BiDi session {driver.session_id})")

    def collect(self, state: str) -> Outcome:
        outcome = super().collect(state)
        if outcome.state == "lost" and outcome.error == "chromedriver exited":  # the shared loop's word for it
            code = self.driver.service.process.poll() if self.driver is not None else None
            outcome.error = f"Firefox exited (code {code})" if code is not None else "Firefox stopped answering"
        return outcome


RUNTIME = FirefoxRuntime
