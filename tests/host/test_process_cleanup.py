"""The process tools behind --timeout: find a command's children in /proc, kill them, and the
watchdog that ends a stuck command with a sentence (no browser needed)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from app.host.chromium import descendants, kill_pids

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def alive(pid: int) -> bool:
    """Running (not a zombie waiting for its parent's wait())."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def with_marker(marker: str) -> list[int]:
    """Live processes whose environment holds `marker`."""
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{name}/environ").read_bytes() and alive(int(name)):
                    out.append(int(name))
            except OSError:
                pass
    return out


def test_descendants_finds_grandchildren_and_kill_ends_them():
    shell = subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300 & wait"])
    try:
        deadline = time.monotonic() + 10
        found: set[int] = set()
        while time.monotonic() < deadline and len(found) < 3:
            found = descendants(os.getpid()) & ({shell.pid} | descendants(shell.pid))
            time.sleep(0.05)
        sleeps = descendants(shell.pid)
        assert shell.pid in found and len(sleeps) == 2
        kill_pids(sleeps | {shell.pid})
        shell.wait(timeout=10)
        time.sleep(0.2)
        assert not [p for p in sleeps if alive(p)]
    finally:
        if shell.poll() is None:
            shell.kill()


def test_watchdog_ends_a_stuck_command_kills_its_children_and_says_why(tmp_path):
    # A "command" whose main thread never returns, with a child process: the watchdog must end both
    # 1 s (+ 1 s grace) after its start, write through give_up(), print one sentence and exit 1.
    marker = f"BENCH_TEST_MARK={uuid.uuid4().hex}"
    out = tmp_path / "partial.json"
    script = textwrap.dedent(f"""
        import subprocess, time
        from app.host.pagerun import Watchdog
        def give_up():
            open({str(out)!r}, "w").write("{{}}")
            return "stuck: gave up after 1 s (--timeout) while 'sleeping'; 0 rows"
        Watchdog("stuck", 1, give_up, grace_s=1).start()
        subprocess.Popen(["sleep", "300"])
        time.sleep(300)
    """)
    env = {**os.environ, marker.split("=")[0]: marker.split("=")[1]}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    assert elapsed < 10, f"took {elapsed:.1f} s"
    assert proc.stderr.strip() == "stuck: gave up after 1 s (--timeout) while 'sleeping'; 0 rows"
    assert out.read_text() == "{}"
    time.sleep(0.3)
    assert with_marker(marker) == [], "the child `sleep 300` outlived the command"


def test_watchdog_cancelled_in_time_does_nothing():
    script = textwrap.dedent("""
        import time
        from app.host.pagerun import Watchdog
        w = Watchdog("quick", 1, lambda: "should not be printed", grace_s=0.2).start()
        w.cancel()
        time.sleep(2)
        print("finished")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "finished" and "should not" not in proc.stderr


def test_watchdog_has_a_stuck_runtime_remove_what_it_made(tmp_path):
    # A runtime blocked inside a primitive past its deadline: the watchdog calls its abandon() (here: remove its
    # temporary folder, as the Deno runtime does) before it exits, since no finally clause will run.
    script = textwrap.dedent(f"""
        import pathlib, shutil, tempfile, time
        from app.host.pagerun import Watchdog
        from app.host.runtimes import Job, Runtime

        class Stuck(Runtime):
            name = "stuck"
            help = program = where = in_words = "stuck"

            def start(self, job):
                self.scratch = tempfile.mkdtemp(prefix="bench-stuck-", dir={str(tmp_path)!r})
                print(self.scratch, flush=True)

            def open(self, job):
                pass

            def follow(self):
                time.sleep(300)

            def collect(self, state):
                raise AssertionError("never reached")

            def abandon(self):
                shutil.rmtree(self.scratch)

        Watchdog("stuck", 1, lambda: "stuck: gave up", grace_s=1).start()
        Stuck().run(Job(pathlib.Path(".")), 300)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.strip() == "stuck: gave up", proc.stderr[-2000:]
    scratch = Path(proc.stdout.strip())
    assert scratch.parent == tmp_path and not scratch.exists()
