"""What an engine did not report: WebGPU errors, lost devices, WASM traps and console errors of a row.

web/static/gpu_capture.js records raw events while a row runs; `summarize` turns them into the
row's `gpu_errors`, `console_errors` and `gpu_devices` fields (pure: host-testable).

Why it matters: WebGPU reports a pipeline that fails validation only on the device's
`uncapturederror` event; the engine's calls still return, so an engine can emit ids at full speed
while computing nothing (flare-web 0.2.21, workgroup storage 16,416 > 16,384 bytes:
../shared/NOTES.md, "Seen on 2026-11-29"). Source of the event model: the WebGPU spec,
"GPUDevice uncapturederror" and "GPUDevice.lost" (https://www.w3.org/TR/webgpu/).
"""

from __future__ import annotations

from typing import Any

# The kinds a reader sees, in the order of how bad they are.
GPU_KINDS = ("device-lost", "out-of-memory", "validation", "internal", "request-device")
FIRST_MESSAGES = 3
MESSAGE_CHARS = 600

# A panic hook or an aborting WASM module prints one of these to the console.
TRAP_MARKERS = ("panicked at", "RuntimeError: unreachable", "Aborted(", "abort(", "memory access out of bounds")


def _first(messages: list[str]) -> list[str]:
    out: list[str] = []
    for m in messages:
        m = m.strip()[:MESSAGE_CHARS]
        if m and m not in out:
            out.append(m)
        if len(out) == FIRST_MESSAGES:
            break
    return out


def classify_console(message: str) -> str:
    """'wasm-trap' for a Rust panic / WASM abort printed to the console, else 'console-error'."""
    return "wasm-trap" if any(marker in message for marker in TRAP_MARKERS) else "console-error"


def summarize(raw: dict[str, Any] | None) -> dict[str, Any]:
    """The row fields from one capture bucket.

    raw: {"events": [{"source": "webgpu"|"console"|"page", "kind", "message", "device"?}],
    "dropped": int, "devices": [{"index", "requested", "granted", "adapterLimitsShim", "raised"}]}.
    Returns {"gpu_errors": {"count", "by_kind": {kind: n}, "first_messages": [..≤3]} or None,
    "console_errors": {"count", "by_kind", "first_messages"} or None, "gpu_devices": [...]}.
    `count` includes events dropped past the recorder's cap (200 a row).
    """
    raw = raw or {}
    events = raw.get("events") or []
    gpu = [e for e in events if e.get("source") == "webgpu"]
    other = [e for e in events if e.get("source") != "webgpu"]
    result: dict[str, Any] = {"gpu_errors": None, "console_errors": None, "gpu_devices": []}
    if gpu:
        by_kind: dict[str, int] = {}
        for e in gpu:
            by_kind[e.get("kind", "unknown")] = by_kind.get(e.get("kind", "unknown"), 0) + 1
        if raw.get("dropped"):
            by_kind["more, not recorded"] = int(raw["dropped"])  # past the recorder's cap; their kinds are unknown
        ordered = sorted(gpu, key=lambda e: GPU_KINDS.index(e["kind"]) if e.get("kind") in GPU_KINDS else len(GPU_KINDS))
        result["gpu_errors"] = {"count": len(gpu) + int(raw.get("dropped") or 0), "by_kind": by_kind,
                                "first_messages": _first([str(e.get("message", "")) for e in ordered])}
    if other:
        by_kind = {}
        for e in other:
            kind = classify_console(str(e.get("message", ""))) if e.get("source") == "console" else str(e.get("kind"))
            by_kind[kind] = by_kind.get(kind, 0) + 1
        traps_first = sorted(other, key=lambda e: classify_console(str(e.get("message", ""))) != "wasm-trap")
        result["console_errors"] = {"count": len(other), "by_kind": by_kind,
                                    "first_messages": _first([str(e.get("message", "")) for e in traps_first])}
    for d in raw.get("devices") or []:
        result["gpu_devices"].append({
            "requested_limits": d.get("requested") or {},
            "granted_limits": _interesting(d.get("granted") or {}),
            "adapter_limits_shim": bool(d.get("adapterLimitsShim")),
            "raised_limits": d.get("raised") or {},
            "buffers": d.get("buffers"),
            "buffer_bytes_peak": d.get("bufferBytesPeak"),
            "buffer_bytes_at_end": d.get("bufferBytes"),
        })
    return result


# The granted limits worth keeping per device (all of them would be ~30 numbers a row).
INTERESTING_LIMITS = ("maxComputeWorkgroupStorageSize", "maxStorageBufferBindingSize", "maxBufferSize",
                      "maxComputeInvocationsPerWorkgroup", "maxComputeWorkgroupSizeX", "maxStorageBuffersPerShaderStage")


def _interesting(limits: dict[str, Any]) -> dict[str, Any]:
    return {k: limits[k] for k in INTERESTING_LIMITS if k in limits}


def headline(row: dict[str, Any]) -> str | None:
    """One line for under a row: the first GPU error, with how many there were."""
    g = row.get("gpu_errors")
    if not g or not g.get("count"):
        return None
    kinds = ", ".join(f"{n} {k}" for k, n in g["by_kind"].items())
    first = g["first_messages"][0] if g.get("first_messages") else "(no message)"
    return f"GPU errors ({kinds}): {first}"
