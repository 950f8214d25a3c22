"""llama.cpp as the tokenizer of record: every engine gets the ids llama.cpp gives the rendered prompt.

A wllama 2.x instance of its own (small context, one thread; 2.4.0, or 2.3.7's wasm32 build where the browser
lacks Memory64: the reference engine's choice, app/engines/llamacpp), loaded with the model's tokenizer-only GGUF
(app.core.tokenizer_gguf: its vocabulary without its weights; the full model only where that cannot be made or
loaded, and the source says so), tokenizes the prompt and the perplexity
passage (`tokenize(text, special=True)`: control strings in the text become control tokens, as in
llama.cpp's server), detokenizes each engine's answer, and names the model's end-of-generation set
(llama.cpp's `list_tokens_eog`: EOS, EOT and the tokens llama.cpp treats as ending a turn).
BOS follows the model (`tokenizer.ggml.add_bos_token`): exactly one at the start, or none added.

`Tokenizer` is what the benchmark needs of it; host tests give the benchmark a fake of the same shape.
"""

from __future__ import annotations

from typing import Any, Protocol

from dataclasses import replace

from app.core.chat_template import with_one_bos
from app.core.tokenizer_gguf import NoVocabulary, tokenizer_gguf
from app.engines.protocol import EngineError, Model
from app.web.browser import BROWSER, Browser

SOURCE = "llama.cpp (wllama {version}{build} tokenize / detokenize{aligned}{vocab})"
# Texts that llama.cpp in wllama 2.4.0 (b8948) puts in a model's end-of-generation set and 2.3.7's (b7179) does not:
# Gemma 3's "</s>" (id 212; a user-defined token) is in 2.4's set only (tests/page/test_wllama_builds.py). Where the
# wasm32 build is the tokenizer of record it adds them, so every browser stops at the same ids.
EOG_TEXTS_SINCE_2_4 = ("</s>",)


class Tokenizer(Protocol):
    """The tokenizer of record, as app/web/bench.py uses it."""

    bos_id: int
    add_bos: bool  # the model adds BOS (tokenizer.ggml.add_bos_token)
    eog_ids: list[int]  # end-of-generation ids, sorted
    load_ms: float  # how long opening it took (ms)

    @property
    def source(self) -> str:
        """Who tokenized, in words (the result's `tokenizer`)."""

    async def encode(self, text: str) -> list[int]:
        """Token ids of `text` (control strings parsed), with the model's BOS rule applied."""

    async def decode(self, ids: list[int]) -> str:
        """The text of `ids`."""

    async def close(self) -> None:
        """Free it; idempotent."""


class LlamaCppTokenizer:
    def __init__(self, w: Any, version: str, load_ms: float, browser: Browser = BROWSER, build: str = "memory64") -> None:
        self.w = w
        self.version = version
        self.build = build  # which wllama 2.x build: "memory64" (2.4.0) or "wasm32" (2.3.7)
        self.load_ms = load_ms
        self.browser = browser
        self.bos_id = int(w.getBOS())
        self.add_bos = bool(w.addBosToken)
        eog = {int(x) for x in w.eogTokens}
        eog |= {int(x) for x in (w.getEOS(), w.getEOT()) if int(x) >= 0}
        self.eog_ids = sorted(eog)
        self.eog_aligned: list[int] = []  # ids added to match 2.4's set (EOG_TEXTS_SINCE_2_4)
        self.vocab_note = ""  # "" when loaded from the tokenizer-only GGUF; else why the full model was loaded

    @classmethod
    async def open(cls, model: Model, site: dict[str, Any], browser: Browser = BROWSER,
                   build: str | None = None, vocab_only: bool = True) -> LlamaCppTokenizer:
        """A wllama instance used only to tokenize `model` (`build`: "memory64" | "wasm32"; None: the one this
        browser can run), loaded from the model's tokenizer-only GGUF (app.core.tokenizer_gguf) unless
        `vocab_only` is False or that file cannot be made or loaded (then from the model itself; `vocab_note`
        says why). Raises EngineError when llama.cpp cannot load the model."""
        from app.engines.llamacpp.engine import open_wllama  # browser only (imports js)

        t0 = browser.now_ms()
        config = {"n_ctx": 256, "n_threads": 1}
        w, record, note = None, None, "full model asked for"
        if vocab_only:
            try:
                blob = tokenizer_gguf(model.metadata, model.metadata_types)
                vocab = replace(model, data=browser.to_js(blob), size=len(blob), name=f"{model.name} (tokenizer only)")
                w, record = await open_wllama(vocab, config, site, build)
                note = ""
            except (NoVocabulary, ValueError, KeyError, EngineError) as err:
                note = f"full model: its tokenizer-only GGUF failed: {err}"
        if w is None:
            w, record = await open_wllama(model, config, site, build)
        tok = cls(w, record["version"], browser.now_ms() - t0, browser, record["build"])
        tok.vocab_note = note
        if record["build"] != "memory64":
            await tok.align_eog()
        return tok

    async def align_eog(self) -> None:
        """Add to the end-of-generation set the tokens 2.4 ends a turn at and this older build does not."""
        for text in EOG_TEXTS_SINCE_2_4:
            token = int(await self.w.lookupToken(text))
            if token >= 0 and token not in self.eog_ids:
                self.eog_aligned.append(token)
        self.eog_ids = sorted(set(self.eog_ids) | set(self.eog_aligned))

    @property
    def source(self) -> str:
        aligned = f"; end set as 2.4's: {self.eog_aligned} added" if self.eog_aligned else ""
        vocab = f"; {self.vocab_note}" if self.vocab_note else "; tokenizer-only GGUF"
        return SOURCE.format(version=self.version, build="" if self.build == "memory64" else f" {self.build} build",
                             aligned=aligned, vocab=vocab)

    async def encode(self, text: str) -> list[int]:
        """Token ids of `text` (control strings parsed), with the model's BOS rule applied."""
        ids = [int(x) for x in (await self.w.tokenize(text, True)).to_py()]
        return with_one_bos(ids, self.bos_id, self.add_bos)

    async def decode(self, ids: list[int]) -> str:
        """llama.cpp's text for `ids` (incomplete UTF-8 at the end shows as U+FFFD)."""
        if not ids:
            return ""
        raw = await self.w.detokenize(self.browser.to_js(ids), False)
        return bytes(raw.to_py()).decode("utf-8", errors="replace")

    async def close(self) -> None:
        if self.w is not None:
            await self.w.exit()
            self.w = None


async def open_tokenizer_of_record(model: Model, site: dict[str, Any], browser: Browser = BROWSER) -> Tokenizer:
    """llama.cpp (wllama 2.4, or 2.3.7's wasm32 build without Memory64) opened on `model` as the tokenizer of
    record. Raises EngineError."""
    return await LlamaCppTokenizer.open(model, site, browser)
