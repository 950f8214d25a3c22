"""Write a GGUF file from metadata and tensors, in pure Python (the inverse of app.core.gguf_header).

Used in Pyodide, where gguf-py is not available (it is not built for Pyodide), to make small derived files such
as the tokenizer-only GGUF (app.core.tokenizer_gguf). Host tests read what it writes back with gguf-py's
GGUFReader and with our own reader, so the two stay in step.

Format: ggml/docs/gguf.md (llama.cpp): magic, version 3, tensor count, metadata count (little-endian u32/u64),
the metadata (key string, value type, value), the tensor table (name, dims, type, offset), padding to
`general.alignment` (32 when absent), then the tensor data, each tensor starting at a multiple of the alignment.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from app.core.gguf_header import DEFAULT_ALIGNMENT, MAGIC, VALUE_TYPES, tensor_bytes

VERSION = 3
TYPE_IDS = {name: vtype for vtype, (name, _) in VALUE_TYPES.items()}


@dataclass
class Tensor:
    name: str
    dims: list[int]  # ne0 first, as GGUF stores them
    type_id: int  # a GGML type id (app.core.gguf_header.GGML_TYPES)
    data: bytes

    def expected_bytes(self) -> int:
        return tensor_bytes(self.dims, self.type_id)


def _string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _value(vtype: str, value: Any) -> bytes:
    """The bytes of `value` written as GGUF type `vtype` ("uint32", "string", "array[int32]", ...), without the
    leading type id. Raises ValueError for a type GGUF does not define."""
    if vtype.startswith("array[") and vtype.endswith("]"):
        inner = vtype[len("array["):-1]
        item_id = TYPE_IDS["array"] if inner.startswith("array") else TYPE_IDS.get(inner)
        if item_id is None:
            raise ValueError(f"GGUF has no value type {inner!r}")
        head = struct.pack("<IQ", item_id, len(value))
        fmt = VALUE_TYPES[item_id][1]
        if fmt is not None:
            return head + struct.pack(f"<{len(value)}{fmt[1]}", *value)
        return head + b"".join(_value(inner, item) for item in value)
    if vtype == "string":
        return _string(value)
    if vtype not in TYPE_IDS or vtype == "array":
        raise ValueError(f"GGUF has no value type {vtype!r}")
    return struct.pack(VALUE_TYPES[TYPE_IDS[vtype]][1], value)


def _type_id(vtype: str) -> int:
    return TYPE_IDS["array"] if vtype.startswith("array[") else TYPE_IDS[vtype]


def write_gguf(metadata: dict[str, Any], types: dict[str, str], tensors: list[Tensor],
               alignment: int = DEFAULT_ALIGNMENT) -> bytes:
    """A whole GGUF v3 file (bytes). `types` gives each key's GGUF value type, in app.core.gguf_header's words
    ("uint32", "string", "array[string]", ...). `alignment` must match `general.alignment` where metadata has it.
    Raises ValueError for a missing or undefined type, or a tensor whose data does not fit its dims and type."""
    if metadata.get("general.alignment", alignment) != alignment:
        raise ValueError(f"general.alignment is {metadata['general.alignment']}, not the {alignment} written with")
    out = [MAGIC, struct.pack("<IQQ", VERSION, len(tensors), len(metadata))]
    for key, value in metadata.items():
        if key not in types:
            raise ValueError(f"no GGUF type given for {key!r}")
        out += [_string(key), struct.pack("<I", _type_id(types[key])), _value(types[key], value)]
    offset = 0
    offsets = []
    for t in tensors:
        if len(t.data) != t.expected_bytes():
            raise ValueError(f"tensor {t.name!r}: {len(t.data)} bytes of data, its dims and type need {t.expected_bytes()}")
        offsets.append(offset)
        offset += -(-len(t.data) // alignment) * alignment
    for t, off in zip(tensors, offsets):
        out += [_string(t.name), struct.pack("<I", len(t.dims)), struct.pack(f"<{len(t.dims)}Q", *t.dims),
                struct.pack("<IQ", t.type_id, off)]
    head = b"".join(out)
    parts = [head, b"\0" * (-len(head) % alignment)]
    for t in tensors:
        parts += [t.data, b"\0" * (-len(t.data) % alignment)]
    return b"".join(parts)
