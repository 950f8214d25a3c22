"""`--runtime chromium` (the default): the benchmark page in a local headless Chromium under chromedriver."""

from __future__ import annotations

from app.host.runtimes._base import RuntimeMissing
from app.host.runtimes._webdriver import WebDriverRuntime


class ChromiumRuntime(WebDriverRuntime):
    """Debian's Chromium under chromedriver (app.host.chromium.start_chromium: its own profile folder and a
    process tag, so it is ended for certain, even when WebDriver no longer answers)."""

    name = "chromium"
    help = "the page in a local headless Chromium"
    program = "Chromium"
    where = "in headless Chromium"
    in_words = "runs a local headless Chromium"
    default = True
    order = 0

    def preflight(self) -> None:
        from app.host.chromium import ChromiumMissing, find_binaries

        try:
            find_binaries()
        except ChromiumMissing as err:
            raise RuntimeMissing(str(err)) from None

    def new_driver(self, site_url: str, command_timeout_s: float):
        from app.host.chromium import start_chromium

        return start_chromium(command_timeout_s=command_timeout_s)


RUNTIME = ChromiumRuntime
