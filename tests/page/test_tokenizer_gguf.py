"""The tokenizer of record loaded from the model's tokenizer-only GGUF (app.core.tokenizer_gguf: the vocabulary in
a one-layer zero model, a few MB) gives exactly what it gave loaded from the whole model (issue 23, part 1): both
loaded side by side in one Chromium page, on both embedded models, for the default chat prompt, the
capital-of-France prompt, the perplexity passage and a text of control strings, emoji and Japanese: the same ids
from `tokenize` (raw and with the BOS rule), the same BOS and add-BOS flag, the same end-of-generation set, and the
same text back from `detokenize` for those ids and for 3,000 ids spread over the whole vocabulary."""

from __future__ import annotations

import json

import pytest

from tests.page.helpers import TOKENIZER_TEXTS, run_python, wait_state

pytestmark = [pytest.mark.browser, pytest.mark.model]

COMPARE = TOKENIZER_TEXTS + r"""
out = {}
for model_id in MODEL_IDS:
    model = await nb.load_model(model_id)
    texts = {**texts_of(model),
             "mixed": "<|im_start|>user <start_of_turn> </s> 東京は日本の首都です。 🦙🚀 naïve café\n\t  spaces  "}
    n_vocab = len(model.metadata["tokenizer.ggml.tokens"])
    spread = list(range(0, n_vocab, max(1, n_vocab // 3000)))
    per = {}
    for vocab_only in (True, False):
        tok = await LlamaCppTokenizer.open(model, site, build="memory64", vocab_only=vocab_only)
        try:
            raw = {k: [int(x) for x in (await tok.w.tokenize(t, True)).to_py()] for k, t in texts.items()}
            ids = {k: await tok.encode(t) for k, t in texts.items()}
            text = {k: await tok.decode(v) for k, v in ids.items()}
            pieces = [await tok.decode([i]) for i in spread]
            per["vocab" if vocab_only else "full"] = {
                "raw": raw, "ids": ids, "text": text, "pieces": pieces, "eog": tok.eog_ids, "bos": tok.bos_id,
                "add_bos": tok.add_bos, "source": tok.source, "note": tok.vocab_note, "load_ms": tok.load_ms}
        finally:
            await tok.close()
    out[model_id] = per
json.dumps(out)
"""


def test_the_tokenizer_only_gguf_gives_the_full_models_ids_text_and_end_set(chromium, site_url):
    chromium.get(site_url + "index.html")
    assert wait_state(chromium, {"ready", "error"}, timeout=180) == "ready", chromium.find_element("id", "error").text
    found = json.loads(run_python(chromium, COMPARE))
    assert set(found) == {"smollm2-135m", "gemma3-270m"}
    for model_id, per in found.items():
        vocab, full = per["vocab"], per["full"]
        assert vocab["note"] == "" and vocab["source"] == "llama.cpp (wllama 2.4.0 tokenize / detokenize; tokenizer-only GGUF)"
        assert full["note"] == "full model asked for" and full["source"].endswith("; full model asked for)")
        for key in ("prompt", "capital", "passage", "mixed"):
            assert len(full["ids"][key]) > 10, (model_id, key)
            assert vocab["raw"][key] == full["raw"][key], (model_id, key)
            assert vocab["ids"][key] == full["ids"][key], (model_id, key)
            assert vocab["text"][key] == full["text"][key], (model_id, key)
        assert len(full["pieces"]) >= 3000 and vocab["pieces"] == full["pieces"], model_id
        assert vocab["eog"] == full["eog"] and full["eog"], model_id
        assert (vocab["bos"], vocab["add_bos"]) == (full["bos"], full["add_bos"]), model_id
    # ../shared/NOTES.md: SmolLM2's capital-of-France chat turn is 27 ids starting 1, 9690, 198.
    assert found["smollm2-135m"]["vocab"]["ids"]["capital"][:3] == [1, 9690, 198]
