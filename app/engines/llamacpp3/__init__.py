"""llama.cpp through @wllama/wllama 3.13: its WebGPU backend and its CPU path; text in, logprob ids out.

Files: engine.py (Pyodide: Wllama3Engine), notes.py (pure: which build, refusals and per-run notes), runner.js and
gpu_prelude.js (served under engines/llamacpp3/), host/build.py (host only). Its pin roles: "wllama3" (the JSPI +
Memory64 build) and "wllama3-compat" (@wllama/wllama-compat: Asyncify + wasm32, for browsers without them).
"""

from app.engines.spec import Drive, EngineSpec, Variant

SPEC = EngineSpec(
    name="llamacpp3",
    title="llama.cpp 3.13 (wllama)",
    variants=(
        # JSPI and Memory64 are needed by the main build only: without them the compatibility build runs
        # (notes.choose_build), which the engine refuses in words where it cannot (no SharedArrayBuffer).
        Variant("llamacpp3-webgpu", "llama.cpp 3.13 WebGPU (wllama 3)", "webgpu", "#cf222e",
                needs=("webgpu", "shader-f16"), options={"webgpu": True}),
        Variant("llamacpp3-wasm", "llama.cpp 3.13 WASM CPU (wllama 3)", "wasm-cpu", "#8250df",
                options={"webgpu": False}),
    ),
    factory="app.engines.llamacpp3.engine:make",
    # Its own loop (createCompletion streaming): token times are llama.cpp's, the first token ends prefill.
    drive=Drive(takes_text=True, stamps_tokens=True, prefill_is_first_token=True, correctness="forced-text",
                text_notes="app.engines.llamacpp3.notes"),
    pins=("wllama3", "wllama3-compat"),
    version_pin="wllama3",
    build="app.engines.llamacpp3.host.build:plan",
    js=("runner.js", "gpu_prelude.js"),
    order=10,
)
