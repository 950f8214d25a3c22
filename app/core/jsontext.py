"""JSON text looked at before it is parsed: how deeply it nests, and parsing within a depth limit.

`json.loads` recurses once per level of nesting; in Pyodide a file nested some ten thousand deep overflows the
WebAssembly stack inside it and Python dies for good (until the page is reloaded), where CPython on the host
raises RecursionError. So any JSON a person hands the page (a result file, a notebook, settings) has its depth
measured first, without recursion and without a Python loop per character (regular expressions and
itertools.accumulate run in C: a megabyte takes milliseconds, in Pyodide too).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

# A string runs to its closing quote or, unterminated, to the end: the pattern never backtracks, so a crafted line
# of escaped quotes is linear (the closed-only pattern was quadratic: 20,000 escaped quotes took 4.6 s).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonTextError(ValueError):
    """The text is not JSON, or nests deeper than allowed; the message says which, in words."""


def nesting_depth(text: str) -> int:
    """How deeply the arrays and objects of JSON `text` nest (brackets inside strings do not count)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(0, max(accumulate(map(_DELTA.__getitem__, brackets)), default=0))


def loads(text: str, max_depth: int, what: str = "the file") -> Any:
    """json.loads(text) once its nesting is at most `max_depth`. Raises JsonTextError naming `what`: too deep,
    not JSON (with line and column), or nested past Python's own limit."""
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JsonTextError(f"{what} nests arrays or objects {depth:,} deep; at most {max_depth} are read")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise JsonTextError(f"{what} is not JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except RecursionError:
        raise JsonTextError(f"{what} nests arrays or objects too deeply to read") from None
