"""python -m app: build, serve, bench, compare, overhead, boot-time."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from app.engines.mlc.host import build as mlc_build
from app.host.build import DIST


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Prints each option's default after its help (not for on/off flags, nor options without one),
    and descriptions and epilogs as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("%(default)" in text or not action.option_strings
                or action.default in (None, False, argparse.SUPPRESS)):
            return text
        return text + " (default: %(default)s)"

    def _split_lines(self, text: str, width: int) -> list[str]:
        # Never at a hyphen: engine keys (several hyphens each) must stay whole to be copied from the help.
        import textwrap

        return textwrap.wrap(self._whitespace_matcher.sub(" ", text).strip(), width, break_on_hyphens=False)


ERROR_LINE_CHARS = 600  # an error line echoing a pasted megabyte is cut to this, saying how much was left out


def summarise(text: str, limit: int = ERROR_LINE_CHARS) -> str:
    """`text` on one line of at most about `limit` characters: its start, and how many characters were left out."""
    text = " ".join(str(text).split("\n"))
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters not shown)"


class Parser(argparse.ArgumentParser):
    """argparse, with its error lines summarised (an option's value can be a pasted megabyte)."""

    def error(self, message: str):  # type: ignore[override]
        super().error(summarise(message))


# A value such as -5% or -0.5 given after an option ("--fail-on -5%"): argparse takes it for an option and
# answers "expected one argument"; joined to its option ("--fail-on=-5%") the command itself says what is wrong.
_NEGATIVE_VALUE = re.compile(r"-\d[\d.,]*%?")


def join_negative_values(argv: list[str]) -> list[str]:
    """`--option -5%` -> `--option=-5%` for every long option followed by a negative number or percentage."""
    out: list[str] = []
    for token in argv:
        if out and out[-1].startswith("--") and "=" not in out[-1] and _NEGATIVE_VALUE.fullmatch(token):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


MAIN_DESCRIPTION = """\
A benchmark of LLM engines inside a web browser, driven by Python running in Pyodide: flare-web
(WASM CPU and WebGPU), llama.cpp in WASM (the reference) and Transformers.js, on the same GGUF
weights, token by token, with correctness checked against llama.cpp."""

MAIN_EPILOG = """\
The main job: python -m app bench (see python -m app bench --help).
Every command prints its own help: python -m app COMMAND --help."""

BUILD_DESCRIPTION = """\
Builds the static site into --dist: reads pins.toml, fetches every pinned asset (npm, PyPI) into
the download cache, verifies each sha256, patches flare-web, transcodes the model to Q8_0 and
renders the pages. Later builds take under a second and rewrite nothing when nothing changed.
Same as python build.py. Exit code 0 built or up to date, 1 a fetch, hash or build step failed."""

SERVE_DESCRIPTION = """\
Serves --dist on 127.0.0.1 with the COOP/COEP headers that make the pages cross-origin isolated
(SharedArrayBuffer, llama.cpp threads, a 5 us timer). Open / for the benchmark and /notebook.html
for the notebook. Writes nothing; Ctrl+C stops it. Exit code 0 stopped, 1 the folder has no
index.html (run the build) or the port is taken."""

BOOT_DESCRIPTION = """\
Measures the benchmark page's time-to-ready (from navigation until the page says it is ready to
run) next to a bare Pyodide page's, both opened alternately in one headless Chromium for --rounds
rounds so that machine noise hits both alike. Prints each round and, last, the ratio of the
medians; writes nothing. Exit code 0 measured, 1 a page failed, Chromium is missing or --timeout
passed, 2 bad input."""


def cmd_build(args: argparse.Namespace) -> int:
    from app.host.build import main as build_main

    argv = ["--dist", str(args.dist)] + (["--cdn"] if args.cdn else []) + (["--transformersjs"] if args.transformersjs else [])
    if args.cache_dir is not None:
        argv += ["--cache-dir", str(args.cache_dir)]
    return build_main(argv + mlc_build.forward_arguments(args))


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

    return run(args.dist, args.rounds, args.timeout)


def cmd_bench(args: argparse.Namespace) -> int:
    from app.host.bench_cli import run

    return run(args)


def cmd_compare(args: argparse.Namespace) -> int:
    from app.host.compare_cli import run

    return run(args)


def cmd_overhead(args: argparse.Namespace) -> int:
    from app.host.overhead_cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m app", description=MAIN_DESCRIPTION, epilog=MAIN_EPILOG,
                    formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=summary, description=description, formatter_class=HelpFormatter)

    p = command("build", "build dist/ from the pins (same as python build.py)", BUILD_DESCRIPTION)
    p.add_argument("--dist", type=Path, default=DIST, metavar="DIR", help="output folder")
    p.add_argument("--cdn", action="store_true",
                   help="load flare-web from jsDelivr with Subresource Integrity instead of the vendored copy")
    p.add_argument("--transformersjs", action="store_true",
                   help="also convert the GGUF into a Transformers.js model (ONNX, the GGUF's Q8_0 blocks in MatMulNBits) for the transformers.js "
                        "rows; needs pip install -e '.[convert]'")
    mlc_build.add_arguments(p)
    p.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                   help="download cache (when not given: $BENCH_CACHE_DIR or ~/.cache/browser-llm-bench)")
    p.set_defaults(func=cmd_build)

    p = command("serve", "serve dist/ on 127.0.0.1 with COOP/COEP headers", SERVE_DESCRIPTION)
    p.add_argument("--port", type=int, default=8000, metavar="N", help="TCP port on 127.0.0.1 (0: any free port)")
    p.add_argument("--dist", type=Path, default=DIST, metavar="DIR", help="the built site to serve")
    p.set_defaults(func=cmd_serve)

    p = command("bench", "run the benchmark headless in Chromium and print the table (main job)", "")
    from app.host.bench_cli import add_arguments

    add_arguments(p)  # sets the description, epilog and formatter too
    p.set_defaults(func=cmd_bench)

    p = command("compare", "compare result JSONs: faster, slower or noise (Mann-Whitney U), verdict changes", "")
    from app.host.compare_cli import add_arguments as add_compare_arguments

    add_compare_arguments(p)  # sets the description, epilog and formatter too
    p.set_defaults(func=cmd_compare)

    p = command("overhead", "JS loop vs Python loop over the same flare engine; last line: the ratio", "")
    from app.host.overhead_cli import add_arguments as add_overhead_arguments

    add_overhead_arguments(p)
    p.set_defaults(func=cmd_overhead)

    p = command("boot-time", "the page's time-to-ready next to bare Pyodide's, same browser", BOOT_DESCRIPTION)
    p.add_argument("--rounds", type=int, default=4, metavar="N", help="rounds, each loading both pages once (1-50)")
    p.add_argument("--dist", type=Path, default=DIST, metavar="DIR", help="the built site to measure")
    p.add_argument("--timeout", type=float, default=900, metavar="SECONDS",
                   help="seconds for the whole command; at the deadline the browser is ended and the exit code is 1")
    p.set_defaults(func=cmd_boot_time)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(join_negative_values(sys.argv[1:] if argv is None else list(argv)))
    return args.func(args)
