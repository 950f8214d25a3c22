"""A small WebDriver BiDi client (W3C WebDriver BiDi over one WebSocket), enough to drive a page: Firefox speaks it
itself (`--remote-debugging-port`), so no geckodriver is needed (there is none to be had here).

Built on `websockets`' synchronous client: one connection, one command at a time, each with its own time limit.
A command that runs out of time raises `BiDiTimeout` (a selenium `TimeoutException`, so the WebDriver page loop
in app/host/runtimes/_webdriver.py reads it as "the page is busy"); its late reply is dropped when it arrives.
An error reply raises `BiDiError` (a selenium `WebDriverException`); a JavaScript exception raises selenium's
`JavascriptException`. Events are not subscribed to.

Values cross as the protocol serializes them (`script.LocalValue` in, `script.RemoteValue` out): `to_local` and
`from_remote` convert them to and from Python (None, bool, int, float, str, list, dict, and DOM nodes as
`RemoteNode` handles that can be passed back as arguments).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass
from typing import Any

from selenium.common.exceptions import JavascriptException, TimeoutException, WebDriverException

OPEN_TIMEOUT_S = 10.0


class BiDiError(WebDriverException):
    """The remote end answered a command with an error (`error` is the protocol's code)."""

    def __init__(self, method: str, error: str, message: str) -> None:
        super().__init__(f"{method}: {error}: {message}".rstrip(": "))
        self.error = error


class BiDiTimeout(TimeoutException):
    """No reply within the command's time limit (the page's main thread is busy, or the browser hangs)."""


class BiDiClosed(WebDriverException):
    """The WebSocket closed: the browser is gone."""


@dataclass(frozen=True)
class RemoteNode:
    """A DOM node the browser handed out (`sharedId`); passed back as an argument it is that node again."""

    shared_id: str


class BiDiConnection:
    """One WebSocket to a BiDi endpoint (`ws://HOST:PORT/session`); `command()` sends and waits for the reply."""

    def __init__(self, url: str, open_timeout_s: float = OPEN_TIMEOUT_S) -> None:
        from websockets.sync.client import connect

        self.url = url
        # No size limit (a result JSON is megabytes), no proxy (loopback), no keepalive pings (the browser's
        # parent process answers the socket, but a loaded 2-core machine may delay a pong past any timeout).
        self.ws = connect(url, open_timeout=open_timeout_s, max_size=None, proxy=None, ping_interval=None,
                          close_timeout=2, compression=None, legacy=True)
        self._ids = itertools.count(1)
        self.session_id: str | None = None
        self.capabilities: dict[str, Any] = {}

    def command(self, method: str, params: dict[str, Any] | None = None, timeout_s: float = 30.0) -> dict[str, Any]:
        """Send one command; its `result`, or BiDiTimeout / BiDiError / BiDiClosed."""
        from websockets.exceptions import ConnectionClosed

        ident = next(self._ids)
        deadline = time.monotonic() + max(0.05, timeout_s)
        try:
            self.ws.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BiDiTimeout(f"{method}: no reply within {timeout_s:.1f} s")
                try:
                    raw = self.ws.recv(timeout=left)
                except TimeoutError:
                    raise BiDiTimeout(f"{method}: no reply within {timeout_s:.1f} s") from None
                message = json.loads(raw)
                if message.get("id") != ident:
                    continue  # an event, or the late reply of a command that timed out
                if message.get("type") == "error":
                    raise BiDiError(method, str(message.get("error", "")), str(message.get("message", "")))
                return message.get("result") or {}
        except ConnectionClosed as err:
            raise BiDiClosed(f"{method}: the browser closed the WebDriver BiDi connection ({err})") from None

    def new_session(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """session.new with no special capabilities; the capabilities the browser reports."""
        result = self.command("session.new", {"capabilities": {}}, timeout_s)
        self.session_id = result.get("sessionId")
        self.capabilities = result.get("capabilities") or {}
        return self.capabilities

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001 - closing a socket to a browser that is gone
            pass


# --- values ---------------------------------------------------------------------------------------------------
def to_local(value: Any) -> dict[str, Any]:
    """A Python value as a `script.LocalValue` argument."""
    if isinstance(value, RemoteNode):
        return {"sharedId": value.shared_id}
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return {"type": "boolean", "value": value}
    if isinstance(value, int):
        return {"type": "number", "value": value} if abs(value) < 2**53 else {"type": "bigint", "value": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"type": "number", "value": "NaN"}
        if math.isinf(value):
            return {"type": "number", "value": "Infinity" if value > 0 else "-Infinity"}
        return {"type": "number", "value": value}
    if isinstance(value, str):
        return {"type": "string", "value": value}
    if isinstance(value, (list, tuple)):
        return {"type": "array", "value": [to_local(v) for v in value]}
    if isinstance(value, dict):
        return {"type": "object", "value": [[str(k), to_local(v)] for k, v in value.items()]}
    raise TypeError(f"cannot pass a {type(value).__name__} to the page")


_NUMBERS = {"NaN": math.nan, "-0": -0.0, "Infinity": math.inf, "-Infinity": -math.inf}


def from_remote(value: dict[str, Any]) -> Any:
    """A `script.RemoteValue` as Python: what selenium's execute_script would return for it."""
    kind = value.get("type")
    data = value.get("value")
    if kind in ("undefined", "null"):
        return None
    if kind in ("string", "boolean"):
        return data
    if kind == "number":
        return _NUMBERS.get(data, data) if isinstance(data, str) else data
    if kind == "bigint":
        return int(data)
    if kind in ("array", "set", "nodelist", "htmlcollection"):
        return [from_remote(v) for v in data or []]
    if kind in ("object", "map"):
        out = {}
        for key, item in data or []:
            out[key if isinstance(key, str) else str(from_remote(key))] = from_remote(item)
        return out
    if kind == "date":
        return data
    if kind == "node":
        return RemoteNode(value["sharedId"]) if value.get("sharedId") else None
    return None  # function, symbol, promise, window...: not values a test reads


class BiDiPage:
    """One top-level browsing context of a BiDi session: navigate, run scripts, input."""

    def __init__(self, connection: BiDiConnection, context: str) -> None:
        self.bidi = connection
        self.context = context

    @classmethod
    def first(cls, connection: BiDiConnection, timeout_s: float = 30.0) -> BiDiPage:
        tree = connection.command("browsingContext.getTree", {"maxDepth": 0}, timeout_s)
        contexts = tree.get("contexts") or []
        if contexts:
            return cls(connection, contexts[0]["context"])
        created = connection.command("browsingContext.create", {"type": "tab"}, timeout_s)
        return cls(connection, created["context"])

    def navigate(self, url: str, timeout_s: float, wait: str = "complete") -> None:
        self.bidi.command("browsingContext.navigate", {"context": self.context, "url": url, "wait": wait}, timeout_s)

    def reload(self, timeout_s: float, wait: str = "complete") -> None:
        self.bidi.command("browsingContext.reload", {"context": self.context, "wait": wait}, timeout_s)

    def call(self, declaration: str, args: list[Any], timeout_s: float, await_promise: bool = True) -> Any:
        """script.callFunction in the page's realm: `declaration` called with `args`; its value as Python.
        A JavaScript exception raises selenium's JavascriptException with the page's message."""
        result = self.bidi.command("script.callFunction", {
            "functionDeclaration": declaration,
            "arguments": [to_local(a) for a in args],
            "target": {"context": self.context},
            "awaitPromise": await_promise,
            "resultOwnership": "none",
            "serializationOptions": {"maxDomDepth": 0, "includeShadowTree": "none"},
            "userActivation": True,
        }, timeout_s)
        if result.get("type") == "exception":
            details = result.get("exceptionDetails") or {}
            raise JavascriptException(str(details.get("text") or "a JavaScript exception"))
        return from_remote(result.get("result") or {})

    def perform_actions(self, actions: list[dict[str, Any]], timeout_s: float) -> None:
        self.bidi.command("input.performActions", {"context": self.context, "actions": actions}, timeout_s)
        self.bidi.command("input.releaseActions", {"context": self.context}, timeout_s)

    def set_files(self, node: RemoteNode, files: list[str], timeout_s: float) -> None:
        self.bidi.command("input.setFiles", {"context": self.context, "element": {"sharedId": node.shared_id},
                                             "files": files}, timeout_s)
