"""The compare page (compare.html): two exported result JSONs compared in the page, by app.core.compare.

The same code as `python -m app compare`; in Pyodide there is no scipy, so compare uses its pure-Python
Mann-Whitney U, which tests/host/test_compare.py proves equal to scipy's (the page and the CLI decide alike).
A version 3 file is validated against its JSON Schema and files of versions 1 and 2 are upgraded to 3
(compare.read_result, with the same fastjsonschema the host uses), so the page refuses what the CLI refuses.
State for automation: `ready` once Python is up, `running` while comparing, `done` with a comparison
(`window.benchCompareJSON`), `error` for input that cannot be compared (the message is in #error).

Every comparison ends: a file larger than PAGE_MAX_BYTES is refused before it is read, JSON nested deeper than
PAGE_MAX_DEPTH before Python parses it (200,000 levels would overflow Pyodide's stack and kill the page's Python
for good), and any exception at all ends in `error` with words; choosing files again compares again.
"""

from __future__ import annotations

import asyncio
import html
import json
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from app.core import compare
from app.core.jsontext import nesting_depth
from app.web import dom

_proxies: list[Any] = []  # event handlers live as long as the page
PAGE_MAX_BYTES = 64 * 1024 * 1024  # a result of 7 engines x 10 runs of 2,048 tokens is about 10 MB
PAGE_MAX_DEPTH = 64  # a result nests 7 deep at most


def _chosen(input_id: str) -> Any:
    files = dom.element(input_id).files
    return files.item(0) if files and files.length else None


async def _read(f: Any) -> tuple[str, str]:
    """(name, text) of a chosen file; CompareError in words when it is too large or nested too deeply to read."""
    name, size = str(f.name), int(f.size)
    if size > PAGE_MAX_BYTES:
        raise compare.CompareError(f"{name}: {size:,} bytes, more than the {PAGE_MAX_BYTES:,} a result file may have")
    text = str(await f.text())
    depth = nesting_depth(text)
    if depth > PAGE_MAX_DEPTH:
        raise compare.CompareError(f"{name}: arrays or objects nested {depth:,} deep, more than the {PAGE_MAX_DEPTH} "
                                   "a result file may have (a result nests 7 at most)")
    return name, text


def _error(message: str) -> None:
    """The error state, with words; the page stays usable (choosing files again compares again)."""
    js.window.benchCompareJSON = None
    dom.element("comparison").innerHTML = f'<p class="bad" id="compare-error">{html.escape(message)}</p>'
    dom.element("compare-md-box").hidden = True
    dom.show_error(message)


def _show(comparison: dict[str, Any]) -> None:
    dom.element("comparison").innerHTML = compare.to_html([comparison])
    dom.element("compare-md").value = compare.to_markdown([comparison])
    dom.element("compare-md-box").hidden = False
    js.window.benchCompareJSON = json.dumps([comparison])


async def run_compare() -> None:
    base_file, new_file = _chosen("base-file"), _chosen("new-file")
    if base_file is None or new_file is None:
        dom.set_status("Choose both files")
        return
    dom.set_state("running")
    dom.set_status("Comparing…")
    try:
        base, new = await _read(base_file), await _read(new_file)
        min_change = compare.parse_percent(str(dom.element("min-change").value or "2"), "minimum change")
        alpha = compare.parse_alpha(dom.element("alpha").value or "0.05", "alpha")
        comparison = compare.compare(compare.parse_document(base[1], base[0]), compare.parse_document(new[1], new[0]),
                                     min_change=min_change, alpha=alpha, base_name=base[0], new_name=new[0])
        _show(comparison)
    except compare.CompareError as err:
        _error(str(err))
        return
    except RecursionError:
        _error("the files nest too deeply to compare")
        return
    except Exception as err:  # noqa: BLE001 - whatever a file does, the page ends in 'error' with words
        _error(f"these files cannot be compared: {type(err).__name__}: {err}"[:2000])
        return
    dom.element("error").hidden = True
    slower = sum(f["group"] == "slower" for r in comparison["rows"] for f in r["figures"])
    faster = sum(f["group"] == "faster" for r in comparison["rows"] for f in r["figures"])
    changed = sum(r["verdict"]["changed"] for r in comparison["rows"])
    dom.set_status(f"Compared: {slower} slower, {faster} faster, {changed} verdict change{'s' if changed != 1 else ''}")
    dom.set_state("done")


async def boot(site_proxy: Any, timings_proxy: Any) -> None:
    def later(_event: Any = None) -> None:
        asyncio.ensure_future(run_compare())

    handler = create_proxy(later)
    _proxies.append(handler)
    for element_id in ("base-file", "new-file"):
        dom.element(element_id).addEventListener("change", handler)
    dom.element("compare").addEventListener("click", handler)
    dom.element("compare").disabled = False
    dom.set_status("Python ready: choose two result files")
    dom.set_state("ready")
