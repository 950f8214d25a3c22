"""flare-web (a Rust GGUF engine in WASM, optional WebGPU), driven token by token from Python.

Files: engine.py (Pyodide: FlareStream, FlareEngine), loader.py + loader.js (the patched module, vendored
or from the CDN), js_loop.js (the JavaScript loop the overhead page compares with), support.py (pure: header
rules), host/build.py (host only: plans the patched files). Its pin role: "flare".
"""

from app.engines.flare.support import FLARE_ARCHITECTURES, flare_memory_problems, flare_problems
from app.engines.spec import CanRun, Drive, EngineSpec, Variant

SPEC = EngineSpec(
    name="flare",
    title="flare-web",
    variants=(
        Variant("flare-cpu", "flare-web WASM CPU", "wasm-cpu", "#1f6feb", default=True, options={"webgpu": False}),
        Variant("flare-webgpu", "flare-web WebGPU", "webgpu", "#bf3989", default=True, needs=("webgpu",),
                options={"webgpu": True}),
    ),
    factory="app.engines.flare.engine:make",
    drive=Drive(takes_text=False, stamps_tokens=False, prefill_is_first_token=False, correctness="forced-ids"),
    can_run=CanRun(architectures=FLARE_ARCHITECTURES, header_problems=flare_problems,
                   memory_problems=flare_memory_problems),
    pins=("flare",),
    version_pin="flare",
    build="app.engines.flare.host.build:plan",
    js=("loader.js", "js_loop.js"),
    order=20,
)
