"""python -m app compare BASE.json NEW.json [...]: is a run faster than another, or is it noise?"""

from __future__ import annotations

import argparse
import json
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

COMPARE_EPILOG = """\
exit codes:
  0  compared (with --fail-on: no significant slowdown beyond it, no verdict got worse)
  1  --fail-on: a figure is significantly slower by at least that much, or a verdict got worse
     (ok -> DEGRADED / WRONG / ERROR / GPU ERROR); each is named on stderr
  2  bad input: a file that is missing or not a result JSON, another schema, a version 3 file that
     breaks its JSON Schema (the message names the field), or no row matches

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
    p.add_argument("--min-change", default="2%", metavar="PCT",
                   help="smallest change of a mean that counts as faster or slower, in percent")
    p.add_argument("--alpha", default=compare.DEFAULT_ALPHA, metavar="P",
                   help="significance level of the Mann-Whitney U test (0-1)")
    p.add_argument("--fail-on", default=None, metavar="PCT",
                   help="exit 1 when a figure is significantly slower by at least this percentage (e.g. 5%%), "
                        "or a verdict got worse; for CI")
    p.add_argument("--output", choices=("text", "md", "json"), default="text",
                   help="aligned text tables, Markdown tables, or the comparison as JSON")


def load(path: Path) -> dict:
    """The JSON document at `path` as it is in the file (compare.compare reads it through compare.read_result:
    validated, or upgraded to version 3); CompareError (one line) when it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise compare.CompareError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise compare.CompareError(f"{path}: a folder, not a result JSON") from None
    except (OSError, UnicodeDecodeError) as err:
        raise compare.CompareError(f"{path}: cannot read it ({err})") from None
    return compare.parse_document(text, str(path))


def run(args: argparse.Namespace) -> int:
    try:
        min_change = compare.parse_percent(args.min_change, "--min-change")
        fail_on = None if args.fail_on is None else compare.parse_percent(args.fail_on, "--fail-on")
        alpha = compare.parse_alpha(args.alpha)
        base = load(args.base)
        comparisons = [compare.compare(base, load(path), min_change=min_change, alpha=alpha,
                                       base_name=str(args.base), new_name=str(path)) for path in args.new]
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
