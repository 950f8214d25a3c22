"""The compare page (compare.html): two exported result JSONs compared in the page, by app.core.compare.

The same code as `python -m app compare`; in Pyodide there is no scipy, so compare uses its pure-Python
Mann-Whitney U, which tests/host/test_compare.py proves equal to scipy's (the page and the CLI decide alike).
A version 3 file is validated against its JSON Schema and files of versions 1 and 2 are upgraded to 3
(compare.read_result, with the same fastjsonschema the host uses), so the page refuses what the CLI refuses.
State for automation: `ready` once Python is up, `running` while comparing, `done` with a comparison
(`window.benchCompareJSON`), `error` for input that cannot be compared (the message is in #error).
"""

from __future__ import annotations

import asyncio
import html
import json
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy  # type: ignore[import-not-found]

from app.core import compare
from app.web import dom

_proxies: list[Any] = []  # event handlers live as long as the page


async def _read(input_id: str) -> tuple[str, str] | None:
    files = dom.element(input_id).files
    if not files or not files.length:
        return None
    f = files.item(0)
    return str(f.name), str(await f.text())


def _show(comparison: dict[str, Any]) -> None:
    dom.element("comparison").innerHTML = compare.to_html([comparison])
    dom.element("compare-md").value = compare.to_markdown([comparison])
    dom.element("compare-md-box").hidden = False
    js.window.benchCompareJSON = json.dumps([comparison])


async def run_compare() -> None:
    base, new = await _read("base-file"), await _read("new-file")
    if base is None or new is None:
        dom.set_status("Choose both files")
        return
    dom.set_state("running")
    dom.set_status("Comparing…")
    try:
        min_change = compare.parse_percent(str(dom.element("min-change").value or "2"), "minimum change")
        alpha = compare.parse_alpha(dom.element("alpha").value or "0.05", "alpha")
        comparison = compare.compare(compare.parse_document(base[1], base[0]), compare.parse_document(new[1], new[0]),
                                     min_change=min_change, alpha=alpha, base_name=base[0], new_name=new[0])
    except compare.CompareError as err:
        js.window.benchCompareJSON = None
        dom.element("comparison").innerHTML = f'<p class="bad" id="compare-error">{html.escape(str(err))}</p>'
        dom.element("compare-md-box").hidden = True
        dom.show_error(str(err))
        return
    dom.element("error").hidden = True
    _show(comparison)
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
