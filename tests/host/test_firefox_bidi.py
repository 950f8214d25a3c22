"""Firefox over WebDriver BiDi without a browser: values both ways, the profile, --browser, --browser all's merge,
and the BiDi client against a fake BiDi endpoint (a websockets server on loopback)."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from app.core import compare, results
from app.core.settings import SettingsError
from app.host import runtimes
from app.host.bidi import BiDiConnection, BiDiError, BiDiTimeout, RemoteNode, from_remote, to_local
from app.host.cli import build_parser
from app.host.runtimes import Job, Outcome
from tests.host.test_grid import _result


def bench_args(*argv: str):
    return build_parser().parse_args(["bench", *argv])


def test_values_cross_as_bidi_serializes_them():
    assert to_local(None) == {"type": "null"}
    assert to_local([1, "a", True, 2.5]) == {"type": "array", "value": [
        {"type": "number", "value": 1}, {"type": "string", "value": "a"}, {"type": "boolean", "value": True},
        {"type": "number", "value": 2.5}]}
    assert to_local({"k": None}) == {"type": "object", "value": [["k", {"type": "null"}]]}
    assert to_local(float("nan")) == {"type": "number", "value": "NaN"} and to_local(2**60)["type"] == "bigint"
    assert to_local(RemoteNode("s1")) == {"sharedId": "s1"}
    remote = {"type": "object", "value": [
        ["a", {"type": "array", "value": [{"type": "number", "value": 1}, {"type": "undefined"}]}],
        ["b", {"type": "number", "value": "-Infinity"}], ["n", {"type": "node", "sharedId": "x"}],
        ["m", {"type": "map", "value": [[{"type": "string", "value": "k"}, {"type": "bigint", "value": "9"}]]}]]}
    got = from_remote(remote)
    assert got["a"] == [1, None] and got["b"] == -math.inf and got["n"] == RemoteNode("x") and got["m"] == {"k": 9}


def test_the_profile_turns_webgpu_on_and_the_slow_script_stop_off():
    from app.host.firefox import PREFS, user_js

    text = user_js(PREFS)
    for line in ('user_pref("dom.webgpu.enabled", true);', 'user_pref("gfx.webgpu.ignore-blocklist", true);',
                 'user_pref("dom.max_script_run_time", 0);', 'user_pref("browser.startup.homepage", "about:blank");'):
        assert line in text


def test_a_missing_firefox_is_said_in_words(tmp_path, monkeypatch):
    monkeypatch.delenv("FIREFOX_BINARY", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(runtimes.RuntimeMissing, match="apt-get install -y firefox-esr mesa-vulkan-drivers"):
        runtimes.get("firefox")().preflight()


def test_browser_picks_a_browser_runtime_and_all_every_one():
    from app.host.runtimes._browsers import AllBrowsersRuntime
    from app.host.runtimes.chromium import ChromiumRuntime
    from app.host.runtimes.firefox import FirefoxRuntime

    assert runtimes.browser_names()[:2] == ["chromium", "firefox"] and runtimes.browser_names()[-1] == "all"
    assert type(runtimes.from_args(bench_args("--browser", "firefox"))) is FirefoxRuntime
    assert type(runtimes.from_args(bench_args("--browser", "chromium"))) is ChromiumRuntime
    assert type(runtimes.from_args(bench_args("--runtime", "firefox"))) is FirefoxRuntime
    every = runtimes.from_args(bench_args("--browser", "all", "--json", "r/x.json"))
    assert type(every) is AllBrowsersRuntime and every.browsers[:2] == ["chromium", "firefox"]
    for argv, message in ((["--browser", "firefox", "--runtime", "deno"], "it does not go with --browser firefox"),
                          (["--browser", "all", "--grid", "http://h:1"], "it does not go with --grid")):
        with pytest.raises(SettingsError, match=message):
            runtimes.from_args(bench_args(*argv))


def test_browser_all_runs_each_browser_in_turn_and_merges_as_the_grid_does(tmp_path, monkeypatch):
    from app.host.runtimes import _browsers

    ran = []

    def fake_run(self, job, timeout_s, progress=None, echo=None):
        ran.append((self.name, round(timeout_s)))
        echo("page ready")
        agent = {"chromium": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0.1.2 Safari/537.36",
                 "firefox": "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0"}[self.name]
        return Outcome("done", "", _result(agent, 10 if self.name == "chromium" else 20), [], "done")

    for cls in _browsers.browser_runtimes().values():
        monkeypatch.setattr(cls, "run", fake_run)
        monkeypatch.setattr(cls, "preflight", lambda self: None)
    lines: list[str] = []
    runtime = _browsers.AllBrowsersRuntime(json_path=tmp_path / "b.json", browsers=["chromium", "firefox"])
    runtime.preflight()
    outcome = runtime.run(Job(tmp_path, {"runs": 1}), 100, echo=lines.append)
    assert outcome.state == "done" and [name for name, _ in ran] == ["chromium", "firefox"]
    assert ran[0][1] == 50  # an equal share of the time left each
    rows = outcome.result["rows"]
    assert [r["backend"] for r in rows] == ["wasm-cpu [chromium 156]", "wasm-cpu [firefox 153]"]
    assert [r["node"]["browser"] for r in rows] == ["chromium", "firefox"]
    assert outcome.result["environment"]["runtime"] == "browsers" and "grid_sessions" not in outcome.result
    assert outcome.result["environment"]["browsers"] == ["chromium 156", "firefox 153"]
    assert json.loads((tmp_path / "b.firefox.json").read_text())["node"]["label"] == "firefox 153"
    assert "[firefox] page ready" in lines
    assert len({compare.match_key(outcome.result, r) for r in rows}) == 2  # a browser's rows match only its own


def test_a_browser_missing_from_all_gets_rows_that_say_so(tmp_path, monkeypatch):
    from app.host.runtimes import _browsers
    from app.host.runtimes.chromium import ChromiumRuntime
    from app.host.runtimes.firefox import FirefoxRuntime

    def missing(self):
        raise runtimes.RuntimeMissing("Firefox is needed: apt-get install -y firefox-esr")

    monkeypatch.setattr(FirefoxRuntime, "preflight", missing)
    monkeypatch.setattr(ChromiumRuntime, "preflight", lambda self: None)
    monkeypatch.setattr(ChromiumRuntime, "run", lambda self, job, t, progress=None, echo=None:
                        Outcome("done", "", _result("HeadlessChrome/156.0", 10), [], "done"))
    runtime = _browsers.AllBrowsersRuntime(browsers=["chromium", "firefox"])
    runtime.preflight()
    outcome = runtime.run(Job(tmp_path, {"runs": 1}), 100, echo=lambda line: None)
    said = outcome.result["rows"][1]
    assert said["backend"] == "wasm-cpu [firefox (not installed)]" and said["runs"] == []
    assert said["unsupported"] == "Firefox is needed: apt-get install -y firefox-esr"
    from app.core import report

    assert report.verdict(said) == "unsupported"
    monkeypatch.setattr(ChromiumRuntime, "preflight", missing)
    with pytest.raises(runtimes.RuntimeMissing, match="no browser is installed"):
        _browsers.AllBrowsersRuntime(browsers=["chromium", "firefox"]).preflight()


def test_missing_rows_pass_the_result_check():
    from app.host.runtimes._browsers import missing_rows

    real = json.loads((Path(__file__).parent / "data" / "result-v3.json").read_text())
    said = missing_rows(real, "firefox", "not installed")
    results.check_result(said)
    assert all(r["unsupported"] == "not installed" and not r["runs"] for r in said["rows"])


# --- the client against a fake BiDi endpoint -----------------------------------------------------------------------
@pytest.fixture
def fake_bidi():
    """A websockets server that answers BiDi commands: session.new, an error, a late reply, and script.callFunction."""
    from websockets.sync.server import serve

    def handler(ws):
        for raw in ws:
            msg = json.loads(raw)
            ident, method = msg["id"], msg["method"]
            if method == "session.new":
                ws.send(json.dumps({"type": "success", "id": ident, "result": {
                    "sessionId": "s1", "capabilities": {"browserName": "firefox", "browserVersion": "153.8.0"}}}))
            elif method == "slow":
                threading.Event().wait(0.5)
                ws.send(json.dumps({"type": "success", "id": ident, "result": {"late": True}}))
            elif method == "script.callFunction":
                ws.send(json.dumps({"type": "event", "method": "log.entryAdded", "params": {}}))
                ws.send(json.dumps({"type": "success", "id": ident, "result": {
                    "type": "success", "result": {"type": "string", "value": msg["params"]["arguments"][0]["value"]}}}))
            else:
                ws.send(json.dumps({"type": "error", "id": ident, "error": "unknown command", "message": method}))

    server = serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/session"
    server.shutdown()


def test_the_client_keeps_replies_apart_and_times_out_in_words(fake_bidi):
    from app.host.bidi import BiDiPage

    bidi = BiDiConnection(fake_bidi)
    assert bidi.new_session()["browserVersion"] == "153.8.0" and bidi.session_id == "s1"
    with pytest.raises(BiDiError, match="unknown command"):
        bidi.command("nope.nothing", {}, 5)
    with pytest.raises(BiDiTimeout, match="no reply within 0.1 s"):
        bidi.command("slow", {}, 0.1)
    # The late reply of the command that timed out arrives first and is dropped; events are skipped.
    assert BiDiPage(bidi, "ctx").call("function(x) { return x }", ["echo"], 5) == "echo"
    bidi.close()


def test_merged_tables_have_a_browser_column_and_single_runs_none():
    from app.core import formats, report
    from app.host.grid import merge
    from app.host.runtimes._browsers import browser_node

    single = _result("Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Firefox/153.0", 10)
    assert "browser" not in report.columns(single)
    merged = merge([(browser_node("firefox", single), single),
                    (browser_node("webkit", single, "2.50.6"), single)], None, runtime="browsers")
    assert [n["label"] for n in merged["environment"]["nodes"]] == ["firefox 153", "webkit 2.50"]
    assert report.columns(merged)[:4] == ["engine", "backend", "verdict", "browser"]
    lines = report.to_text(merged).splitlines()
    assert lines[2].split()[:2] == ["flare-web", "wasm-cpu"] and "firefox 153" in lines[2] and "[" not in lines[2]
    assert "| browser |" in report.to_markdown(merged) and "<th>browser</th>" in report.to_html(merged)
    real = json.loads((Path(__file__).parent / "data" / "result-v3.json").read_text())
    both = merge([(browser_node("firefox", real, "153.8.0"), real), (browser_node("webkit", real, "2.50.6"), real)], None,
                 runtime="browsers")
    records = formats.row_records(both)
    assert {r["browser"] for r in records} == {"firefox 153", "webkit 2.50"} and len(records) == 2 * len(real["rows"])
    assert {r["browser"] for r in formats.row_records(real)} == {real["environment"].get("runtime")}
    assert report.short_version("156.0.7000.1") == "156" and report.short_version("") == ""
