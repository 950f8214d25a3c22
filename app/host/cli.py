"""python -m app: build, serve (and, with the benchmark, bench / overhead)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.host.build import DIST


def cmd_build(args: argparse.Namespace) -> int:
    from app.host.build import main as build_main

    return build_main(["--dist", str(args.dist)] + (["--cdn"] if args.cdn else []))


def cmd_serve(args: argparse.Namespace) -> int:
    from app.host.serve import make_server, url_of

    try:
        server = make_server(args.dist, args.port, quiet=False)
    except (FileNotFoundError, OSError) as err:
        print(f"serve: {err}", file=sys.stderr)
        return 1
    print(f"Serving {args.dist} at {url_of(server)} (cross-origin isolated; Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_boot_time(args: argparse.Namespace) -> int:
    from app.host.boot_timing import run

    return run(args.dist, args.rounds)


def cmd_bench(args: argparse.Namespace) -> int:
    from app.host.bench_cli import run

    return run(args)


def cmd_overhead(args: argparse.Namespace) -> int:
    from app.host.overhead_cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="Browser LLM benchmark, driven from Python in Pyodide.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build dist/ from the pins (same as python build.py)")
    p.add_argument("--dist", type=Path, default=DIST)
    p.add_argument("--cdn", action="store_true", help="load flare-web from jsDelivr with SRI")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("serve", help="serve dist/ on 127.0.0.1 with COOP/COEP headers")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--dist", type=Path, default=DIST)
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("bench", help="run the benchmark headless in Chromium and print the table (main job)")
    from app.host.bench_cli import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("overhead", help="JS loop vs Python loop over the same flare engine; last line: the ratio")
    from app.host.overhead_cli import add_arguments as add_overhead_arguments

    add_overhead_arguments(p)
    p.set_defaults(func=cmd_overhead)
    p = sub.add_parser("boot-time", help="the page's time-to-ready next to bare Pyodide's, same browser")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--dist", type=Path, default=DIST)
    p.set_defaults(func=cmd_boot_time)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
