"""python -m app overhead: JS loop vs Python loop over the same engine (flare, or the null engine), in one page."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
ENGINES = ("flare", "null")
# Kept equal to app/web/overhead_page.py's (the page checks its query too).
MAX_TOKENS = {"flare": 1024, "null": 200_000}
DEFAULT_MAX_TOKENS = {"flare": 48, "null": 20_000}
DEFAULT_ROUNDS = {"flare": 5, "null": 9}

OVERHEAD_DESCRIPTION = """\
What driving an engine from Python costs: one engine decodes the same prompt alternately under a
JavaScript loop and under the Python (Pyodide) loop the benchmark uses, for --rounds rounds
(alternating which goes first), in one page. --engine flare: flare-web's WASM CPU path; prints each
round's decode tok/s and, last, the ratio of decode tok/s (Python / JS). --engine null: the null
engine (flare's streaming API, no model): first answering at once, which gives each loop's ceiling
in tok/s and the Python loop's overhead per token in microseconds (Python minus JS, with its
spread), then busy-waiting 5 ms a token like a 200 tok/s engine; the last line is the ratio of
decode tok/s (Python / JS) on that 5 ms engine. Every round goes to the --json file."""

OVERHEAD_EPILOG = """\
exit codes:
  0  measured
  1  the page failed, Chromium is missing or stopped answering, or --timeout passed
  2  bad input (--engine unknown, --rounds, --max-tokens or --busy-tokens out of range)"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The overhead command's options (also sets its description, epilog and help formatter)."""
    from app.host.cli import HelpFormatter

    p.description = OVERHEAD_DESCRIPTION
    p.epilog = OVERHEAD_EPILOG
    p.formatter_class = HelpFormatter
    p.add_argument("--engine", choices=ENGINES, default="flare",
                   help="flare: flare-web WASM CPU on the embedded model; null: the null engine (the harness alone)")
    p.add_argument("--webgpu", action="store_true",
                   help="--engine flare: its WebGPU path, with the adapter-limits shim (labelled in the output; without "
                        "it Chrome's Dawn refuses flare's attention pipeline and the GPU computes nothing)")
    p.add_argument("--dist", type=Path, default=None, metavar="DIR",
                   help="serve this already built site instead of building dist/ (e.g. the GPU bundle's)")
    from app.host.gpu_profiles import PROFILES

    p.add_argument("--gpu-profile", choices=sorted(PROFILES), default=None,
                   help="start Chromium with a named set of flags and environment for a real GPU (see bench --help)")
    p.add_argument("--rounds", type=int, default=None, metavar="N",
                   help=f"rounds, each running both loops once (1-50): flare {DEFAULT_ROUNDS['flare']} by default, "
                        f"null {DEFAULT_ROUNDS['null']} (its 5 ms ratio is a median over rounds)")
    p.add_argument("--max-tokens", type=int, default=None, metavar="N",
                   help=f"tokens decoded per loop and round: flare {DEFAULT_MAX_TOKENS['flare']} by default (2-"
                        f"{MAX_TOKENS['flare']}), null {DEFAULT_MAX_TOKENS['null']} (2-{MAX_TOKENS['null']})")
    p.add_argument("--busy-tokens", type=int, default=200, metavar="N",
                   help="--engine null: tokens per loop and round on the 5 ms engine (2-10000)")
    p.add_argument("--json", type=Path, default=Path("results/overhead-latest.json"), metavar="PATH",
                   help="where the rounds and the summary go")
    p.add_argument("--timeout", type=float, default=1800, metavar="SECONDS",
                   help="seconds for the whole command (build check included); at the deadline the browser and "
                        "every process the command started are ended and the exit code is 1")


def run(args: argparse.Namespace) -> int:
    """The overhead command: exit code 0 (measured), 1 (failed, timed out), 2 (bad input)."""
    max_tokens = DEFAULT_MAX_TOKENS[args.engine] if args.max_tokens is None else args.max_tokens
    rounds = DEFAULT_ROUNDS[args.engine] if args.rounds is None else args.rounds
    if not (1 <= rounds <= 50 and 2 <= max_tokens <= MAX_TOKENS[args.engine] and 2 <= args.busy_tokens <= 10_000):
        print(f"overhead: --rounds must be 1-50, --max-tokens 2-{MAX_TOKENS[args.engine]} for --engine {args.engine} "
              "and --busy-tokens 2-10000", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.webgpu and args.engine != "flare":
        print("overhead: --webgpu goes with --engine flare only", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.timeout > 0:
        print("overhead: --timeout must be a positive number of seconds", file=sys.stderr)
        return EXIT_BAD_INPUT
    from app.host.build import DIST, BuildError, Builder, has_transformersjs_model
    from app.host.cache import Cache, default_cache_dir
    from app.host.chromium import ChromiumMissing, find_binaries
    from app.host.pagerun import Progress, Watchdog, run_page

    started = time.monotonic()
    progress = Progress("[overhead] checking the build")

    def gave_up() -> str:
        return f"overhead: gave up after {args.timeout:g} s (--timeout) while '{progress.activity}'; nothing written"

    watchdog = Watchdog("overhead", args.timeout, gave_up).start()
    try:
        try:
            find_binaries()
            if args.dist is None:
                Builder(Cache(default_cache_dir()), dist=DIST, transformersjs=has_transformersjs_model(DIST)).run()
            elif not (args.dist / "manifest.json").is_file():
                raise BuildError(f"--dist {args.dist} is not a built site (no manifest.json)")
        except (ChromiumMissing, BuildError) as err:
            print(f"overhead: {err}", file=sys.stderr)
            return EXIT_FAILED
        progress.activity = "[overhead] starting Chromium"
        query = {"autorun": "1", "engine": args.engine, "rounds": str(rounds), "max_tokens": str(max_tokens),
                 "busy_tokens": str(args.busy_tokens), **({"webgpu": "1"} if args.webgpu else {})}
        outcome = run_page(args.dist.resolve() if args.dist else DIST, "overhead.html", query,
                           watchdog.remaining(), result_global="benchOverheadJSON", progress=progress,
                           gpu_profile=args.gpu_profile)
    except KeyboardInterrupt:
        from app.host.chromium import kill_own_children

        watchdog.cancel()
        kill_own_children()
        print(f"overhead: interrupted after {time.monotonic() - started:.0f} s while '{progress.activity}'; nothing written",
              file=sys.stderr)
        return 130
    finally:
        watchdog.cancel()
    if outcome.state == "timeout":
        print(f"overhead: gave up after {args.timeout:g} s (--timeout) while '{outcome.activity}'; nothing written", file=sys.stderr)
        return EXIT_FAILED
    if outcome.state == "lost":
        print(f"overhead: Chromium stopped answering after {outcome.elapsed_s:.0f} s while '{outcome.activity}' "
              f"({outcome.error}); nothing written", file=sys.stderr)
        return EXIT_FAILED
    if outcome.state != "done" or outcome.result is None:
        print(f"overhead: the page ended in state '{outcome.state}': {outcome.error or 'no message'}", file=sys.stderr)
        return EXIT_FAILED
    out = outcome.result
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1))
    s = out["summary"]
    if out.get("engine") == "null":
        print_null(out)
        print(f"JSON: {args.json}", file=sys.stderr)
        return 0
    print(f"{'round':>5}  {'order':<10}  {'JS tok/s':>9}  {'Python tok/s':>12}  {'Python/JS':>9}")
    for r, ratio in zip(out["rounds"], s["per_round_ratio"]):
        print(f"{r['round']:>5}  {'JS first' if r['order'][0] == 'js' else 'Py first':<10}  "
              f"{r['js']['derived']['decode_tok_s']:>9.2f}  {r['python']['derived']['decode_tok_s']:>12.2f}  {ratio:>9.3f}")
    for name, key in (("JS loop", "js_decode_tok_s"), ("Python loop", "python_decode_tok_s")):
        v = s[key]
        print(f"{name:<12} median {v['median']:.2f} tok/s, mean {v['mean']:.2f} ± {v['stddev'] or 0:.2f}, "
              f"min {v['min']:.2f}, max {v['max']:.2f} ({v['n']} rounds, {out['max_tokens']} tokens each)")
    if out.get("shims"):
        print(f"engine: {out['engine']} {out.get('backend', '')}, with the opt-in shim {', '.join(out['shims'])}")
    print(f"ratio of decode tok/s (Python / JS): {s['ratio_python_over_js']:.3f}")
    print(f"JSON: {args.json}", file=sys.stderr)
    return 0


def print_null(out: dict) -> None:
    """Each round, then the ceilings, the µs a token and, last, the ratio on the 5 ms engine."""
    from app.core.overhead import null_lines

    s = out["summary"]
    busy = f"{out['busy_ms']:g} ms"
    print(f"{'round':>5}  {'order':<8}  {'null JS tok/s':>13}  {'null Py tok/s':>13}  {'Py-JS us':>8}  "
          f"{busy + ' JS':>10}  {busy + ' Py':>10}  {'Py/JS':>6}")
    for r, us, ratio in zip(out["rounds"], s["overhead_us_per_token"]["samples"], s["busy"]["per_round_ratio"]):
        c, b = r["ceiling"], r["busy"]
        print(f"{r['round']:>5}  {'JS first' if r['order'][0] == 'js' else 'Py first':<8}  "
              f"{c['js']['derived']['decode_tok_s']:>13,.0f}  {c['python']['derived']['decode_tok_s']:>13,.0f}  {us:>8.2f}  "
              f"{b['js']['derived']['decode_tok_s']:>10.2f}  {b['python']['derived']['decode_tok_s']:>10.2f}  {ratio:>6.4f}")
    for line in null_lines(s, out["max_tokens"], out["busy_tokens"]):
        print(line)
