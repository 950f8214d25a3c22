"""MLC WebLLM (@mlc-ai/web-llm 0.2.86) on a model library and weights built from the benchmark's GGUF.

Files: engine.py (Pyodide: MlcEngine), runner.js (served as engines/mlc/runner.js), host/ (host only: build.py
plans web-llm and, with `build.py --mlc PATH`, the model: pipeline.py drives mlc-llm's own compile and weight
conversion through tvm_compat.py, our shims for apache-tvm 0.27, and runtime_objects.py builds TVM's web runtime
with Debian's emscripten). No header rule: it never reads the GGUF at run time, and its engine refuses any GGUF
whose sha256 differs from the converted one. Pin role: "webllm".

Variants: q0f32 (float32, the GGUF's Q8_0 dequantized exactly: the same weights), q0f16 (float16: not the same
weights; needs shader-f16), and the opt-in CPU argmax sampler on q0f32 (labelled in its backend).
"""

from app.engines.spec import CanRun, Drive, EngineSpec, Variant

SPEC = EngineSpec(
    name="mlc",
    title="MLC WebLLM",
    variants=(
        Variant("mlc-webgpu", "MLC WebLLM WebGPU (q0f32)", "webgpu", "#8250df", needs=("webgpu",),
                options={"quantization": "q0f32"}),
        Variant("mlc-webgpu-f16", "MLC WebLLM WebGPU (q0f16)", "webgpu", "#6639ba", needs=("webgpu", "shader-f16"),
                options={"quantization": "q0f16"}),
        Variant("mlc-webgpu-cpu-argmax", "MLC WebLLM WebGPU (q0f32), CPU argmax sampler (opt-in)", "webgpu", "#a475f9",
                needs=("webgpu",), options={"quantization": "q0f32", "cpu_argmax": True}),
    ),
    factory="app.engines.mlc.engine:make",
    # forwardTokensAndSample(prompt) returns the first id: prefill ends when it arrives; ids stamped in runner.js.
    drive=Drive(takes_text=False, stamps_tokens=True, prefill_is_first_token=True, correctness="forced-ids"),
    can_run=CanRun(site_feature="mlc"),
    pins=("webllm",),
    version_pin="webllm",
    build="app.engines.mlc.host.build:plan",
    js=("runner.js",),
    order=35,
)
