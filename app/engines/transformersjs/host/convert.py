"""Convert the build's Q8_0 GGUF into a Transformers.js model folder whose weights are the GGUF's own Q8_0 blocks.

Steps: transformers dequantizes the GGUF into a float32 LlamaForCausalLM (PyTorch's greedy ids for the
benchmark's default prompt are the reference); optimum exports it to ONNX with past key/values, and the
float32 ONNX model must give PyTorch's greedy ids; then `app.engines.transformersjs.host.q8_onnx` replaces every float weight
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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


@contextmanager
def _timed(timings: dict[str, float], key: str) -> Iterator[None]:
    """Time the block: timings[key] = its wall time in seconds (time.monotonic), set only if it ends well."""
    t = time.monotonic()
    yield
    timings[key] = time.monotonic() - t


def _prompt_ids(llama_tokenizer_json: Path) -> list[int]:
    """The default prompt in ChatML as llama.cpp encodes it (our tokenizer.json, no special tokens added), not
    the HF GGUF tokenizer's ids, which add a BOS. Raises what `tokenizers` raises for a bad or missing file."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(llama_tokenizer_json)).encode(chatml(DEFAULT_PROMPT), add_special_tokens=False).ids


@dataclass
class _Prompt:
    """The check prompt: `ids` (token ids, 1-D) and the id `generate` pads with (the tokenizer's EOS)."""

    ids: list[int]
    eos_token_id: int

    def greedy(self, model) -> list[int]:
        """The CHECK_TOKENS ids `model` (a transformers or optimum causal LM) generates greedily after it."""
        import torch

        attention = torch.ones(1, len(self.ids), dtype=torch.long)
        with torch.no_grad():
            seq = model.generate(torch.tensor([self.ids]), attention_mask=attention, max_new_tokens=CHECK_TOKENS,
                                 do_sample=False, pad_token_id=self.eos_token_id)
        return [int(x) for x in seq[0][len(self.ids):]]

    def forced_logits(self, model, continuation: list[int]) -> np.ndarray:
        """Logits predicting each token of `continuation` after the prompt, from one forward pass: float32
        [len(continuation), vocabulary]."""
        import torch

        ids = torch.tensor([self.ids + continuation])
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        return np.asarray(logits[0, len(self.ids) - 1:-1], dtype=np.float32)


@dataclass
class _Reference:
    """What PyTorch, on the weights transformers dequantized from the GGUF, does with the check prompt: its
    greedy ids (CHECK_TOKENS), the logits teacher-forced along them (float32 [CHECK_TOKENS, vocabulary]), and
    whether the model ties its input and output embeddings."""

    prompt: _Prompt
    greedy_ids: list[int]
    forced_logits: np.ndarray
    tied: bool


def _pytorch_reference(gguf: Path, llama_tokenizer_json: Path, work: Path, hf: Path,
                       log: Callable[[str], None], timings: dict[str, float]) -> _Reference:
    """Copy the GGUF into `work` (created; it must not exist), load it as a float32 LlamaForCausalLM (timed as
    load_gguf_s), take PyTorch's reference, and save the model and its tokenizer into `hf` for the export.
    Raises FileExistsError if `work` exists, and what transformers raises for a GGUF it cannot load."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _timed(timings, "load_gguf_s"):
        work.mkdir(parents=True)
        shutil.copyfile(gguf, work / "model.gguf")
        log("transformers.js conversion: dequantizing the GGUF into a float32 LlamaForCausalLM")
        model = AutoModelForCausalLM.from_pretrained(str(work), gguf_file="model.gguf", dtype=torch.float32)
        model.eval()
        tokenizer = AutoTokenizer.from_pretrained(str(work), gguf_file="model.gguf")
    prompt = _Prompt(_prompt_ids(llama_tokenizer_json), tokenizer.eos_token_id)
    torch_ids = prompt.greedy(model)
    reference = _Reference(prompt, torch_ids, prompt.forced_logits(model, torch_ids),
                           bool(model.config.tie_word_embeddings))
    model.save_pretrained(hf)
    tokenizer.save_pretrained(hf)
    return reference


def _export_onnx(hf: Path, onnx_dir: Path, reference: _Reference, log: Callable[[str], None],
                 timings: dict[str, float]) -> list[int]:
    """Export the model saved in `hf` to `onnx_dir`/model.onnx (float32, with past key/values; timed as
    export_s) -> its greedy ids for the check prompt. Raises ConversionError unless they are PyTorch's."""
    from optimum.exporters.onnx import main_export
    from optimum.onnxruntime import ORTModelForCausalLM

    log("transformers.js conversion: exporting to ONNX (text-generation-with-past)")
    with _timed(timings, "export_s"):
        main_export(str(hf), output=str(onnx_dir), task="text-generation-with-past", device="cpu", do_validation=False)
    fp32_ids = reference.prompt.greedy(
        ORTModelForCausalLM.from_pretrained(str(onnx_dir), file_name="model.onnx", use_cache=True))
    if fp32_ids != reference.greedy_ids:
        raise ConversionError(
            f"the float32 ONNX model's greedy ids differ from PyTorch's for the default prompt:\n"
            f"  PyTorch: {reference.greedy_ids}\n  ONNX:    {fp32_ids}\nThe export is wrong; nothing was written."
        )
    return fp32_ids


def _carry_q8_0_blocks(gguf: Path, onnx_dir: Path, log: Callable[[str], None],
                       timings: dict[str, float]) -> tuple[dict, dict]:
    """Rewrite `onnx_dir`/model.onnx onto the GGUF's own Q8_0 blocks (q8_onnx.rewrite; timed as
    rewrite_s), check every weight against gguf.quants.dequantize (q8_onnx.check_weights; timed as
    weights_check_s) and save it as `onnx_dir`/model_q8_0.onnx -> (the rewrite's record, the check's record).
    Raises ConversionError when the rewrite fails or the check does not pass, onnx.checker.ValidationError for
    an invalid graph."""
    import onnx

    from app.engines.transformersjs.host import q8_onnx

    log("transformers.js conversion: carrying the GGUF's Q8_0 blocks into the ONNX graph (MatMulNBits, 8 bits, block 32)")
    with _timed(timings, "rewrite_s"):
        weights, _ = q8_onnx.read_gguf(gguf)
        graph = onnx.load(str(onnx_dir / "model.onnx"))
        try:
            rewritten = q8_onnx.rewrite(graph, weights)
        except q8_onnx.Q8Error as err:
            raise ConversionError(f"the Q8_0 rewrite failed: {err}; nothing was written") from None
    log("transformers.js conversion: checking every weight of the graph against gguf.quants.dequantize")
    with _timed(timings, "weights_check_s"):
        weights_check = q8_onnx.check_weights(graph, weights)
    if not weights_check["passed"]:
        raise ConversionError(
            "the Q8_0 ONNX graph does not compute with the GGUF's weights:\n  "
            + "\n  ".join(weights_check["mismatches"]) + "\nNothing was written."
        )
    onnx.checker.check_model(graph)
    onnx.save(graph, str(onnx_dir / f"{MODEL_FILE_NAME}.onnx"))
    return rewritten, weights_check


def _teacher_forced_comparison(reference: _Reference, q8_forced: np.ndarray) -> dict:
    """The Q8_0 model's teacher-forced logits (float32 [CHECK_TOKENS, vocabulary]) against PyTorch's:
    positions compared, the share whose argmax agrees (0..1), the largest absolute logit difference and the
    largest absolute PyTorch logit (both in logits, float). Raises nothing."""
    torch_forced = reference.forced_logits
    return {
        "positions": len(reference.greedy_ids),
        "top1_agreement": float(np.mean(torch_forced.argmax(-1) == q8_forced.argmax(-1))),
        "max_abs_logit_diff": float(np.abs(torch_forced - q8_forced).max()),
        "max_abs_logit": float(np.abs(torch_forced).max()),
    }


def _check_q8_0_model(onnx_dir: Path, reference: _Reference,
                      timings: dict[str, float]) -> tuple[list[int], dict]:
    """Run `onnx_dir`/model_q8_0.onnx on the check prompt (timed as q8_0_check_s) -> (its greedy ids, the
    teacher-forced comparison). Raises ConversionError unless its greedy ids are PyTorch's."""
    from optimum.onnxruntime import ORTModelForCausalLM

    with _timed(timings, "q8_0_check_s"):
        q8_model = ORTModelForCausalLM.from_pretrained(str(onnx_dir), file_name=f"{MODEL_FILE_NAME}.onnx", use_cache=True)
        q8_ids = reference.prompt.greedy(q8_model)
        q8_forced = reference.prompt.forced_logits(q8_model, reference.greedy_ids)
        del q8_model
    forced = _teacher_forced_comparison(reference, q8_forced)
    if q8_ids != reference.greedy_ids:
        raise ConversionError(
            f"the Q8_0 ONNX model's greedy ids differ from PyTorch's on the same dequantized weights:\n"
            f"  PyTorch: {reference.greedy_ids}\n  ONNX:    {q8_ids}\n  teacher-forced: {forced}\nNothing was written."
        )
    return q8_ids, forced


def _write_model_folder(out: Path, work: Path, hf: Path, onnx_dir: Path) -> int:
    """Copy the served files (SERVED, from the export or else from `hf`) and the Q8_0 model (MODEL_FILE) into
    `out`, then remove `work` -> the float32 export's size in bytes. Raises OSError (FileExistsError if
    out/onnx exists)."""
    (out / "onnx").mkdir()
    for name in SERVED:
        shutil.copyfile(onnx_dir / name if (onnx_dir / name).exists() else hf / name, out / name)
    shutil.copyfile(onnx_dir / f"{MODEL_FILE_NAME}.onnx", out / MODEL_FILE)
    fp32_size = (onnx_dir / "model.onnx").stat().st_size
    shutil.rmtree(work)
    return fp32_size


def _changes(rewritten: dict, tied: bool) -> list[str]:
    """conversion.json's "changes": what the Q8_0 model differs in from the float32 export, in words."""
    n_linear = len(rewritten["linear"])
    return [
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
    ]


def _report(gguf: Path, out: Path, *, reference: _Reference, rewritten: dict, weights_check: dict,
            fp32_ids: list[int], q8_ids: list[int], forced: dict, fp32_size: int,
            timings: dict[str, float]) -> dict:
    """conversion.json's record: the method, what changed, every check's result, sizes in bytes (of the GGUF,
    the float32 export and the served Q8_0 model in `out`) and the timings in seconds. Raises OSError if a
    file is gone."""
    import onnxruntime

    torch_ids = reference.greedy_ids
    return {
        "source_gguf": gguf.name,
        "method": "gguf-q8_0-blocks",
        "file": MODEL_FILE,
        "operators": {
            "linear": "MatMulNBits (com.microsoft) bits=8 block_size=32 accuracy_level=0 (float32 activations)",
            "embedding": "Gather of the uint8 blocks and of the scales, then Cast, Sub 128, Mul (standard ONNX ops)",
        },
        "changes": _changes(rewritten, reference.tied),
        "tie_word_embeddings": reference.tied,
        "weights_check": weights_check,
        "check_prompt_ids": reference.prompt.ids,
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


def convert(gguf: Path, llama_tokenizer_json: Path, out: Path, log: Callable[[str], None]) -> dict:
    """Convert the Q8_0 GGUF `gguf` into a Transformers.js model folder in `out` (an existing, empty folder):
    the SERVED files, MODEL_FILE and conversion.json, whose record (sizes in bytes, timings in seconds) it
    returns. `llama_tokenizer_json` encodes the check prompt; `log` gets a line per step. Raises
    ConversionError when the convert extra is missing or a self-check fails (out/work is then left for the
    caller to remove)."""
    _imports()
    started = time.monotonic()
    timings: dict[str, float] = {}
    work = out / "work"
    hf = work / "hf"
    onnx_dir = work / "onnx"
    reference = _pytorch_reference(gguf, llama_tokenizer_json, work, hf, log, timings)
    fp32_ids = _export_onnx(hf, onnx_dir, reference, log, timings)
    rewritten, weights_check = _carry_q8_0_blocks(gguf, onnx_dir, log, timings)
    q8_ids, forced = _check_q8_0_model(onnx_dir, reference, timings)
    fp32_size = _write_model_folder(out, work, hf, onnx_dir)
    timings["total_s"] = time.monotonic() - started
    report = _report(gguf, out, reference=reference, rewritten=rewritten, weights_check=weights_check,
                     fp32_ids=fp32_ids, q8_ids=q8_ids, forced=forced, fp32_size=fp32_size, timings=timings)
    (out / "conversion.json").write_text(json.dumps(report, indent=1))
    log(f"transformers.js conversion done in {timings['total_s']:.0f} s: {weights_check['q8_0_tensors']} Q8_0 and "
        f"{weights_check['f32_tensors']} F32 tensors equal to the GGUF's, greedy ids = PyTorch's")
    return report
