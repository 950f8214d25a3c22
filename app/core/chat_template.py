"""The model's own chat template (`tokenizer.chat_template` in the GGUF), rendered with jinja2.

Pure Python: the host tests it, the page runs it inside Pyodide (jinja2 and markupsafe are wheels in
the site's Pyodide lock). The conventions are those of transformers' `apply_chat_template`
(src/transformers/utils/chat_template_utils.py): a sandboxed environment (ImmutableSandboxedEnvironment)
with `trim_blocks` and `lstrip_blocks`, the variables `messages`, `add_generation_prompt`,
`bos_token`, `eos_token`, the global `raise_exception(message)`, a `tojson` filter that keeps
non-ASCII text, and `strftime_now(format)`.

A model without a template gets the raw prompt (format "raw"): system prompt, a blank line, the prompt.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

FORMAT_TEMPLATE = "gguf-template"
FORMAT_RAW = "raw"


class TemplateError(ValueError):
    """The model's chat template could not be rendered; the message says where and why."""


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    format: str  # FORMAT_TEMPLATE or FORMAT_RAW
    starts_with_bos_text: bool  # the template itself wrote bos_token at the start


def _raise(message: str) -> None:
    raise TemplateError(f"the model's chat template refused the conversation: {message}")


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators=None, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


@lru_cache(maxsize=8)
def _compile(template: str):
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    try:
        return env.from_string(template)
    except TemplateSyntaxError as err:
        raise TemplateError(f"the model's chat template does not parse (line {err.lineno}): {err.message}") from None


def messages_for(prompt: str, system: str | None) -> list[dict[str, str]]:
    """The conversation: a system turn only when the system prompt has non-whitespace text."""
    out = []
    if system is not None and system.strip():
        out.append({"role": "system", "content": system})
    out.append({"role": "user", "content": prompt})
    return out


def render(template: str | None, prompt: str, system: str | None, bos_token: str = "", eos_token: str = "") -> RenderedPrompt:
    """The text to tokenize for a chat turn ending where the assistant's reply begins.

    template: the GGUF's `tokenizer.chat_template` (None or empty: the raw format).
    Raises TemplateError when the template does not parse or refuses the conversation
    (`raise_exception`), or fails while rendering.
    """
    if not template or not isinstance(template, str):
        text = f"{system}\n\n{prompt}" if system and system.strip() else prompt
        return RenderedPrompt(text, FORMAT_RAW, False)
    compiled = _compile(template)
    try:
        text = compiled.render(messages=messages_for(prompt, system), add_generation_prompt=True,
                               bos_token=bos_token, eos_token=eos_token)
    except TemplateError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure of a model's own template, in words
        raise TemplateError(f"the model's chat template failed while rendering: {type(err).__name__}: {err}") from None
    return RenderedPrompt(text, FORMAT_TEMPLATE, bool(bos_token) and text.startswith(bos_token))


def control_strings(metadata: dict[str, Any]) -> list[str]:
    """The text of every CONTROL token (token_type 3) of the vocabulary, e.g. "<|im_end|>", longest first."""
    tokens, types = metadata.get("tokenizer.ggml.tokens"), metadata.get("tokenizer.ggml.token_type")
    if not isinstance(tokens, list) or not isinstance(types, list):
        return []
    found = {t for t, kind in zip(tokens, types) if kind == 3 and isinstance(t, str) and len(t) > 1}
    return sorted(found, key=lambda t: (-len(t), t))


def control_strings_in(text: str, controls: list[str]) -> list[str]:
    """Which control strings `text` (typed by the user) contains: they become control tokens, as in llama.cpp's server."""
    return [c for c in controls if c in text]


def with_one_bos(ids: list[int], bos_id: int | None, add_bos: bool) -> list[int]:
    """Exactly one BOS at the start when the model wants one (`tokenizer.ggml.add_bos_token`), none added otherwise.

    A template that already wrote `bos_token` gives a BOS from the tokenizer: it is kept, not doubled.
    """
    if not add_bos or bos_id is None or bos_id < 0:
        return list(ids)
    rest = list(ids)
    while rest and rest[0] == bos_id:
        rest.pop(0)
    return [bos_id] + rest
