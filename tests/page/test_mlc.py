"""The MLC WebLLM row in a real page (SwiftShader here): a few tokens on the weights built from the GGUF by
`python build.py --mlc PATH`, greedy ids against llama.cpp's, and the clear refusal of a site built without it.

The build needs an mlc-llm checkout, which no package registry serves, so CI cannot make it: the row test is
skipped there with that reason (set BENCH_MLC_SOURCE to a checkout, or build dist/ with --mlc first, to run it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.core import results

pytestmark = [pytest.mark.browser, pytest.mark.model]


@pytest.fixture(scope="session")
def mlc_site(dist) -> dict:
    site = json.loads((dist / "manifest.json").read_text())["site"]
    if not (site.get("mlc") or {}).get("models", {}).get("q0f32"):
        pytest.skip("dist/ was built without the MLC model: it needs an mlc-llm checkout, which no registry serves "
                    "(python build.py --mlc PATH; README: MLC WebLLM)")
    return site["mlc"]


def test_mlc_row_shares_weights_and_greedy_ids_with_llamacpp(tmp_path, mlc_site):
    out = tmp_path / "r.json"
    # The CPU argmax variant: web-llm's GPU sampler takes minutes a token on SwiftShader (README: MLC WebLLM).
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--engines", "llamacpp,mlc-webgpu-cpu-argmax", "--max-tokens", "3",
         "--runs", "1", "--warmup", "0", "--forced-tokens", "2", "--no-perplexity", "--json", str(out)],
        capture_output=True, text=True, timeout=1500, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    results.check_result(data)
    reference, mlc = data["rows"]
    assert mlc["error"] is None, mlc["error"]
    assert mlc["backend"] == "webgpu (CPU argmax sampler)"  # the opt-in sampler says so in the row
    assert mlc["weights"]["converted_from_sha256"] == data["model"]["sha256"]
    # web-llm's own tokenizer gives llama.cpp's ids for the prompt's text (the row is fed ids)
    assert mlc["info"]["tokenizer_check"]["same_ids"] is True, mlc["info"]["tokenizer_check"]
    assert mlc["weights"]["format"].startswith("MLC q0f32")
    run = mlc["runs"][0]
    assert len(run["token_ids"]) == 3
    # float32 weights equal to the GGUF's dequantized Q8_0: greedy ids equal llama.cpp's on these first tokens.
    assert run["token_ids"] == reference["runs"][0]["token_ids"][:3]
    assert mlc["correctness"]["forced_positions"] == 2


def test_site_without_mlc_model_refuses_the_row_in_words(dist):
    site = json.loads((dist / "manifest.json").read_text())["site"]
    if (site.get("mlc") or {}).get("models"):
        pytest.skip("dist/ has an MLC model: the refusal is for a site built without one")
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--engines", "mlc-webgpu", "--max-tokens", "2", "--runs", "1",
         "--warmup", "0"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    # The row is refused in words naming the build command; no traceback.
    assert "MLC WebLLM  webgpu   unsupported" in proc.stdout, proc.stdout[-2000:]
    assert "run `python build.py --mlc PATH` with PATH an mlc-llm checkout" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
