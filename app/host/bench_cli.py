"""python -m app bench: the page's benchmark, run headless, printed like llama-bench."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from app.core import report, results
from app.core.gguf_header import GGUFError, check_runnable_by_flare, read_header_from_path
from app.core.settings import DEFAULT_ENGINES, ENGINE_ALIASES, ENGINE_KEYS, BenchSettings, SettingsError, expand_engines

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = BenchSettings()
    p.add_argument("--model", type=Path, help="a GGUF file (default: the embedded SmolLM2-135M-Instruct Q8_0)")
    p.add_argument("--prompt", default=d.prompt)
    p.add_argument("--system", default=d.system)
    p.add_argument("--max-tokens", type=int, default=d.max_tokens)
    p.add_argument("--runs", type=int, default=d.runs)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--forced-tokens", type=int, default=d.forced_tokens,
                   help="reference tokens for the teacher-forced top-1 check (0: skip)")
    p.add_argument("--no-perplexity", action="store_true", help="skip the perplexity of the fixed passage")
    p.add_argument("--async-prefill", action="store_true", help="flare: begin_stream_with_params_async")
    backend = p.add_mutually_exclusive_group()
    backend.add_argument("--cpu", action="store_true", help="flare on the WASM CPU path only (no WebGPU row)")
    backend.add_argument("--gpu", action="store_true", help="flare on WebGPU only (no flare CPU row)")
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES),
                   help=f"comma-separated, from {','.join(ENGINE_KEYS)} or the short names {','.join(ENGINE_ALIASES)}")
    p.add_argument("--json", type=Path, default=Path("results/bench-latest.json"), help="where the result JSON goes")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--timeout", type=float, default=3600, help="give up after this many seconds")


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    engines = expand_engines([e.strip() for e in args.engines.split(",") if e.strip()])
    if args.cpu:
        engines = [e for e in engines if e != "flare-webgpu"]
    if args.cpu:
        engines = [e for e in engines if e != "transformersjs-webgpu"]
    if args.gpu:
        engines = [e for e in engines if e not in ("flare-cpu", "transformersjs-wasm")]
    return BenchSettings.from_dict({
        "prompt": args.prompt, "system": args.system, "max_tokens": args.max_tokens, "runs": args.runs,
        "warmup": args.warmup, "engines": engines, "forced_tokens": args.forced_tokens,
        "perplexity": not args.no_perplexity, "async_prefill": args.async_prefill,
    })


def text_table(result: dict) -> str:
    rows = [report.COLUMNS] + [report.row_cells(r) for r in result["rows"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(report.COLUMNS))]
    out = []
    for n, r in enumerate(rows):
        out.append("  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def check_model(path: Path, settings: BenchSettings) -> None:
    if not path.is_file():
        raise GGUFError(f"{path}: no such file")
    try:
        header = read_header_from_path(path)
    except GGUFError as err:
        raise GGUFError(f"{path}: {err}") from None
    if any(e.startswith("flare") for e in settings.engines):
        try:
            check_runnable_by_flare(header)
        except GGUFError as err:
            raise GGUFError(f"{path}: {err}") from None


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from_args(args)
        if args.model is not None:
            check_model(args.model, settings)
        if args.timeout <= 0:
            raise SettingsError("--timeout must be positive")
    except (SettingsError, GGUFError) as err:
        print(f"bench: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from app.host.build import DIST, BuildError, Builder, has_transformersjs_model
    from app.host.cache import Cache, default_cache_dir
    from app.host.chromium import ChromiumMissing, find_binaries
    from app.host.pagerun import run_page

    try:
        find_binaries()
    except ChromiumMissing as err:
        print(f"bench: {err}", file=sys.stderr)
        return EXIT_FAILED
    print("[bench] checking the build…", file=sys.stderr, flush=True)
    # Keep the Transformers.js model if dist/ has it; convert it if a transformers.js row is asked for.
    wants_tjs = any(e.startswith("transformersjs") for e in settings.engines) or has_transformersjs_model(DIST)
    try:
        Builder(Cache(default_cache_dir()), dist=DIST, transformersjs=wants_tjs).run()
    except BuildError as err:
        print(f"bench: {err}", file=sys.stderr)
        return EXIT_FAILED
    query = {"autorun": "1", "settings": json.dumps(settings.to_dict())}
    extra = None
    if args.model is not None:
        route = f"/user-model/{args.model.name}"
        extra = {route: args.model.resolve()}
        query["model"] = route.lstrip("/")
    print(f"[bench] running {', '.join(settings.engines)} in headless Chromium "
          f"({settings.runs} runs + {settings.warmup} warmup, {settings.max_tokens} tokens)…", file=sys.stderr, flush=True)
    started = time.monotonic()
    outcome = run_page(DIST, "index.html", query, args.timeout, extra=extra)
    if outcome.result is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(outcome.result, indent=1))
    if outcome.state != "done":
        print(f"bench: the page ended in state '{outcome.state}': {outcome.error or 'no message'}", file=sys.stderr)
        if outcome.result is not None and outcome.result.get("rows"):
            print(text_table(outcome.result))
            print(f"(partial results written to {args.json})", file=sys.stderr)
        return EXIT_BAD_INPUT if outcome.state == "error" else EXIT_FAILED
    result = outcome.result
    results.check_result(result)
    print(report.to_markdown(result) if args.markdown else text_table(result))
    for row in result["rows"]:
        if row.get("output_text"):
            print(f"  {row['engine']} {row['backend']}: {row['output_text'][:100]!r}")
    errors = [r for r in result["rows"] if r.get("error")]
    for row in errors:
        print(f"  {row['engine']} {row['backend']} failed: {row['error']}", file=sys.stderr)
    fetch = result.get("model_fetch", {})
    print(f"model {result['model']['name']} ({result['model']['size'] / 1e6:.1f} MB, sha256 {str(result['model']['sha256'])[:12]}…), "
          f"fetched from {fetch.get('source')} in {fetch.get('fetch_ms', 0):.0f} ms; wall time {time.monotonic() - started:.0f} s; "
          f"JSON: {args.json}")
    return EXIT_FAILED if errors and len(errors) == len(result["rows"]) else 0
