"""Issue 12's host side: the null engine in the catalog, `overhead --engine null`'s figures and input checks,
and the wheels the page fetches while Pyodide boots (no browser here)."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

import pytest

from app.engines import BY_KEY, SPEC_OF, page_choices
from app.core.overhead import null_lines, null_summary, per_token_overhead_us
from app.core.settings import BenchSettings, expand_engines
from app.host.lockfile import wheels_needed


def test_the_null_engines_are_runnable_by_key_and_hidden_from_the_page():
    for key in ("null", "null-5ms"):
        assert BY_KEY[key].hidden and SPEC_OF[key].factory == "app.engines.null.engine:make"
        assert key not in {c["key"] for c in page_choices()}
        assert not BY_KEY[key].default
    assert expand_engines(["null"]) == ["null"]  # the short name is the ceiling engine alone
    assert BenchSettings.from_dict({"engines": ["null", "null-5ms"]}).engines == ["null", "null-5ms"]


def test_null_summary_figures_and_the_ratio_is_the_last_line():
    s = null_summary([100_000.0, 50_000.0], [1e6, 1e6], [198.0, 199.0], [199.0, 200.0], 5.0, [5.04, 5.06], [5.0, 5.0])
    assert per_token_overhead_us([100_000.0], [1e6]) == pytest.approx([9.0])
    assert s["overhead_us_per_token"]["median"] == pytest.approx((9.0 + 19.0) / 2)
    assert s["ceiling"]["python_decode_tok_s"]["median"] == 75_000.0
    assert s["busy"]["ratio_python_over_js"] == pytest.approx(198.5 / 199.5)
    assert s["busy_itl_p50_overhead_us"]["median"] == pytest.approx(50.0)
    lines = null_lines(s, 20_000, 200)
    assert lines[0].startswith("harness ceiling, JS loop:") and "1,000,000" in lines[0]
    assert lines[1].startswith("harness ceiling, Python loop:") and "75,000" in lines[1]
    assert lines[2] == "per-token overhead (Python minus JS): median 14.00, mean 14.00 ± 7.07, min 9.00, max 19.00 us"
    assert lines[-1] == f"ratio of decode tok/s on the 5 ms null engine (Python / JS): {198.5 / 199.5:.4f}"


@pytest.mark.parametrize("argv", [
    ["--engine", "null", "--max-tokens", "1"],
    ["--engine", "null", "--max-tokens", "200001"],
    ["--engine", "flare", "--max-tokens", "2000"],
    ["--engine", "null", "--busy-tokens", "1"],
    ["--engine", "null", "--rounds", "0"],
])
def test_overhead_refuses_out_of_range_input_before_any_browser(argv):
    proc = subprocess.run([sys.executable, "-m", "app", "overhead", *argv], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("overhead: ") and proc.stdout == ""


def test_wheels_needed_follows_the_lock_and_carries_integrity(tmp_path):
    lock = tmp_path / "pyodide-lock.json"
    sha = {name: hashlib.sha256(name.encode()).hexdigest() for name in ("app", "jinja2", "markupsafe", "other")}
    lock.write_text(json.dumps({"packages": {
        "app": {"file_name": "app.whl", "sha256": sha["app"], "depends": ["jinja2"]},
        "jinja2": {"file_name": "jinja2.whl", "sha256": sha["jinja2"], "depends": ["markupsafe"]},
        "markupsafe": {"file_name": "markupsafe.whl", "sha256": sha["markupsafe"], "depends": []},
        "other": {"file_name": "other.whl", "sha256": sha["other"], "depends": []},
    }}))
    got = wheels_needed(lock, "app")
    assert [w["package"] for w in got] == ["app", "jinja2", "markupsafe"]
    assert got[1]["integrity"] == "sha256-" + base64.b64encode(bytes.fromhex(sha["jinja2"])).decode()
    with pytest.raises(KeyError):
        wheels_needed(lock, "missing")


def test_the_built_site_lists_each_wheel_the_page_fetches_with_its_real_hash(dist):
    manifest = dist / "manifest.json"
    if not manifest.exists():
        pytest.skip("dist/ is not built")
    site = json.loads(manifest.read_text())["site"]
    wheels = site["app_wheels"]
    assert wheels[0]["package"] == site["app_package"] and wheels[0]["file"] == site["app_wheel"]
    for w in wheels:
        digest = hashlib.sha256((dist / w["file"]).read_bytes()).digest()
        assert w["integrity"] == "sha256-" + base64.b64encode(digest).decode(), w["file"]
