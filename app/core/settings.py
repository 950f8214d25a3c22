"""Benchmark settings, validated the same way on the page and on the command line."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields

from app.core.chat import DEFAULT_SYSTEM

# The engines are folders of app/engines (its registry); these names stay for the callers.
from app.engines import DEFAULT_ENGINES, ENGINE_ALIASES, ENGINE_KEYS  # noqa: F401


def expand_engines(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        for key in ENGINE_ALIASES.get(name, (name,)):
            if key not in out:
                out.append(key)
    return out


DEFAULT_PROMPT = "Explain what WebGPU is in 2-3 sentences."
# A fixed passage for perplexity: plain, factual English that any sane small model finds likely.
DEFAULT_PASSAGE = (
    "The capital of France is Paris. It is known for the Eiffel Tower, which was built in 1889 "
    "for the World's Fair."
)


WEBGPU_LIMITS = ("default", "adapter")
DEFAULT_MODEL = "smollm2-135m"
# Prompt and system prompt, each: room for any context the engines offer (a token is 1-6 characters), while a
# pasted book is refused at once instead of being tokenized and then refused for the context.
MAX_PROMPT_CHARS = 32_000
# Settings as JSON text (a link's `#settings=`, the file `bench` hands over): room for the longest prompt and system
# prompt even with every character escaped (`\ud83d\ude42`: 12 characters for one).
MAX_SETTINGS_CHARS = 1_000_000


class SettingsError(ValueError):
    """A setting is out of range; the message names it and the allowed range."""


def shown(value: object, limit: int = 80) -> str:
    """repr(value) for a message, cut to about `limit` characters with how much was left out (a pasted megabyte
    is not echoed back)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit:,} more characters)"


@dataclass
class BenchSettings:
    prompt: str = DEFAULT_PROMPT
    system: str = DEFAULT_SYSTEM
    max_tokens: int = 64
    runs: int = 3
    warmup: int = 1
    engines: list[str] = field(default_factory=lambda: list(DEFAULT_ENGINES))
    # Reference tokens fed one prefix at a time for the teacher-forced top-1 figure (0: skip).
    forced_tokens: int = 16
    passage: str = DEFAULT_PASSAGE
    perplexity: bool = True
    async_prefill: bool = False
    # llama.cpp threads (0: all the cores the page may use: navigator.hardwareConcurrency when
    # cross-origin isolated, else 1, as wllama runs single-threaded without SharedArrayBuffer).
    llamacpp_threads: int = 0

    # WebGPU device limits: "default" (what each engine asks for: the published behaviour) or "adapter"
    # (opt-in shim: every device asks for the adapter's own limits; rows are labelled "(adapter limits)").
    webgpu_limits: str = "default"
    # Every engine runs to max_tokens (no stop at end-of-generation ids), as llama-bench measures fixed lengths.
    ignore_eos: bool = False
    # Sweeps, named as llama-bench names them: ppN (a prompt of exactly N tokens, prefill tok/s), tgN (N generated
    # tokens, decode tok/s) after a context of each depth D ("tgN @ dD"). Empty: only the chat test.
    n_prompt: list[int] = field(default_factory=list)
    n_gen: list[int] = field(default_factory=list)
    depth: list[int] = field(default_factory=lambda: [0])
    # The embedded model's id (site["models"]), or "file" for a GGUF picked on the page / given as a path.
    model: str = DEFAULT_MODEL

    def validate(self) -> "BenchSettings":
        def check_int(name: str, lo: int, hi: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise SettingsError(f"{name} must be a whole number, not {shown(value)}")
            if not lo <= value <= hi:
                raise SettingsError(f"{name} must be between {lo} and {hi}, not {value}")

        for name in ("prompt", "system", "passage"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise SettingsError(f"the {name} must be text, not {type(value).__name__}")
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise SettingsError(f"the {name} is not valid UTF-8 text (it holds undecodable bytes)") from None
        if not isinstance(self.engines, list) or not all(isinstance(e, str) for e in self.engines):
            raise SettingsError(f"engines must be a list of engine keys, not {shown(self.engines)}")
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise SettingsError("the prompt is empty: type something for the model to answer")
        if len(self.prompt) > MAX_PROMPT_CHARS:
            raise SettingsError(f"the prompt is {len(self.prompt)} characters, more than {MAX_PROMPT_CHARS}: shorten it")
        if isinstance(self.system, str) and len(self.system) > MAX_PROMPT_CHARS:
            raise SettingsError(f"the system prompt is {len(self.system)} characters, more than {MAX_PROMPT_CHARS}: "
                                "shorten it")
        check_int("max_tokens", 1, 2048)
        check_int("runs", 1, 50)
        check_int("warmup", 0, 10)
        check_int("forced_tokens", 0, 128)
        check_int("llamacpp_threads", 0, 64)
        if not isinstance(self.model, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", self.model):
            raise SettingsError(f"model must be an embedded model's id (like {DEFAULT_MODEL!r}) or 'file', not {shown(self.model)}")
        for name, lo, hi in (("n_prompt", 1, 8192), ("n_gen", 1, 2048), ("depth", 0, 8192)):
            values = getattr(self, name)
            if not isinstance(values, list) or len(values) > 16 or any(
                    isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi for v in values):
                raise SettingsError(f"{name} must be a list of at most 16 whole numbers from {lo} to {hi}, "
                                    f"not {shown(values)}")
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise SettingsError(f"{name} lists {', '.join(map(str, repeated))} more than once: each test is run "
                                    "once, give each value once")
        if not self.depth:
            self.depth = [0]
        if self.depth != [0] and not self.n_gen:
            raise SettingsError(f"depth {','.join(map(str, self.depth))} applies to the tg tests only, and there are "
                                "none: give n_gen too (e.g. n_gen 64 with depth 0,512), or leave depth at 0")
        if not isinstance(self.ignore_eos, bool):
            raise SettingsError(f"ignore_eos must be true or false, not {self.ignore_eos!r}")
        if self.webgpu_limits not in WEBGPU_LIMITS:
            raise SettingsError(f"webgpu_limits must be one of {list(WEBGPU_LIMITS)}, not {self.webgpu_limits!r}")
        if not isinstance(self.system, str):
            raise SettingsError(f"the system prompt must be text, not {shown(self.system)}")
        # Whitespace-only means no system prompt, on the page and the command line alike.
        if not self.system.strip():
            self.system = ""
        unknown = [e for e in self.engines if e not in ENGINE_KEYS]
        if unknown:
            raise SettingsError(f"unknown engine(s) {shown(unknown, 200)}; choose from {list(ENGINE_KEYS)}")
        if not self.engines:
            raise SettingsError(f"no engine selected; choose from {list(ENGINE_KEYS)}")
        if self.perplexity and len(self.passage.split()) < 3:
            raise SettingsError("the perplexity passage needs at least a few words")
        return self

    @classmethod
    def from_dict(cls, data: dict) -> "BenchSettings":
        if not isinstance(data, dict):
            raise SettingsError(f"settings must be a JSON object of named settings, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        extra = set(data) - known
        if extra:
            raise SettingsError(f"unknown setting(s): {sorted(extra)}")
        return cls(**data).validate()

    def to_dict(self) -> dict:
        return asdict(self)


def json_depth(text: str) -> int:
    """How deeply `text`'s JSON arrays and objects nest (strings skipped), without parsing it: a settings
    string nested thousands deep would overflow Pyodide's stack inside json.loads."""
    from app.core.jsontext import nesting_depth

    return nesting_depth(text)


def settings_from_json(text: str, max_chars: int = MAX_SETTINGS_CHARS) -> "BenchSettings":
    """Settings from JSON text (the page's `settings` URL parameter, or the file `bench` hands over).
    Raises SettingsError in words."""
    import json

    if len(text) > max_chars:
        raise SettingsError(f"the settings are {len(text):,} characters long; at most {max_chars:,}")
    if json_depth(text) > 8:
        raise SettingsError("the settings nest arrays or objects more than 8 deep: they are a flat object")
    try:
        data = json.loads(text)
    except ValueError as err:
        raise SettingsError(f"the settings are not JSON ({err})") from None
    return BenchSettings.from_dict(data)
