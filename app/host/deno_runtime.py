"""Deno's host parts: the pinned binary, its command line, and `python -m app.host.deno_runtime` (the GPU bundle's
entry, on an already built dist/ with no build step and no registry).

`bench --runtime deno` is app/host/runtimes/deno.py (the Deno runtime): the pinned deno binary (npm
@deno/linux-x64-glibc, kept in the cache) runs dist/static/deno_main.mjs; Pyodide loads from dist/ on disk, and
everything else (the app wheel, engines' modules and WASM, the model) comes over HTTP from dist/ served by
app/host/serve.py on loopback, with `--location` set to that server so `location`, `benchSiteRoot` and relative
fetches point at it exactly as in the page. Same engines, same Python, same result schema;
`environment.runtime` is "deno" and `environment.webgpu` is Deno's (wgpu) adapter.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

DENO_PIN = "@deno/linux-x64-glibc"
ENTRY = "static/deno_main.mjs"
DENO_FLAGS = ["run", "-A", "--unstable-detect-cjs", "--no-prompt", "--quiet"]


def deno_binary() -> Path:
    """The pinned deno binary (fetched, hash-checked and unpacked in the cache on first use); $BENCH_DENO overrides.
    Raises app.host.build.BuildError when it cannot be fetched or fails its hash."""
    override = os.environ.get("BENCH_DENO")
    if override:
        return Path(override)
    from app.host.build import host_tool_path

    return host_tool_path(DENO_PIN)


def deno_command(deno: Path, dist: Path, site_url: str, options: dict) -> list[str]:
    """deno's argv: run dist/static/deno_main.mjs with `--location` at the server of dist/ and `options` (JSON:
    settings, out, model, runtime) as its one argument."""
    return [str(deno), *DENO_FLAGS, f"--location={site_url}", str(dist / ENTRY), json.dumps(options)]


def main(argv: list[str] | None = None) -> int:
    """python -m app.host.deno_runtime --dist DIR [--engines ...] --json OUT: the Deno runtime on an already
    built dist/ with no build step and no registry (the GPU bundle runs this; $BENCH_DENO names the binary)."""
    import argparse

    from app.core import formats
    from app.core.settings import WEBGPU_LIMITS, BenchSettings, expand_engines
    from app.engines import DEFAULT_ENGINES
    from app.host.runtimes import Job, check_received
    from app.host.runtimes.deno import DenoRuntime

    p = argparse.ArgumentParser(prog="python -m app.host.deno_runtime", description=main.__doc__.splitlines()[0])
    p.add_argument("--dist", type=Path, required=True)
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES))
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--forced-tokens", type=int, default=16)
    p.add_argument("--webgpu-limits", choices=WEBGPU_LIMITS, default="default")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--json", type=Path, required=True)
    args = p.parse_args(argv)
    settings = BenchSettings.from_dict({
        "engines": expand_engines([e for e in args.engines.split(",") if e]), "max_tokens": args.max_tokens,
        "runs": args.runs, "warmup": args.warmup, "forced_tokens": args.forced_tokens,
        "webgpu_limits": args.webgpu_limits}).to_dict()
    outcome = DenoRuntime().run(Job(args.dist, settings), args.timeout)
    if outcome.result is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(outcome.result, indent=1))
        check_received(outcome.result)
        print(formats.render(outcome.result, "text"))
    print(f"deno runtime: {outcome.state}{': ' + outcome.error if outcome.error else ''}; JSON: {args.json}", file=sys.stderr)
    return 0 if outcome.state == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
