"""Synthetic result JSONs built with app.core.results.make_run, for the compare and output-format tests."""

from __future__ import annotations

import random
from typing import Any

from app.core import results

MODEL_SHA = "ab" * 32


def runs(decode_tok_s: float, n_runs: int = 5, seed: int = 0, noise: float = 0.01, tokens: int = 16,
         prompt_tokens: int = 32, prefill_ms: float = 400.0, stopped_last: bool = False) -> list[dict[str, Any]]:
    """Runs decoding at about `decode_tok_s` (every interval jittered by `noise`, relative), prefill about
    `prefill_ms`, the first token 20 ms after the prefill."""
    rng = random.Random(seed)
    out = []
    clock = 1000.0
    for i in range(n_runs):
        start = clock
        end = start + prefill_ms * (1 + rng.uniform(-noise, noise))
        t = end + 20 * (1 + rng.uniform(-noise, noise))
        times = [t]
        for _ in range(tokens - 1):
            t += 1000 / decode_tok_s * (1 + rng.uniform(-noise, noise))
            times.append(t)
        stop = "user" if stopped_last and i == n_runs - 1 else "max tokens"
        out.append(results.make_run(i, prompt_tokens, start, end, list(range(tokens)), times, stop_reason=stop))
        clock = t + 100
    return out


def row(key: str = "flare-cpu", engine: str = "flare-web", backend: str = "wasm-cpu", run_list=None,
        forced: float | None = 1.0, reference: bool = False, gpu_errors: int = 0, **extra) -> dict[str, Any]:
    run_list = runs(20.0) if run_list is None else run_list
    r = {"key": key, "engine": engine, "backend": backend, "is_reference": reference, "load": {"parse_ms": 100.0},
         "warmups": [], "runs": run_list, "summary": results.summarize_row(run_list) if run_list else None,
         "correctness": None if reference or forced is None else {"forced_top1_agreement": forced, "greedy_match": forced},
         "info": {"version": "0.2.21", "threads": 1}, "error": None, "unsupported": None, "shims": [],
         "gpu_errors": {"count": gpu_errors, "by_kind": {"validation": gpu_errors},
                        "first_messages": ["pipeline creation failed"]} if gpu_errors else None,
         "weights": {"format": "GGUF Q8_0", "size": 1000, "sha256": MODEL_SHA}}
    r.update(extra)
    return r


def result(rows: list[dict[str, Any]], created: str = "2026-01-01T00:00:00.000Z", max_tokens: int = 16,
           model_sha: str = MODEL_SHA, runs_setting: int = 5) -> dict[str, Any]:
    doc = results.new_result(
        settings={"prompt": "Hi", "system": "", "max_tokens": max_tokens, "runs": runs_setting, "warmup": 1,
                  "engines": [r["key"] for r in rows]},
        environment={"user_agent": "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/156.0.0.0 Safari/537.36",
                     "hardware_concurrency": 2, "webgpu": {"vendor": "google", "architecture": "swiftshader"}},
        assets=[],
        model={"name": "Test-135M", "size": 144811072, "sha256": model_sha,
               "header": {"architecture": "llama", "file_type": 7}})
    doc["rows"] = rows
    doc["created"] = created
    doc["prompt_ids"] = list(range(32))
    return doc
