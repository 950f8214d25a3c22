"""`bench --runtime deno`: the page's Python benchmark in Pyodide under Deno, without a browser.

The pinned deno binary (npm @deno/linux-x64-glibc, kept in the cache) runs dist/static/deno_main.mjs:
Pyodide loads from dist/ on disk, and everything else (the app wheel, engines' modules and WASM, the model)
comes over HTTP from dist/ served by app/host/serve.py on loopback, with `--location` set to that server so
`location`, `benchSiteRoot` and relative fetches point at it exactly as in the page. Same engines, same
Python, same result schema; `environment.runtime` is "deno" and `environment.webgpu` is Deno's (wgpu) adapter.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from app.host.pagerun import PageOutcome, Progress, _say
from app.host.serve import serve_in_thread, url_of

DENO_PIN = "@deno/linux-x64-glibc"
ENTRY = "static/deno_main.mjs"
DENO_FLAGS = ["run", "-A", "--unstable-detect-cjs", "--no-prompt", "--quiet"]
_PROGRESS = re.compile(r"^\[progress [0-9.]+\] (.*)$")


def deno_binary() -> Path:
    """The pinned deno binary (fetched, hash-checked and unpacked in the cache on first use); $BENCH_DENO overrides."""
    override = os.environ.get("BENCH_DENO")
    if override:
        return Path(override)
    from app.host.build import host_tool_path

    return host_tool_path(DENO_PIN)


def deno_command(deno: Path, dist: Path, site_url: str, options: dict) -> list[str]:
    return [str(deno), *DENO_FLAGS, f"--location={site_url}", str(dist / ENTRY), json.dumps(options)]


def run_deno(dist: Path, settings: dict, timeout_s: float, extra: dict[str, Path] | None = None,
             model_route: str | None = None, echo: Callable[[str], None] = _say,
             progress: Progress | None = None, runtime_env: dict[str, str] | None = None) -> PageOutcome:
    """Serve dist/, run the benchmark under Deno within `timeout_s`, and return what the page run would:
    state done | error | timeout | lost, the result (or the rows published before a timeout)."""
    progress = progress if progress is not None else Progress()
    started = time.monotonic()
    deno = deno_binary()
    server = serve_in_thread(dist, extra=extra)
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-deno-") as scratch:
        out = Path(scratch) / "result.json"
        options = {"settings": settings, "out": str(out), "model": model_route, "runtime": "deno"}
        env = {**os.environ, "DENO_DIR": str(Path(scratch) / "deno-dir"), "NO_COLOR": "1", **(runtime_env or {})}
        cmd = deno_command(deno, dist, url_of(server), options)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                start_new_session=True)

        def follow() -> None:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                match = _PROGRESS.match(line)
                if match:
                    progress.activity = match.group(1)
                    continue
                lines.append(line)
                # The benchmark's own log lines (and a fatal error) are shown; an engine's console output
                # (wllama prints the GGUF's metadata) stays in the outcome's log only, as in a page's console.
                if line.startswith(("[log] ", "deno runtime:")):
                    line = line.removeprefix("[log] ")
                    progress.activity = line
                    echo(f"[{time.monotonic() - started:6.1f}s] {line}")

        reader = threading.Thread(target=follow, daemon=True, name="deno-output")
        reader.start()
        state = ""
        try:
            proc.wait(timeout=max(1.0, timeout_s))
        except subprocess.TimeoutExpired:
            state = "timeout"
        finally:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, 9)
                except ProcessLookupError:
                    pass
                proc.wait()
            reader.join(timeout=5)
            server.shutdown()
            server.server_close()
        partial = out.with_name(out.name + ".partial")
        if partial.exists():
            progress.result_raw = partial.read_text()
        error = ""
        if not state:
            if out.exists():
                final = json.loads(out.read_text())
                state, error = final["state"], final.get("error") or ""
                if final.get("result") is not None:
                    progress.result_raw = json.dumps(final["result"])
            else:
                state = "lost"
                fatal = [x for x in lines if x.startswith("deno runtime:")] or lines
                error = f"deno exited with code {proc.returncode}: " + (fatal[-1] if fatal else "no output")
    return PageOutcome(state, error, progress.result(), lines, progress.activity, time.monotonic() - started)


def main(argv: list[str] | None = None) -> int:
    """python -m app.host.deno_runtime --dist DIR [--engines ...] --json OUT: the Deno runtime on an already
    built dist/ with no build step and no registry (the GPU bundle runs this; $BENCH_DENO names the binary)."""
    import argparse

    from app.core import formats, results
    from app.core.settings import BenchSettings, expand_engines

    p = argparse.ArgumentParser(prog="python -m app.host.deno_runtime", description=main.__doc__.splitlines()[0])
    p.add_argument("--dist", type=Path, required=True)
    p.add_argument("--engines", default="llamacpp-wasm,flare-cpu,flare-webgpu")
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--forced-tokens", type=int, default=16)
    p.add_argument("--webgpu-limits", choices=("default", "adapter"), default="default")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args(argv)
    settings = BenchSettings.from_dict({
        "engines": expand_engines([e for e in args.engines.split(",") if e]), "max_tokens": args.max_tokens,
        "runs": args.runs, "warmup": args.warmup, "forced_tokens": args.forced_tokens,
        "webgpu_limits": args.webgpu_limits}).to_dict()
    outcome = run_deno(args.dist, settings, args.timeout)
    if outcome.result is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(outcome.result, indent=1))
        results.check_result(outcome.result)
        print(formats.render(outcome.result, "text"))
    print(f"deno runtime: {outcome.state}{': ' + outcome.error if outcome.error else ''}; JSON: {args.json}", file=sys.stderr)
    return 0 if outcome.state == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
