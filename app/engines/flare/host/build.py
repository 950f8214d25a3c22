"""Host build hook: flare-web's module, patched (the published flare_web.js does not parse as an ES module:
pins.toml's patch), and its WASM; or, with `build.py --cdn`, the CDN URLs with Subresource Integrity."""

from __future__ import annotations

from typing import Any

from app.host import pins as pinlib
from app.host.patches import apply_patch
from app.host.build import sri


def plan(builder: Any, site: dict[str, Any]) -> None:
    """Plan flare-web's files: patched and vendored, or (builder.cdn) its CDN URLs with SRI; site["flare"]."""
    pin = pinlib.one(builder.pins, "flare")
    pkg = builder.package(pin) / "pkg"
    js_text = (pkg / "flare_web.js").read_text()
    assert pin.patch is not None, "flare's pin must carry its patch"
    patched = apply_patch(js_text, pin.patch, pin.name)
    flare: dict = {"version": pin.version}
    if builder.cdn:
        flare.update(
            js_url=pin.cdn["flare_web.js"],
            js_integrity=sri(js_text.encode()),
            wasm_url=pin.cdn["flare_web_bg.wasm"],
            wasm_integrity=sri((pkg / "flare_web_bg.wasm").read_bytes()),
            patch={"find": pin.patch.find, "replace": pin.patch.replace, "count": pin.patch.count},
        )
    else:
        builder.add("vendor/flare/flare_web.js", patched.encode(), pin.name)
        builder.add("vendor/flare/flare_web_bg.wasm", pkg / "flare_web_bg.wasm", pin.name)
        flare.update(js_url="vendor/flare/flare_web.js", wasm_url="vendor/flare/flare_web_bg.wasm")
    site["flare"] = flare

