"""Property: whatever the bytes, reading a GGUF header raises GGUFError or returns a header; nothing else.

Hypothesis mutates and truncates valid headers (written with gguf-py, every value type present) and
throws random bytes, with and without a valid GGUF preamble. A returned header must also survive
summary() and unsupported_engines(). Bounded: a fixed number of examples per property, no
example database (hypothesis keeps only a cache in .hypothesis/, which git-ignores itself), the whole
file in well under 20 s.
A failure prints the falsifying example and the seed to reproduce it.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engines import unsupported_engines
from app.core.gguf_header import GGUFError, GGUFHeader, read_header
from tests.host.test_gguf_header import VT, gguf_file, nested_array_file, raw_gguf

# BENCH_FUZZ_EXAMPLES=20000 runs a long search by hand; the default keeps the file under 20 s.
FUZZ = settings(max_examples=int(os.environ.get("BENCH_FUZZ_EXAMPLES", "1000")), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Values that break naive readers when written over a count, a length, a type or an offset.
INTERESTING = [0, 1, 2, 3, 7, 8, 9, 12, 13, 31, 32, 33, 255, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**40,
               2**63 - 1, 2**63, 2**64 - 1]


def _seeds(tmp_path_factory) -> list[bytes]:
    path = tmp_path_factory.mktemp("fuzz") / "seed.gguf"
    kv = [("general.name", "seed", VT.STRING, None), ("t.u8", 1, VT.UINT8, None), ("t.i8", -1, VT.INT8, None),
          ("t.u16", 2, VT.UINT16, None), ("t.i16", -2, VT.INT16, None), ("t.i32", -3, VT.INT32, None),
          ("t.f32", 0.5, VT.FLOAT32, None), ("t.bool", True, VT.BOOL, None), ("t.u64", 4, VT.UINT64, None),
          ("t.i64", -4, VT.INT64, None), ("t.f64", 0.25, VT.FLOAT64, None),
          ("tokenizer.ggml.tokens", ["a", "bc", "déf"], VT.ARRAY, VT.STRING),
          ("tokenizer.ggml.token_type", [1, 1, 3], VT.ARRAY, VT.INT32)]
    written = gguf_file(path, kv, alignment=64, tensors=[("a", np.zeros(32, dtype=np.float32)),
                                                         ("b", np.zeros((2, 16), dtype=np.float16))])
    return [written, raw_gguf(), nested_array_file(3)]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return _seeds(tmp_path_factory)


def check_only_gguf_errors(data: bytes, first: int = 1 << 20) -> GGUFHeader | None:
    """Parse `data`; GGUFError is the only exception allowed out, and a returned header must be usable."""
    try:
        header = read_header(lambda n: data[:n], len(data), first)
    except GGUFError as err:
        assert str(err) and "\n" not in str(err)
        return None
    header.summary()
    reasons = unsupported_engines(header)
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in reasons.items())
    return header


def test_the_seeds_parse(seeds):
    for seed in seeds:
        assert check_only_gguf_errors(seed) is not None


@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes(data):
    check_only_gguf_errors(data)


@FUZZ
@given(version=st.sampled_from([2, 3]),
       counts=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)),
       small=st.tuples(st.integers(0, 4), st.integers(0, 4)), use_small=st.booleans(),
       rest=st.binary(max_size=600))
def test_random_bytes_after_a_valid_preamble(version, counts, small, use_small, rest):
    tensors, kvs = small if use_small else counts
    check_only_gguf_errors(b"GGUF" + struct.pack("<IQQ", version, tensors, kvs) + rest)


mutation = st.one_of(
    st.tuples(st.just("byte"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("u32"), st.integers(0, 10**6), st.sampled_from(INTERESTING)),
    st.tuples(st.just("u64"), st.integers(0, 10**6), st.sampled_from(INTERESTING)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 16)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=16)),
)


def mutate(data: bytes, steps) -> bytes:
    buf = bytearray(data)
    for kind, at, arg in steps:
        if not buf:
            break
        at %= len(buf)
        if kind == "byte":
            buf[at] = arg
        elif kind in ("u32", "u64"):
            fmt = "<I" if kind == "u32" else "<Q"
            raw = struct.pack(fmt, arg % (1 << (8 * struct.calcsize(fmt))))
            buf[at:at + len(raw)] = raw
        elif kind == "delete":
            del buf[at:at + arg]
        else:
            buf[at:at] = arg
    return bytes(buf)


@FUZZ
@given(which=st.integers(0, 2), steps=st.lists(mutation, min_size=1, max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 10**6)), first=st.sampled_from([1 << 20, 4, 37]))
def test_mutated_and_truncated_headers(seeds, which, steps, cut, first):
    data = mutate(seeds[which], steps)
    if cut is not None:
        data = data[:cut % (len(data) + 1)]
    check_only_gguf_errors(data, first)
