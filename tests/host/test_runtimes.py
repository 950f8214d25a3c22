"""Runtimes behind one interface (app/host/runtimes), without a browser: the registry, the choice by options, the
run's contract (start, open, follow, collect, always close), the WebDriver page loop over a fake driver, the
Deno runtime over a fake deno, and the Grid runtime's merge over fake sessions."""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.core.settings import SettingsError
from app.host import runtimes
from app.host.cli import build_parser
from app.host.runtimes import Job, Outcome, Progress, Runtime, RuntimeMissing, StartFailed
from app.host.runtimes._webdriver import WebDriverRuntime


def bench_args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["bench", *argv])


@pytest.fixture
def site(tmp_path) -> Path:
    """A built site as far as the server cares: a folder with an index.html."""
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>fake</title>")
    return folder


# --- the registry ------------------------------------------------------------------------------------------------
def test_the_registry_finds_one_class_per_module_default_first():
    reg = runtimes.registry()
    assert [n for n in reg if n in ("chromium", "firefox", "grid", "deno")] == ["chromium", "firefox", "grid", "deno"]
    assert runtimes.default_name() == "chromium"
    for name, cls in reg.items():
        assert issubclass(cls, Runtime) and cls.name == name and cls.__module__ == f"app.host.runtimes.{name}"
        assert cls.help and cls.program and cls.where and cls.in_words


def test_runtime_choices_and_help_come_from_the_registry():
    p = build_parser()
    bench = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices["bench"]
    action = next(a for a in bench._actions if "--runtime" in a.option_strings)
    assert list(action.choices) == runtimes.names() and action.default == "chromium"
    for cls in runtimes.registry().values():
        assert f"{cls.name}: {cls.help}" in action.help
    options = {o for a in bench._actions for o in a.option_strings}
    assert {"--grid", "--grid-browsers", "--serve-host"} <= options  # the Grid runtime's own, and the shared one


def test_a_new_runtime_is_one_module_and_nothing_else(tmp_path, site, monkeypatch):
    # A Servo runtime dropped beside the others: --runtime servo (and --browser servo) work without touching bench_cli.
    (tmp_path / "servo.py").write_text(textwrap.dedent('''
        from app.host.runtimes._webdriver import WebDriverRuntime

        class ServoRuntime(WebDriverRuntime):
            name = "servo"
            browser = "servo"
            help = "the page in a local headless Servo"
            program = "Servo"
            where = "in headless Servo"
            in_words = "runs a local headless Servo"
            order = 30

            def new_driver(self, site_url, command_timeout_s):
                raise OSError("no servodriver here")

        RUNTIME = ServoRuntime
    '''))
    monkeypatch.setattr(runtimes, "__path__", [*runtimes.__path__, str(tmp_path)])
    runtimes.registry.cache_clear()
    try:
        assert runtimes.names()[:2] == ["chromium", "firefox"] and runtimes.names()[-1] == "servo"
        assert runtimes.browser_names()[-2:] == ["servo", "all"]
        runtime = runtimes.from_args(bench_args("--runtime", "servo"))
        assert type(runtime).__name__ == "ServoRuntime"
        with pytest.raises(SettingsError, match="--runtime servo runs a local headless Servo; it does not go with --grid"):
            runtimes.from_args(bench_args("--runtime", "servo", "--grid", "http://127.0.0.1:4444"))
        # It inherits the whole run: a browser that does not start is an outcome in words, and dist/ is served.
        outcome = runtime.run(Job(site, {"engines": []}), 5, echo=lambda line: None)
        assert (outcome.state, outcome.error) == ("lost", "Servo did not start: no servodriver here")
        assert runtime.server is None  # stopped serving
    finally:
        sys.modules.pop("app.host.runtimes.servo", None)
        runtimes.registry.cache_clear()


def test_a_runtime_module_that_misses_the_interface_is_refused_when_the_registry_is_read():
    class NoFollow(Runtime):
        name = "nofollow"
        help = program = where = in_words = "x"

        def open(self, job): ...

        def collect(self, state): ...

    with pytest.raises(runtimes.RegistryError, match="does not override collect, follow|does not override follow"):
        runtimes._check(NoFollow, "nofollow")
    with pytest.raises(runtimes.RegistryError, match="must be the module's name"):
        runtimes._check(runtimes.get("deno"), "other")
    with pytest.raises(runtimes.RegistryError, match="subclass of Runtime"):
        runtimes._check(object, "x")
    with pytest.raises(KeyError, match="choose from chromium, firefox, .*deno"):
        runtimes.get("safari")


# --- choosing one by the options ---------------------------------------------------------------------------------
def test_the_options_pick_the_runtime():
    from app.host.runtimes.chromium import ChromiumRuntime
    from app.host.runtimes.deno import DenoRuntime
    from app.host.runtimes.grid import GridRuntime

    assert type(runtimes.from_args(bench_args())) is ChromiumRuntime
    assert type(runtimes.from_args(bench_args("--runtime", "deno"))) is DenoRuntime
    grid = runtimes.from_args(bench_args("--grid", "http://127.0.0.1:4444/", "--grid-browsers", "2", "--json", "r/x.json"))
    assert type(grid) is GridRuntime  # --grid alone means the Grid runtime, as before --runtime grid existed
    assert (grid.grid_url, grid.count, grid.json_path, grid.serve_host) == ("http://127.0.0.1:4444", 2, Path("r/x.json"),
                                                                            "127.0.0.1")
    assert type(runtimes.from_args(bench_args("--runtime", "chromium", "--grid", "http://h:1"))) is GridRuntime
    assert type(runtimes.from_args(bench_args("--runtime", "grid", "--grid", "http://h:1"))) is GridRuntime


@pytest.mark.parametrize("argv, message", [
    (["--runtime", "deno", "--grid", "http://127.0.0.1:1"], "--runtime deno runs without a browser; it does not go with --grid"),
    (["--runtime", "grid"], "--runtime grid needs --grid URL"),
    (["--grid", "127.0.0.1:4444"], "--grid must be an http(s) URL of a Selenium Grid and --grid-browsers 1-16, not "
                                   "'127.0.0.1:4444' and 1"),
    (["--grid", "http://h:1", "--grid-browsers", "17"], "--grid-browsers 1-16"),
])
def test_contradicting_or_bad_runtime_options_are_refused(argv, message):
    with pytest.raises(SettingsError) as err:
        runtimes.from_args(bench_args(*argv))
    assert message in str(err.value)


def test_preflight_says_what_is_missing(tmp_path, monkeypatch):
    for name in ("CHROMIUM_BINARY", "CHROMEDRIVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeMissing, match="apt-get install -y chromium chromium-driver"):
        runtimes.get("chromium")().preflight()
    monkeypatch.setenv("BENCH_DENO", str(tmp_path / "deno"))
    runtimes.get("deno")().preflight()  # $BENCH_DENO names the binary: nothing to fetch


# --- the run's contract ------------------------------------------------------------------------------------------
class Recorder(Runtime):
    name = "recorder"
    help = program = where = in_words = "a fake"

    def __init__(self, fail_in: str = "", **kw) -> None:
        super().__init__(**kw)
        self.calls: list[str] = []
        self.fail_in = fail_in

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail_in == "start":
            raise StartFailed("the fake did not start")
        if name == self.fail_in:
            raise RuntimeError(f"{name} broke")

    def start(self, job):
        super().start(job)
        self._step("start")

    def open(self, job):
        self._step("open")
        self.progress.activity = f"opened {job.page}"

    def follow(self):
        self._step("follow")
        self.progress.result_raw = json.dumps({"rows": []})
        return "done"

    def collect(self, state):
        self._step("collect")
        return Outcome(state, "", self.progress.result(), [], self.progress.activity)

    def close(self, outcome):
        self.calls.append(f"close({outcome.state if outcome else None})")
        super().close(outcome)


def test_run_calls_the_primitives_in_order_and_always_closes(site):
    progress = Progress()
    runtime = Recorder()
    outcome = runtime.run(Job(site, {"engines": []}), 30, progress)
    assert runtime.calls == ["start", "open", "follow", "collect", "close(done)"]
    assert (outcome.state, outcome.result, outcome.activity) == ("done", {"rows": []}, "opened index.html")
    assert progress.activity == "opened index.html" and outcome.elapsed_s < 5 and runtime.server is None

    failed = Recorder(fail_in="start")
    outcome = failed.run(Job(site), 30)
    assert (outcome.state, outcome.error) == ("lost", "the fake did not start")
    assert failed.calls == ["start", "close(lost)"] and failed.server is None

    broken = Recorder(fail_in="follow")
    with pytest.raises(RuntimeError, match="follow broke"):
        broken.run(Job(site), 30)
    assert broken.calls == ["start", "open", "follow", "close(None)"] and broken.server is None


def test_the_page_query_names_the_settings_one_time_path_and_the_model_route(tmp_path):
    job = Job(site, {"runs": 2}, model_route="user-model/m.gguf")
    route = job.settings_route()
    assert route.startswith("/run-settings/") and route.endswith(".json") and len(route) > 30
    assert job.page_query() == {"autorun": "1", "settings_url": route.lstrip("/"), "model": "user-model/m.gguf"}
    assert job.once_routes() == {route: b'{"runs": 2}'}
    assert Job(site, {"runs": 2}).settings_route() != route, "each job its own random path"
    assert Job(site, query={"rounds": "3"}).page_query() == {"rounds": "3"}
    assert Job(site, query={"rounds": "3"}).once_routes() == {}


def test_abandon_all_reaches_every_runtime_inside_run(site):
    seen = []

    class Stuck(Recorder):
        def follow(self):
            runtimes.abandon_all()  # what the watchdog does from its thread
            return super().follow()

        def abandon(self):
            seen.append(self)

    runtime = Stuck()
    runtime.run(Job(site), 30)
    assert seen == [runtime]
    runtimes.abandon_all()  # nothing is live any more
    assert seen == [runtime]


# --- the WebDriver page loop over a fake driver ----------------------------------------------------------------------
class FakeDriver:
    """Answers the page loop's scripts from a list of (state, log, progress, result JSON) frames."""

    def __init__(self, frames, busy: bool = False) -> None:
        self.command_executor = SimpleNamespace(client_config=SimpleNamespace(timeout=None))
        self.frames, self.frame = list(frames), None
        self.busy = busy
        self.url = ""
        self.ended = ""

    def set_page_load_timeout(self, seconds) -> None:
        pass

    def get(self, url: str) -> None:
        self.url = url

    def execute_script(self, js: str):
        if self.busy:
            from selenium.common.exceptions import TimeoutException

            time.sleep(0.05)
            raise TimeoutException("timed out")
        if js.startswith("const n"):
            self.frame = self.frames.pop(0) if self.frames else self.frame
            state, log, progress, result = self.frame
            return [state, log, progress, len(result or ""), time.monotonic() * 1000]  # the page's performance.now()
        if "form-error" in js:
            return "the error text" if self.frame[0] == "error" else ""
        return self.frame[3]

    def quit(self) -> None:
        self.ended = "quit"

    def kill(self) -> None:
        self.ended = "kill"


class FakeBrowser(WebDriverRuntime):
    name = "fake"
    help = program = where = in_words = "a fake browser"

    def __init__(self, driver: FakeDriver) -> None:
        super().__init__()
        self.fake = driver

    def new_driver(self, site_url, command_timeout_s):
        return self.fake


def test_the_page_loop_follows_the_log_and_collects_the_result(site):
    row = json.dumps({"rows": [{"key": "a"}]})
    rows = json.dumps({"rows": [{"key": "a"}, {"key": "b"}]})
    driver = FakeDriver([("loading", "", "", None), ("running", "loaded\n", "row 1 of 2", row),
                         ("running", "loaded\nrow a done\n", "row 2 of 2", row), ("done", "loaded\nrow a done\nall done\n", "", rows)])
    lines: list[str] = []
    progress = Progress()
    outcome = FakeBrowser(driver).run(Job(site, {"runs": 1}), 30, progress, lines.append)
    assert outcome.state == "done" and outcome.error == "" and outcome.result == json.loads(rows)
    assert [line.split("] ", 1)[1] for line in lines] == ["loaded", "row a done", "all done"]
    assert outcome.log == ["loaded", "row a done", "all done"] and outcome.activity == "all done"
    assert "index.html?autorun=1&settings_url=run-settings%2F" in driver.url and driver.ended == "quit"


def test_a_page_that_reports_an_error_gives_its_text(site):
    driver = FakeDriver([("error", "bad setting\n", "", None)])
    outcome = FakeBrowser(driver).run(Job(site, {"runs": 1}), 30, echo=lambda line: None)
    assert (outcome.state, outcome.error, outcome.result) == ("error", "the error text", None)


def test_a_page_that_never_answers_times_out_keeping_what_it_published(site):
    driver = FakeDriver([])
    driver.busy = True
    progress = Progress(result_raw=json.dumps({"rows": [{"key": "kept"}]}))
    lines: list[str] = []
    started = time.monotonic()
    outcome = FakeBrowser(driver).run(Job(site, {"runs": 1}), 1.0, progress, lines.append)
    assert time.monotonic() - started < 5
    assert outcome.state == "timeout" and outcome.result == {"rows": [{"key": "kept"}]}
    assert driver.ended == "kill"  # it would not answer a QUIT either
    assert any("does not answer" in line for line in lines) and outcome.notes


# --- Deno over a fake deno ---------------------------------------------------------------------------------------
FAKE_DENO = '''\
import json, os, subprocess, sys, time, urllib.request
options = json.loads(sys.argv[-1])
out, mode = options["out"], os.environ["FAKE_DENO_MODE"]
assert sys.argv[1:3] == ["run", "-A"] and any(a.startswith("--location=http://127.0.0.1:") for a in sys.argv)
assert "settings" not in options, "settings travel by their one-time path, not deno's argv"
site = next(a for a in sys.argv if a.startswith("--location=")).split("=", 1)[1]
options["settings"] = json.loads(urllib.request.urlopen(site + options["settings_url"], timeout=10).read())
print("[progress 0.1] loading the model", flush=True)
print(f"[log] writing to {out}", flush=True)
print("wllama: an engine's console line", flush=True)
result = {"rows": [{"key": "row"}], "settings": options["settings"], "model": options["model"]}
with open(out + ".partial", "w") as f:
    json.dump(result, f)
if mode == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"[log] child {child.pid}", flush=True)
    time.sleep(600)
if mode == "crash":
    print("deno runtime: boom", flush=True)
    sys.exit(3)
with open(out, "w") as f:
    json.dump({"state": "done", "error": None, "result": result}, f)
'''


@pytest.fixture
def fake_deno(tmp_path, monkeypatch) -> Path:
    script = tmp_path / "deno"
    script.write_text(f"#!{sys.executable}\n" + FAKE_DENO)
    script.chmod(0o755)
    monkeypatch.setenv("BENCH_DENO", str(script))
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<!doctype html>")
    return tmp_path / "dist"


def _deno_run(dist: Path, mode: str, timeout_s: float) -> tuple[Outcome, list[str]]:
    from app.host.runtimes.deno import DenoRuntime

    lines: list[str] = []
    runtime = DenoRuntime(runtime_env={"FAKE_DENO_MODE": mode})
    runtime.preflight()
    outcome = runtime.run(Job(dist, {"runs": 1}, model_route="user-model/m.gguf"), timeout_s, echo=lines.append)
    return outcome, lines


def _scratch(lines: list[str]) -> Path:
    line = next(x for x in lines if "writing to " in x)
    return Path(line.split("writing to ", 1)[1]).parent


def test_deno_runs_follows_its_log_and_collects_the_result(fake_deno):
    outcome, lines = _deno_run(fake_deno, "done", 60)
    assert outcome.state == "done" and outcome.error == ""
    assert outcome.result == {"rows": [{"key": "row"}], "settings": {"runs": 1}, "model": "user-model/m.gguf"}
    assert not any("console line" in x for x in lines) and "wllama: an engine's console line" in outcome.log
    assert not _scratch(lines).exists(), "the temporary folder was left behind"


def test_settings_of_any_length_reach_deno_and_the_page_by_their_one_time_path(fake_deno, site):
    from app.host.runtimes.deno import DenoRuntime

    long = {"runs": 1, "prompt": "日本語の文章です。" * 3555, "system": "\U0001F642" * 32_000}
    outcome = DenoRuntime(runtime_env={"FAKE_DENO_MODE": "done"}).run(Job(fake_deno, long), 60, echo=lambda line: None)
    assert outcome.state == "done" and outcome.result["settings"] == long  # deno's argv held only the path
    driver = FakeDriver([("done", "", "", json.dumps({"rows": []}))])
    FakeBrowser(driver).run(Job(site, long), 30, echo=lambda line: None)
    assert len(driver.url) < 200 and "settings_url=run-settings" in driver.url


def test_deno_past_its_deadline_is_killed_with_its_children_keeping_the_rows(fake_deno):
    started = time.monotonic()
    outcome, lines = _deno_run(fake_deno, "hang", 3)
    assert time.monotonic() - started < 10
    assert outcome.state == "timeout" and outcome.result["rows"] == [{"key": "row"}]
    child = int(next(x for x in lines if "child " in x).rsplit(" ", 1)[1])
    time.sleep(0.2)
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1][:3]
    assert not _scratch(lines).exists()


def test_deno_that_dies_is_lost_with_its_last_words(fake_deno):
    outcome, lines = _deno_run(fake_deno, "crash", 60)
    assert outcome.state == "lost" and outcome.error == "deno exited with code 3: deno runtime: boom"
    assert outcome.result["rows"] == [{"key": "row"}]  # the partial result is kept
    assert any(x.endswith("deno runtime: boom") for x in lines) and not _scratch(lines).exists()


# --- the Grid over fake sessions ---------------------------------------------------------------------------------
def test_the_grid_writes_each_node_beside_the_json_and_merges_them(tmp_path, site, monkeypatch):
    from app.host.runtimes import grid as grid_runtime
    from tests.host.test_grid import _result

    def fake_session_run(self, job, timeout_s, progress=None, echo=None):
        self.node = {"session": self.index, "browser": "chrome", "browser_version": "156", "platform": "linux",
                     "grid": self.grid_url, "node_id": f"id{self.index}", "node_uri": "", "label": f"n{self.index} chrome 156 linux"}
        echo(f"session {self.index} ran")
        if self.index == 2:
            return Outcome("timeout", "", None, [], "row 1")
        return Outcome("done", "", _result("UA", 10), [], "done")

    monkeypatch.setattr(grid_runtime.GridSessionRuntime, "run", fake_session_run)
    lines: list[str] = []
    runtime = grid_runtime.GridRuntime("http://127.0.0.1:4444", 2, json_path=tmp_path / "g.json")
    outcome = runtime.run(Job(site, {"runs": 1}), 30, echo=lines.append)
    assert outcome.state == "timeout"  # the worst of the sessions'
    assert [r["backend"] for r in outcome.result["rows"]] == ["wasm-cpu [n1 chrome 156 linux]"]
    assert outcome.result["grid_sessions"] == 2 and outcome.activity == "n1 chrome 156 linux: done; n2 chrome 156 linux: row 1"
    node1 = json.loads((tmp_path / "g.n1.json").read_text())
    assert node1["node"]["node_id"] == "id1" and not (tmp_path / "g.n2.json").exists()
    assert "[n1] session 1 ran" in lines and any(x.startswith("[bench] n1 chrome 156 linux: done, its result in") for x in lines)
    assert lines[0] == "[bench] 2 sessions on the Selenium Grid at http://127.0.0.1:4444, the site served on 127.0.0.1"


def test_no_engine_key_is_spelled_in_the_runtimes_or_the_bench_command():
    from app.engines import ENGINE_KEYS

    root = Path(__file__).resolve().parents[2] / "app" / "host"
    files = [root / "bench_cli.py", root / "pagerun.py", root / "chromium.py", root / "grid.py", root / "deno_runtime.py",
             *sorted((root / "runtimes").glob("*.py"))]
    for path in files:
        text = path.read_text()
        assert not [k for k in ENGINE_KEYS if k in text and k != "null"], path
    assert os.path.exists(root / "runtimes" / "__init__.py")
