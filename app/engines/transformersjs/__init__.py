"""Transformers.js (ONNX Runtime Web) on the same weights, converted from the GGUF at build time.

Files: engine.py (Pyodide: TransformersJsEngine), runner.js (served as engines/transformersjs/runner.js),
host/ (host only: build.py plans Transformers.js, ONNX Runtime Web and, with `build.py --transformersjs`, the converted
model; convert.py and q8_onnx.py do the conversion). No header rule: it never reads the GGUF at run time, and its engine refuses any GGUF whose sha256
differs from the converted one. Pin roles: "transformersjs", "onnxruntime-web", "onnxruntime-common".
"""

from app.engines.spec import CanRun, Drive, EngineSpec, Variant

SPEC = EngineSpec(
    name="transformersjs",
    title="transformers.js",
    variants=(
        Variant("transformersjs-wasm", "transformers.js WASM", "wasm-cpu", "#1a7f37", options={"webgpu": False}),
        Variant("transformersjs-webgpu", "transformers.js WebGPU", "webgpu", "#9a6700", needs=("webgpu",),
                options={"webgpu": True}),
    ),
    factory="app.engines.transformersjs.engine:make",
    # generate() runs its own loop: token times from its streamer; the first token comes with prefill.
    drive=Drive(takes_text=False, stamps_tokens=True, prefill_is_first_token=True, correctness="forced-ids"),
    can_run=CanRun(site_feature="transformersjs"),
    pins=("transformersjs", "onnxruntime-web", "onnxruntime-common"),
    version_pin="transformersjs",
    build="app.engines.transformersjs.host.build:plan",
    js=("runner.js",),
    order=30,
)
