"""python -m app overhead: JS loop vs Python loop over the same flare engine, in one page."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

OVERHEAD_DESCRIPTION = """\
What driving an engine from Python costs: one flare-web engine (WASM CPU) decodes the same prompt
alternately under a JavaScript loop and under the Python (Pyodide) loop the benchmark uses, for
--rounds rounds (alternating which goes first). Prints each round's decode tok/s and, last, the
ratio of decode tok/s (Python / JS); writes every round to the --json file."""

OVERHEAD_EPILOG = """\
exit codes:
  0  measured
  1  the page failed, Chromium is missing or stopped answering, or --timeout passed
  2  bad input (--rounds or --max-tokens out of range)"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The overhead command's options (also sets its description, epilog and help formatter)."""
    from app.host.cli import HelpFormatter

    p.description = OVERHEAD_DESCRIPTION
    p.epilog = OVERHEAD_EPILOG
    p.formatter_class = HelpFormatter
    p.add_argument("--rounds", type=int, default=5, metavar="N", help="rounds, each running both loops once (1-50)")
    p.add_argument("--max-tokens", type=int, default=48, metavar="N", help="tokens decoded per loop and round (2-1024)")
    p.add_argument("--json", type=Path, default=Path("results/overhead-latest.json"), metavar="PATH",
                   help="where the rounds and the summary go")
    p.add_argument("--timeout", type=float, default=1800, metavar="SECONDS",
                   help="seconds for the whole command (build check included); at the deadline the browser and "
                        "every process the command started are ended and the exit code is 1")


def run(args: argparse.Namespace) -> int:
    """The overhead command: exit code 0 (measured), 1 (failed, timed out), 2 (bad input)."""
    if not (1 <= args.rounds <= 50 and 2 <= args.max_tokens <= 1024):
        print("overhead: --rounds must be 1-50 and --max-tokens 2-1024", file=sys.stderr)
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
            Builder(Cache(default_cache_dir()), dist=DIST, transformersjs=has_transformersjs_model(DIST)).run()
        except (ChromiumMissing, BuildError) as err:
            print(f"overhead: {err}", file=sys.stderr)
            return EXIT_FAILED
        progress.activity = "[overhead] starting Chromium"
        outcome = run_page(DIST, "overhead.html", {"autorun": "1", "rounds": str(args.rounds), "max_tokens": str(args.max_tokens)},
                           watchdog.remaining(), result_global="benchOverheadJSON", progress=progress)
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
    print(f"{'round':>5}  {'order':<10}  {'JS tok/s':>9}  {'Python tok/s':>12}  {'Python/JS':>9}")
    for r, ratio in zip(out["rounds"], s["per_round_ratio"]):
        print(f"{r['round']:>5}  {'JS first' if r['order'][0] == 'js' else 'Py first':<10}  "
              f"{r['js']['derived']['decode_tok_s']:>9.2f}  {r['python']['derived']['decode_tok_s']:>12.2f}  {ratio:>9.3f}")
    for name, key in (("JS loop", "js_decode_tok_s"), ("Python loop", "python_decode_tok_s")):
        v = s[key]
        print(f"{name:<12} median {v['median']:.2f} tok/s, mean {v['mean']:.2f} ± {v['stddev'] or 0:.2f}, "
              f"min {v['min']:.2f}, max {v['max']:.2f} ({v['n']} rounds, {out['max_tokens']} tokens each)")
    print(f"ratio of decode tok/s (Python / JS): {s['ratio_python_over_js']:.3f}")
    print(f"JSON: {args.json}", file=sys.stderr)
    return 0
