"""Get model bytes into JS memory: from the site (cached in OPFS) or from a file the person picked.

The header is read and checked in Python (app.core.gguf_header) from the first bytes only,
before any engine sees the file, so a bad file gets a clear message instead of a WASM panic.
Every fetch here ends (app.web.fetch): it gives up when nothing arrives for a while, the page's Stop aborts it
(`signal`), and its errors name the URL.
"""

from __future__ import annotations

import json
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException  # type: ignore[import-not-found]

from app.core import generation_limits
from app.engines import unsupported_engines
from app.core.gguf_header import GGUFError, GGUFHeader, read_header
from app.core.tokenizer_json import TokenizerBuildError, tokenizer_json
from app.web import fetch as fetching, jsbridge
from app.engines.protocol import Model

OPFS_DIR = "browser-llm-bench-models"


def header_of(data: Any, name: str) -> GGUFHeader:
    size = int(data.length)

    def prefix(n: int) -> bytes:
        return bytes(data.subarray(0, n).to_py())

    try:
        return read_header(prefix, size)
    except GGUFError as err:
        raise GGUFError(f"{name}: {err}") from None


async def _opfs_dir():
    storage = getattr(js.navigator, "storage", None)
    if storage is None or not hasattr(storage, "getDirectory"):
        return None
    try:
        root = await storage.getDirectory()
        return await root.getDirectoryHandle(OPFS_DIR, jsbridge.to_js_object({"create": True}))
    except JsException:
        return None  # OPFS refused (private mode, quota): work without a cache


async def _opfs_read(folder, name: str):
    if folder is None:
        return None
    try:
        handle = await folder.getFileHandle(name)
        blob = await handle.getFile()
        return js.Uint8Array.new(await blob.arrayBuffer())
    except JsException:
        return None


async def _opfs_write(folder, name: str, data: Any) -> bool:
    if folder is None:
        return False
    try:
        handle = await folder.getFileHandle(name, jsbridge.to_js_object({"create": True}))
        writable = await handle.createWritable()
        await writable.write(data)
        await writable.close()
        return True
    except (JsException, AttributeError):
        return False


async def clear_opfs_cache() -> None:
    storage = getattr(js.navigator, "storage", None)
    if storage is None or not hasattr(storage, "getDirectory"):
        return
    root = await storage.getDirectory()
    try:
        await root.removeEntry(OPFS_DIR, jsbridge.to_js_object({"recursive": True}))
    except JsException:
        pass


async def site_model(site_model_info: dict[str, Any], manifest_files: dict[str, dict],
                     signal: Any = None) -> tuple[Model, dict[str, Any]]:
    """The embedded model: OPFS copy if present (warm), else the network (cold), then cached. `signal`: an
    AbortSignal that ends the fetch (app.web.fetch.FetchStopped); other fetch failures are FetchError."""
    path = site_model_info.get("gguf") or site_model_info["file"]
    sha = manifest_files.get(path, {}).get("sha256")
    cache_name = f"{sha}.gguf" if sha else None
    folder = await _opfs_dir()  # looked up once: every OPFS step below goes through it
    fetch: dict[str, Any] = {"opfs_available": folder is not None}
    data = None
    if cache_name:
        t0 = jsbridge.now_ms()
        data = await _opfs_read(folder, cache_name)
        if data is not None:
            fetch.update(source="opfs", fetch_ms=jsbridge.now_ms() - t0, cold_fetch_ms=None)
    if data is None:
        t0 = jsbridge.now_ms()
        data = await fetching.fetch_bytes(path, signal)
        fetch.update(source="network", fetch_ms=jsbridge.now_ms() - t0, cold_fetch_ms=jsbridge.now_ms() - t0)
        if cache_name and await _opfs_write(folder, cache_name, data):
            # Measure the warm path too, so one cold run reports both.
            t1 = jsbridge.now_ms()
            again = await _opfs_read(folder, cache_name)
            if again is not None:
                fetch["warm_fetch_ms"] = jsbridge.now_ms() - t1
    header = header_of(data, path)
    tokenizer = (await fetching.fetch_text(site_model_info["tokenizer"], signal)
                 if site_model_info.get("tokenizer") else None)
    return _model(data, site_model_info["name"], sha, header, tokenizer), fetch


def _model(data: Any, name: str, sha: str | None, header: GGUFHeader, tokenizer: str | None) -> Model:
    return Model(data=data, size=int(data.length), name=name, sha256=sha, tokenizer_json=tokenizer,
                 header=header.summary(), tensor_types=header.type_counts, metadata=header.metadata,
                 metadata_types=header.metadata_types,
                 limits=generation_limits.limits(header.metadata), refusals=unsupported_engines(header))


def find_site_model(site: dict[str, Any], model_id: str) -> dict[str, Any]:
    """The embedded model with this id (site["models"]; an older site has only site["model"]).

    Raises GGUFError naming the ids there are."""
    models = site.get("models") or [site["model"]]
    for info in models:
        if info.get("id", "smollm2-135m") == model_id:
            return info
    raise GGUFError(f"no embedded model {model_id!r}; this site has {[m.get('id') for m in models]}")


async def picked_model(file: Any) -> tuple[Model, dict[str, Any]]:
    """A GGUF the person picked from disk (a JS File)."""
    t0 = jsbridge.now_ms()
    data = js.Uint8Array.new(await file.arrayBuffer())
    return await model_from_bytes(data, str(file.name), {"source": "local file", "fetch_ms": jsbridge.now_ms() - t0})


async def served_file_model(url: str, signal: Any = None) -> tuple[Model, dict[str, Any]]:
    """A GGUF at a URL (`?model=`): the one `bench --model` serves beside the site, or any the page may fetch.
    `signal` ends the fetch (FetchStopped); it gives up when nothing arrives for a while (FetchError)."""
    t0 = jsbridge.now_ms()
    data = await fetching.fetch_bytes(url, signal)
    return await model_from_bytes(data, url.rsplit("/", 1)[-1], {"source": "local file", "fetch_ms": jsbridge.now_ms() - t0})


async def model_from_bytes(data: Any, name: str, fetch: dict[str, Any]) -> tuple[Model, dict[str, Any]]:
    """Any GGUF other than the embedded one: header checked, tokenizer built from its own vocabulary."""
    header = header_of(data, name)
    try:
        # Only flare's notebook helpers use it (llama.cpp is the benchmark's tokenizer): a vocabulary the
        # hand builder does not know (SentencePiece, e.g. Gemma) simply has none.
        tok = json.dumps(tokenizer_json(header.metadata, name), ensure_ascii=False)
    except TokenizerBuildError:
        tok = None
    digest = await _sha256_hex(data)
    return _model(data, name, digest, header, tok), fetch


# SubtleCrypto digests one buffer at a time and refuses one past its size limit (Chromium 156: "The
# ArrayBuffer/ArrayBufferView size exceeds the supported range" for a 3.3 GB model); above this many bytes the
# hash is Python's, fed in pieces, so a large model costs a 64 MiB copy at a time, not a second copy of itself.
DIGEST_ONE_SHOT_MAX = 1 << 30
DIGEST_PIECE = 64 << 20


async def _sha256_hex(data: Any) -> str:
    """The sha256 of a JS Uint8Array, hex."""
    if int(data.length) <= DIGEST_ONE_SHOT_MAX:
        digest = await js.crypto.subtle.digest("SHA-256", data)
        return bytes(js.Uint8Array.new(digest).to_py()).hex()
    import asyncio
    import hashlib

    h = hashlib.sha256()
    for start in range(0, int(data.length), DIGEST_PIECE):
        h.update(data.subarray(start, start + DIGEST_PIECE).to_py())
        await asyncio.sleep(0)  # let the page draw between pieces
    return h.hexdigest()
