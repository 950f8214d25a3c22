"""Will a model fit an engine's memory here? Estimates from the GGUF's metadata, checked before anything loads.

An engine in WebAssembly can address at most its memory's limit: 4 GiB for a wasm32 build (65,536 pages of
64 KiB: the WebAssembly spec's 32-bit index space) and 16 GiB for a Memory64 build in Chromium (V8's limit for
64-bit memories, 262,144 pages). What an engine needs is estimated from the file: its bytes (the weights; every
engine here keeps them as they are in the file) times how many copies the engine holds while loading, plus its
KV cache at the context it allocates (2 tensors, K and V, of n_layer x n_ctx x n_embd_kv values; n_embd_kv =
n_embd / n_head x n_head_kv). The estimate is a floor (compute buffers and the runtime's own memory come on top),
so a refusal is certain, never a guess that a model which would load will not; a model under the floor can still
fail, and then its row says how (app.engines' rows end in words).

Figures per engine live in the engine's folder (its support.py), with how they were found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GIB = 1 << 30
WASM32_BYTES = 4 * GIB
MEMORY64_CHROMIUM_BYTES = 16 * GIB


@dataclass(frozen=True)
class Estimate:
    weights: int  # bytes of the file the engine holds (times its copies)
    kv: int  # bytes of its KV cache
    n_ctx: int
    copies: int = 1

    @property
    def total(self) -> int:
        return self.weights + self.kv


def _int(metadata: dict[str, Any], key: str) -> int | None:
    v = metadata.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else None


def kv_bytes(metadata: dict[str, Any], n_ctx: int, bytes_per_value: int) -> int:
    """K and V for every layer at `n_ctx` tokens (bytes); 0 where the metadata lacks the shapes."""
    arch = metadata.get("general.architecture")
    n_layer = _int(metadata, f"{arch}.block_count")
    n_embd = _int(metadata, f"{arch}.embedding_length")
    n_head = _int(metadata, f"{arch}.attention.head_count")
    n_head_kv = _int(metadata, f"{arch}.attention.head_count_kv") or n_head
    if not (n_layer and n_embd and n_head and n_head_kv):
        return 0
    head_dim = _int(metadata, f"{arch}.attention.key_length") or n_embd // n_head
    return 2 * n_layer * n_ctx * head_dim * n_head_kv * bytes_per_value


def estimate(file_bytes: int, metadata: dict[str, Any], n_ctx: int, copies: int = 1, kv_value_bytes: int = 2) -> Estimate:
    """What an engine holding `copies` of the file and an n_ctx KV cache of `kv_value_bytes` values needs."""
    return Estimate(weights=copies * file_bytes, kv=kv_bytes(metadata, n_ctx, kv_value_bytes), n_ctx=n_ctx,
                    copies=copies)


def gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def over_limit(est: Estimate, limit: int, what: str) -> str | None:
    """The refusal, naming the limit and the estimate, when `est` exceeds `limit` bytes; else None."""
    if est.total <= limit:
        return None
    kv = f" + its KV cache at {est.n_ctx:,} tokens {gib(est.kv)}" if est.kv else ""
    held = "the file" if est.copies == 1 else f"the file {est.copies} times"
    return (f"needs at least {gib(est.total)} ({held} {gib(est.weights)}{kv}), more than {what} can address "
            f"({gib(limit)}); pick a smaller model or quantization")


def budget_lines(features: dict[str, bool] | None, adapter: dict[str, Any] | None,
                 device_memory_gb: float | None) -> list[tuple[str, str]]:
    """The page's "Model budget" rows: (what, its limit in words), from what the browser tells (its WebAssembly
    features, the WebGPU adapter's limits, navigator.deviceMemory)."""
    features = features or {}
    rows = [("wasm32 engines (flare-web 0.2.21; wllama 2.3.7, 3.13 compat)", f"{gib(WASM32_BYTES)} address space each")]
    if features.get("memory64"):
        rows.append(("Memory64 engines (wllama 2.4.0; 3.13 JSPI)", f"{gib(MEMORY64_CHROMIUM_BYTES)} address space each "
                                                                     "(V8's limit for a 64-bit memory)"))
    else:
        rows.append(("Memory64 engines", "not here: this browser has no 64-bit WebAssembly memory"))
    if adapter and "max_buffer_size" in adapter:
        rows.append(("WebGPU adapter", f"one buffer at most {gib(adapter['max_buffer_size'])}, one storage binding at "
                                       f"most {gib(adapter['max_storage_buffer_binding_size'])}"))
    else:
        rows.append(("WebGPU adapter", "none"))
    if device_memory_gb:
        rows.append(("Device memory (navigator.deviceMemory)", f"about {device_memory_gb:g} GB (browsers round it and "
                                                                "cap it, Chromium at 8): the whole browser shares it"))
    return rows


def fit_words(file_bytes: int, metadata: dict[str, Any], features: dict[str, bool] | None,
              rules: list[tuple[str, Any]], n_ctx: int = 2048) -> str:
    """"fits: A, B; too big for: C" for the engines `rules` names [(title, memory_problems)], from the file's size
    and whatever metadata is known (without shapes, the KV cache is left out: a floor)."""
    fits, too_big = [], []
    for title, rule in rules:
        (too_big if rule(file_bytes, metadata, features, n_ctx) else fits).append(title)
    parts = ([f"fits: {', '.join(fits)}"] if fits else []) + ([f"too big for: {', '.join(too_big)}"] if too_big else [])
    return "; ".join(parts)


def storage_binding_problem(largest_tensor_bytes: int, adapter: dict[str, Any] | None) -> str | None:
    """Why a WebGPU engine cannot bind the model's largest tensor as one storage buffer on this adapter (its
    maxStorageBufferBindingSize, and maxBufferSize), or None. Every WebGPU engine here binds each weight tensor
    whole (llama.cpp's WebGPU backend, flare-web, ONNX Runtime Web)."""
    if not adapter or not largest_tensor_bytes or "max_storage_buffer_binding_size" not in adapter:
        return None
    limit = min(adapter["max_storage_buffer_binding_size"], adapter.get("max_buffer_size") or adapter["max_storage_buffer_binding_size"])
    if largest_tensor_bytes <= limit:
        return None
    return (f"its largest tensor is {largest_tensor_bytes / (1 << 20):,.0f} MiB, more than this WebGPU adapter binds as "
            f"one storage buffer ({limit / (1 << 20):,.0f} MiB: maxStorageBufferBindingSize / maxBufferSize)")
