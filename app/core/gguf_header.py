"""Read and check a GGUF file's header in pure Python, before any engine sees the file.

Runs on the host (CLI --model) and in Pyodide (a file picked in the page). It reads only the
header (metadata and tensor table, a few MB for real models, at most MAX_HEADER_BYTES), so model
bytes stay where they are.

Every malformed input becomes one GGUFError whose message names the key or tensor, says what is
wrong in words, and what to do where there is something to do. No other exception escapes
`read_header` / `read_header_from_path`, whatever the bytes (tests/host/test_gguf_fuzz.py checks
this with random and mutated files). Every count and length the file claims is checked against
the bytes the file has and against fixed caps before anything is allocated or looped over, and
nested arrays are capped at MAX_ARRAY_DEPTH levels, so a hostile file costs bounded time and memory.

Format: ggml/docs/gguf.md (llama.cpp). All multi-byte values are little-endian; big-endian GGUF
files exist (gguf-py can write them) and are recognised and refused by name.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Callable

MAGIC = b"GGUF"
MAX_TENSORS = 100_000          # tensors in one file (real models: a few thousand)
MAX_KV = 100_000               # metadata entries (real models: tens)
MAX_ARRAY = 4_000_000          # items in one metadata array (a 256k vocabulary has 256k)
MAX_METADATA_ITEMS = 8_000_000  # array items across all metadata, nested ones included
MAX_STRING = 1 << 24           # bytes in one string (16 MiB; chat templates are kB)
MAX_KEY = 65_535               # bytes in one metadata key (the spec's limit)
MAX_HEADER_BYTES = 64 << 20    # bytes of header (metadata + tensor table) read at most
MAX_ARRAY_DEPTH = 4            # arrays inside arrays: levels allowed (no engine reads even 2)
MAX_DIMS = 4
MAX_ELEMENTS = (1 << 63) - 1   # elements per tensor (ggml counts them in an int64)
DEFAULT_ALIGNMENT = 32

# GGML tensor types: id -> (name, elements per block, bytes per block). The ids and sizes are
# gguf-py's (GGMLQuantizationType, GGML_QUANT_SIZES, gguf 0.19); a test keeps them in step.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}

# flare-web 0.2.21: FlareEngine.load keeps weights raw and has kernels for Q8_0 and Q4_K only;
# Q4_1 panics on load ("range end index 576 out of range"). F32/F16 norms and biases are fine.
FLARE_RUNNABLE = frozenset({"F32", "F16", "Q8_0", "Q4_K"})

# GGUF metadata value types: id -> (name, struct format or None).
VALUE_TYPES: dict[int, tuple[str, str | None]] = {
    0: ("uint8", "<B"), 1: ("int8", "<b"), 2: ("uint16", "<H"), 3: ("int16", "<h"),
    4: ("uint32", "<I"), 5: ("int32", "<i"), 6: ("float32", "<f"), 7: ("bool", "<?"),
    8: ("string", None), 9: ("array", None), 10: ("uint64", "<Q"), 11: ("int64", "<q"), 12: ("float64", "<d"),
}
_STRING, _ARRAY = 8, 9
UNSIGNED_INTEGER_TYPES = frozenset({"uint8", "uint16", "uint32", "uint64"})
INTEGER_TYPES = UNSIGNED_INTEGER_TYPES | {"int8", "int16", "int32", "int64"}

_FIX_METADATA = ("Fix the value with gguf-py (gguf_new_metadata.py / gguf_set_metadata.py) "
                 "or convert the model again with llama.cpp's convert_hf_to_gguf.py.")


class GGUFError(ValueError):
    """The file is not a GGUF model this benchmark can use; the message says why (one line)."""


class NeedMoreBytes(Exception):
    """The header continues past the bytes given; read at least `needed` bytes and try again.

    Raised only by parse_header when `buf` is shorter than the file; read_header handles it.
    """

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


def tensor_bytes(dims: list[int], type_id: int) -> int:
    """Bytes of a tensor of GGML type `type_id` with these dims (ne0 first): whole blocks of the type.
    KeyError for a type not in GGML_TYPES."""
    _, block, size = GGML_TYPES[type_id]
    elements = 1
    for d in dims:
        elements *= d
    return elements // block * size


@dataclass
class TensorInfo:
    name: str
    dims: list[int]
    type_id: int
    offset: int  # bytes from the start of the data section

    @property
    def type_name(self) -> str:
        return GGML_TYPES.get(self.type_id, (f"type {self.type_id}", 0, 0))[0]

    def nbytes(self) -> int:
        """Bytes of this tensor's data (whole blocks: parse_header checks rows fill them)."""
        return tensor_bytes(self.dims, self.type_id)


@dataclass
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo]
    data_offset: int  # byte where the data section starts: header_end rounded up to `alignment`
    file_size: int
    type_counts: dict[str, int] = field(default_factory=dict)
    # GGUF value type of each key: "uint32", "string", "array[string]", "array[array[uint8]]", ...
    metadata_types: dict[str, str] = field(default_factory=dict)
    alignment: int = DEFAULT_ALIGNMENT
    header_end: int = 0  # byte just after the tensor table (before the alignment padding)
    longest_string: tuple[str, int] = ("", 0)  # (where, bytes) of the longest key, value or tensor name

    @property
    def architecture(self) -> str:
        arch = self.metadata.get("general.architecture")
        return arch if isinstance(arch, str) else "?"

    def summary(self) -> dict[str, Any]:
        name = self.metadata.get("general.name")
        file_type = self.metadata.get("general.file_type")
        if isinstance(file_type, bool) or not isinstance(file_type, int):
            file_type = None
        return {
            "gguf_version": self.version,
            "architecture": self.architecture,
            "name": name if isinstance(name, str) else None,
            "tensors": len(self.tensors),
            # bytes of the largest tensor: what a WebGPU engine must bind as one storage buffer
            "largest_tensor_bytes": max((t.nbytes() for t in self.tensors if t.type_id in GGML_TYPES), default=0),
            "tensor_types": dict(sorted(self.type_counts.items())),
            "file_type": file_type,
            "size": self.file_size,
        }


def quote(text: str, limit: int = 60) -> str:
    """A file-supplied string for a one-line message: repr'd (no raw newlines) and cut to `limit` chars."""
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def type_words(vtype: str) -> str:
    """A metadata type name in words: "uint32" -> "a uint32", "array[string]" -> "an array of string"."""
    if vtype.startswith("array["):
        return "an array of " + vtype[6:-1]
    return ("an " if vtype[0] in "ai" else "a ") + vtype


def _show(value: Any) -> str:
    if isinstance(value, str):
        return quote(value, 40)
    if isinstance(value, list):
        return f"a list of {len(value)}"
    return repr(value)


class _Reader:
    """Cursor over the header bytes; every read is checked against the file and the caps first."""

    def __init__(self, buf: bytes, file_size: int) -> None:
        self.buf = memoryview(buf)
        self.pos = 0
        self.file_size = file_size
        self.items = 0
        self.longest: tuple[str, int] = ("", 0)

    def take(self, n: int, what: str) -> memoryview:
        end = self.pos + n
        if end > self.file_size:
            raise GGUFError(
                f"the file ends inside its own header, in {what} (needs at least {end:,} bytes, has "
                f"{self.file_size:,}): it is truncated or not a GGUF model. Download it again."
            )
        if end > MAX_HEADER_BYTES:
            raise GGUFError(
                f"{what} would take the header past {MAX_HEADER_BYTES:,} bytes (to byte {end:,}); "
                "no model's header is that large: the file is corrupt"
            )
        if end > len(self.buf):
            raise NeedMoreBytes(end)
        out = self.buf[self.pos:end]
        self.pos = end
        return out

    def scalar(self, fmt: str, what: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str, limit: int = MAX_STRING, item: int | None = None) -> str:
        """A length-prefixed UTF-8 string; `item` (an index in the array `what`) is named only in errors."""
        if item is not None:
            if self.pos + 8 <= len(self.buf):  # the common case, without building a name
                n = struct.unpack_from("<Q", self.buf, self.pos)[0]
                if n <= limit and self.pos + 8 + n <= min(len(self.buf), self.file_size, MAX_HEADER_BYTES):
                    raw = bytes(self.buf[self.pos + 8:self.pos + 8 + n])
                    try:
                        text = raw.decode("utf-8")
                    except UnicodeDecodeError:
                        pass  # the slow path below says where
                    else:
                        self.pos += 8 + n
                        if n > self.longest[1]:
                            self.longest = (f"{what} item {item}", n)
                        return text
            what = f"{what} item {item}"
        n = self.scalar("<Q", f"the length of {what}")
        if n > limit:
            raise GGUFError(
                f"{what}: a string claims {n:,} bytes, more than the {limit:,} allowed; the file is corrupt"
            )
        left = self.file_size - self.pos
        if n > left:
            raise GGUFError(
                f"{what}: a string claims {n:,} bytes but only {left:,} remain in the file: "
                "the file is truncated or corrupt"
            )
        raw = bytes(self.take(n, what))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise GGUFError(
                f"{what} is not valid UTF-8 (byte {err.start} of the string is 0x{raw[err.start]:02x}); "
                "GGUF strings are UTF-8: the file is corrupt or was written by a broken tool"
            ) from None
        if n > self.longest[1]:
            self.longest = (what, n)
        return text

    def value_type(self, what: str, items: bool = False) -> int:
        vtype = self.scalar("<I", f"the {'item' if items else 'value'} type of {what}")
        if vtype not in VALUE_TYPES:
            subject = f"{what}: its items have" if items else f"{what} has"
            raise GGUFError(
                f"{subject} value type {vtype}, which GGUF does not define (0 to 12 are): "
                "the file is corrupt or not GGUF"
            )
        return vtype

    def value(self, vtype: int, what: str, depth: int = 0) -> tuple[Any, str]:
        """(value, type name). Arrays recurse at most MAX_ARRAY_DEPTH levels, so the stack stays small."""
        name, fmt = VALUE_TYPES[vtype]
        if fmt is not None:
            return self.scalar(fmt, what), name
        if vtype == _STRING:
            return self.string(what), name
        if depth >= MAX_ARRAY_DEPTH:
            raise GGUFError(
                f"{what}: arrays nested more than {MAX_ARRAY_DEPTH} levels deep; no model needs that "
                "(llama.cpp and flare read no arrays inside arrays): the file is corrupt"
            )
        item_type = self.value_type(what, items=True)
        count = self.scalar("<Q", f"the item count of {what}")
        if count > MAX_ARRAY:
            raise GGUFError(
                f"{what}: an array claims {count:,} items, more than the {MAX_ARRAY:,} allowed; "
                "the file is corrupt"
            )
        self.items += count
        if self.items > MAX_METADATA_ITEMS:
            raise GGUFError(
                f"{what}: the metadata arrays hold more than {MAX_METADATA_ITEMS:,} items in all; "
                "the file is corrupt"
            )
        item_name, item_fmt = VALUE_TYPES[item_type]
        if item_fmt is not None:
            size = struct.calcsize(item_fmt)
            left = self.file_size - self.pos
            if size * count > left:
                raise GGUFError(
                    f"{what}: an array of {count:,} {item_name} items needs {size * count:,} bytes but only "
                    f"{left:,} remain in the file: the file is truncated or corrupt"
                )
            raw = self.take(size * count, what)
            return list(struct.unpack(f"<{count}{item_fmt[1]}", raw)), f"array[{item_name}]"
        if count > self.file_size - self.pos:  # every string or array item takes at least 8 bytes
            raise GGUFError(
                f"{what}: an array claims {count:,} {item_name} items but only {self.file_size - self.pos:,} "
                "bytes remain in the file: the file is truncated or corrupt"
            )
        if item_type == _STRING:
            return [self.string(what, item=i) for i in range(count)], "array[string]"
        items = []
        inner = "array"
        for i in range(count):
            item, inner = self.value(item_type, f"{what} item {i}", depth + 1)
            items.append(item)
        return items, f"array[{inner if item_type == _ARRAY else item_name}]"


def _version_error(version: int) -> GGUFError:
    swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
    if swapped in (2, 3):
        return GGUFError(
            f"big-endian GGUF (version {swapped} with its bytes swapped; "
            f"read little-endian it is {version}): "
            "only little-endian files are supported. Convert it back with gguf-py's "
            "gguf_convert_endian.py FILE little, or use the little-endian release of the model."
        )
    if version == 1:
        return GGUFError("GGUF version 1 is no longer supported (2 and 3 are): convert the model again "
                         "with a current llama.cpp")
    return GGUFError(f"GGUF version {version} is not supported (2 and 3 are): the file is corrupt or newer "
                     "than this benchmark")


def _alignment(metadata: dict[str, Any], types: dict[str, str]) -> int:
    """general.alignment: an unsigned integer (not a bool) that is a power of two; 32 when absent."""
    if "general.alignment" not in metadata:
        return DEFAULT_ALIGNMENT
    value, vtype = metadata["general.alignment"], types["general.alignment"]
    rule = "it must be an unsigned integer (uint32) that is a power of two, usually 32. " + _FIX_METADATA
    if vtype not in UNSIGNED_INTEGER_TYPES:
        raise GGUFError(f"general.alignment is stored as {type_words(vtype)} ({_show(value)}); {rule}")
    if value <= 0 or value & (value - 1):
        raise GGUFError(f"general.alignment is {value}, not a power of two; {rule}")
    return value


def _string_key(metadata: dict[str, Any], types: dict[str, str], key: str, example: str) -> None:
    if key not in metadata:
        raise GGUFError(f"{key} is missing: every GGUF model names it ({example}); the file is not a model "
                        "or was written wrongly")
    if types[key] != "string" or not metadata[key]:
        raise GGUFError(f"{key} is {_show(metadata[key])} ({types[key]}); "
                        f"it must be a non-empty string ({example}). " + _FIX_METADATA)


def parse_header(buf: bytes, file_size: int) -> GGUFHeader:
    """Parse the header held in `buf`, the first len(buf) bytes of a file of `file_size` bytes.

    Raises NeedMoreBytes(n) when buf ends before the header does and the file has at least n
    bytes (call again with n bytes or more), else GGUFError for every malformed input.
    """
    if file_size < 4 or len(buf) < 4:
        if file_size < 4:
            raise GGUFError(f"the file is only {file_size} bytes long: it is truncated or not a GGUF model")
        raise NeedMoreBytes(4)
    if bytes(buf[:4]) != MAGIC:
        raise GGUFError(
            f"not a GGUF file: it starts with {bytes(buf[:4])!r}, not b'GGUF'. "
            "Pick a .gguf model file (llama.cpp's format)."
        )
    r = _Reader(buf, file_size)
    r.take(4, "the magic")
    version = r.scalar("<I", "the version")
    if version not in (2, 3):
        raise _version_error(version)
    tensor_count = r.scalar("<Q", "the tensor count")
    kv_count = r.scalar("<Q", "the metadata count")
    if tensor_count > MAX_TENSORS or kv_count > MAX_KV:
        raise GGUFError(
            f"the header claims {tensor_count:,} tensors and {kv_count:,} metadata entries: "
            f"absurd counts (at most {MAX_TENSORS:,} and {MAX_KV:,}), so the file is corrupt or not a model"
        )
    if tensor_count == 0:
        raise GGUFError("the file holds no tensors: it is not a model")
    # Smallest entries: a 1-byte key, its type and a 1-byte value take 14 bytes; a tensor with an empty
    # name and one dimension takes 32.
    if kv_count * 14 + tensor_count * 32 > file_size - r.pos:
        raise GGUFError(
            f"the header claims {tensor_count:,} tensors and {kv_count:,} metadata entries, more than "
            f"a {file_size:,}-byte file can hold: it is truncated or corrupt"
        )
    metadata: dict[str, Any] = {}
    types: dict[str, str] = {}
    for i in range(kv_count):
        key = r.string(f"metadata key #{i}", MAX_KEY)
        if not key:
            raise GGUFError(f"metadata key #{i} is empty; the file is corrupt")
        if key in metadata:
            first = list(metadata).index(key)
            raise GGUFError(f"metadata {quote(key)} appears twice (keys #{first} and #{i}); "
                            "the file is corrupt")
        what = f"metadata {quote(key)}"
        metadata[key], types[key] = r.value(r.value_type(what), what)
    alignment = _alignment(metadata, types)
    _string_key(metadata, types, "general.architecture", "e.g. 'llama'")
    tensors = []
    names: set[str] = set()
    for i in range(tensor_count):
        name = r.string(f"the name of tensor #{i}")
        t = quote(name) if name else f"#{i}"
        if name in names:
            raise GGUFError(f"tensor {t} appears twice in the tensor table; the file is corrupt")
        names.add(name)
        n_dims = r.scalar("<I", f"the dimension count of tensor {t}")
        if n_dims == 0 or n_dims > MAX_DIMS:
            raise GGUFError(f"tensor {t} claims {n_dims} dimensions (GGUF tensors have 1 to {MAX_DIMS}); "
                            "the file is corrupt")
        dims = [r.scalar("<Q", f"the dimensions of tensor {t}") for _ in range(n_dims)]
        type_id = r.scalar("<I", f"the type of tensor {t}")
        offset = r.scalar("<Q", f"the data offset of tensor {t}")
        tensors.append(TensorInfo(name, dims, type_id, offset))
    header_end = r.pos
    data_offset = (header_end + alignment - 1) // alignment * alignment
    if data_offset > file_size:
        raise GGUFError(
            f"the tensor data starts at byte {data_offset:,} (the header's end rounded up to "
            f"general.alignment {alignment:,}), past the end of the {file_size:,}-byte file: "
            "it is truncated or its alignment is wrong"
        )
    header = GGUFHeader(version, metadata, tensors, data_offset, file_size, metadata_types=types,
                        alignment=alignment, header_end=header_end, longest_string=r.longest)
    _check_tensors(header)
    return header


def _check_tensors(h: GGUFHeader) -> None:
    """Tensor types known, shapes sane and in whole blocks, offsets aligned and inside the file."""
    counts: dict[str, int] = {}
    data_size = h.file_size - h.data_offset
    for t in h.tensors:
        what = f"tensor {quote(t.name)}"
        if t.type_id not in GGML_TYPES:
            raise GGUFError(f"{what} has type id {t.type_id}, which no GGUF reader here knows; "
                            "the file is corrupt or newer than this benchmark")
        counts[t.type_name] = counts.get(t.type_name, 0) + 1
        elements = 1
        for d in t.dims:
            if d <= 0:
                raise GGUFError(f"{what} claims dimensions {t.dims}: an empty dimension; the file is corrupt")
            elements *= d
        if elements > MAX_ELEMENTS:
            raise GGUFError(f"{what} claims dimensions {t.dims}: {elements:,} elements, more than any tensor "
                            "can hold; the file is corrupt")
        _, block, _ = GGML_TYPES[t.type_id]
        if t.dims[0] % block:
            raise GGUFError(f"{what}: its rows of {t.dims[0]:,} elements do not fill whole "
                            f"{t.type_name} blocks of {block}; the file is corrupt")
        if t.offset % h.alignment:
            raise GGUFError(f"{what} starts at offset {t.offset:,} in the data section, not a multiple of "
                            f"general.alignment ({h.alignment}); the file is corrupt")
        end = t.offset + t.nbytes()
        if end > data_size:
            raise GGUFError(
                f"the file is truncated: {what} lies at bytes {h.data_offset + t.offset:,} to "
                f"{h.data_offset + end:,}, past the end of the {h.file_size:,}-byte file. Download it again."
            )
    h.type_counts = counts


def read_header(read_prefix: Callable[[int], bytes], file_size: int, first: int = 1 << 20) -> GGUFHeader:
    """Parse a header with `read_prefix(n) -> the file's first n bytes` (n <= file_size).

    Starts with `first` bytes and grows the prefix until the header fits (never past
    MAX_HEADER_BYTES or the file). `file_size` is in bytes. Raises GGUFError for any malformed
    file; exceptions raised by read_prefix itself pass through.
    """
    n = max(0, min(first, file_size))
    while True:
        buf = read_prefix(n)
        try:
            return parse_header(buf, file_size)
        except NeedMoreBytes as more:
            if len(buf) < n or n >= file_size:  # the reader gave less than the file size promised
                raise GGUFError(
                    f"the file ends inside its own header (needs at least {more.needed:,} bytes, could read "
                    f"{len(buf):,}): it is truncated or not a GGUF model"
                ) from None
            n = min(file_size, max(more.needed, n * 2))


def read_header_from_path(path) -> GGUFHeader:
    """read_header on a file on disk. Raises GGUFError for malformed files and for files it cannot read."""
    import os

    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            return read_header(lambda n: (f.seek(0), f.read(n))[1], size)
    except OSError as err:
        raise GGUFError(f"cannot read the file: {err.strerror or err}") from None


def check_runnable_by_flare(h: GGUFHeader) -> None:
    """Raise GGUFError if flare-web 0.2.21 has no kernels for some of the file's tensor types."""
    check_types_runnable_by_flare(h.type_counts)


def flare_type_problem(type_counts: dict[str, int]) -> str | None:
    """The sentence check_types_runnable_by_flare raises, or None when flare has kernels for every type."""
    bad = {k: v for k, v in type_counts.items() if k not in FLARE_RUNNABLE}
    if not bad:
        return None
    listed = ", ".join(f"{n} {k}" for k, n in sorted(bad.items()))
    return (
        f"flare-web 0.2.21 cannot run this model: it has {listed} tensor(s); flare has kernels for "
        f"{', '.join(sorted(FLARE_RUNNABLE))} only (Q4_1 makes it panic on load). "
        "Re-quantize it to Q8_0 (python build.py does this for the embedded model) or pick another file."
    )


def check_types_runnable_by_flare(type_counts: dict[str, int]) -> None:
    """Raise GGUFError naming the tensor types flare-web 0.2.21 has no kernels for."""
    problem = flare_type_problem(type_counts)
    if problem:
        raise GGUFError(problem)
