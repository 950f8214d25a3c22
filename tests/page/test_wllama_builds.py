"""wllama 2.3.7's wasm32 build (what the reference and the tokenizer of record load where a browser lacks Memory64,
as WebKit does) gives exactly wllama 2.4.0's ids: both builds loaded side by side in one Chromium page, on both
embedded models, for the default chat prompt, the capital-of-France prompt and the perplexity passage: the same
ids from `tokenize` (raw and with the BOS rule), the same text back from `detokenize`, the same BOS and the same
end-of-generation set once the tokenizer of record adds what 2.4's llama.cpp newly counts as an end (Gemma 3's
"</s>", app/web/tokenizer.py EOG_TEXTS_SINCE_2_4): the only difference between the builds found here."""

from __future__ import annotations

import json

import pytest

from tests.page.helpers import TOKENIZER_TEXTS, run_python, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.model]

COMPARE = TOKENIZER_TEXTS + r"""
out = {}
for model_id in MODEL_IDS:
    model = await nb.load_model(model_id)
    texts = texts_of(model)
    per_build = {}
    for build in ("memory64", "wasm32"):
        tok = await LlamaCppTokenizer.open(model, site, build=build)
        try:
            raw = {k: [int(x) for x in (await tok.w.tokenize(t, True)).to_py()] for k, t in texts.items()}
            ids = {k: await tok.encode(t) for k, t in texts.items()}
            raw_eog = {int(x) for x in tok.w.eogTokens} | {int(x) for x in (tok.w.getEOS(), tok.w.getEOT()) if int(x) >= 0}
            per_build[build] = {"raw": raw, "ids": ids, "text": {k: await tok.decode(v) for k, v in ids.items()},
                                "eog": tok.eog_ids, "raw_eog": sorted(raw_eog), "aligned": tok.eog_aligned,
                                "slash_s": int(await tok.w.lookupToken("</s>")), "bos": tok.bos_id, "add_bos": tok.add_bos,
                                "source": tok.source, "version": tok.version}
        finally:
            await tok.close()
    out[model_id] = per_build
json.dumps(out)
"""


def test_wasm32_build_gives_the_memory64_builds_ids_text_and_end_set(chromium, site_url):
    chromium.get(site_url + "index.html")
    assert wait_state(chromium, {"ready", "error"}, timeout=180) == "ready", chromium.find_element("id", "error").text
    found = json.loads(run_python(chromium, COMPARE))
    assert set(found) == {"smollm2-135m", "gemma3-270m"}
    for model_id, builds in found.items():
        new, old = builds["memory64"], builds["wasm32"]
        assert (new["version"], old["version"]) == ("2.4.0", "2.3.7")
        assert old["source"].startswith("llama.cpp (wllama 2.3.7 wasm32 build tokenize / detokenize")
        assert new["source"] == "llama.cpp (wllama 2.4.0 tokenize / detokenize; tokenizer-only GGUF)"
        for key in ("prompt", "capital", "passage"):
            assert len(new["ids"][key]) > 10, (model_id, key)
            assert old["raw"][key] == new["raw"][key], (model_id, key)
            assert old["ids"][key] == new["ids"][key], (model_id, key)
            assert old["text"][key] == new["text"][key], (model_id, key)
        assert old["eog"] == new["eog"] and old["eog"], model_id
        # What differs without the alignment: exactly the "</s>" token, which only 2.4 counts as an end.
        assert new["aligned"] == [] and new["raw_eog"] == new["eog"]
        assert set(new["raw_eog"]) - set(old["raw_eog"]) == set(old["aligned"]), model_id
        assert set(old["aligned"]) <= {old["slash_s"]}, model_id
        assert set(old["raw_eog"]) <= set(new["raw_eog"]), model_id
        assert (old["bos"], old["add_bos"]) == (new["bos"], new["add_bos"]), model_id
    assert found["gemma3-270m"]["wasm32"]["aligned"] == [212]  # Gemma 3's "</s>", seen in 2.4's set only
    assert found["smollm2-135m"]["wasm32"]["aligned"] == []
    # ../shared/NOTES.md: SmolLM2's capital-of-France chat turn is 27 ids starting 1, 9690, 198.
    assert found["smollm2-135m"]["wasm32"]["ids"]["capital"][:3] == [1, 9690, 198]
    assert len(found["smollm2-135m"]["wasm32"]["ids"]["capital"]) == 27
