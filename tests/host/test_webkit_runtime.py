"""The WebKit runtime (app/host/runtimes/webkit.py, app/host/webkit.py) without a browser: its registration and
--browser name, what a missing WebKit or Xvfb says, the thread count it gives WebKit, and a failed start as an
outcome in words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.host import runtimes
from app.host.runtimes._base import Job, RuntimeMissing
from app.host.runtimes.webkit import WebKitRuntime
from app.host.webkit import WebKitMissing, find_binaries

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_webkit(monkeypatch, tmp_path):
    monkeypatch.setenv("WEBKIT_WEBDRIVER", str(tmp_path / "none" / "WebKitWebDriver"))
    monkeypatch.setenv("WEBKIT_MINIBROWSER", str(tmp_path / "none" / "MiniBrowser"))
    monkeypatch.setenv("XVFB", str(tmp_path / "none" / "Xvfb"))


def test_webkit_is_a_browser_runtime_picked_by_browser_or_runtime():
    assert runtimes.get("webkit") is WebKitRuntime and WebKitRuntime.browser == "webkit"
    assert "webkit" in runtimes.browser_names()
    from app.host.cli import build_parser

    for argv in (["bench", "--browser", "webkit"], ["bench", "--runtime", "webkit"]):
        args = build_parser().parse_args(argv)
        assert type(runtimes.from_args(args)) is WebKitRuntime


def test_missing_webkit_or_xvfb_is_one_line_naming_what_to_install(no_webkit):
    with pytest.raises(WebKitMissing) as err:
        find_binaries()
    text = str(err.value)
    assert "WebKitWebDriver" in text and "MiniBrowser" in text and "Xvfb" in text
    assert "apt-get install -y webkit2gtk-driver xvfb" in text
    with pytest.raises(RuntimeMissing):
        WebKitRuntime().preflight()


def test_bench_without_webkit_exits_1_with_the_words_not_a_traceback(tmp_path):
    env = {**os.environ, "WEBKIT_WEBDRIVER": str(tmp_path / "missing"), "BENCH_SKIP_BUILD": "1"}
    proc = subprocess.run([sys.executable, "-m", "app", "bench", "--browser", "webkit", "--max-tokens", "2"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "WebKit needs WebKitWebDriver: `apt-get install -y webkit2gtk-driver xvfb`" in proc.stderr


def test_every_core_means_this_machines_cores_not_webkits_hardware_concurrency(tmp_path):
    cores = len(os.sched_getaffinity(0))
    job = Job(tmp_path, {"llamacpp_threads": 0, "max_tokens": 8})
    fixed = WebKitRuntime.real_cores(job)
    assert fixed.settings == {"llamacpp_threads": cores, "max_tokens": 8} and job.settings["llamacpp_threads"] == 0
    asked = Job(tmp_path, {"llamacpp_threads": 1})
    assert WebKitRuntime.real_cores(asked) is asked  # a count the user gave is kept
    page_only = Job(tmp_path, None, page="overhead.html", query={})
    assert WebKitRuntime.real_cores(page_only) is page_only


def test_an_xvfb_that_does_not_start_is_a_lost_outcome_in_words(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>fake</title>")
    fake = tmp_path / "Xvfb"
    fake.write_text("#!/bin/sh\necho '(EE) no screens found' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("XVFB", str(fake))
    monkeypatch.setenv("WEBKIT_WEBDRIVER", "/bin/true")
    monkeypatch.setenv("WEBKIT_MINIBROWSER", "/bin/true")
    outcome = WebKitRuntime().run(Job(site, {"llamacpp_threads": 1}), timeout_s=30, echo=lambda line: None)
    assert outcome.state == "lost"
    assert outcome.error == "WebKit did not start: Xvfb did not start: (EE) no screens found"


def test_a_failed_start_leaves_no_folder_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    fake = tmp_path / "Xvfb"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("XVFB", str(fake))
    monkeypatch.setenv("WEBKIT_WEBDRIVER", "/bin/true")
    monkeypatch.setenv("WEBKIT_MINIBROWSER", "/bin/true")
    from app.host.webkit import start_webkit

    with pytest.raises(RuntimeError, match="Xvfb did not start"):
        start_webkit()
    assert list(tmp_path.glob("bench-webkit-*")) == []
