"""The GGUF header check that stands between a bad file and the engines, and the per-engine rules.

Fixtures are made here: with the `gguf` package (gguf-py, as the field reports edited their
copies) or byte by byte where gguf-py refuses to write the defect. The builders are imported by
test_bench_cli_input.py and test_gguf_fuzz.py.
"""

from __future__ import annotations

import math
import re
import struct
import time
import zipfile

import numpy as np
import pytest

from app.core import gguf_header
from app.engines import unsupported_engines
from app.engines.flare.support import flare_problems
from app.engines.llamacpp.support import llamacpp_problems
from app.core.gguf_header import (
    GGML_TYPES,
    GGUFError,
    check_runnable_by_flare,
    flare_type_problem,
    parse_header,
    read_header,
    read_header_from_path,
)

gguf = pytest.importorskip("gguf")
VT = gguf.GGUFValueType

# What flare-web needs to build a model config (flare-loader/src/gguf.rs, to_model_config).
LLAMA_KV = [
    ("llama.embedding_length", 64, VT.UINT32, None),
    ("llama.block_count", 1, VT.UINT32, None),
    ("llama.attention.head_count", 4, VT.UINT32, None),
]


# ---------------------------------------------------------------- builders


def gguf_file(path, kv=(), *, arch="llama", tensors=None, alignment=None, endianess=None, model_kv=True) -> bytes:
    """Write a small GGUF with gguf-py and return its bytes.

    kv: (key, value, GGUFValueType, sub_type) entries added as given (a key gguf-py already wrote is
    replaced). tensors: (name, numpy array or (shape, GGMLQuantizationType)) pairs; default one F32 "w"
    of 32 zeros. alignment: gguf-py's add_custom_alignment (uint32 key + real padding).
    """
    kwargs = {"endianess": endianess} if endianess is not None else {}
    w = gguf.GGUFWriter(str(path), arch, **kwargs)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for key, value, vtype, sub in [*(LLAMA_KV if model_kv else []), *kv]:
        w.add_key_value(key, value, vtype, sub)
    for name, data in tensors or [("w", np.zeros(32, dtype=np.float32))]:
        if isinstance(data, tuple):
            shape, qtype = data
            _, block, size = GGML_TYPES[int(qtype)]  # shape: numpy order, rows last; bytes given row by row
            w.add_tensor(name, np.zeros((*shape[:-1], shape[-1] // block * size), dtype=np.uint8), raw_dtype=qtype)
        else:
            w.add_tensor(name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def gstr(s: bytes | str) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def kv_string(key, value) -> bytes:
    return gstr(key) + struct.pack("<I", 8) + gstr(value)


def kv_u32(key, value) -> bytes:
    return gstr(key) + struct.pack("<II", 4, value)


def tensor_entry(name="w", dims=(32,), type_id=0, offset=0) -> bytes:
    return gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack(
        "<IQ", type_id, offset)


def raw_gguf(kvs=None, tensors=None, *, version=3, data=None, tensor_count=None, kv_count=None) -> bytes:
    """A GGUF byte by byte: kvs and tensors are encoded entries (kv_string, tensor_entry...).

    Defaults: general.architecture = 'llama' and one F32 tensor "w" of 32 elements, padded to 32 bytes.
    """
    kvs = [kv_string("general.architecture", "llama")] if kvs is None else kvs
    tensors = [tensor_entry()] if tensors is None else tensors
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors) if tensor_count is None else tensor_count,
                                len(kvs) if kv_count is None else kv_count)
    out += b"".join(kvs) + b"".join(tensors)
    out += b"\0" * ((32 - len(out) % 32) % 32)
    return out + (b"\0" * 128 if data is None else data)


def nested_array(depth: int) -> bytes:
    """An array value (type 9 already written by the caller) nested `depth` levels, innermost [7] uint8."""
    return struct.pack("<IQ", 9, 1) * (depth - 1) + struct.pack("<IQ", 0, 1) + b"\x07"


def nested_array_file(depth: int) -> bytes:
    kvs = [kv_string("general.architecture", "llama"), gstr("deep") + struct.pack("<I", 9) + nested_array(depth)]
    return raw_gguf(kvs)


def parse_bytes(data: bytes, first: int = 1 << 20):
    return read_header(lambda n: data[:n], len(data), first)


def refused(data: bytes) -> str:
    with pytest.raises(GGUFError) as info:
        parse_bytes(data)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- valid files


def test_our_type_table_matches_the_gguf_package():
    ours = set(GGML_TYPES)
    for type_id, (name, block, size) in GGML_TYPES.items():
        q = gguf.GGMLQuantizationType(type_id)
        assert q.name == name and gguf.GGML_QUANT_SIZES[q] == (block, size)
    assert {int(q) for q in gguf.GGMLQuantizationType} <= ours


def test_a_minimal_valid_file_parses():
    h = parse_bytes(raw_gguf())
    assert h.architecture == "llama" and h.type_counts == {"F32": 1}
    assert h.alignment == 32 and h.data_offset % 32 == 0 and h.header_end <= h.data_offset
    assert h.metadata_types == {"general.architecture": "string"}


def test_a_file_written_by_gguf_py_round_trips_its_values(tmp_path):
    kv = [("t.u8", 7, VT.UINT8, None), ("t.i64", -5, VT.INT64, None), ("t.f64", 0.25, VT.FLOAT64, None),
          ("t.bool", True, VT.BOOL, None), ("t.str", "héllo", VT.STRING, None),
          ("t.strs", ["a", "", "ü"], VT.ARRAY, VT.STRING), ("t.ints", [1, -2, 3], VT.ARRAY, VT.INT32)]
    h = read_header_from_path(_write(tmp_path, kv))
    m = h.metadata
    assert (m["t.u8"], m["t.i64"], m["t.f64"], m["t.bool"], m["t.str"]) == (7, -5, 0.25, True, "héllo")
    assert m["t.strs"] == ["a", "", "ü"] and m["t.ints"] == [1, -2, 3]
    assert h.metadata_types["t.strs"] == "array[string]" and h.metadata_types["t.ints"] == "array[int32]"
    assert h.metadata_types["t.bool"] == "bool" and h.longest_string == ("metadata key #3", len("llama.attention.head_count"))


def test_a_custom_power_of_two_alignment_is_honoured(tmp_path):
    h = read_header_from_path(_write(tmp_path, alignment=256, tensors=[
        ("a", np.zeros(32, dtype=np.float32)), ("b", np.zeros(64, dtype=np.float32))]))
    assert h.alignment == 256 and h.data_offset % 256 == 0
    assert [t.offset for t in h.tensors] == [0, 256]


def test_alignment_may_be_any_unsigned_integer_type():
    for vtype, fmt in ((0, "<B"), (2, "<H"), (10, "<Q")):
        kvs = [kv_string("general.architecture", "llama"), gstr("general.alignment") + struct.pack("<I", vtype)
               + struct.pack(fmt, 16)]
        h = parse_bytes(raw_gguf(kvs))
        assert h.alignment == 16


def test_arrays_nested_two_deep_are_read():
    h = parse_bytes(nested_array_file(2))
    assert h.metadata["deep"] == [[7]] and h.metadata_types["deep"] == "array[array[uint8]]"


def test_the_prefix_grows_until_the_header_fits(tmp_path):
    data = _write(tmp_path, [("t.strs", ["x" * 100] * 50, VT.ARRAY, VT.STRING)]).read_bytes()
    asked = []

    def prefix(n):
        asked.append(n)
        return data[:n]

    h = read_header(prefix, len(data), first=16)
    assert h.metadata["t.strs"][-1] == "x" * 100 and asked[0] == 16 and len(asked) > 3


def test_parse_header_asks_for_more_bytes_when_the_prefix_is_short():
    data = raw_gguf()
    with pytest.raises(gguf_header.NeedMoreBytes) as info:
        parse_header(data[:30], len(data))
    assert info.value.needed == 32  # the 8-byte length of the first key, read from byte 24
    assert parse_header(data, len(data)).tensors[0].name == "w"


def test_summary_ignores_values_of_the_wrong_type():
    kvs = [kv_string("general.architecture", "llama"), kv_u32("general.name", 5),
           kv_string("general.file_type", "seven")]
    s = parse_bytes(raw_gguf(kvs)).summary()
    assert s["name"] is None and s["file_type"] is None and s["architecture"] == "llama"


# ---------------------------------------------------------------- general.alignment (field report 1)


ALIGNMENT_CASES = {
    "string": (("32", VT.STRING, None), r"general\.alignment is stored as a string \('32'\); it must be an unsigned integer"),
    "nan": (
        (math.nan, VT.FLOAT32, None), r"general\.alignment is stored as a float32 \(nan\); it must be an unsigned integer"),
    "array": (([32], VT.ARRAY, VT.UINT32), r"general\.alignment is stored as an array of uint32 \(a list of 1\)"),
    "bool": ((True, VT.BOOL, None), r"general\.alignment is stored as a bool \(True\)"),
    "int32": ((32, VT.INT32, None), r"general\.alignment is stored as an int32 \(32\)"),
    "zero": ((0, VT.UINT32, None), r"general\.alignment is 0, not a power of two"),
    "three": ((3, VT.UINT32, None), r"general\.alignment is 3, not a power of two"),
}


def alignment_file(tmp_path, case: str):
    value, vtype, sub = ALIGNMENT_CASES[case][0]
    return _write(tmp_path, [("general.alignment", value, vtype, sub)], name=f"align-{case}.gguf")


@pytest.mark.parametrize("case", list(ALIGNMENT_CASES))
def test_a_bad_alignment_is_refused_by_name(tmp_path, case):
    path = alignment_file(tmp_path, case)
    with pytest.raises(GGUFError) as info:
        read_header_from_path(path)
    message = str(info.value)
    assert re.search(ALIGNMENT_CASES[case][1], message), message
    assert "power of two" in message and "gguf" in message  # the rule and what to do


def test_an_alignment_past_the_end_of_the_file_is_refused():
    kvs = [kv_string("general.architecture", "llama"), gstr("general.alignment") + struct.pack("<IQ", 10, 1 << 40)]
    assert re.search(r"the tensor data starts at byte 1,099,511,627,776 .*general\.alignment 1,099,511,627,776\), "
                     r"past the end of the \d+-byte file", refused(raw_gguf(kvs)))


# ---------------------------------------------------------------- nesting and sizes (field report 2)


def test_a_5000_deep_nested_array_is_refused_quickly():
    data = nested_array_file(5000)
    assert 55_000 < len(data) < 65_000  # the field report's 60 KB file
    t0 = time.monotonic()
    message = refused(data)
    assert time.monotonic() - t0 < 1
    assert message.startswith("metadata 'deep' item 0 item 0 item 0 item 0: arrays nested more than 4 levels deep")


def test_an_array_claiming_2_to_the_40_items_is_refused():
    kvs = [kv_string("general.architecture", "llama"), gstr("big") + struct.pack("<IIQ", 9, 4, 1 << 40)]
    assert "metadata 'big': an array claims 1,099,511,627,776 items, more than the 4,000,000 allowed" in refused(
        raw_gguf(kvs))


def test_an_array_longer_than_the_file_is_refused():
    strings = [kv_string("general.architecture", "llama"), gstr("s") + struct.pack("<IIQ", 9, 8, 3_000_000)]
    assert re.search(r"metadata 's': an array claims 3,000,000 string items but only \d+ bytes remain",
                     refused(raw_gguf(strings)))
    ints = [kv_string("general.architecture", "llama"), gstr("i") + struct.pack("<IIQ", 9, 10, 1000)]
    assert re.search(r"metadata 'i': an array of 1,000 uint64 items needs 8,000 bytes but only \d+ remain",
                     refused(raw_gguf(ints)))


def test_a_huge_string_length_is_refused():
    kvs = [kv_string("general.architecture", "llama"), gstr("general.name") + struct.pack("<IQ", 8, 1 << 50)]
    assert "metadata 'general.name': a string claims 1,125,899,906,842,624 bytes, more than the 16,777,216 allowed" in (
        refused(raw_gguf(kvs)))
    kvs[1] = gstr("general.name") + struct.pack("<IQ", 8, 100_000)
    assert re.search(r"metadata 'general.name': a string claims 100,000 bytes but only \d+ remain in the file",
                     refused(raw_gguf(kvs)))


def test_a_huge_key_length_is_refused():
    data = b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + struct.pack("<Q", 2**50) + b"\0" * 64
    assert "metadata key #0: a string claims 1,125,899,906,842,624 bytes, more than the 65,535 allowed" in refused(data)


def test_absurd_counts():
    data = b"GGUF" + struct.pack("<IQQ", 3, 2**60, 2**60) + b"\0" * 64
    assert "absurd counts" in refused(data)
    data = b"GGUF" + struct.pack("<IQQ", 3, 50_000, 3) + b"\0" * 64
    assert "50,000 tensors and 3 metadata entries, more than a 88-byte file can hold" in refused(data)


def test_a_header_over_the_cap_is_refused(monkeypatch):
    monkeypatch.setattr(gguf_header, "MAX_HEADER_BYTES", 40)
    assert "would take the header past 40 bytes" in refused(raw_gguf())


# ---------------------------------------------------------------- byte order and version (field report 3)


def test_a_big_endian_file_is_named_big_endian(tmp_path):
    path = tmp_path / "be.gguf"
    gguf_file(path, endianess=gguf.GGUFEndian.BIG)
    with pytest.raises(GGUFError) as info:
        read_header_from_path(path)
    message = str(info.value)
    assert message.startswith("big-endian GGUF (version 3 with its bytes swapped; read little-endian it is 50331648): "
                              "only little-endian files are supported")
    assert "gguf_convert_endian.py" in message


@pytest.mark.parametrize("version, text", [(1, "GGUF version 1 is no longer supported"),
                                           (99, "GGUF version 99 is not supported (2 and 3 are)")])
def test_other_versions(version, text):
    assert text in refused(raw_gguf(version=version))


def test_version_2_parses():
    assert parse_bytes(raw_gguf(version=2)).version == 2


# ---------------------------------------------------------------- truncation


def test_not_gguf(tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_text("hello, I am a text file")
    with pytest.raises(GGUFError, match="not a GGUF file: it starts with b'hell'"):
        read_header_from_path(path)


def test_truncated_in_the_data(tmp_path):
    path = tmp_path / "cut.gguf"
    path.write_bytes(raw_gguf(data=b"\0" * 10))
    with pytest.raises(GGUFError, match=r"the file is truncated: tensor 'w' lies at bytes 128 to 256, past the end of the 138-byte file"):
        read_header_from_path(path)


def test_truncated_in_the_header(tmp_path):
    path = tmp_path / "cut.gguf"
    path.write_bytes(raw_gguf()[:75])
    with pytest.raises(GGUFError, match=r"the file ends inside its own header, in the length of the name of tensor #0 "
                                        r"\(needs at least 77 bytes, has 75\): it is truncated"):
        read_header_from_path(path)


def test_truncated_at_every_offset_of_a_small_header(tmp_path):
    data = _write(tmp_path, [("t.strs", ["ab", "cd"], VT.ARRAY, VT.STRING), ("t.f", 1.5, VT.FLOAT32, None)],
                  tensors=[("a", np.zeros(32, dtype=np.float32)), ("b", np.zeros(8, dtype=np.float32))]).read_bytes()
    parse_bytes(data)
    for cut in range(len(data)):
        for first in (1 << 20, 8):
            with pytest.raises(GGUFError) as info:
                parse_bytes(data[:cut], first)
            message = str(info.value)
            assert "truncated" in message, (cut, message)
            if cut < 4:
                assert message == f"the file is only {cut} bytes long: it is truncated or not a GGUF model"


def test_a_prefix_reader_that_gives_less_than_promised():
    data = raw_gguf()
    with pytest.raises(GGUFError, match="ends inside its own header .* could read 20"):
        read_header(lambda n: data[:20], len(data), first=16)


def test_unreadable_paths_are_gguf_errors(tmp_path):
    with pytest.raises(GGUFError, match="cannot read the file: Is a directory"):
        read_header_from_path(tmp_path)
    with pytest.raises(GGUFError, match="cannot read the file: No such file"):
        read_header_from_path(tmp_path / "gone.gguf")


# ---------------------------------------------------------------- strings


def test_invalid_utf8_is_refused_naming_the_key():
    bad = b"caf\xe9"
    assert "metadata key #1 is not valid UTF-8 (byte 3 of the string is 0xe9)" in refused(
        raw_gguf([kv_string("general.architecture", "llama"), kv_string(bad, "x")]))
    assert "metadata 'general.name' is not valid UTF-8 (byte 3" in refused(
        raw_gguf([kv_string("general.architecture", "llama"), kv_string("general.name", bad)]))
    tokens = gstr("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + gstr("ok") + gstr(bad)
    assert "metadata 'tokenizer.ggml.tokens' item 1 is not valid UTF-8" in refused(
        raw_gguf([kv_string("general.architecture", "llama"), tokens]))
    assert "the name of tensor #0 is not valid UTF-8" in refused(raw_gguf(tensors=[tensor_entry(bad)]))


def test_invalid_utf8_written_by_gguf_py(tmp_path):
    with pytest.raises(GGUFError, match="metadata 'general.name' is not valid UTF-8"):
        read_header_from_path(_write(tmp_path, [("general.name", b"\xff\xfe", VT.STRING, None)]))


def test_keys_are_unique_and_not_empty():
    arch = kv_string("general.architecture", "llama")
    assert "metadata 'general.architecture' appears twice (keys #0 and #1)" in refused(raw_gguf([arch, arch]))
    assert "metadata key #1 is empty" in refused(raw_gguf([arch, kv_string("", "x")]))


def test_an_unknown_value_type_is_refused():
    kvs = [kv_string("general.architecture", "llama"), gstr("odd") + struct.pack("<I", 13) + b"\0" * 8]
    assert "metadata 'odd' has value type 13, which GGUF does not define" in refused(raw_gguf(kvs))
    kvs[1] = gstr("odd") + struct.pack("<IIQ", 9, 77, 1)
    assert "metadata 'odd': its items have value type 77" in refused(raw_gguf(kvs))


def test_the_architecture_must_be_a_string():
    assert "general.architecture is missing" in refused(raw_gguf([kv_string("general.name", "x")]))
    assert "general.architecture is 7 (uint32); it must be a non-empty string" in refused(
        raw_gguf([kv_u32("general.architecture", 7)]))


# ---------------------------------------------------------------- tensors


def test_tensor_offsets_must_be_aligned_and_inside_the_file():
    assert ("tensor 'w' starts at offset 8 in the data section, not a multiple of general.alignment (32)"
            in refused(raw_gguf(tensors=[tensor_entry(offset=8)])))
    message = refused(raw_gguf(tensors=[tensor_entry(offset=1 << 40)]))
    assert re.search(r"the file is truncated: tensor 'w' lies at bytes 1,099,511,627,904 to [\d,]+, past the end of "
                     r"the 256-byte file", message)


@pytest.mark.parametrize("entry, text", [
    (tensor_entry(type_id=99), "tensor 'w' has type id 99, which no GGUF reader here knows"),
    (tensor_entry(dims=(32, 1, 1, 1, 1)), "tensor 'w' claims 5 dimensions (GGUF tensors have 1 to 4)"),
    (tensor_entry(dims=()), "tensor 'w' claims 0 dimensions"),
    (tensor_entry(dims=(32, 0)), "tensor 'w' claims dimensions [32, 0]: an empty dimension"),
    (tensor_entry(dims=(1 << 32, 1 << 32)), "elements, more than any tensor can hold"),
    (tensor_entry(dims=(33,), type_id=8), "tensor 'w': its rows of 33 elements do not fill whole Q8_0 blocks of 32"),
])
def test_bad_tensor_entries(entry, text):
    assert text in refused(raw_gguf(tensors=[entry]))


def test_tensor_names_are_unique_and_counts_honest():
    assert "tensor 'w' appears twice" in refused(raw_gguf(tensors=[tensor_entry(), tensor_entry(offset=128)]))
    assert "the file holds no tensors" in refused(raw_gguf(tensors=[]))


# ---------------------------------------------------------------- the shipped models


def test_the_shipped_q4_1_file_is_refused_for_flare_by_name(tmp_path):
    from app.host import pins as pinlib
    from app.host.cache import Cache, default_cache_dir

    pin = pinlib.one(pinlib.load_pins(), "model")
    blob, _ = Cache(default_cache_dir()).get(pin)
    with zipfile.ZipFile(blob) as zf:
        zf.extract(pin.model_member, tmp_path)
    header = read_header_from_path(tmp_path / pin.model_member)
    assert header.type_counts["Q4_1"] == 210
    with pytest.raises(GGUFError, match="210 Q4_1") as info:
        check_runnable_by_flare(header)
    assert "Q8_0" in str(info.value)
    reasons = unsupported_engines(header)
    assert set(reasons) == {"flare-cpu", "flare-webgpu"} and "210 Q4_1" in reasons["flare-cpu"]


def test_the_built_model_is_runnable_by_every_engine(dist):
    header = read_header_from_path(dist / "models/smollm2-135m-instruct.q8_0.gguf")
    check_runnable_by_flare(header)
    assert unsupported_engines(header) == {}


# ---------------------------------------------------------------- app.engines.unsupported_engines


def _write(tmp_path, kv=(), name="m.gguf", **kwargs):
    path = tmp_path / name
    gguf_file(path, kv, **kwargs)
    return path


def _header(tmp_path, kv=(), **kwargs):
    return read_header_from_path(_write(tmp_path, kv, **kwargs))


def test_a_plain_llama_file_is_supported_everywhere(tmp_path):
    assert unsupported_engines(_header(tmp_path)) == {}


def _alignment_64(tmp_path, want_moved: bool):
    """A file with alignment 64 whose header end rounds to a different (or the same) 32-byte boundary."""
    for pad in range(64):
        h = _header(tmp_path, [("general.name", "x" * pad, VT.STRING, None)], alignment=64)
        if ((h.header_end + 31) // 32 * 32 != h.data_offset) == want_moved:
            return h
    raise AssertionError("no padding gave the wanted layout")


def test_flare_ignores_the_alignment(tmp_path):
    h = _alignment_64(tmp_path, want_moved=True)
    reasons = unsupported_engines(h)
    assert set(reasons) == {"flare-cpu", "flare-webgpu"}
    flare32 = (h.header_end + 31) // 32 * 32
    assert (f"flare-web 0.2.21 ignores general.alignment and assumes 32 bytes: with this file's alignment of 64 it "
            f"would read the tensor data from byte {flare32:,} instead of {h.data_offset:,}") in reasons["flare-cpu"]
    assert reasons["flare-cpu"] == reasons["flare-webgpu"]


def test_flare_reads_a_64_alignment_right_when_the_offsets_agree(tmp_path):
    assert unsupported_engines(_alignment_64(tmp_path, want_moved=False)) == {}


def test_llamacpp_needs_a_uint32_alignment():
    kvs = [kv_string("general.architecture", "llama"), gstr("general.alignment") + struct.pack("<IQ", 10, 32)]
    h = parse_bytes(raw_gguf(kvs))
    assert llamacpp_problems(h) == [
        "llama.cpp (wllama 2.4.0) reads general.alignment only as a uint32 and aborts on a uint64. "
        "Re-save general.alignment as uint32"]


def test_nested_arrays_are_unsupported_by_flare_and_llamacpp():
    h = parse_bytes(nested_array_file(2))
    reasons = unsupported_engines(h)
    assert "flare-web 0.2.21 cannot read arrays inside arrays (metadata 'deep')" in reasons["flare-cpu"]
    assert "llama.cpp (wllama 2.4.0) cannot read arrays inside arrays (metadata 'deep')" in reasons["llamacpp-wasm"]


def test_flare_refuses_strings_over_1_mib(tmp_path):
    h = _header(tmp_path, [("tokenizer.chat_template", "x" * (1024 * 1024 + 1), VT.STRING, None)])
    assert flare_problems(h) == [
        "flare-web 0.2.21 refuses strings over 1 MiB; metadata 'tokenizer.chat_template' is 1,048,577 bytes"]
    assert "llamacpp-wasm" not in unsupported_engines(h)


def test_flare_architectures_and_config_keys(tmp_path):
    h = _header(tmp_path, arch="gpt2", model_kv=False)
    assert flare_problems(h) == [
        "flare-web 0.2.21 has no 'gpt2' architecture (it runs llama, qwen2, mistral, phi3, gemma2)"]
    h = _header(tmp_path, [("llama.embedding_length", 64.0, VT.FLOAT32, None),
                           ("llama.attention.head_count", 0, VT.UINT32, None)])
    assert flare_problems(h) == [
        "flare-web 0.2.21 reads llama.embedding_length only as an integer; the file stores it as a float32",
        "llama.attention.head_count is 0: flare-web 0.2.21 divides by it and would panic"]
    h = _header(tmp_path, model_kv=False)
    assert "flare-web 0.2.21 needs llama.block_count, which the file lacks" in flare_problems(h)


def test_llamacpp_tensor_names_offsets_and_types(tmp_path):
    long63, long64 = "n" * 63, "n" * 64
    assert llamacpp_problems(_header(tmp_path, tensors=[(long63, np.zeros(32, dtype=np.float32))])) == []
    assert llamacpp_problems(_header(tmp_path, tensors=[(long64, np.zeros(32, dtype=np.float32))])) == [
        f"llama.cpp (wllama 2.4.0) refuses tensor names of 64 bytes or more (1 here, e.g. '{long64[:60]}'…)"]
    gap = raw_gguf(tensors=[tensor_entry("a"), tensor_entry("b", offset=256)], data=b"\0" * 512)
    assert llamacpp_problems(parse_bytes(gap)) == [
        "llama.cpp (wllama 2.4.0) needs tensors stored back to back in table order: tensor 'b' is at offset 256 "
        "of the data section, expected 128"]
    q1 = _header(tmp_path, tensors=[("q", ((128,), gguf.GGMLQuantizationType.Q1_0))])
    assert llamacpp_problems(q1) == ["llama.cpp (wllama 2.4.0) has no Q1_0 tensor type (tensor 'q')"]
    assert flare_type_problem(q1.type_counts).rstrip(".") in unsupported_engines(q1)["flare-webgpu"]


def test_transformersjs_rows_get_no_header_rule():
    h = parse_bytes(nested_array_file(2))  # refused by every engine that reads the GGUF
    assert not any(k.startswith("transformersjs") for k in unsupported_engines(h))
