"""Convert the build's Q8_0 GGUF into a Transformers.js model folder whose weights are the GGUF's own Q8_0 blocks.

Steps: transformers dequantizes the GGUF into a float32 LlamaForCausalLM (PyTorch's greedy ids for the
benchmark's default prompt are the reference); optimum exports it to ONNX with past key/values, and the
float32 ONNX model must give PyTorch's greedy ids; then `app.host.q8_onnx` replaces every float weight
that came from a Q8_0 tensor by that tensor's int8 blocks and scales (MatMulNBits, 8 bits, block 32;
the tied embedding gathered from the same blocks) and F32 tensors stay F32. Two self-checks stop the
build: every weight the graph computes with, dequantized on the host, must equal
`gguf.quants.dequantize` of its GGUF tensor bit for bit; and the Q8_0 ONNX model's greedy ids must be
PyTorch's (same weights, both float32). Both results, and a teacher-forced comparison of the logits,
go into conversion.json (and the site manifest).
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
MODEL_FILE_NAME = "model_q8_0"  # Transformers.js: model_file_name, with dtype fp32 (no suffix): onnx/model_q8_0.onnx
MODEL_FILE = f"onnx/{MODEL_FILE_NAME}.onnx"


class ConversionError(RuntimeError):
    pass


def _imports():
    try:
        import gguf  # noqa: F401
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
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
    import numpy as np
    import onnx
    import onnxruntime
    import torch
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTModelForCausalLM
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from app.host import q8_onnx

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

    def forced_logits(m, continuation: list[int]) -> np.ndarray:
        """Logits predicting each token of `continuation` after the prompt, from one forward pass."""
        ids = torch.tensor([prompt_ids + continuation])
        with torch.no_grad():
            logits = m(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        return np.asarray(logits[0, len(prompt_ids) - 1:-1], dtype=np.float32)

    torch_ids = greedy(model)
    torch_forced = forced_logits(model, torch_ids)
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

    log("transformers.js conversion: carrying the GGUF's Q8_0 blocks into the ONNX graph (MatMulNBits, 8 bits, block 32)")
    t = time.monotonic()
    weights, _ = q8_onnx.read_gguf(gguf)
    graph = onnx.load(str(onnx_dir / "model.onnx"))
    try:
        rewritten = q8_onnx.rewrite(graph, weights)
    except q8_onnx.Q8Error as err:
        raise ConversionError(f"the Q8_0 rewrite failed: {err}; nothing was written") from None
    timings["rewrite_s"] = time.monotonic() - t
    log("transformers.js conversion: checking every weight of the graph against gguf.quants.dequantize")
    t = time.monotonic()
    weights_check = q8_onnx.check_weights(graph, weights)
    timings["weights_check_s"] = time.monotonic() - t
    if not weights_check["passed"]:
        raise ConversionError(
            "the Q8_0 ONNX graph does not compute with the GGUF's weights:\n  "
            + "\n  ".join(weights_check["mismatches"]) + "\nNothing was written."
        )
    onnx.checker.check_model(graph)
    onnx.save(graph, str(onnx_dir / f"{MODEL_FILE_NAME}.onnx"))
    del graph, weights

    t = time.monotonic()
    q8_model = ORTModelForCausalLM.from_pretrained(str(onnx_dir), file_name=f"{MODEL_FILE_NAME}.onnx", use_cache=True)
    q8_ids = greedy(q8_model)
    q8_forced = forced_logits(q8_model, torch_ids)
    del q8_model
    timings["q8_0_check_s"] = time.monotonic() - t
    forced = {
        "positions": len(torch_ids),
        "top1_agreement": float(np.mean(torch_forced.argmax(-1) == q8_forced.argmax(-1))),
        "max_abs_logit_diff": float(np.abs(torch_forced - q8_forced).max()),
        "max_abs_logit": float(np.abs(torch_forced).max()),
    }
    if q8_ids != torch_ids:
        raise ConversionError(
            f"the Q8_0 ONNX model's greedy ids differ from PyTorch's on the same dequantized weights:\n"
            f"  PyTorch: {torch_ids}\n  ONNX:    {q8_ids}\n  teacher-forced: {forced}\nNothing was written."
        )

    (out / "onnx").mkdir()
    for name in SERVED:
        shutil.copyfile(onnx_dir / name if (onnx_dir / name).exists() else hf / name, out / name)
    shutil.copyfile(onnx_dir / f"{MODEL_FILE_NAME}.onnx", out / MODEL_FILE)
    fp32_size = (onnx_dir / "model.onnx").stat().st_size
    shutil.rmtree(work)
    timings["total_s"] = time.monotonic() - started
    n_linear = len(rewritten["linear"])
    report = {
        "source_gguf": gguf.name,
        "method": "gguf-q8_0-blocks",
        "file": MODEL_FILE,
        "operators": {
            "linear": "MatMulNBits (com.microsoft) bits=8 block_size=32 accuracy_level=0 (float32 activations)",
            "embedding": "Gather of the uint8 blocks and of the scales, then Cast, Sub 128, Mul (standard ONNX ops)",
        },
        "changes": [
            (f"{len(rewritten['blocks'])} Q8_0 tensors carried as their own blocks ({n_linear} MatMulNBits nodes): "
             "each int8 value stored as uint8 value + 128 (MatMulNBits' default zero point for 8 bits), each "
             "block's float16 scale widened to float32 (exact; MatMulNBits' scales have the activations' type)"),
            ("rows of attn_q / attn_k in the order transformers loads them (llama.cpp's rope permutation undone): "
             "whole rows move, every block kept"),
            f"{len(rewritten['kept_float'])} F32 tensors (norms) kept as F32",
            ("tied embeddings: token_embd's Q8_0 blocks are stored once and used twice: the input embedding "
             "gathers the token's blocks and scales and dequantizes them in the graph, the output projection is a "
             "MatMulNBits on the same initializers") if tied else "untied embeddings: each kept as its own Q8_0 blocks",
            ("activations stay float32 (llama.cpp quantizes them to Q8_0 for its dot products: an engine "
             "difference, not a weights difference)"),
            ("float32 ONNX export not served; the earlier dynamic int8 model (onnxruntime quantize_dynamic, "
             "per-channel, not these weights) is no longer built"),
        ],
        "tie_word_embeddings": tied,
        "weights_check": weights_check,
        "check_prompt_ids": prompt_ids,
        "torch_greedy_ids": torch_ids,
        "onnx_fp32_greedy_ids": fp32_ids,
        "onnx_q8_0_greedy_ids": q8_ids,
        "onnx_q8_0_greedy_match": sum(a == b for a, b in zip(torch_ids, q8_ids)) / max(len(torch_ids), len(q8_ids)),
        "onnx_q8_0_teacher_forced_vs_torch": forced,
        "onnxruntime_host": onnxruntime.__version__,
        "onnx_fp32_bytes": fp32_size,
        "onnx_q8_0_bytes": (out / MODEL_FILE).stat().st_size,
        "gguf_bytes": gguf.stat().st_size,
        "timings": timings,
    }
    (out / "conversion.json").write_text(json.dumps(report, indent=1))
    log(f"transformers.js conversion done in {timings['total_s']:.0f} s: {weights_check['q8_0_tensors']} Q8_0 and "
        f"{weights_check['f32_tensors']} F32 tensors equal to the GGUF's, greedy ids = PyTorch's")
    return report
