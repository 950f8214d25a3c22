"""Host build hook: Transformers.js and the ONNX Runtime Web files it imports by bare specifiers, and, with
`build.py --transformersjs`, the same weights as a Transformers.js model folder (the GGUF's Q8_0 blocks in
MatMulNBits: app/engines/transformersjs/host/q8_onnx.py), cached by the GGUF's hash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.host import pins as pinlib
from app.host.build import MODEL_FILE, TOKENIZER_FILE, BuildError

TJS_RECIPE = "onnx-gguf-q8_0-blocks-v1"  # the GGUF's Q8_0 blocks in MatMulNBits (app/engines/transformersjs/host/q8_onnx.py)
TJS_MODEL_DIR = "models/smollm2-135m-instruct-onnx"


def plan(builder: Any, site: dict[str, Any]) -> None:
    """Plan the runtime always (the page offers the rows); the converted model only with builder.transformersjs."""
    plan_runtime(builder, site)
    if builder.transformersjs:
        plan_model(builder, site)


def plan_runtime(builder: Any, site: dict[str, Any]) -> None:
    """Transformers.js and the ONNX Runtime Web files it imports by bare specifiers (same import map)."""
    imports = site["importmap"]["imports"]
    tjs = pinlib.one(builder.pins, "transformersjs")
    root = builder.package(tjs) / "dist"
    builder.add("vendor/transformers/transformers.web.js", root / "transformers.web.js", tjs.name)
    imports[tjs.name] = "./vendor/transformers/transformers.web.js"
    ort = pinlib.one(builder.pins, "onnxruntime-web")
    root = builder.package(ort) / "dist"
    # The WebGPU bundle picks the asyncify build of the WASM runtime on this Chromium, jsep elsewhere.
    for name in ("ort.webgpu.bundle.min.mjs", "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm",
                 "ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm"):
        builder.add(f"vendor/ort/{name}", root / name, ort.name)
    imports["onnxruntime-web/webgpu"] = "./vendor/ort/ort.webgpu.bundle.min.mjs"
    common = pinlib.one(builder.pins, "onnxruntime-common")
    root = builder.package(common) / "dist" / "esm"
    for path in sorted(root.rglob("*.js")):
        builder.add(f"vendor/esm/onnxruntime-common/{path.relative_to(root).as_posix()}", path, common.name)
    imports["onnxruntime-common"] = "./vendor/esm/onnxruntime-common/index.js"
    site["transformersjs"] = {"version": tjs.version, "onnxruntime_web": ort.version, "wasm_paths": "vendor/ort/"}



def plan_model(builder: Any, site: dict[str, Any]) -> None:
    """The same weights as a Transformers.js model folder, cached by the GGUF's hash."""
    pin = pinlib.one(builder.pins, "model")
    gguf = builder.planned(MODEL_FILE)  # planned by _plan_models; its digest is computed once
    derived = builder.cache.root / "derived" / f"tjs-{gguf.digest()[:16]}-{TJS_RECIPE}"
    if not (derived / ".complete").exists():
        from app.engines.transformersjs.host.convert import ConversionError, convert  # noqa: PLC0415 - torch & co.: only with --transformersjs

        try:
            builder.derive(derived, lambda out: convert(gguf.source, builder.planned(TOKENIZER_FILE).source, out, builder.log))
        except ConversionError as err:
            raise BuildError(str(err)) from None
    for path in sorted(derived.rglob("*")):
        if path.is_file() and path.name not in (".complete", "conversion.json"):
            builder.add(f"{TJS_MODEL_DIR}/{path.relative_to(derived).as_posix()}", path, f"derived:{pin.name}")
    conversion = json.loads((derived / "conversion.json").read_text())
    weights = builder.planned(f"{TJS_MODEL_DIR}/{conversion['file']}")
    site["transformersjs"]["model"] = {
        # Transformers.js loads onnx/{model_file_name}{suffix of dtype}.onnx; fp32's suffix is none, and
        # fp32 is what the activations are: the weights are the GGUF's Q8_0 blocks (MatMulNBits).
        "dir": TJS_MODEL_DIR, "dtype": "fp32", "model_file_name": Path(conversion["file"]).stem,
        "file": conversion["file"],
        "weights_format": f"GGUF Q8_0 blocks (int8 x 32 + scale), same as {gguf.digest()[:8]}",
        "source_gguf_sha256": gguf.digest(),
        "weights_sha256": weights.digest(), "weights_size": weights.size(),
        "conversion": conversion,
    }

