"""No run outlives its --timeout: a page that never finishes, or never answers, ends within seconds
of the deadline with a sentence, what was measured, and no Chromium or chromedriver left running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from app.host.pagerun import run_page

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")]

# Seconds a run may take beyond its deadline: a last poll, one short read, the kill (and, for the
# command line, Python's start and the build check are inside the timeout already).
MARGIN_S = 12

BUSY_PAGE = """<!doctype html><html><body><div id="progress-text">spinning on the main thread</div>
<pre id="log"></pre><script>
document.documentElement.dataset.state = 'running';
document.getElementById('log').textContent = 'one row finished\\n';
window.benchResultJSON = JSON.stringify({rows: [{key: 'fake-row'}]});
setTimeout(() => { for (;;) {} }, 1500);  // like a long WASM call on the main thread, but endless
</script></body></html>"""


def processes() -> dict[int, tuple[int, str, bytes, bytes]]:
    """pid -> (parent pid, state letter, command line, environment) of every readable process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
            environ = Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        out[int(name)] = (int(fields[1]), fields[0], cmdline, environ)
    return out


def below(pid: int, table) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, *_rest) in table.items():
            if ppid == parent and child not in found:
                found.add(child)
                todo.append(child)
    return found


def browser_leftovers(folder: Path, marker: bytes | None = None, before: set[int] = frozenset()) -> list[str]:
    """Chromium / chromedriver processes tied to this test: below this process (and not there
    `before`), naming `folder` (their profile lives there), or carrying `marker` in their environment.
    Zombies count: a chromedriver nobody waited for is a leak too."""
    time.sleep(0.5)  # let killed processes disappear from /proc
    table = processes()
    mine = below(os.getpid(), table) - set(before)
    left = []
    for pid, (_, state, cmdline, environ) in table.items():
        if pid == os.getpid():
            continue
        tied = pid in mine or str(folder).encode() in cmdline or (marker is not None and marker in environ)
        if tied and (b"chrom" in cmdline or state == "Z" or (marker is not None and marker in environ)):
            left.append(f"{pid} {state} {cmdline[:120]!r}")
    return left


def test_run_page_ends_a_page_whose_main_thread_never_yields(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>index</title>")
    (site / "busy.html").write_text(BUSY_PAGE)
    # Chromium's profile folder is made under the temporary folder: put it here to find its processes.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = below(os.getpid(), processes())
    lines: list[str] = []
    started = time.monotonic()
    # 15 s: room for Chromium to start and the page to publish its row on a loaded machine (seen: 5 s was not).
    outcome = run_page(site, "busy.html", {}, 15, echo=lines.append)
    elapsed = time.monotonic() - started
    assert outcome.state == "timeout"
    assert elapsed < 15 + MARGIN_S, f"run_page took {elapsed:.1f} s with a 15 s timeout"
    # What the page published before it stopped answering is kept.
    assert outcome.result == {"rows": [{"key": "fake-row"}]}
    assert outcome.activity == "spinning on the main thread"
    assert any("does not answer" in line for line in lines), lines
    assert browser_leftovers(tmp_path, before=before) == []
    assert not list(tmp_path.glob("bench-chromium-*")), "the profile folder was left behind"


@pytest.mark.parametrize("deadline_s", [0.3, 1.0, 2.0])
def test_watchdog_ends_a_browser_that_is_still_starting(tmp_path, deadline_s):
    # The deadline falls while Chromium starts (seen in CI on a cold machine): chromedriver is killed
    # first, Chromium is re-parented to init, and only its environment tag still finds it.
    marker = uuid.uuid4().hex
    before = below(os.getpid(), processes())  # e.g. the session's own browser, started by other tests
    script = textwrap.dedent(f"""
        from app.host.chromium import start_chromium
        from app.host.pagerun import Watchdog
        Watchdog("starting", {deadline_s}, lambda: "starting: gave up", grace_s=0).start()
        driver = start_chromium()
        import time
        time.sleep(60)
    """)
    env = {**os.environ, "TMPDIR": str(tmp_path), "BENCH_TEST_MARK": marker}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1 and proc.stderr.strip().endswith("starting: gave up"), proc.stderr[-2000:]
    assert browser_leftovers(tmp_path, f"BENCH_TEST_MARK={marker}".encode(), before) == []


def test_watchdog_ends_a_webdriver_call_that_never_returns(tmp_path):
    # The last resort: the main thread is stuck inside a WebDriver call (a page whose script never
    # ends, with selenium's long default timeout). The watchdog must end the browser, chromedriver
    # and the process, and say why.
    marker = uuid.uuid4().hex
    before = below(os.getpid(), processes())  # e.g. the session's own browser, started by other tests
    script = textwrap.dedent("""
        from app.host.chromium import start_chromium
        from app.host.pagerun import Watchdog
        Watchdog("stuck", 3, lambda: "stuck: gave up after 3 s (--timeout) while 'opening the page'", grace_s=1).start()
        driver = start_chromium()
        driver.get("data:text/html,<script>for(;;){}</script>")
        print("driver.get returned")
    """)
    env = {**os.environ, "TMPDIR": str(tmp_path), "BENCH_TEST_MARK": marker}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert elapsed < 3 + 1 + MARGIN_S, f"took {elapsed:.1f} s"
    assert "driver.get returned" not in proc.stdout
    assert proc.stderr.strip().endswith("stuck: gave up after 3 s (--timeout) while 'opening the page'")
    assert "Traceback" not in proc.stderr
    assert browser_leftovers(tmp_path, f"BENCH_TEST_MARK={marker}".encode(), before) == []


@pytest.mark.model
def test_bench_command_gives_up_at_its_timeout_with_a_sentence(tmp_path):
    # A bench that cannot finish in 10 s (50 runs of 256 tokens): exit 1 a few seconds after the
    # deadline, one sentence naming what it was doing, no traceback, no browser left.
    marker = uuid.uuid4().hex
    before = below(os.getpid(), processes())  # e.g. the session's own browser, started by other tests
    out = tmp_path / "r.json"
    env = {**os.environ, "TMPDIR": str(tmp_path), "BENCH_TEST_MARK": marker}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--timeout", "10", "--engines", "llamacpp", "--runs", "50",
         "--max-tokens", "256", "--forced-tokens", "0", "--no-perplexity", "--json", str(out)],
        capture_output=True, text=True, timeout=300, env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert elapsed < 10 + MARGIN_S, f"took {elapsed:.1f} s with --timeout 10"
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("bench: gave up after 10 s (--timeout) while '"), last
    if out.exists():
        assert "written to" in last
        data = json.loads(out.read_text())
        assert data["rows"] and data["incomplete"].startswith("gave up after 10 s")
    else:
        assert last.endswith("no run had finished, nothing written"), last
    assert browser_leftovers(tmp_path, f"BENCH_TEST_MARK={marker}".encode(), before) == []


def test_a_browser_that_dies_mid_run_becomes_an_outcome_in_words(tmp_path, monkeypatch):
    # Chromium killed under WebDriver's feet (a crash, the OOM killer): run_page must not raise a
    # WebDriver / urllib3 exception, but return 'lost' with one line saying what WebDriver said.
    import signal

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>index</title>")
    (site / "slow.html").write_text(
        "<!doctype html><pre id='log'></pre><script>document.documentElement.dataset.state = 'running';"
        "document.getElementById('log').textContent = 'working\\n';</script>")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    before = below(os.getpid(), processes())

    def kill_the_browser(line: str) -> None:
        if "working" in line:
            for pid, (_, _, cmdline, _) in processes().items():
                if str(tmp_path).encode() in cmdline and b"--type=" not in cmdline:
                    os.kill(pid, signal.SIGKILL)  # the browser process itself (not its helpers)

    started = time.monotonic()
    outcome = run_page(site, "slow.html", {}, 120, echo=kill_the_browser)
    elapsed = time.monotonic() - started
    assert outcome.state == "lost", outcome
    assert outcome.error and "\n" not in outcome.error and "Traceback" not in outcome.error
    assert elapsed < 30, f"noticing a dead browser took {elapsed:.1f} s"
    assert browser_leftovers(tmp_path, before=before) == []
