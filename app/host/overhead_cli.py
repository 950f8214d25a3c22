"""python -m app overhead: JS loop vs Python loop over the same flare engine, in one page."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--max-tokens", type=int, default=48)
    p.add_argument("--json", type=Path, default=Path("results/overhead-latest.json"))
    p.add_argument("--timeout", type=float, default=1800)


def run(args: argparse.Namespace) -> int:
    if not (1 <= args.rounds <= 50 and 2 <= args.max_tokens <= 1024):
        print("overhead: --rounds must be 1-50 and --max-tokens 2-1024", file=sys.stderr)
        return 2
    from app.host.build import DIST, Builder, has_transformersjs_model
    from app.host.cache import Cache, default_cache_dir
    from app.host.pagerun import run_page

    Builder(Cache(default_cache_dir()), dist=DIST, transformersjs=has_transformersjs_model(DIST)).run()
    outcome = run_page(DIST, "overhead.html", {"autorun": "1", "rounds": str(args.rounds), "max_tokens": str(args.max_tokens)},
                       args.timeout, result_global="benchOverheadJSON")
    if outcome.state != "done" or outcome.result is None:
        print(f"overhead: the page ended in state '{outcome.state}': {outcome.error}", file=sys.stderr)
        return 1
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
    return 0
