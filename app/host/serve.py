"""Serve dist/ on loopback with the headers that make the page cross-origin isolated."""

from __future__ import annotations

import functools
import sys
import http.server
import threading
from pathlib import Path
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

    def __init__(self, *args, directory: str, quiet: bool = True, extra: dict[str, Path] | None = None, **kwargs):
        self.quiet = quiet
        self.extra = extra or {}
        super().__init__(*args, directory=directory, **kwargs)

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
                host: str = LOOPBACK) -> DistServer:
    """A server for `dist` on `host` (loopback by default; `bench --serve-host ADDR` for Grid nodes on other
    machines: an address of this machine that they can reach, which is also the address the URL names)."""
    if not (dist / "index.html").exists():
        raise FileNotFoundError(f"{dist} has no index.html: run `python build.py` first")
    handler = functools.partial(DistHandler, directory=str(dist.resolve()), quiet=quiet, extra=extra)
    return DistServer((host, port), handler)


def url_of(server: DistServer) -> str:
    host, port = server.server_address[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/"


def serve_in_thread(dist: Path, port: int = 0, extra: dict[str, Path] | None = None, host: str = LOOPBACK) -> DistServer:
    server = make_server(dist, port, extra=extra, host=host)
    threading.Thread(target=server.serve_forever, daemon=True, name="dist-server").start()
    return server
