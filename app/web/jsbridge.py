"""The browser seam: every use of `js` and `pyodide.ffi` outside the engines goes through here."""

from __future__ import annotations

from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.code import run_js  # type: ignore[import-not-found]
from pyodide.ffi import JsProxy, to_js  # type: ignore[import-not-found]

# `import()` is syntax, not a function, so Python cannot reach it as a JsProxy. This one arrow
# function is the only JavaScript written in Python; everything else lives in web/static/*.js.
_dynamic_import = run_js("(url) => import(url)")


def page_url(relative: str) -> str:
    """An absolute URL for a path relative to the site root (where pyodide.mjs lives)."""
    return str(js.URL.new(relative, js.benchSiteRoot if hasattr(js, "benchSiteRoot") else js.location.href).href)


async def import_module(relative: str) -> JsProxy:
    return await _dynamic_import(page_url(relative))


def now_ms() -> float:
    return float(js.performance.now())


def to_js_object(value: Any) -> JsProxy:
    return to_js(value, dict_converter=js.Object.fromEntries)


async def _get(relative: str) -> JsProxy:
    response = await js.fetch(page_url(relative))
    if not response.ok:
        raise OSError(f"GET {relative}: HTTP {response.status} {response.statusText}")
    return response


async def fetch_bytes(relative: str) -> JsProxy:
    """The response body as a JS Uint8Array: the bytes stay in JS memory, never copied into Python."""
    return js.Uint8Array.new(await (await _get(relative)).arrayBuffer())


async def fetch_text(relative: str) -> str:
    return str(await (await _get(relative)).text())
