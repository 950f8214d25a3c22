"""Convert the build's Q8_0 GGUF into a Transformers.js model folder (ONNX, 8-bit), checking itself.

Steps: transformers dequantizes the GGUF into a float32 LlamaForCausalLM; optimum exports it to
ONNX with past key/values; onnxruntime quantizes the weights to int8 (per channel); the greedy ids
of the float32 ONNX model and of the int8 one, for the benchmark's default prompt, are compared with
PyTorch's. A float32 mismatch stops the build: the export itself would be wrong. The int8 model's
agreement is recorded (the browser rows check it against llama.cpp again).
Heavy dependencies (torch, transformers, optimum-onnx, onnxruntime) live in the `convert` extra.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from app.core.chat import chatml
from app.core.settings import DEFAULT_PROMPT

CHECK_TOKENS = 16
SERVED = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class ConversionError(RuntimeError):
    pass


def _imports():
    try:
        import torch  # noqa: F401
        from optimum.exporters.onnx import main_export  # noqa: F401
        from optimum.onnxruntime import ORTModelForCausalLM  # noqa: F401
        from transformers import AutoModelForCausalLM  # noqa: F401
    except ImportError as err:
        raise ConversionError(
            f"the Transformers.js conversion needs the `convert` extra ({err.name} is missing): "
            "pip install -e '.[convert]'"
        ) from None


def convert(gguf: Path, llama_tokenizer_json: Path, out: Path, log: Callable[[str], None]) -> dict:
    _imports()
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTModelForCausalLM
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    timings: dict[str, float] = {}
    work = out / "work"
    hf = work / "hf"
    onnx_dir = work / "onnx"
    work.mkdir(parents=True)
    shutil.copyfile(gguf, work / "model.gguf")

    log("transformers.js conversion: dequantizing the GGUF into a float32 LlamaForCausalLM")
    model = AutoModelForCausalLM.from_pretrained(str(work), gguf_file="model.gguf", dtype=torch.float32)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(work), gguf_file="model.gguf")
    timings["load_gguf_s"] = time.monotonic() - started
    # The prompt ids llama.cpp uses (our tokenizer.json), not the HF GGUF tokenizer's, which adds a BOS.
    prompt_ids = Tokenizer.from_file(str(llama_tokenizer_json)).encode(chatml(DEFAULT_PROMPT), add_special_tokens=False).ids
    attention = torch.ones(1, len(prompt_ids), dtype=torch.long)

    def greedy(m) -> list[int]:
        with torch.no_grad():
            seq = m.generate(torch.tensor([prompt_ids]), attention_mask=attention, max_new_tokens=CHECK_TOKENS,
                             do_sample=False, pad_token_id=tokenizer.eos_token_id)
        return [int(x) for x in seq[0][len(prompt_ids):]]

    torch_ids = greedy(model)
    tied = bool(model.config.tie_word_embeddings)
    model.save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    del model

    log("transformers.js conversion: exporting to ONNX (text-generation-with-past)")
    t = time.monotonic()
    main_export(str(hf), output=str(onnx_dir), task="text-generation-with-past", device="cpu", do_validation=False)
    timings["export_s"] = time.monotonic() - t
    fp32_ids = greedy(ORTModelForCausalLM.from_pretrained(str(onnx_dir), file_name="model.onnx", use_cache=True))
    if fp32_ids != torch_ids:
        raise ConversionError(
            f"the float32 ONNX model's greedy ids differ from PyTorch's for the default prompt:\n"
            f"  PyTorch: {torch_ids}\n  ONNX:    {fp32_ids}\nThe export is wrong; nothing was written."
        )

    log("transformers.js conversion: quantizing weights to int8 (per channel)")
    t = time.monotonic()
    quantize_dynamic(str(onnx_dir / "model.onnx"), str(onnx_dir / "model_quantized.onnx"),
                     weight_type=QuantType.QInt8, per_channel=True)
    timings["quantize_s"] = time.monotonic() - t
    q8_ids = greedy(ORTModelForCausalLM.from_pretrained(str(onnx_dir), file_name="model_quantized.onnx", use_cache=True))
    q8_match = sum(a == b for a, b in zip(torch_ids, q8_ids)) / max(len(torch_ids), len(q8_ids))

    (out / "onnx").mkdir()
    for name in SERVED:
        shutil.copyfile(onnx_dir / name if (onnx_dir / name).exists() else hf / name, out / name)
    shutil.copyfile(onnx_dir / "model_quantized.onnx", out / "onnx" / "model_quantized.onnx")
    fp32_size = (onnx_dir / "model.onnx").stat().st_size
    shutil.rmtree(work)
    timings["total_s"] = time.monotonic() - started
    report = {
        "source_gguf": gguf.name,
        "changes": [
            "GGUF Q8_0 weights dequantized to float32 by transformers, then re-quantized by onnxruntime "
            "(dynamic int8, per-channel weight scales): not bit-identical to the GGUF's Q8_0 blocks",
            "tied input/output embeddings are stored twice in the ONNX graph (embedding table and a transposed "
            "lm_head MatMul initializer)" if tied else "untied embeddings kept as in the GGUF",
            "float32 ONNX model (with past key/values) not served; no fp16 variant",
        ],
        "tie_word_embeddings": tied,
        "check_prompt_ids": prompt_ids,
        "torch_greedy_ids": torch_ids,
        "onnx_fp32_greedy_ids": fp32_ids,
        "onnx_q8_greedy_ids": q8_ids,
        "onnx_q8_greedy_match": q8_match,
        "onnx_fp32_bytes": fp32_size,
        "onnx_q8_bytes": (out / "onnx" / "model_quantized.onnx").stat().st_size,
        "timings": timings,
    }
    (out / "conversion.json").write_text(json.dumps(report, indent=1))
    log(f"transformers.js conversion done in {timings['total_s']:.0f} s: int8 greedy match {q8_match:.0%}")
    return report
