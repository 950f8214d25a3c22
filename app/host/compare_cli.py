"""python -m app compare BASE.json NEW.json [...]: is a run faster than another, or is it noise?"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from pathlib import Path

from app.core import compare

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

COMPARE_DESCRIPTION = """\
Compares result JSONs of python -m app bench (or the page's Export JSON): every NEW file against
BASE, row by row, rows matched by engine, backend, model (sha256) and test. For decode tok/s,
TTFT, prefill tok/s and ITL p50 it prints the change of the mean in percent and whether it is
significant: a two-sided Mann-Whitney U test on the per-run samples, each recomputed from the raw
timestamps (scipy where installed, else an equivalent pure-Python test), and for decode tok/s also
on the per-token intervals (which decide when too few runs can: 3 runs against 3 never reach
p < 0.05). A change is significant when p < --alpha and the mean moved at least --min-change.
Figures are grouped Slower / Faster / Same like pyperf's compare_to -G; a verdict that changes
(ok -> WRONG, anything -> GPU ERROR) is always reported. Files of every schema version are read: a
version 3 file is validated against its JSON Schema (app/core/result_schema_v3.json), versions 1 and
2 are upgraded to 3 before anything is compared. Writes nothing."""

COMPARE_EPILOG = f"""\
exit codes:
  0  compared (with --fail-on: no significant slowdown beyond it, no verdict got worse)
  1  --fail-on: a figure is significantly slower by at least that much, or a verdict got worse
     (ok -> DEGRADED / WRONG / ERROR / GPU ERROR); each is named on stderr
  2  bad input, one line on stderr naming the file and the place in it (a field's path, or a line
     and column; long lists summarised): a file that is missing, not a regular file (a FIFO, a
     device) or larger than {compare.MAX_RESULT_BYTES // 2**20} MiB (both checked before reading), not JSON, nested deeper
     than {compare.MAX_DEPTH}, another schema, a version 3 file that breaks its JSON Schema or an older one of
     the wrong shape (wrong types, booleans for numbers, negative or fractional counts), NaN,
     Infinity, numbers beyond 2^64 or integers of more than {compare.MAX_INT_DIGITS} digits, timestamps out of
     order, one test held twice (both rows named), or no row matches

examples:
  python -m app compare results/base.json results/bench-latest.json
  python -m app compare base.json new.json --min-change 5% --output md
  python -m app compare base.json new.json --fail-on 5%        # for CI"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from app.host.cli import HelpFormatter

    p.description = COMPARE_DESCRIPTION
    p.epilog = COMPARE_EPILOG
    p.formatter_class = HelpFormatter
    p.add_argument("base", type=Path, metavar="BASE.json", help="the result every other file is compared with")
    p.add_argument("new", type=Path, nargs="+", metavar="NEW.json", help="one or more results compared with BASE")
    p.add_argument("--across-browsers", action="store_true",
                   help="match rows that ran in different browsers (by default a Firefox row is compared only with "
                        "a Firefox row): the same engine, backend, model and test in each file")
    p.add_argument("--min-change", default="2%", metavar="PCT",
                   help="smallest change of a mean that counts as faster or slower, in percent")
    p.add_argument("--alpha", default=compare.DEFAULT_ALPHA, metavar="P",
                   help="significance level of the Mann-Whitney U test (0-1)")
    p.add_argument("--fail-on", default=None, metavar="PCT",
                   help="exit 1 when a figure is significantly slower by at least this percentage (e.g. 5%%), "
                        "or a verdict got worse; for CI")
    p.add_argument("--output", choices=("text", "md", "json"), default="text",
                   help="aligned text tables, Markdown tables, or the comparison as JSON")


_NOT_REGULAR = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def read_bytes(path: Path, limit: int = compare.MAX_RESULT_BYTES) -> bytes:
    """The bytes of the regular file at `path`, at most `limit`; CompareError (one line) for anything else. Opened
    without blocking (a FIFO with no writer would wait for ever) and checked with fstat on the open file, so what
    is checked is what is read: a FIFO, a device (/dev/zero never ends), a folder or a socket is refused before a
    byte is read, and so is a file larger than `limit`; one that grows while read is cut at `limit` + 1 and refused."""
    name = compare.printable(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise compare.CompareError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise compare.CompareError(f"{name}: a folder, not a result JSON") from None
    except OSError as err:
        raise compare.CompareError(f"{name}: cannot read it ({err.strerror or err})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = next((what for test, what in _NOT_REGULAR if test(info.st_mode)), "not a regular file")
            raise compare.CompareError(f"{name}: {kind}, not a result JSON file")
        if info.st_size > limit:
            raise compare.CompareError(compare.too_large(str(path), info.st_size, limit))
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with f:
        try:
            data = f.read(limit + 1)
        except OSError as err:
            raise compare.CompareError(f"{name}: cannot read it ({err.strerror or err})") from None
    if len(data) > limit:
        raise compare.CompareError(compare.too_large(str(path), len(data), limit))
    return data


def load(path: Path) -> dict:
    """The JSON document at `path` as it is in the file (compare.compare reads it through compare.read_result:
    checked, validated, or upgraded to version 3); CompareError (one line) when it cannot be read or parsed:
    not a regular file, too large (read_bytes), not UTF-8, not JSON or nested too deep (compare.parse_document)."""
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise compare.CompareError(f"{compare.printable(path)}: not UTF-8 text (byte {err.start:,}); "
                                   "give a result JSON of python -m app bench or the page's Export JSON") from None
    return compare.parse_document(text, str(path))


def run(args: argparse.Namespace) -> int:
    try:
        min_change = compare.parse_percent(args.min_change, "--min-change")
        fail_on = None if args.fail_on is None else compare.parse_percent(args.fail_on, "--fail-on")
        alpha = compare.parse_alpha(args.alpha)
        base = load(args.base)
        key = compare.across_browsers_key if args.across_browsers else compare.match_key
        comparisons = [compare.compare(base, load(path), min_change=min_change, alpha=alpha,
                                       base_name=str(args.base), new_name=str(path), key=key) for path in args.new]
    except compare.CompareError as err:
        print(f"compare: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.output == "json":
        print(json.dumps(comparisons, indent=1))
    elif args.output == "md":
        print(compare.to_markdown(comparisons))
    else:
        print(compare.to_text(comparisons))
    if fail_on is not None:
        failed = compare.failures(comparisons, fail_on)
        for line in failed:
            print(f"compare: --fail-on {fail_on:.0%}: {line}", file=sys.stderr)
        if failed:
            return EXIT_FAILED
    return 0
