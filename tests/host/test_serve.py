"""python -m app serve: isolation headers, MIME types, nothing outside dist/."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
import urllib.request


def raw_get(server, path: str) -> http.client.HTTPResponse:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", path)  # sent as written: no client-side normalisation of "../"
    return conn.getresponse()


def test_isolation_headers_and_wasm_mime(site_server):
    response = raw_get(site_server, "/pyodide.asm.wasm")
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/wasm"
    assert response.getheader("Cross-Origin-Opener-Policy") == "same-origin"
    assert response.getheader("Cross-Origin-Embedder-Policy") == "require-corp"
    assert raw_get(site_server, "/vendor/flare/flare_web.js").getheader("Content-Type").startswith("text/javascript")


def test_paths_outside_dist_are_refused(site_server):
    for path in ("/../pyproject.toml", "/%2e%2e/pyproject.toml", "/static/../../pins.toml"):
        response = raw_get(site_server, path)
        assert response.status in (403, 404), path
        assert b"[project]" not in response.read() and b"[[pin]]" not in response.read()


def test_serve_command_prints_its_url_and_serves(dist):
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line
        url = line.split(" at ")[1].split()[0]
        for _ in range(50):
            try:
                body = urllib.request.urlopen(url, timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        assert b"site-config" in body
    finally:
        proc.terminate()
        proc.wait(10)
