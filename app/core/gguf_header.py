"""Read and check a GGUF file's header in pure Python, before any engine sees the file.

Runs on the host (CLI --model) and in Pyodide (a file picked in the page). It reads only the
header (metadata and tensor table, a few MB at most), so model bytes stay where they are. Every
problem becomes a GGUFError whose message names what is wrong and what to do.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

MAGIC = b"GGUF"
MAX_TENSORS = 100_000
MAX_KV = 100_000
MAX_ARRAY = 10_000_000
MAX_STRING = 1 << 24
MAX_DIMS = 4

# GGML tensor types: id -> (name, elements per block, bytes per block).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2),
}

# flare-web 0.2.21: FlareEngine.load keeps weights raw and has kernels for Q8_0 and Q4_K only;
# Q4_1 panics on load ("range end index 576 out of range"). F32/F16 norms and biases are fine.
FLARE_RUNNABLE = frozenset({"F32", "F16", "Q8_0", "Q4_K"})

# Value types of GGUF metadata.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class GGUFError(ValueError):
    """The file is not a GGUF model this benchmark can use; the message says why."""


class NeedMoreBytes(Exception):
    """The header continues past the bytes given; read at least `needed` bytes and try again."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


@dataclass
class TensorInfo:
    name: str
    dims: list[int]
    type_id: int
    offset: int

    @property
    def type_name(self) -> str:
        return GGML_TYPES.get(self.type_id, (f"type {self.type_id}", 0, 0))[0]

    def nbytes(self) -> int:
        _, block, size = GGML_TYPES[self.type_id]
        elements = 1
        for d in self.dims:
            elements *= d
        return elements // block * size


@dataclass
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    data_offset: int
    file_size: int
    type_counts: dict[str, int] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "?"))

    def summary(self) -> dict[str, Any]:
        return {
            "gguf_version": self.version,
            "architecture": self.architecture,
            "name": self.metadata.get("general.name"),
            "tensors": len(self.tensors),
            "tensor_types": dict(sorted(self.type_counts.items())),
            "file_type": self.metadata.get("general.file_type"),
            "size": self.file_size,
        }


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf = memoryview(buf)
        self.pos = 0

    def take(self, n: int) -> memoryview:
        end = self.pos + n
        if end > len(self.buf):
            raise NeedMoreBytes(end)
        out = self.buf[self.pos:end]
        self.pos = end
        return out

    def scalar(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self, what: str) -> str:
        n = self.scalar("<Q")
        if n > MAX_STRING:
            raise GGUFError(f"{what}: a string claims {n} bytes; the file is corrupt")
        return bytes(self.take(n)).decode("utf-8", errors="replace")

    def value(self, vtype: int, what: str):
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY:
            item_type = self.scalar("<I")
            count = self.scalar("<Q")
            if count > MAX_ARRAY:
                raise GGUFError(f"{what}: an array claims {count} items; the file is corrupt")
            if item_type in _SCALARS:
                fmt = _SCALARS[item_type]
                size = struct.calcsize(fmt)
                raw = self.take(size * count)
                return list(struct.unpack(f"<{count}{fmt[1]}", raw))
            return [self.value(item_type, what) for _ in range(count)]
        raise GGUFError(f"{what}: unknown metadata value type {vtype}; the file is corrupt or not GGUF")


def parse_header(buf: bytes, file_size: int) -> GGUFHeader:
    """Parse the header held in `buf` (the file's first bytes). Raises NeedMoreBytes or GGUFError."""
    r = _Reader(buf)
    if len(buf) >= 4 and bytes(buf[:4]) != MAGIC:
        raise GGUFError(
            f"not a GGUF file: it starts with {bytes(buf[:4])!r}, not b'GGUF'. "
            "Pick a .gguf model file (llama.cpp's format)."
        )
    r.take(4)
    version = r.scalar("<I")
    if version not in (2, 3):
        raise GGUFError(f"GGUF version {version} is not supported (2 and 3 are)")
    tensor_count = r.scalar("<Q")
    kv_count = r.scalar("<Q")
    if tensor_count > MAX_TENSORS or kv_count > MAX_KV:
        raise GGUFError(
            f"the header claims {tensor_count} tensors and {kv_count} metadata entries: "
            "absurd counts, so the file is corrupt or not a model"
        )
    if tensor_count == 0:
        raise GGUFError("the file holds no tensors: it is not a model")
    metadata: dict[str, Any] = {}
    for i in range(kv_count):
        key = r.string(f"metadata key #{i}")
        vtype = r.scalar("<I")
        metadata[key] = r.value(vtype, f"metadata {key!r}")
    tensors = []
    for i in range(tensor_count):
        name = r.string(f"tensor #{i} name")
        n_dims = r.scalar("<I")
        if n_dims == 0 or n_dims > MAX_DIMS:
            raise GGUFError(f"tensor {name!r} claims {n_dims} dimensions; the file is corrupt")
        dims = [r.scalar("<Q") for _ in range(n_dims)]
        type_id = r.scalar("<I")
        offset = r.scalar("<Q")
        tensors.append(TensorInfo(name, dims, type_id, offset))
    alignment = int(metadata.get("general.alignment", 32))
    if alignment <= 0 or alignment & (alignment - 1):
        raise GGUFError(f"general.alignment is {alignment}; it must be a power of two")
    data_offset = (r.pos + alignment - 1) // alignment * alignment
    header = GGUFHeader(version, metadata, tensors, data_offset, file_size)
    _check_tensors(header)
    return header


def _check_tensors(h: GGUFHeader) -> None:
    counts: dict[str, int] = {}
    end = h.data_offset
    for t in h.tensors:
        if t.type_id not in GGML_TYPES:
            raise GGUFError(f"tensor {t.name!r} has unknown type id {t.type_id}; the file is corrupt or too new")
        counts[t.type_name] = counts.get(t.type_name, 0) + 1
        elements = 1
        for d in t.dims:
            if d <= 0 or d > 1 << 40:
                raise GGUFError(f"tensor {t.name!r} claims dimensions {t.dims}; the file is corrupt")
            elements *= d
        if elements % GGML_TYPES[t.type_id][1]:
            raise GGUFError(f"tensor {t.name!r}: {elements} elements do not fill whole {t.type_name} blocks")
        end = max(end, h.data_offset + t.offset + t.nbytes())
    h.type_counts = counts
    if end > h.file_size:
        raise GGUFError(
            f"the file is truncated: its tensors need {end:,} bytes, the file has {h.file_size:,}. "
            "Download it again."
        )


def read_header(read_prefix, file_size: int, first: int = 1 << 20) -> GGUFHeader:
    """Parse with `read_prefix(n) -> bytes`, growing the prefix until the whole header is in it."""
    n = min(first, file_size)
    while True:
        buf = read_prefix(n)
        try:
            return parse_header(buf, file_size)
        except NeedMoreBytes as more:
            if n >= file_size:
                raise GGUFError(
                    f"the file ends inside its own header (needs at least {more.needed:,} bytes, "
                    f"has {file_size:,}): it is truncated or not a GGUF model"
                ) from None
            n = min(file_size, max(more.needed, n * 2))


def read_header_from_path(path) -> GGUFHeader:
    import os

    size = os.path.getsize(path)
    with open(path, "rb") as f:
        return read_header(lambda n: (f.seek(0), f.read(n))[1], size)


def check_runnable_by_flare(h: GGUFHeader) -> None:
    check_types_runnable_by_flare(h.type_counts)


def check_types_runnable_by_flare(type_counts: dict[str, int]) -> None:
    """Raise GGUFError naming the tensor types flare-web 0.2.21 has no kernels for."""
    bad = {k: v for k, v in type_counts.items() if k not in FLARE_RUNNABLE}
    if bad:
        listed = ", ".join(f"{n} {k}" for k, n in sorted(bad.items()))
        raise GGUFError(
            f"flare-web 0.2.21 cannot run this model: it has {listed} tensor(s); flare has kernels for "
            f"{', '.join(sorted(FLARE_RUNNABLE))} only (Q4_1 makes it panic on load). "
            "Re-quantize it to Q8_0 (python build.py does this for the embedded model) or pick another file."
        )
