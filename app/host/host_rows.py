"""Rows of engines that run in the host process (EngineSpec.runs_on "host": llama.cpp native), after the page.

`python -m app bench` hands the page only the engines that run there; when the page's result is in, the host
engines run here through the same Benchmark class (app/web/bench.py) over the host's Browser seam
(app/web/browser/on_host.py, whose clock is time.perf_counter in ms), so every definition (load, TTFT, prefill and
decode tok/s, ITL, warmups, runs, sweeps, correctness) is the page's own code. What the page decided is reused, not
redone: the prompt and passage ids of the tokenizer of record, its BOS rule (the sweeps' prompts), the stop ids,
and the reference row's greedy tokens and perplexity (the correctness columns). The GGUF is the file the page ran,
read from disk and checked against the result's sha256.

A host engine never costs the page its rows: every failure here (a missing binding, a model llama.cpp refuses, an
engine that raises) becomes that engine's row (`unsupported` or `error`), and the page's rows are kept as they are.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core import generation_limits
from app.core.gguf_header import GGUFError, read_header_from_path
from app.core.settings import BenchSettings
from app.engines import BY_KEY, HOST_KEYS, REFERENCE_KEY, SPEC_OF, in_run_order
from app.engines.protocol import Model

CLOCK = "time.perf_counter (host process), ms"


def split_engines(keys: list[str]) -> tuple[list[str], list[str]]:
    """(the keys the page runs, the keys the host runs after it), each in the order given. Host rows take their
    prompt ids and reference from the page, so when only host engines are asked for, the page runs the reference."""
    page, host = [k for k in keys if k not in HOST_KEYS], [k for k in keys if k in HOST_KEYS]
    return (page or ([REFERENCE_KEY] if host else [])), host


def gguf_path(result: dict[str, Any], dist: Path, user_file: Path | None) -> Path | None:
    """The GGUF the page ran: the --model file, or the embedded model's file in dist/ (its manifest entry for
    settings.model); None when neither is known."""
    if user_file is not None:
        return user_file
    import json

    try:
        site = json.loads((dist / "manifest.json").read_text())["site"]
    except (OSError, ValueError, KeyError):
        return None
    wanted = (result.get("settings") or {}).get("model")
    for info in site.get("models") or [site.get("model") or {}]:
        if info.get("id") == wanted and info.get("file"):
            return dist / info["file"]
    return None


class RecordedTokenizer:
    """The tokenizer of record as the page's result recorded it (app.web.tokenizer.Tokenizer): its BOS rule and
    end-of-generation ids; text comes from the engine being run (the same llama.cpp vocabulary). It never encodes:
    every id the host rows get is the page's."""

    load_ms = 0.0

    def __init__(self, result: dict[str, Any]) -> None:
        bos = result.get("bos") or {}
        self.bos_id = int(bos.get("id", -1)) if bos.get("id") is not None else -1
        self.add_bos = bool(bos.get("add_bos_token"))
        self.eog_ids = sorted(result.get("stop_ids") or [])
        self.source = f"{result.get('tokenizer') or 'the tokenizer of record'} (ids from the page's result)"
        self.engine: Any = None

    async def encode(self, text: str) -> list[int]:
        raise RuntimeError("the host rows use the page's ids; nothing is tokenized here")

    async def decode(self, ids: list[int]) -> str:
        return await self.engine.decode_text(ids) if self.engine is not None else ""

    async def close(self) -> None:
        return None


def host_model(path: Path, result: dict[str, Any]) -> Model:
    """The Model a host engine loads: `path` (its data is the path: host engines read the file themselves), with the
    header read here. Raises GGUFError for a file that is not a readable GGUF."""
    from app.host.cache import sha256_file

    header = read_header_from_path(path)
    return Model(data=str(path), size=path.stat().st_size, name=(result.get("model") or {}).get("name") or path.name,
                 sha256=sha256_file(path), tokenizer_json=None, header=header.summary(),
                 tensor_types=header.type_counts, metadata=header.metadata,
                 limits=generation_limits.limits(header.metadata), refusals={})


def reference_of(result: dict[str, Any]) -> tuple[list[int] | None, float | None]:
    """The reference row's greedy tokens (its chat test's first measured run) and perplexity, from the page's
    result; (None, None) when the reference did not run."""
    for row in result.get("rows") or []:
        if row.get("is_reference") and row.get("test", "chat") == "chat" and row.get("runs"):
            return list(row["runs"][0]["token_ids"]), (row.get("correctness") or {}).get("perplexity")
    return None, None


def _failed_row(key: str, message: str, field: str = "error") -> dict[str, Any]:
    """A row for a host engine that could not be made or run (`field`: "error" or "unsupported")."""
    spec, variant = SPEC_OF[key], BY_KEY[key]
    row: dict[str, Any] = {"key": key, "engine": spec.title, "backend": variant.backend, "is_reference": False,
                           "load": {}, "warmups": [], "runs": [], "summary": None, "correctness": None, "info": {},
                           "output_text": "", "error": None, "unsupported": None, "shims": [], "gpu_errors": None,
                           "console_errors": None, "gpu_devices": [], "test": "chat", "n_depth": 0}
    row[field] = message
    return row


def run_host_rows(result: dict[str, Any], keys: list[str], path: Path | None, log: Callable[[str], None],
                  timeout_s: float | None = None, make_engine: Callable[[str], Any] | None = None) -> list[dict[str, Any]]:
    """Run the host engines `keys` on the page's `result` and append their rows to result["rows"] (also returned).

    `path`: the GGUF the page ran. `timeout_s`: after that many seconds the running row stops after its current
    token, keeping its finished runs (None: no limit). `make_engine(key)`: the engine of a key (default: the
    registry's factory). Never raises for an engine's failure: it is that row's `error` or `unsupported`."""
    keys = in_run_order(keys)
    rows: list[dict[str, Any]] = []
    if not keys:
        return rows
    problem = None
    model = None
    if not result.get("prompt_ids"):
        problem = "the page's result has no prompt ids (the page did not get as far as tokenizing the prompt)"
    elif path is None or not path.is_file():
        problem = f"the GGUF the page ran is not on this disk ({path})"
    else:
        try:
            model = host_model(path, result)
        except (GGUFError, OSError) as err:
            problem = f"{path}: {err}"
        if model is not None and model.sha256 != (result.get("model") or {}).get("sha256"):
            problem = (f"{path} (sha256 {model.sha256}) is not the file the page ran "
                       f"(sha256 {(result.get('model') or {}).get('sha256')})")
    if problem:
        for key in keys:
            rows.append(_failed_row(key, f"not run: {problem}", "unsupported"))
            log(f"{key}: unsupported: {problem}")
        result["rows"].extend(rows)
        return rows
    assert model is not None
    rows = asyncio.run(_run(result, keys, model, log, timeout_s, make_engine))
    result["rows"].extend(rows)
    return rows


def _explain_disagreements(engine: Any, rows: list[dict[str, Any]], reference: list[int] | None) -> None:
    """The chat row's notes say where the engine's teacher-forced top-1 left the reference's ids and by how many
    logits (an engine that can say: NativeEngine.disagreement_notes): a near-tie, or a real difference."""
    explain = getattr(engine, "disagreement_notes", None)  # host engines only; not part of the page's protocol
    chat = next((r for r in rows if r.get("test") == "chat"), None)
    c = (chat or {}).get("correctness") or {}
    if explain is None or chat is None or reference is None or not c.get("forced_top1"):
        return
    notes = explain(c["forced_top1"], reference)
    if notes:
        chat["notes"] = (chat.get("notes") or []) + [
            "same prompt ids as the reference; where this build's top-1 is not the reference's next id, by how much "
            "it led: " + "; ".join(notes)]


async def _run(result: dict[str, Any], keys: list[str], model: Model, log: Callable[[str], None],
               timeout_s: float | None, make_engine: Callable[[str], Any] | None) -> list[dict[str, Any]]:
    from app.engines import make_engine as registry_engine
    from app.web.bench import Benchmark, Controller
    from app.web.browser.on_host import HostBrowser

    browser = HostBrowser()
    controller = Controller(browser=browser)
    settings = BenchSettings.from_dict({**result["settings"], "engines": keys})
    tokenizer = RecordedTokenizer(result)
    bench = Benchmark(settings, model, list(result["prompt_ids"]), list(result.get("passage_ids") or []),
                      progress=lambda fraction, message: None, log=log, controller=controller,
                      tokenizer=tokenizer, stop_ids=list(result.get("stop_ids") or []), browser=browser, refusals={})
    bench.reference_tokens, bench.reference_perplexity = reference_of(result)
    timer = threading.Timer(timeout_s, controller.request_stop) if timeout_s is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    rows: list[dict[str, Any]] = []
    try:
        for key in keys:
            if controller.stop_requested:
                rows.append(_failed_row(key, "not run: the command's time (--timeout) ran out before it", "error"))
                continue
            try:
                engine = make_engine(key) if make_engine is not None else registry_engine(key, {}, settings)
            except Exception as err:  # noqa: BLE001 - an engine that cannot be made is its row's error, never the page's
                rows.append(_failed_row(key, f"the engine could not be made: {type(err).__name__}: {err}"))
                log(f"{key}: ERROR {err}")
                continue
            tokenizer.engine = engine
            scratch: dict[str, Any] = {"rows": [], "prompt_text": result.get("prompt_text"), "environment": {}}
            try:
                await bench.run([engine], scratch)
            except Exception as err:  # noqa: BLE001 - the same: the browser rows are never lost to a host engine
                partial = scratch["rows"] or [_failed_row(key, "")]
                for row in partial:
                    row.pop("in_progress", None)
                    row["error"] = row.get("error") or f"{type(err).__name__}: {err}"
                scratch["rows"] = partial
                log(f"{key}: ERROR {type(err).__name__}: {err}")
            _explain_disagreements(engine, scratch["rows"], bench.reference_tokens)
            for row in scratch["rows"]:
                row["info"] = {**(row.get("info") or {}), "clock": CLOCK}
                if scratch.get("stopped_by_user"):
                    row.setdefault("notes", []).append("stopped when the command's time (--timeout) ran out; "
                                                       "finished runs are kept")
            rows.extend(scratch["rows"])
    finally:
        if timer is not None:
            timer.cancel()
    return rows
