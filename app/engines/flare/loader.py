"""Load flare-web's module through pyodide.ffi (engine adapter comes with the benchmark)."""

from __future__ import annotations

from typing import Any

from app.web import jsbridge

LOADER = "engines/flare/loader.js"


async def load_flare_module(flare_site: dict[str, Any], fresh: bool = False) -> Any:
    """flare-web's ES module, initialised, with its panic hook installed.

    `fresh` instantiates a new copy: after a Rust panic the WASM instance is unusable.
    """
    loader = await jsbridge.import_module(LOADER)
    module = await loader.loadFlare(jsbridge.to_js_object(flare_site), fresh)
    # start() installs the panic hook, so a panic reports its message, not "unreachable".
    module.start()
    return module
