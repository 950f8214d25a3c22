"""The transformers.js rows in a real page: a few tokens on the converted weights, and a clear error
when the model folder is missing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.core import results
from app.host.pagerun import run_page

pytestmark = [pytest.mark.browser, pytest.mark.model]


def test_transformersjs_rows_share_weights_with_the_gguf_rows(tmp_path, tjs_model):
    out = tmp_path / "r.json"
    proc = subprocess.run(
        [sys.executable, "-m", "app", "bench", "--engines", "llamacpp,transformersjs-wasm", "--max-tokens", "5",
         "--runs", "2", "--warmup", "0", "--forced-tokens", "3", "--no-perplexity", "--json", str(out)],
        capture_output=True, text=True, timeout=900, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "transformers.js     wasm-cpu" in proc.stdout and tjs_model["weights_format"] in proc.stdout
    data = json.loads(out.read_text())
    results.check_result(data)
    reference, tjs = data["rows"]
    assert tjs["error"] is None, tjs["error"]
    assert tjs["weights"]["converted_from_sha256"] == reference["weights"]["sha256"] == data["model"]["sha256"]
    assert tjs["weights"]["sha256"] == tjs_model["weights_sha256"]
    # The GGUF's own Q8_0 blocks: the cell names the GGUF they are the same as.
    assert tjs["weights"]["format"] == f"GGUF Q8_0 blocks (int8 x 32 + scale), same as {data['model']['sha256'][:8]}"
    for run in tjs["runs"]:
        assert 1 <= len(run["token_ids"]) <= 5
        # Token times come from the streamer: strictly spread out, not bunched at Python's receipt.
        assert run["derived"]["decode_tok_s"] is None or run["derived"]["decode_tok_s"] < 500
    assert tjs["correctness"]["forced_positions"] == 3
    assert tjs["runs"][0]["token_ids"][0] == reference["runs"][0]["token_ids"][0]


def test_missing_transformersjs_model_folder_gives_a_clear_error(dist, tjs_model, tmp_path):
    # Serve the site as built, but with the model's files answering 404.
    missing = tmp_path / "does-not-exist"
    extra = {f"/{tjs_model['dir']}/{name}": missing for name in ("config.json", tjs_model["file"])}
    settings = {"engines": ["transformersjs-wasm"], "max_tokens": 2, "runs": 1, "warmup": 0,
                "forced_tokens": 0, "perplexity": False}
    outcome = run_page(dist, "index.html", {"autorun": "1", "settings": json.dumps(settings)}, 300, extra=extra,
                       echo=lambda line: None)
    assert outcome.state == "done"  # the page stays usable; the row carries the error
    row = outcome.result["rows"][0]
    assert row["error"] and "could not load models/smollm2-135m-instruct-onnx" in row["error"]
