"""Serve dist/ on loopback with the headers that make the page cross-origin isolated.

Besides dist/ (and `extra` files by exact path), a server can hold `once` routes: bytes kept in memory and served
to the first GET only, then forgotten (404). `bench` hands the page its settings that way
(app.host.runtimes: `Job.settings_route`), so settings of any length travel without the page's URL, and a
prompt is not left readable on a server that other machines can reach (`--serve-host`).
"""

from __future__ import annotations

import functools
import sys
import http.server
import threading
from pathlib import Path
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

MIME_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".gguf": "application/octet-stream",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".ipynb": "application/x-ipynb+json",
}
ISOLATION_HEADERS = {
    # Both are needed for crossOriginIsolated: SharedArrayBuffer, threads, a 5 us timer.
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class DistHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def __init__(self, *args, directory: str, quiet: bool = True, extra: dict[str, Path] | None = None,
                 once: dict[str, bytes] | None = None, **kwargs):
        self.quiet = quiet
        self.extra = extra or {}
        self.once = once if once is not None else {}  # shared by every request of the server: popped when served
        super().__init__(*args, directory=directory, **kwargs)

    def do_GET(self) -> None:
        requested = unquote(urlsplit(self.path).path)
        if requested.startswith(ONCE_PREFIX):
            body = self.once.pop(requested, None)
            if body is None:
                self.send_error(404, "Not found", "this one-time address was served already, or never existed")
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code == HTTPStatus.REQUEST_URI_TOO_LONG and explain is None:
            message, explain = "This link is too long", LINK_TOO_LONG
        super().send_error(code, message, explain)

    def translate_path(self, path: str) -> str:
        # Files served beside dist/ by exact URL path only (a model given to `bench --model`).
        requested = unquote(urlsplit(path).path)
        if requested in self.extra:
            return str(self.extra[requested])
        return super().translate_path(path)

    def _inside_root(self) -> bool:
        requested = unquote(urlsplit(self.path).path)
        if requested in self.extra:
            return True
        root = Path(self.directory).resolve()
        if "\x00" in requested:
            return False
        target = (root / requested.lstrip("/")).resolve()
        return target == root or root in target.parents

    def send_head(self):
        if not self._inside_root():
            self.send_error(403, "Path outside the served folder")
            return None
        return super().send_head()

    def end_headers(self) -> None:
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        # The page is a development build; never let a stale copy of a rebuilt file be used.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature from the stdlib
        if not self.quiet:
            super().log_message(format, *args)


ONCE_PREFIX = "/run-settings/"  # the folder of one-time routes (nothing of dist/ lives there)
REQUEST_LINE_LIMIT = 65536  # bytes: http.server answers 414 past it
LINK_TOO_LONG = (
    f"The address is longer than the {REQUEST_LINE_LIMIT:,} bytes this server reads in a request line. Settings this "
    "long cannot travel in ?settings= (in a link each character outside ASCII takes 6 to 12 bytes): put them after "
    "#settings= instead of ?settings= (the browser keeps the part after # to itself, and the page reads it there), "
    "or open the page and paste the prompt into the form; python -m app bench hands its settings over without "
    "the link")


class DistServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # A browser that stops reading (a cancelled fetch, a closed tab) is not a server error.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


LOOPBACK = "127.0.0.1"


def make_server(dist: Path, port: int = 0, quiet: bool = True, extra: dict[str, Path] | None = None,
                host: str = LOOPBACK, once: dict[str, bytes] | None = None) -> DistServer:
    """A server for `dist` on `host` (loopback by default; `bench --serve-host ADDR` for Grid nodes on other
    machines: an address of this machine that they can reach, which is also the address the URL names).
    `once`: path -> bytes served to the first GET only (paths under ONCE_PREFIX; ValueError for others)."""
    if not (dist / "index.html").exists():
        raise FileNotFoundError(f"{dist} has no index.html: run `python build.py` first")
    once = dict(once or {})
    outside = [route for route in once if not route.startswith(ONCE_PREFIX)]
    if outside:
        raise ValueError(f"one-time routes must start with {ONCE_PREFIX}, not {outside}")
    handler = functools.partial(DistHandler, directory=str(dist.resolve()), quiet=quiet, extra=extra, once=once)
    return DistServer((host, port), handler)


def url_of(server: DistServer) -> str:
    host, port = server.server_address[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/"


def serve_in_thread(dist: Path, port: int = 0, extra: dict[str, Path] | None = None, host: str = LOOPBACK,
                    once: dict[str, bytes] | None = None) -> DistServer:
    server = make_server(dist, port, extra=extra, host=host, once=once)
    threading.Thread(target=server.serve_forever, daemon=True, name="dist-server").start()
    return server
