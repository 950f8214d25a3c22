"""Headless Chromium through selenium, set up for a machine with no network but loopback."""

from __future__ import annotations

import os
import shutil

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
    "--window-size=1400,1000",
]


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


def start_chromium(extra_flags: list[str] | None = None):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Selenium Manager cannot download anything here; tell it not to try.
    os.environ.setdefault("SE_OFFLINE", "true")
    browser, driver = find_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS + (extra_flags or []):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)
