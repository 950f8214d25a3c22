"""Pins, the hash-keyed cache, patches and the build's refusal to use a tampered download."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from app.host import pins as pinlib
from app.host.build import Builder
from app.host.cache import Cache, IntegrityError, sha256_file
from app.host.patches import PatchError, apply_patch
from app.host.pins import Patch, Pin, PinError, parse_pins

GOOD = b"the real package bytes"
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()


def make_pin(sha=GOOD_SHA, name="demo") -> Pin:
    return Pin(name=name, kind="npm", version="1.0.0", sha256=sha, role="chartjs")


def fetcher_writing(data: bytes, calls: list):
    def fetch(pin, into: Path) -> Path:
        calls.append(pin.name)
        out = into / f"{pin.name}-{pin.version}.tgz"
        out.write_bytes(data)
        return out

    return fetch


def test_pin_table_in_repo_is_valid():
    pins = pinlib.load_pins()
    roles = {p.role for p in pins}
    assert {"pyodide-core", "flare", "model", "pyodide-wheel", "wllama"} <= roles
    flare = pinlib.one(pins, "flare")
    assert flare.version == "0.2.21" and "0.2.15" in flare.note
    assert set(flare.cdn) == {"flare_web.js", "flare_web_bg.wasm"}
    assert all(url.startswith("https://cdn.jsdelivr.net/npm/@sauravpanda/flare@0.2.21/") for url in flare.cdn.values())


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"name": "x", "kind": "npm", "version": "1", "sha256": "abc", "role": "model"}, "64 lowercase hex"),
        ({"name": "x", "kind": "conda", "version": "1", "sha256": "a" * 64, "role": "model"}, "kind must be"),
        ({"name": "x", "kind": "npm", "version": "", "sha256": "a" * 64, "role": "model"}, "'version'"),
    ],
)
def test_malformed_pins_are_refused(raw, message):
    with pytest.raises(PinError, match=message):
        parse_pins({"pin": [raw]})


def test_duplicate_pins_are_refused():
    raw = {"name": "x", "kind": "npm", "version": "1", "sha256": "a" * 64, "role": "model"}
    with pytest.raises(PinError, match="pinned twice"):
        parse_pins({"pin": [raw, raw]})


def test_fetch_verifies_then_caches_by_hash(tmp_path):
    calls: list = []
    cache = Cache(tmp_path, fetcher_writing(GOOD, calls))
    path, filename = cache.get(make_pin())
    assert path.read_bytes() == GOOD and filename == "demo-1.0.0.tgz"
    assert path == cache.blob_path(GOOD_SHA)
    again, _ = cache.get(make_pin())
    assert again == path and calls == ["demo"], "a warm cache must not fetch again"


def test_tampered_download_stops_with_both_hashes_and_caches_nothing(tmp_path):
    calls: list = []
    cache = Cache(tmp_path, fetcher_writing(b"tampered bytes", calls))
    with pytest.raises(IntegrityError) as info:
        cache.get(make_pin())
    message = str(info.value)
    assert "demo" in message and GOOD_SHA in message
    assert hashlib.sha256(b"tampered bytes").hexdigest() in message
    assert not cache.blob_path(GOOD_SHA).exists()
    assert not list(tmp_path.rglob("*.tgz")), "the rejected download must not stay on disk"


def test_damaged_cache_entry_is_fetched_again(tmp_path):
    calls: list = []
    cache = Cache(tmp_path, fetcher_writing(GOOD, calls))
    path, _ = cache.get(make_pin())
    path.write_bytes(b"bit rot")
    path2, _ = cache.get(make_pin())
    assert sha256_file(path2) == GOOD_SHA and calls == ["demo", "demo"]


def test_patch_applies_exactly_once():
    patch = Patch(file="f.js", find="/* done */", replace="/* done -/", count=1)
    assert apply_patch("a /* done */ b", patch, "flare") == "a /* done -/ b"


@pytest.mark.parametrize("text, found", [("nothing to patch here", 0), ("/* done */ and /* done */", 2)])
def test_patch_that_no_longer_matches_stops(text, found):
    patch = Patch(file="f.js", find="/* done */", replace="/* done -/", count=1)
    with pytest.raises(PatchError, match=f"found {found}"):
        apply_patch(text, patch, "flare")


def test_real_flare_patch_matches_the_pinned_tarball():
    from app.host.cache import default_cache_dir
    from app.host.unpack import unpacked

    pin = pinlib.one(pinlib.load_pins(), "flare")
    cache = Cache(default_cache_dir())
    blob, _ = cache.get(pin)
    text = (unpacked(blob, pin.sha256, cache.root) / "package/pkg/flare_web.js").read_text()
    patched = apply_patch(text, pin.patch, pin.name)
    assert "/* done */" not in patched and patched.count("/* done -/") == 1


def test_build_with_tampered_download_leaves_dist_untouched(tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("the previous build")
    cache = Cache(tmp_path / "cache", fetcher_writing(b"evil", []))
    with pytest.raises(IntegrityError, match="pyodide"):
        Builder(cache, dist=dist).run()
    assert (dist / "index.html").read_text() == "the previous build"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".dist")] == []
