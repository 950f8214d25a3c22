"""llama.cpp run by the host Python through llama-cpp-python's low-level ctypes API (host only).

The same steps as the reference row's wllama 2.x calls (app/engines/llamacpp/engine.py), so both rows time the same
work: `reset` clears the KV cache (llama_memory_clear), `prefill` decodes the prompt ids (llama_decode, in batches of
n_batch, logits of the last id only), and each `next_token` first decodes the previous token (so its cost lands in
this interval, as in wllama's samplingAccept + decode) and then takes the greedy id: the argmax of the last logits
(temperature 0, top-k 1, no repeat penalty). The teacher-forced check and the perplexity read the full logits
(log-softmax in float64) at every position.

The binding is imported when the engine is made, never at module import: without it the row is `unsupported` and
names the install command (support.missing_binding); a model llama.cpp cannot load is an EngineError holding
llama.cpp's own log lines. Every call into llama.cpp blocks the event loop for its duration; the benchmark loop
awaits nothing else meanwhile, so the clock's reading is the call's.
"""

from __future__ import annotations

import ctypes
import math
import os
import platform
import time
from pathlib import Path
from typing import Any

from app.engines.native import support
from app.engines.protocol import EngineBase, EngineError, Model

N_CTX = 2048  # the reference row's n_ctx (app/engines/llamacpp/engine.py): the same KV cache size
N_UBATCH = 512  # llama.cpp's default physical batch
LOG_ERROR = 4  # GGML_LOG_LEVEL_ERROR
LOG_WARN = 3
LOG_LINES_KEPT = 40


def import_binding() -> Any:
    """The `llama_cpp` module (its low-level API). Raises ImportError (or OSError: a wheel whose library
    does not load on this CPU) as `import llama_cpp` does."""
    import llama_cpp

    return llama_cpp


def llama_build(lib: Any) -> dict[str, str]:
    """The llama.cpp the binding carries: {ggml_version, ggml_commit} from its libggml (ggml_version() /
    ggml_commit(), set by llama.cpp's CMake from the vendored tree's git), "" where the library lacks them."""
    out = {"ggml_version": "", "ggml_commit": ""}
    try:
        from llama_cpp import _ggml

        for name in out:
            fn = getattr(_ggml.libggml, name)
            fn.argtypes, fn.restype = [], ctypes.c_char_p
            out[name] = (fn() or b"").decode("utf-8", "replace")
    except (ImportError, AttributeError, OSError):
        pass
    return out


class NativeEngine(EngineBase):
    engine = "llama.cpp native"
    backend = "native-cpu"

    def __init__(self, threads: int = 0, n_ctx: int = N_CTX, binding: Any = None) -> None:
        """threads: llama.cpp's thread count (0: every core this process may use). binding: the llama_cpp module
        (None: imported now; a test passes a fake)."""
        self.threads_requested = threads
        self.threads = support.threads_for(threads)
        self.n_ctx = n_ctx
        self.missing: str | None = None
        self.lib: Any = binding
        if self.lib is None:
            try:
                self.lib = import_binding()
            except (ImportError, OSError) as err:
                self.missing = support.missing_binding(err)
        if self.lib is not None and self.missing is None:
            version = str(getattr(self.lib, "__version__", ""))
            if version != support.BINDING_VERSION:
                self.missing = support.wrong_version(version)
        self.model: Any = None
        self.ctx: Any = None
        self.vocab: Any = None
        self.n_vocab = 0
        self.pending: int | None = None
        self.remaining = 0
        self.n_past = 0
        self.log_lines: list[tuple[int, str]] = []
        self._log_callback: Any = None
        self.model_path = ""
        self.forced_gaps: list[list[float]] = []  # per teacher_forced call: top-1's logit minus the target's, each step

    # --- what the benchmark asks before loading ---------------------------------------------------------------
    def context_tokens(self, model: Model) -> int | None:
        return self.n_ctx

    def unsupported_reason(self, model: Model) -> str | None:
        if self.missing:
            return self.missing
        if not isinstance(model.data, (str, Path)) or not Path(model.data).is_file():
            return f"the native engine reads the GGUF from disk, and {model.name} is not a file here ({model.data!r})"
        return None

    # --- llama.cpp's log: kept, so a refusal is reported in llama.cpp's own words -------------------------------
    def _install_log(self) -> None:
        lib = self.lib

        def on_log(level: int, text: bytes | None, _user: Any) -> None:
            line = (text or b"").decode("utf-8", "replace").rstrip()
            if line:
                self.log_lines = (self.log_lines + [(int(level), line)])[-LOG_LINES_KEPT:]

        self._log_callback = lib.llama_log_callback(on_log)  # kept: ctypes frees a callback nobody holds
        lib.llama_log_set(self._log_callback, ctypes.c_void_p(0))

    def _llama_said(self) -> str:
        errors = [t for level, t in self.log_lines if level in (LOG_ERROR, LOG_WARN)]
        return "; ".join(errors or [t for _, t in self.log_lines[-3:]]) or "(llama.cpp logged nothing)"

    # --- the protocol -----------------------------------------------------------------------------------------
    async def load(self, model: Model) -> dict[str, float]:
        lib = self.lib
        self._install_log()
        t0 = time.perf_counter()
        lib.llama_backend_init()
        self.model_path = str(model.data)
        mparams = lib.llama_model_default_params()
        mparams.n_gpu_layers = 0
        self.log_lines = []
        self.model = lib.llama_model_load_from_file(self.model_path.encode("utf-8"), mparams)
        if not self.model:
            self.model = None
            raise EngineError(f"llama.cpp (native) could not load {model.name}: {self._llama_said()}")
        cparams = lib.llama_context_default_params()
        cparams.n_ctx = self.n_ctx
        cparams.n_batch = self.n_ctx  # a whole prompt in one llama_decode, as wllama decodes it
        cparams.n_ubatch = N_UBATCH
        cparams.n_threads = self.threads
        cparams.n_threads_batch = self.threads
        cparams.no_perf = False
        self.ctx = lib.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            self.ctx = None
            raise EngineError(f"llama.cpp (native) could not make a context for {model.name}: {self._llama_said()}")
        self.vocab = lib.llama_model_get_vocab(self.model)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.flash_attn_type = int(getattr(cparams, "flash_attn_type", -1))
        return {"parse_ms": (time.perf_counter() - t0) * 1000.0}

    def _decode(self, ids: list[int]) -> None:
        """llama_decode of `ids` at the end of the sequence, in batches of n_batch. Raises EngineError."""
        lib = self.lib
        if self.n_past + len(ids) > self.n_ctx:
            raise EngineError(f"llama.cpp (native): {self.n_past + len(ids)} tokens exceed the context n_ctx {self.n_ctx}")
        step = self.n_ctx
        for start in range(0, len(ids), step):
            chunk = ids[start:start + step]
            arr = (lib.llama_token * len(chunk))(*chunk)
            rc = int(lib.llama_decode(self.ctx, lib.llama_batch_get_one(arr, len(chunk))))
            if rc != 0:
                what = "no KV slot (the context is full)" if rc == 1 else f"error {rc}"
                raise EngineError(f"llama.cpp (native) llama_decode failed: {what}: {self._llama_said()}")
            self.n_past += len(chunk)

    def _logits(self) -> Any:
        """The last position's logits as a numpy float32 view (n_vocab), valid until the next decode."""
        import numpy as np

        ptr = self.lib.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    async def reset(self) -> None:
        self.lib.llama_memory_clear(self.lib.llama_get_memory(self.ctx), True)
        self.n_past = 0
        self.pending = None

    async def prefill(self, prompt_ids: list[int], max_tokens: int) -> None:
        self._decode(list(prompt_ids))
        self.pending = None
        self.remaining = max_tokens

    async def next_token(self) -> int | None:
        if self.remaining <= 0:
            return None
        if self.pending is not None:
            # The previous token enters the KV cache only now, so its cost lands in this interval (as in wllama).
            self._decode([self.pending])
        token = int(self._logits().argmax())  # greedy: the first of equal maxima, as llama.cpp's greedy sampler
        self.pending = token
        self.remaining -= 1
        return token

    async def stop(self) -> None:
        self.remaining = 0

    async def teacher_forced(self, prefix: list[int], continuation: list[int]) -> list[tuple[int, float]]:
        import numpy as np

        await self.reset()
        self._decode(list(prefix))
        out = []
        gaps = []
        for target in continuation:
            logits = self._logits().astype(np.float64)
            top = float(logits.max())
            log_z = top + math.log(float(np.exp(logits - top).sum()))
            out.append((int(logits.argmax()), float(logits[target]) - log_z))
            gaps.append(top - float(logits[target]))
            self._decode([target])
        await self.reset()
        self.forced_gaps.append(gaps)
        return out

    def disagreement_notes(self, forced_top1: list[int], reference: list[int], limit: int = 3) -> list[str]:
        """Where this engine's teacher-forced top-1 is not the reference's next id: by how many logits its own top-1
        led the reference's id there (from the first teacher_forced call since load: the forced check), in words.
        A lead of a few hundredths of a logit is a near-tie that float rounding decides (another llama.cpp build,
        another SIMD width), not a different model."""
        gaps = self.forced_gaps[0] if self.forced_gaps else []
        out = []
        for i, (mine, ref) in enumerate(zip(forced_top1, reference)):
            if mine != ref and i < len(gaps):
                out.append(f"teacher-forced position {i}: its top-1 {mine} led the reference's {ref} by "
                           f"{gaps[i]:.3f} logits")
        if len(out) > limit:
            out = out[:limit] + [f"and {len(out) - limit} more position(s)"]
        return out

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens rendered), as llama_token_to_piece gives them."""
        buf = ctypes.create_string_buffer(64)
        n = int(self.lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, True))
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = int(self.lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, True))
        return buf.raw[:max(0, n)]

    async def decode_text(self, ids: list[int]) -> str:
        return b"".join(self.piece(t) for t in ids).decode("utf-8", "replace") if ids and self.vocab else ""

    def info(self) -> dict[str, Any]:
        lib = self.lib
        info: dict[str, Any] = {"version": str(getattr(lib, "__version__", "") or "-"),
                                "api": "llama-cpp-python low-level (llama_decode per token, argmax of the logits)",
                                "threads_requested": self.threads_requested, "threads": self.threads,
                                "cores": support.cores(), "n_ctx": self.n_ctx, "n_batch": self.n_ctx,
                                "n_ubatch": N_UBATCH, "runtime": f"host Python {platform.python_version()}",
                                "machine": platform.machine()}
        try:  # the machine's load when the row started: a shared machine's other work slows multi-thread rows most
            info["load_average_1m"] = round(os.getloadavg()[0], 2)
        except OSError:
            pass
        try:
            info["cpu"] = support.cpu_name(Path("/proc/cpuinfo").read_text(errors="replace"))
        except OSError:
            info["cpu"] = ""
        if lib is not None and not self.missing:
            build = llama_build(lib)
            info["llama_cpp_build"] = build["ggml_commit"] or "unknown"
            info["ggml_version"] = build["ggml_version"]
            try:
                info["system_info"] = lib.llama_print_system_info().decode("utf-8", "replace").strip()
            except (AttributeError, OSError):
                pass
        if self.ctx is not None:
            info["flash_attn_type"] = getattr(self, "flash_attn_type", None)
        return info

    async def unload(self) -> None:
        lib = self.lib
        if self.ctx is not None:
            lib.llama_free(self.ctx)
            self.ctx = None
        if self.model is not None:
            lib.llama_model_free(self.model)
            self.model = None
        self.vocab = None


def make(site: dict[str, Any], settings: Any, variant: Any) -> NativeEngine:
    """The registry's factory (app/engines/native/__init__.py SPEC.factory); variant.options["threads"]."""
    return NativeEngine(int(variant.options["threads"]))
