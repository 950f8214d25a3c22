"""llama.cpp compiled to WASM (@wllama/wllama 2.4, token-level API): the correctness reference.

Files: engine.py (Pyodide: WllamaEngine, open_wllama), support.py (pure: header rules, which build a browser
loads), probe.js and model_stream.js (served as engines/llamacpp/<file>), host/build.py (host only: plans wllama's files). Its pin
roles: "wllama" (2.4.0, Memory64 builds) and "wllama-wasm32" (2.3.7, wasm32 builds for browsers without Memory64).
"""

from app.engines.llamacpp.support import llamacpp_memory_problems, llamacpp_problems
from app.engines.spec import CanRun, Drive, EngineSpec, Variant

SPEC = EngineSpec(
    name="llamacpp",
    title="llama.cpp (wllama)",
    variants=(
        # No declared needs: wllama 2.4 ships Memory64 builds only, and where a browser lacks Memory64 (WebKit)
        # the engine loads 2.3.7's wasm32 build instead (engine.py, support.choose_build); without
        # SharedArrayBuffer wllama runs its single-thread build.
        Variant("llamacpp-wasm", "llama.cpp WASM (reference)", "wasm-cpu", "#6e7781", default=True, reference=True),
    ),
    factory="app.engines.llamacpp.engine:make",
    drive=Drive(takes_text=False, stamps_tokens=False, prefill_is_first_token=False, correctness="forced-ids"),
    can_run=CanRun(header_problems=llamacpp_problems, memory_problems=llamacpp_memory_problems),
    pins=("wllama", "wllama-wasm32"),
    version_pin="wllama",
    build="app.engines.llamacpp.host.build:plan",
    js=("probe.js", "model_stream.js"),
    order=0,
)
