"""The GGUF header check that stands between a bad file and the engines."""

from __future__ import annotations

import struct
import zipfile

import pytest

from app.core.gguf_header import GGML_TYPES, GGUFError, check_runnable_by_flare, read_header_from_path


def gguf_bytes(tensor_count=1, kv_count=1, dims=(32,), type_id=0, data_len=None, extra_kv=b""):
    out = b"GGUF" + struct.pack("<IQQ", 3, tensor_count, kv_count)
    key = b"general.architecture"
    out += struct.pack("<Q", len(key)) + key + struct.pack("<I", 8) + struct.pack("<Q", 5) + b"llama" + extra_kv
    name = b"w"
    out += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
    out += struct.pack("<IQ", type_id, 0)
    out += b"\0" * ((32 - len(out) % 32) % 32)
    _, block, size = GGML_TYPES[type_id]
    n = 1
    for d in dims:
        n *= d
    out += b"\0" * (data_len if data_len is not None else n // block * size)
    return out


def test_our_type_table_matches_the_gguf_package():
    gguf = pytest.importorskip("gguf")
    for type_id, (name, block, size) in GGML_TYPES.items():
        q = gguf.GGMLQuantizationType(type_id)
        assert q.name == name and gguf.GGML_QUANT_SIZES[q] == (block, size)


def test_a_minimal_valid_file_parses(tmp_path):
    path = tmp_path / "ok.gguf"
    path.write_bytes(gguf_bytes())
    h = read_header_from_path(path)
    assert h.architecture == "llama" and h.type_counts == {"F32": 1}


def test_not_gguf(tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_text("hello, I am a text file")
    with pytest.raises(GGUFError, match="not a GGUF file"):
        read_header_from_path(path)


def test_truncated_in_the_data(tmp_path):
    path = tmp_path / "cut.gguf"
    path.write_bytes(gguf_bytes(data_len=10))
    with pytest.raises(GGUFError, match="truncated"):
        read_header_from_path(path)


def test_truncated_in_the_header(tmp_path):
    path = tmp_path / "cut.gguf"
    path.write_bytes(gguf_bytes()[:40])
    with pytest.raises(GGUFError, match="ends inside its own header"):
        read_header_from_path(path)


def test_absurd_counts(tmp_path):
    path = tmp_path / "absurd.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**60, 2**60) + b"\0" * 64)
    with pytest.raises(GGUFError, match="absurd counts"):
        read_header_from_path(path)


def test_absurd_string_length(tmp_path):
    path = tmp_path / "absurd.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1, 1) + struct.pack("<Q", 2**50) + b"\0" * 64)
    with pytest.raises(GGUFError, match="claims"):
        read_header_from_path(path)


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


def test_the_built_model_is_runnable_by_flare(dist):
    check_runnable_by_flare(read_header_from_path(dist / "models/smollm2-135m-instruct.q8_0.gguf"))
