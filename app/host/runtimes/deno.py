"""`--runtime deno`: the page's Python benchmark in Pyodide under Deno, without a browser.

The pinned deno binary (app.host.deno_runtime.deno_binary) runs dist/static/deno_main.mjs with `--location` set
to dist/ served on loopback, so `location`, `benchSiteRoot` and relative fetches point at it exactly as in the
page; the settings wait at the job's one-time path on that server (`settings_url` in deno's options), as for a
page. Its stdout carries `[progress N] text` lines, `[log] line`s and, on a fatal error, `deno runtime: ...`;
`app.web.headless` writes the result after every row to `OUT.partial` and the final state to `OUT`, both in a
temporary folder that is removed when the run ends.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from app.host.runtimes._base import Job, Outcome, Runtime, RuntimeMissing

_PROGRESS = re.compile(r"^\[progress [0-9.]+\] (.*)$")


class DenoRuntime(Runtime):
    """deno run ... deno_main.mjs OPTIONS in its own process group (killed whole at the end), with a
    DENO_DIR of its own in a temporary folder."""

    name = "deno"
    help = ("the same Python benchmark in Pyodide under Deno (the pinned npm deno 2.9.6), no browser: WebGPU is "
            "Deno's wgpu, not Chrome's Dawn")
    program = "Deno"
    where = "in Pyodide under Deno (no browser)"
    in_words = "runs without a browser"
    order = 20

    def __init__(self, serve_host: str | None = None, runtime_env: dict[str, str] | None = None) -> None:
        super().__init__(serve_host)
        self.runtime_env = runtime_env or {}  # added to deno's environment (e.g. VK_DRIVER_FILES)
        self.deno: Path | None = None
        self.scratch: Path | None = None
        self.proc: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None
        self.lines: list[str] = []

    def preflight(self) -> None:
        from app.host.build import BuildError

        try:
            self._binary()
        except BuildError as err:
            raise RuntimeMissing(f"--runtime deno: {err}") from None

    def _binary(self) -> Path:
        from app.host.deno_runtime import deno_binary

        if self.deno is None:
            self.deno = deno_binary()  # fetched, hash-checked and unpacked in the cache on first use
        return self.deno

    # --- the primitives ---------------------------------------------------------------------------------------
    def start(self, job: Job) -> None:
        self._binary()  # app.host.build.BuildError when it cannot be fetched (preflight says it in words)
        super().start(job)
        self.scratch = Path(tempfile.mkdtemp(prefix="bench-deno-"))

    @property
    def out(self) -> Path:
        return self.scratch / "result.json"

    def open(self, job: Job) -> None:
        from app.host.deno_runtime import deno_command

        # The settings wait at their one-time path on the server, as for a page (not in deno's argv: one argument
        # holds at most 128 KiB, which a long prompt outside ASCII passes).
        route = job.settings_route()
        options = {"settings_url": route.lstrip("/") if route else None, "out": str(self.out), "model": job.model_route,
                   "runtime": "deno"}
        env = {**os.environ, "DENO_DIR": str(self.scratch / "deno-dir"), "NO_COLOR": "1", **self.runtime_env}
        cmd = deno_command(self.deno, job.dist, self.site_url, options)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                     start_new_session=True)
        self.reader = threading.Thread(target=self._read_output, daemon=True, name="deno-output")
        self.reader.start()

    def follow(self) -> str:
        """Wait for deno to end or the deadline to pass; either way deno is ended before the files are read."""
        state = ""
        try:
            self.proc.wait(timeout=max(1.0, self.left()))
        except subprocess.TimeoutExpired:
            state = "timeout"
        self._stop()
        return state  # "" : deno ended by itself; its result file says how

    def collect(self, state: str) -> Outcome:
        progress = self.progress
        partial = self.out.with_name(self.out.name + ".partial")
        if partial.exists():
            progress.result_raw = partial.read_text()
        error = ""
        if not state:
            if self.out.exists():
                final = json.loads(self.out.read_text())
                state, error = final["state"], final.get("error") or ""
                if final.get("result") is not None:
                    progress.result_raw = json.dumps(final["result"])
            else:
                state = "lost"
                fatal = [x for x in self.lines if x.startswith("deno runtime:")] or self.lines
                error = f"deno exited with code {self.proc.returncode}: " + (fatal[-1] if fatal else "no output")
        return Outcome(state, error, progress.result(), self.lines, progress.activity)

    def close(self, outcome: Outcome | None) -> None:
        try:
            self._stop()
        finally:
            super().close(outcome)
            if self.scratch is not None:
                shutil.rmtree(self.scratch, ignore_errors=True)
                self.scratch = None

    def abandon(self) -> None:
        self._kill()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    # --- helpers ----------------------------------------------------------------------------------------------
    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            match = _PROGRESS.match(line)
            if match:
                self.progress.activity = match.group(1)
                continue
            self.lines.append(line)
            # The benchmark's own log lines (and a fatal error) are shown; an engine's console output
            # (wllama prints the GGUF's metadata) stays in the outcome's log only, as in a page's console.
            if line.startswith(("[log] ", "deno runtime:")):
                line = line.removeprefix("[log] ")
                self.progress.activity = line
                self.echo(f"{self.stamp()} {line}")

    def _kill(self) -> None:
        """SIGKILL deno's whole process group (its workers too), if it still runs."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass

    def _stop(self) -> None:
        """End deno (if it still runs), reap it and let the output reader finish; idempotent."""
        if self.proc is None:
            return
        self._kill()
        self.proc.wait()
        if self.reader is not None:
            self.reader.join(timeout=5)
            self.reader = None


RUNTIME = DenoRuntime
