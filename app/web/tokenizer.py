"""llama.cpp as the tokenizer of record: every engine gets the ids llama.cpp gives the rendered prompt.

A wllama 2.4 instance of its own (small context, one thread) tokenizes the prompt and the perplexity
passage (`tokenize(text, special=True)`: control strings in the text become control tokens, as in
llama.cpp's server), detokenizes each engine's answer, and names the model's end-of-generation set
(llama.cpp's `list_tokens_eog`: EOS, EOT and the tokens llama.cpp treats as ending a turn).
BOS follows the model (`tokenizer.ggml.add_bos_token`): exactly one at the start, or none added.
"""

from __future__ import annotations

from typing import Any

from pyodide.ffi import to_js  # type: ignore[import-not-found]

from app.core.chat_template import with_one_bos
from app.web import jsbridge
from app.engines.llamacpp.engine import open_wllama
from app.engines.protocol import Model

SOURCE = "llama.cpp (wllama {version} tokenize / detokenize)"


class LlamaCppTokenizer:
    def __init__(self, w: Any, version: str, load_ms: float) -> None:
        self.w = w
        self.version = version
        self.load_ms = load_ms
        self.bos_id = int(w.getBOS())
        self.add_bos = bool(w.addBosToken)
        eog = {int(x) for x in w.eogTokens}
        eog |= {int(x) for x in (w.getEOS(), w.getEOT()) if int(x) >= 0}
        self.eog_ids = sorted(eog)

    @classmethod
    async def open(cls, model: Model, version: str) -> "LlamaCppTokenizer":
        """Load `model` into a wllama instance used only to tokenize. Raises EngineError when llama.cpp cannot load it."""
        t0 = jsbridge.now_ms()
        w = await open_wllama(model, {"n_ctx": 256, "n_threads": 1})
        return cls(w, version, jsbridge.now_ms() - t0)

    @property
    def source(self) -> str:
        return SOURCE.format(version=self.version)

    async def encode(self, text: str) -> list[int]:
        """Token ids of `text` (control strings parsed), with the model's BOS rule applied."""
        ids = [int(x) for x in (await self.w.tokenize(text, True)).to_py()]
        return with_one_bos(ids, self.bos_id, self.add_bos)

    async def decode(self, ids: list[int]) -> str:
        """llama.cpp's text for `ids` (incomplete UTF-8 at the end shows as U+FFFD)."""
        if not ids:
            return ""
        raw = await self.w.detokenize(to_js(ids), False)
        return bytes(raw.to_py()).decode("utf-8", errors="replace")

    async def close(self) -> None:
        if self.w is not None:
            await self.w.exit()
            self.w = None
