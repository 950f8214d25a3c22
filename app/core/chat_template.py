"""The model's own chat template (`tokenizer.chat_template` in the GGUF), rendered with jinja2.

Pure Python: the host tests it, the page runs it inside Pyodide (jinja2 and markupsafe are wheels in
the site's Pyodide lock). The conventions are those of transformers' `apply_chat_template`
(src/transformers/utils/chat_template_utils.py): a sandboxed environment (ImmutableSandboxedEnvironment)
with `trim_blocks` and `lstrip_blocks`, the variables `messages`, `add_generation_prompt`,
`bos_token`, `eos_token`, the global `raise_exception(message)`, a `tojson` filter that keeps
non-ASCII text, and `strftime_now(format)`.

A model without a template gets the raw prompt (format "raw"): system prompt, a blank line, the prompt.

Every render ends by itself: it runs under a work budget (`RenderBudget`: Python steps and seconds of rendering,
counted by a trace function on the template's own code and every Python call it makes), so a runaway loop such as
`{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}` is stopped within seconds; `*`
and `**` are capped in size (one such operation could not be interrupted); a template nested too deeply to parse,
one that renders an empty prompt, and one that fails in any way give a TemplateError naming the template
(`source`). The budget can call `pause()` every `pause_every_s` (the page yields to the browser there, so it
keeps drawing and Stop works) and ends the render with RenderStopped when `stopped()` says so.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

FORMAT_TEMPLATE = "gguf-template"
FORMAT_RAW = "raw"


DEFAULT_SOURCE = "the model's chat template"
MAX_STEPS = 2_000_000  # Python lines of the template plus Python calls while rendering (real templates: thousands)
MAX_SECONDS = 5.0  # seconds of rendering (pauses for the browser not counted)
MAX_SEQUENCE = 1_000_000  # the longest string or list that `*` may make
MAX_POWER_BITS = 100_000  # the largest integer (in bits) that `**` may make
TEMPLATE_FILENAME = "<template>"  # the file name jinja2 compiles a template from a string under


class TemplateError(ValueError):
    """The model's chat template could not be rendered; the message says where and why."""


class RenderStopped(TemplateError):
    """The person pressed Stop while the template rendered."""


@dataclass
class RenderBudget:
    """How much work one render may do, and what it does meanwhile.

    max_steps: Python lines executed in the template's own code plus Python calls made while rendering.
    max_seconds: seconds spent rendering (time inside `pause` not counted).
    pause: called about every `pause_every_s` seconds of rendering (the page yields to the browser in it).
    stopped: checked at the same moments; True ends the render with RenderStopped.
    """

    max_steps: int = MAX_STEPS
    max_seconds: float = MAX_SECONDS
    pause: Callable[[], None] | None = None
    pause_every_s: float = 0.05
    stopped: Callable[[], bool] | None = None


class _OverBudget(BaseException):
    """Raised inside the template by the trace function. A BaseException, so that no `except Exception` in the
    template's helpers swallows it; render() turns it into a TemplateError."""


class _Watch:
    """A trace function counting the render's work and checking the budget every `every` steps (at most
    CHECK_EVERY; fewer when steps are slow, so that a pause or Stop is never seconds away)."""

    CHECK_EVERY = 128  # steps between two looks at the clock at most (fewer when steps are slow)

    def __init__(self, budget: RenderBudget) -> None:
        self.budget = budget
        self.steps = 0
        self.every = self.CHECK_EVERY
        self.next_check = self.CHECK_EVERY
        self.spent = 0.0  # seconds of rendering so far
        self.last = self.last_pause = time.perf_counter()
        self.pause = budget.pause
        self.pausing = False  # inside pause(): the browser's own Python (a Stop click) runs untraced
        self.why = ""

    def global_trace(self, frame, event, arg):  # every Python call while rendering
        if self.pausing:
            return None
        self.steps += 1
        if self.steps >= self.next_check:
            self.check()
        return self.local_trace if frame.f_code.co_filename == TEMPLATE_FILENAME else None

    def local_trace(self, frame, event, arg):  # every line of the template's own code
        self.steps += 1
        if self.steps >= self.next_check:
            self.check()
        return self.local_trace

    def check(self) -> None:
        b = self.budget
        now = time.perf_counter()
        since = now - self.last
        # Steps can be slow (one filter over a long list): check more often when checks come too far apart.
        if since > b.pause_every_s / 2:
            self.every = max(1, self.every // 8)
        elif since < b.pause_every_s / 16:
            self.every = min(self.CHECK_EVERY, self.every * 2)
        self.next_check = self.steps + self.every
        self.spent += since
        self.last = now
        if self.steps > b.max_steps:
            self.why = f"more than {b.max_steps:,} steps"
            raise _OverBudget()
        if self.spent > b.max_seconds:
            self.why = f"more than {b.max_seconds:g} s"
            raise _OverBudget()
        if self.pause is not None and now - self.last_pause >= b.pause_every_s:
            self.pausing = True
            try:
                self.pause()
            except Exception:  # noqa: BLE001 - a pause that cannot happen here: render on without pauses
                self.pause = None
            finally:
                self.pausing = False
            self.last = self.last_pause = time.perf_counter()  # the pause is not rendering time
        if b.stopped is not None and b.stopped():
            self.why = "stopped"
            raise _OverBudget()


def _nesting(template: str) -> int:
    """How deeply brackets nest in the template's text (for the message when it is too deep to parse)."""
    depth = deepest = 0
    for ch in template:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return deepest


@dataclass(frozen=True)
class RenderedPrompt:
    text: str
    format: str  # FORMAT_TEMPLATE or FORMAT_RAW
    starts_with_bos_text: bool  # the template itself wrote bos_token at the start


class _Refused(TemplateError):
    """raise_exception(message) called by the template; render() names the template."""


def _raise(message: str) -> None:
    raise _Refused(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators=None, sort_keys: bool = False) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


def _capped_binop(left: Any, right: Any, operator: str) -> None:
    """Refuse `*` and `**` whose result would be huge (one such operation cannot be interrupted)."""
    from jinja2.exceptions import SecurityError

    def whole(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    if operator == "*":
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and whole(n) and len(seq) * n > MAX_SEQUENCE:
                raise SecurityError(f"'*' would make a sequence of {len(seq) * n:,} items (at most {MAX_SEQUENCE:,})")
    elif operator == "**" and whole(left) and whole(right) and abs(left) > 1 and right > 0:
        if abs(left).bit_length() * right > MAX_POWER_BITS:
            raise SecurityError(f"'**' would make an integer of about {abs(left).bit_length() * right:,} bits "
                                f"(at most {MAX_POWER_BITS:,})")


def _environment():
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class ChatTemplateEnvironment(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context, operator, left, right):
            _capped_binop(left, right, operator)
            return super().call_binop(context, operator, left, right)

    env = ChatTemplateEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    return env


@lru_cache(maxsize=8)
def _compile_cached(template: str):
    return _environment().from_string(template)


def _compile(template: str, source: str = DEFAULT_SOURCE):
    from jinja2 import TemplateSyntaxError

    try:
        return _compile_cached(template)
    except TemplateSyntaxError as err:
        raise TemplateError(f"{source} does not parse (line {err.lineno}): {err.message}") from None
    except (RecursionError, MemoryError):
        raise TemplateError(f"{source} is nested too deeply to parse (brackets {_nesting(template):,} deep; "
                            "Python's recursion limit was reached)") from None
    except Exception as err:  # noqa: BLE001 - e.g. CPython's limit of 20 nested blocks (SyntaxError)
        raise TemplateError(f"{source} does not compile: {type(err).__name__}: {err}") from None


def messages_for(prompt: str, system: str | None) -> list[dict[str, str]]:
    """The conversation: a system turn only when the system prompt has non-whitespace text."""
    out = []
    if system is not None and system.strip():
        out.append({"role": "system", "content": system})
    out.append({"role": "user", "content": prompt})
    return out


def _budgeted(call: Callable[[], Any], budget: RenderBudget, source: str) -> Any:
    """call() with the budget's trace function installed (the previous one, a debugger's or coverage's, is put
    back afterwards)."""
    watch = _Watch(budget)
    previous = sys.gettrace()
    sys.settrace(watch.global_trace)
    try:
        return call()
    except _OverBudget:
        if watch.why == "stopped":
            raise RenderStopped(f"stopped while {source} rendered: nothing was measured") from None
        raise TemplateError(f"{source} did not finish rendering within its budget ({watch.why}; {watch.steps:,} "
                            f"steps in {watch.spent:.1f} s): a runaway loop?") from None
    finally:
        sys.settrace(previous)


def render(template: str | None, prompt: str, system: str | None, bos_token: str = "", eos_token: str = "",
           *, source: str = DEFAULT_SOURCE, budget: RenderBudget | None = None) -> RenderedPrompt:
    """The text to tokenize for a chat turn ending where the assistant's reply begins.

    template: the GGUF's `tokenizer.chat_template` (None or empty: the raw format). source: how messages name
    the template ("the chat template of MODEL"). budget: the work it may do (default RenderBudget()).
    Raises TemplateError naming `source` when the template does not parse, refuses the conversation
    (`raise_exception`), fails while rendering, runs past its budget, or renders nothing but whitespace;
    RenderStopped (a TemplateError) when `budget.stopped()` says so.
    """
    if not template or not isinstance(template, str):
        text = f"{system}\n\n{prompt}" if system and system.strip() else prompt
        return RenderedPrompt(text, FORMAT_RAW, False)
    budget = RenderBudget() if budget is None else budget
    compiled = _budgeted(lambda: _compile(template, source), budget, source)

    def run() -> str:
        return compiled.render(messages=messages_for(prompt, system), add_generation_prompt=True,
                               bos_token=bos_token, eos_token=eos_token)

    try:
        text = _budgeted(run, budget, source)
    except _Refused as err:
        raise TemplateError(f"{source} refused the conversation: {err}") from None
    except TemplateError:
        raise
    except RecursionError:
        raise TemplateError(f"{source} failed while rendering: it recursed too deeply (RecursionError)") from None
    except Exception as err:  # noqa: BLE001 - any failure of a model's own template, in words
        raise TemplateError(f"{source} failed while rendering: {type(err).__name__}: {err}") from None
    if not text.strip():
        raise TemplateError(f"{source} rendered an empty prompt ({len(text)} characters, nothing but whitespace) for "
                            "this conversation: there is nothing to benchmark")
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
