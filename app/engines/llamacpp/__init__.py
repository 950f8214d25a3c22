"""llama.cpp compiled to WASM (@wllama/wllama 2.4, token-level API): the correctness reference.

Files: engine.py (Pyodide: WllamaEngine, open_wllama), support.py (pure: header rules), probe.js (served as
engines/llamacpp/probe.js), host/build.py (host only: plans wllama's files). Its pin role: "wllama".
"""

from app.engines.llamacpp.support import llamacpp_problems
from app.engines.spec import CanRun, Drive, EngineSpec, Variant

SPEC = EngineSpec(
    name="llamacpp",
    title="llama.cpp (wllama)",
    variants=(
        # wllama 2.4 ships Memory64 builds only (NOTES: "WebKitGTK ... no Memory64").
        Variant("llamacpp-wasm", "llama.cpp WASM (reference)", "wasm-cpu", "#6e7781", default=True, reference=True,
                needs=("memory64",)),
    ),
    factory="app.engines.llamacpp.engine:make",
    drive=Drive(takes_text=False, stamps_tokens=False, prefill_is_first_token=False, correctness="forced-ids"),
    can_run=CanRun(header_problems=llamacpp_problems),
    pins=("wllama",),
    version_pin="wllama",
    build="app.engines.llamacpp.host.build:plan",
    js=("probe.js",),
    order=0,
)
