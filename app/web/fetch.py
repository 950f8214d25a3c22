"""Fetches that always end (web/static/fetch_bytes.js): the model bytes, the tokenizer, settings handed over by URL.

Each gives up when the server sends nothing for `stall_s` seconds (no answer, or a body that stops arriving;
STALL_S by default, which the page sets from `?fetch_timeout=S`), is aborted at once by an AbortSignal (the
page's Stop), and fails with a FetchError whose message names the URL and says what happened.
"""

from __future__ import annotations

from typing import Any

from app.web import jsbridge

MODULE = "static/fetch_bytes.js"
STALL_S = 30.0  # seconds without a byte before a fetch is given up


class FetchError(OSError):
    """A fetch failed: refused, unreachable, an HTTP error status, or nothing arrived for too long; names the URL."""


class FetchStopped(FetchError):
    """The fetch was aborted by its signal (the page's Stop)."""


_module: Any = None


async def _fetcher() -> Any:
    global _module
    if _module is None:
        _module = await jsbridge.import_module(MODULE)
    return _module


def set_stall_seconds(value: Any) -> str | None:
    """Set STALL_S from text (the page's `?fetch_timeout=`); the reason in words when it is not a number of
    seconds from 1 to 3600 (STALL_S is then left as it was)."""
    global STALL_S
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = float("nan")
    if not 1 <= seconds <= 3600:
        return f"fetch_timeout must be a number of seconds from 1 to 3600, not {str(value)[:40]!r}"
    STALL_S = seconds
    return None


async def fetch_bytes(relative: str, signal: Any = None, stall_s: float | None = None) -> Any:
    """The bytes at `relative` (resolved against the site root) as a JS Uint8Array. Raises FetchStopped when
    `signal` aborts it, FetchError (naming the URL) for any other failure."""
    url = jsbridge.page_url(relative)
    module = await _fetcher()
    options = jsbridge.to_js_object({"stallMs": (STALL_S if stall_s is None else stall_s) * 1000.0})
    if signal is not None:
        options.signal = signal
    try:
        return await module.fetchBytes(url, options)
    except jsbridge.BROWSER.JsException as err:
        name, message = str(getattr(err, "name", "")), str(getattr(err, "message", "") or err)
        if name == "FetchStopped":
            raise FetchStopped(message) from None
        if name in ("FetchTimeout", "FetchHTTP", "FetchFailed"):
            raise FetchError(message) from None
        raise FetchError(f"GET {url} failed: {name}: {message}") from None


async def fetch_text(relative: str, signal: Any = None, stall_s: float | None = None) -> str:
    """The text at `relative` (UTF-8); raises as fetch_bytes, and FetchError when it is not UTF-8."""
    data = await fetch_bytes(relative, signal, stall_s)
    try:
        return bytes(data.to_py()).decode("utf-8")
    except UnicodeDecodeError as err:
        raise FetchError(f"GET {jsbridge.page_url(relative)}: not UTF-8 text ({err.reason} at byte {err.start})") from None
