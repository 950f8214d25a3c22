"""The engines' short names for the browser seam (app/web/browser): page_url, import_module, now_ms, ...

The engines (app/engines/*/engine.py) are browser-only and call these; the benchmark itself takes a
`Browser` (app.web.browser) instead, so that it also runs on the host.
"""

from __future__ import annotations

from typing import Any

from app.web.browser import BROWSER


def page_url(relative: str) -> str:
    """An absolute URL for a path relative to the site root (where pyodide.mjs lives)."""
    return BROWSER.page_url(relative)


async def import_module(relative: str) -> Any:
    """The JavaScript module at `relative` (dynamic import()). Raises JsException."""
    return await BROWSER.import_module(relative)


def now_ms() -> float:
    """performance.now(), in ms."""
    return BROWSER.now_ms()


def to_js_object(value: Any) -> Any:
    """`value` converted for a JavaScript call, dicts as plain Objects."""
    return BROWSER.to_js_object(value)


async def fetch_bytes(relative: str) -> Any:
    """The response body as a JS Uint8Array: the bytes stay in JS memory, never copied into Python. Raises OSError."""
    return await BROWSER.fetch_bytes(relative)


async def fetch_text(relative: str) -> str:
    """The response body as text. Raises OSError on an HTTP error status."""
    return await BROWSER.fetch_text(relative)
