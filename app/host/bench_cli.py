"""python -m app bench: the page's benchmark, run headless, printed like llama-bench."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from app.core import formats, report
from app.core.gguf_header import GGUFError, read_header_from_path
from app.core.settings import WEBGPU_LIMITS, BenchSettings, SettingsError, expand_engines
from app.engines import (
    DEFAULT_ENGINES,
    REFERENCE_KEY,
    engines_help,
    keys_with_backend,
    site_features,
    unsupported_engines,
)
from app.host import runtimes

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


BENCH_DESCRIPTION = """\
Runs the benchmark page headless in Chromium (or where --runtime says: a Selenium Grid, Deno): every
engine row loads the model, generates --max-tokens tokens greedily (--warmup runs, then --runs
measured runs, each from an empty KV cache) and is checked against llama.cpp on the same GGUF and
prompt ids. Prints the table (one row per engine: verdict, load, TTFT, prefill and decode speed,
inter-token latency, correctness) and writes every raw timestamp and token id to the --json file.
Builds dist/ first when it is out of date."""


BENCH_EPILOG = f"""\
verdict column (correctness against llama.cpp on the same weights and prompt ids):
  ok            teacher-forced top-1 agreement with llama.cpp >= {report.OK_AT:.0%}
  DEGRADED      agreement from {report.DEGRADED_AT:.0%} to {report.OK_AT:.0%} (e.g. a coarser quantization)
  WRONG         agreement below {report.DEGRADED_AT:.0%}: the speeds are those of a broken engine
  GPU ERROR     the engine's WebGPU device reported validation / out-of-memory errors or was
                lost during the row: its speeds are not results
  ERROR         the row failed (its error is printed below the table and kept in the JSON)
  unsupported   the engine cannot run this model
  reference     llama.cpp itself, the row the others are checked against
  unchecked     no correctness figure (--forced-tokens 0 and no greedy comparison)

exit codes:
  0  the run finished (rows that failed are marked ERROR in the table)
  1  no row gave a result (each ERROR, GPU ERROR or unsupported), the run ran past --timeout,
     the browser (or Deno) stopped answering or is missing,
     or the build failed; rows measured before that are written to the --json file
  2  bad input, refused before any browser starts (or by the page): a file that is not a
     runnable GGUF, a setting out of range

examples:
  python -m app bench                                   # the embedded model, 3 engine rows
  python -m app bench --engines {','.join(DEFAULT_ENGINES[:2])} --max-tokens 16 --runs 1
  python -m app bench --model gemma3-270m               # the second embedded model (Gemma 3 270M Q4_K_M)
  python -m app bench --model my.gguf --timeout 600 --json results/my.json"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The bench command's options, with help and defaults (also sets the parser's description,
    epilog and a formatter that prints every default)."""
    from app.host.cli import HelpFormatter

    p.description = BENCH_DESCRIPTION
    p.epilog = BENCH_EPILOG
    p.formatter_class = HelpFormatter
    d = BenchSettings()
    p.add_argument("--model", default=None, metavar="ID|PATH.gguf",
                   help=f"an embedded model ({', '.join(_embedded_ids())}; built into dist/, pinned and hash-checked) "
                        "or a GGUF file from disk, checked before the browser starts (default: the embedded "
                        f"{d.model}, SmolLM2-135M-Instruct Q8_0)")
    p.add_argument("--prompt", default=d.prompt, help="the user message, wrapped in the model's chat template")
    p.add_argument("--system", default=d.system, help="the system message of the chat template")
    p.add_argument("--max-tokens", type=int, default=d.max_tokens, metavar="N",
                   help="tokens generated per run (1-2048; prompt + tokens must fit each engine's context)")
    p.add_argument("--runs", type=int, default=d.runs, metavar="N", help="measured runs per engine (1-50)")
    p.add_argument("--warmup", type=int, default=d.warmup, metavar="N",
                   help="runs before the measured ones, kept in the JSON but not summarised (0-10)")
    p.add_argument("--forced-tokens", type=int, default=d.forced_tokens, metavar="N",
                   help="llama.cpp tokens fed one prefix at a time for the teacher-forced top-1 check (0-128; 0: skip)")
    p.add_argument("--no-perplexity", action="store_true", help="skip the perplexity of the fixed passage")
    p.add_argument("--async-prefill", action="store_true",
                   help="flare: prefill with begin_stream_with_params_async instead of the synchronous call")
    p.add_argument("--n-prompt", type=int_list, default=[], metavar="N,N",
                   help="sweep: ppN tests, a prompt of exactly N tokens of a fixed text (prefill tok/s), each its own row")
    p.add_argument("--n-gen", type=int_list, default=[], metavar="N,N",
                   help="sweep: tgN tests, N generated tokens with end tokens ignored (decode tok/s), each its own row")
    p.add_argument("--depth", type=int_list, default=[0], metavar="D,D",
                   help="sweep: run every tg test after a context of D tokens too ('tg128 @ d512')")
    p.add_argument("--ignore-eos", action="store_true",
                   help="every engine runs to --max-tokens instead of stopping at the model's end-of-generation "
                        "tokens (llama.cpp's set), for fixed lengths as llama-bench measures them; flare still "
                        "ends at its own EOS, and the table says when token counts differ")
    p.add_argument("--llamacpp-threads", type=int, default=d.llamacpp_threads, metavar="N",
                   help="llama.cpp (wllama) threads, 0-64; 0: all the cores the page may use "
                        "(navigator.hardwareConcurrency when cross-origin isolated, else 1); "
                        "the row records the number actually used")
    p.add_argument("--webgpu-limits", choices=WEBGPU_LIMITS, default=d.webgpu_limits,
                   help="'default': each engine's WebGPU device gets the limits the engine asks for (the published "
                        "behaviour); 'adapter': an opt-in shim asks for the adapter's own limits instead, and the rows "
                        "are labelled 'webgpu (adapter limits)' everywhere")
    backend = p.add_mutually_exclusive_group()
    backend.add_argument("--cpu", action="store_true", help="drop every WebGPU row")
    backend.add_argument("--gpu", action="store_true",
                         help=f"drop every WASM CPU row except the reference's ({REFERENCE_KEY}), which the others are "
                              "checked against")
    p.add_argument("--engines", default=",".join(DEFAULT_ENGINES), metavar="LIST",
                   help=f"comma-separated keys, or an engine's name for all of its keys ({engines_help()})")
    p.add_argument("--dist", type=Path, default=None, metavar="DIR",
                   help="serve this already built site instead of building dist/ (a machine without the registries, "
                        "e.g. the GPU bundle's)")
    p.add_argument("--json", type=Path, default=Path("results/bench-latest.json"), metavar="PATH",
                   help="where the result JSON goes (also the partial result of a run that gave up)")
    p.add_argument("--output", choices=formats.OUTPUTS, default="text",
                   help="what is printed on stdout: the aligned table (text), Markdown (md), or data only: csv or jsonl "
                        "(one record per row, figures recomputed from the raw timestamps), json (the result), "
                        "llama-bench (llama-bench's JSON field names, one object per row and test; llama.cpp's "
                        "compare-llama-bench.py reads it) or llama-bench-jsonl; with a data format the other lines "
                        "go to stderr")
    p.add_argument("--markdown", dest="output", action="store_const", const="md", help="the same as --output md")
    where = p.add_argument_group("where the benchmark runs (README: \"Where the benchmark runs\")")
    runtimes.add_arguments(where)  # --runtime (choices from app/host/runtimes/), each runtime's options, --serve-host
    p.add_argument("--timeout", type=float, default=3600, metavar="SECONDS",
                   help="seconds for the whole command (build check included); at the deadline the browser and "
                        "every process the command started are ended, the rows measured so far are written "
                        "to --json, and the exit code is 1")


def _embedded_ids() -> list[str]:
    """The embedded models' ids, from pins.toml (no build needed)."""
    from app.host.pins import model_ids

    return model_ids()


def resolve_model(value: str | None) -> tuple[str | None, Path | None]:
    """--model -> (embedded id, None) or (None, path); (None, None) when not given (the page's default).

    An embedded id wins over a file of the same name in the working directory. Anything else is a
    path; a value that is neither an id nor an existing file, and does not look like a path, is
    refused with the list of ids (SettingsError, exit 2).
    """
    if value is None:
        return None, None
    ids = _embedded_ids()
    if value in ids:
        return value, None
    path = Path(value)
    if path.exists() or path.suffix.lower() == ".gguf" or "/" in value or "\\" in value:
        return None, path  # check_model says what is wrong with it
    raise SettingsError(f"--model {value!r} is neither an embedded model ({', '.join(ids)}) nor a file; "
                        "give one of those ids or the path of a .gguf file")


def int_list(text: str) -> list[int]:
    """'32,128' -> [32, 128] (argparse type); a clear error for anything else, an empty item (',', '32,,64')
    included: nothing given is never silently taken as no sweep."""
    from app.core.settings import shown

    parts = [x.strip() for x in text.split(",")]
    try:
        if any(not x for x in parts):
            raise ValueError
        return [int(x) for x in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of whole numbers, like 32,128, not {shown(text)}") \
            from None


def settings_from_args(args: argparse.Namespace) -> BenchSettings:
    """The settings the options ask for; raises SettingsError naming a field out of range."""
    return BenchSettings.from_dict({
        "prompt": args.prompt, "system": args.system, "max_tokens": args.max_tokens, "runs": args.runs,
        "warmup": args.warmup, "engines": selected_engines(args), "forced_tokens": args.forced_tokens,
        "perplexity": not args.no_perplexity, "async_prefill": args.async_prefill, "ignore_eos": args.ignore_eos,
        "n_prompt": args.n_prompt, "n_gen": args.n_gen, "depth": args.depth,
        "llamacpp_threads": args.llamacpp_threads, "webgpu_limits": args.webgpu_limits,
        **_model_setting(args),
    })


def selected_engines(args: argparse.Namespace) -> list[str]:
    """--engines with short names expanded, less what --cpu / --gpu drop (from the engines' declared backends):
    --cpu every webgpu row, --gpu every wasm-cpu row but the reference's."""
    engines = expand_engines([e.strip() for e in args.engines.split(",") if e.strip()])
    dropped: set[str] = set()
    if args.cpu:
        dropped |= set(keys_with_backend("webgpu"))
    if args.gpu:
        dropped |= set(keys_with_backend("wasm-cpu")) - {REFERENCE_KEY}
    return [e for e in engines if e not in dropped]


def _model_setting(args: argparse.Namespace) -> dict:
    """settings["model"]: the embedded id, or "file" for a path (served to the page at /user-model/NAME)."""
    model_id, path = resolve_model(getattr(args, "model", None))
    if model_id is not None:
        return {"model": model_id}
    if path is not None:
        return {"model": "file"}
    return {}


def text_table(result: dict) -> str:
    """The table as aligned text, then one plain line per row that is not simply right (report.reading)."""
    lines = report.reading(result)
    return report.to_text(result) + ("\n\nReading this run:\n" + "\n".join(f"  {x}" for x in lines) if lines else "")


def check_model(path: Path, settings: BenchSettings) -> None:
    """Refuse a --model file before any browser starts.

    Raises GGUFError("PATH: what is wrong") for a missing or unreadable path, any malformed GGUF
    header (gguf_header.read_header_from_path turns every malformed input into GGUFError), and a
    file that no selected engine can run (app.engines.unsupported_engines).
    """
    try:
        if not path.exists():
            raise GGUFError("no such file")
        if not path.is_file():
            raise GGUFError("not a regular file: pass a .gguf model file")
        header = read_header_from_path(path)
        # An engine that cannot honour the file becomes an `unsupported` row while the others run; only
        # when no selected engine can run it is the file refused here (exit 2).
        refused = unsupported_engines(header)
        if all(e in refused for e in settings.engines):
            reasons = "; ".join(f"{e}: {refused[e]}" for e in settings.engines)
            raise GGUFError(f"no selected engine can run it ({reasons})")
        check_template(header.metadata, path.name, settings)
    except OSError as err:  # stat() refused (e.g. a folder on the way without permission)
        raise GGUFError(f"{path}: cannot read it: {err.strerror or err}") from None
    except GGUFError as err:
        raise GGUFError(f"{path}: {err}") from None


def check_template(metadata: dict, name: str, settings: BenchSettings) -> None:
    """Render the file's chat template with these settings as the page will (app.web.bench.render_prompt, under
    the same work budget), before any browser starts. Raises GGUFError naming the template when it does not
    parse, fails, runs away (a runaway loop ends within seconds) or renders an empty prompt."""
    from types import SimpleNamespace

    from app.core.chat_template import TemplateError
    from app.web.bench import render_prompt

    try:
        render_prompt(settings, SimpleNamespace(metadata=metadata, name=name))
    except TemplateError as err:
        raise GGUFError(str(err)) from None


MAX_TIMEOUT_S = 7 * 24 * 3600.0

# Settings fields as the command line spells them, for error messages.
OPTION_OF_FIELD = {"max_tokens": "--max-tokens", "forced_tokens": "--forced-tokens", "llamacpp_threads": "--llamacpp-threads",
                   "webgpu_limits": "--webgpu-limits", "runs": "--runs", "warmup": "--warmup",
                   "n_prompt": "--n-prompt", "n_gen": "--n-gen", "depth": "--depth"}


def option_names(message: str) -> str:
    """A settings error as the command line says it: 'max_tokens must be…' -> '--max-tokens must be…'."""
    import re

    for field_name, option in OPTION_OF_FIELD.items():
        message = re.sub(rf"\b{field_name}\b", option, message)
    return message


def check_json_path(path: Path) -> None:
    """Refuse a --json path that cannot be written before anything runs (a finished run must never be lost).

    Raises SettingsError naming the path and why."""
    try:
        if path.exists() and not path.is_file():
            raise SettingsError(f"--json {path}: that is a folder or a device, not a file; give a file path")
        # Try it: permission bits say yes to root where /proc or a read-only mount still refuse.
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
        if not existed:
            path.unlink()
    except OSError as err:
        raise SettingsError(f"--json {path}: cannot write there ({err.strerror or err}); "
                            "give a path in a folder you can write to") from None


def _measured(result: dict | None) -> list[dict]:
    """Rows with at least one measured run or warmup (not rows refused before loading)."""
    return [r for r in (result or {}).get("rows") or [] if r.get("runs") or r.get("warmups")]


def _rows_written(result: dict | None, path: Path, reason: str) -> str:
    """Write a partial result (marked `incomplete`: why) and say so; nothing when no row finished."""
    rows = _measured(result)
    if not rows:
        return "no run had finished, nothing written"
    result = {**result, "incomplete": reason}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1))
    except OSError as err:
        return f"{len(rows)} row{'s' if len(rows) != 1 else ''} measured, but writing {path} failed: {err}"
    return f"{len(rows)} row{'s' if len(rows) != 1 else ''} with measured runs written to {path}"


def _activity(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def run(args: argparse.Namespace) -> int:
    """The bench command: exit code 0 (finished), 1 (failed, timed out, browser lost), 2 (bad input)."""
    from app.host.cli import summarise

    try:
        settings = checked_settings(args)
    except (SettingsError, GGUFError) as err:
        print(f"bench: {summarise(option_names(str(err)))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        runtime = runtimes.from_args(args)  # --runtime NAME, or the runtime an option of its own implies (--grid)
    except SettingsError as err:
        print(f"bench: {summarise(str(err))}", file=sys.stderr)
        return EXIT_BAD_INPUT

    from app.host.pagerun import Watchdog, describe

    started = time.monotonic()
    progress = runtimes.Progress("[bench] checking the build")

    def gave_up() -> str:
        reason = f"gave up after {args.timeout:g} s (--timeout) while '{_activity(progress.activity)}'"
        return f"bench: {reason}; {_rows_written(progress.result(), args.json, reason)}"

    # The last resort: ends the command GRACE_S after the deadline whatever it is blocked in
    # (the runtime handles the deadline itself and normally returns well before).
    watchdog = Watchdog("bench", args.timeout, gave_up).start()
    try:
        return _run(args, settings, runtime, progress, watchdog, started)
    except KeyboardInterrupt:
        from app.host.chromium import kill_own_children

        watchdog.cancel()
        kill_own_children()
        reason = f"interrupted after {time.monotonic() - started:.0f} s while '{_activity(progress.activity)}'"
        print(f"bench: {reason}; {_rows_written(progress.result(), args.json, reason)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        from selenium.common.exceptions import WebDriverException
        from urllib3.exceptions import HTTPError

        if not isinstance(err, (WebDriverException, HTTPError, OSError)):
            raise
        watchdog.cancel()
        reason = f"failed after {time.monotonic() - started:.0f} s while '{_activity(progress.activity)}' ({describe(err)})"
        print(f"bench: {reason}; {_rows_written(progress.result(), args.json, reason)}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        watchdog.cancel()


def checked_settings(args: argparse.Namespace) -> BenchSettings:
    """The settings, every input checked before anything starts: the options, a --model file, --timeout, --json.

    Raises SettingsError (a setting, --timeout, --json) or GGUFError (the model file), each naming what is wrong."""
    settings = settings_from_args(args)
    _, model_path = resolve_model(args.model)
    if model_path is not None:
        check_model(model_path, settings)
    if not 0 < args.timeout <= MAX_TIMEOUT_S:
        raise SettingsError(f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g} (a week), "
                            f"not {args.timeout:g}")
    check_json_path(args.json)
    return settings


def _run(args: argparse.Namespace, settings: BenchSettings, runtime: runtimes.Runtime, progress: runtimes.Progress,
         watchdog, started: float) -> int:
    """A checked run, step by step: what the runtime needs and the build, the run itself, then the report."""
    failed = _prepare(runtime, settings, args.dist)
    if failed is not None:
        return failed
    from dataclasses import replace

    from app.host.host_rows import split_engines

    page_keys, host_keys = split_engines(settings.engines)
    job = benchmark_job(args, replace(settings, engines=page_keys))
    _announce(runtime, settings, progress)
    outcome = runtime.run(job, watchdog.remaining(), progress)
    if outcome.state == "done" and outcome.result is not None and host_keys:
        run_host_engines(args, settings, outcome.result, host_keys, job, watchdog.remaining())
    watchdog.cancel()
    if outcome.state != "done":
        return _report_unfinished(args, runtime, outcome, started)
    return _report_finished(args, outcome, started)


def run_host_engines(args: argparse.Namespace, settings: BenchSettings, result: dict, keys: list[str],
                     job: runtimes.Job, timeout_s: float) -> None:
    """The rows of the engines that run in this process (llama.cpp native), after the page: appended to the page's
    `result` (its settings then list every engine asked for), and every row's cost against native set
    (app.core.native_cost). A host engine's failure is its own row; the page's rows are never touched."""
    from app.core import native_cost
    from app.host.host_rows import gguf_path, run_host_rows

    _, user_file = resolve_model(args.model)
    path = gguf_path(result, job.dist, user_file)
    print(f"[bench] running {', '.join(keys)} in this process (host CPU) on {path}…", file=sys.stderr, flush=True)
    run_host_rows(result, keys, path, lambda line: print(f"[bench] {line}", file=sys.stderr, flush=True),
                  timeout_s=max(1.0, timeout_s - 5))
    result["settings"]["engines"] = list(settings.engines)
    native_cost.annotate(result)


def _prepare(runtime: runtimes.Runtime, settings: BenchSettings, prebuilt: Path | None = None) -> int | None:
    """What the runtime needs (a browser, the deno binary), then dist/ brought up to date (or `prebuilt`, a site
    built elsewhere, checked to be one); the exit code (1) with one line when either is missing or fails, else None."""
    from app.host.build import DIST, Builder, BuildError, has_transformersjs_model
    from app.host.cache import Cache, default_cache_dir

    try:
        runtime.preflight()
    except runtimes.RuntimeMissing as err:
        print(f"bench: {err}", file=sys.stderr)
        return EXIT_FAILED
    if prebuilt is not None:
        if not (prebuilt / "manifest.json").is_file():
            print(f"bench: --dist {prebuilt} is not a built site (no manifest.json): run `python build.py --dist {prebuilt}`",
                  file=sys.stderr)
            return EXIT_FAILED
        return None
    print("[bench] checking the build…", file=sys.stderr, flush=True)
    # Keep the Transformers.js model if dist/ has it; convert it if a row that needs it is asked for.
    needs_tjs = site_features().get("transformersjs", ())
    wants_tjs = any(e in needs_tjs for e in settings.engines) or has_transformersjs_model(DIST)
    try:
        Builder(Cache(default_cache_dir()), dist=DIST, transformersjs=wants_tjs).run()
    except BuildError as err:
        print(f"bench: {err}", file=sys.stderr)
        return EXIT_FAILED
    return None


def benchmark_job(args: argparse.Namespace, settings: BenchSettings) -> runtimes.Job:
    """What every runtime runs: dist/ and the settings; a --model file is served beside dist/ at
    /user-model/NAME (an embedded id is in the settings' `model`)."""
    from app.host.build import DIST

    _, model_path = resolve_model(args.model)
    dist = args.dist.resolve() if getattr(args, "dist", None) else DIST
    if model_path is None:
        return runtimes.Job(dist, settings.to_dict())
    route = f"/user-model/{model_path.name}"
    return runtimes.Job(dist, settings.to_dict(), model_route=route.lstrip("/"), extra={route: model_path.resolve()})


def _announce(runtime: runtimes.Runtime, settings: BenchSettings, progress: runtimes.Progress) -> None:
    progress.activity = f"[bench] starting {runtime.program}"
    print(f"[bench] running {', '.join(settings.engines)} {runtime.where} "
          f"({settings.runs} run{'s' if settings.runs != 1 else ''} + {settings.warmup} warmup, "
          f"{settings.max_tokens} tokens)…", file=sys.stderr, flush=True)


def _report_unfinished(args: argparse.Namespace, runtime: runtimes.Runtime, outcome: runtimes.Outcome,
                       started: float) -> int:
    """A run that timed out, lost its browser or process, or ended in an error: the rows it measured (table and
    --json, marked incomplete) and one sentence; exit 1, or 2 when the page refused the input."""
    if outcome.state in ("timeout", "lost"):
        if outcome.result is not None and outcome.result.get("rows"):
            print(text_table(outcome.result))
        if outcome.state == "timeout":
            reason = f"gave up after {args.timeout:g} s (--timeout) while '{_activity(outcome.activity)}'"
        else:
            reason = (f"{runtime.program} stopped answering after {time.monotonic() - started:.0f} s while "
                      f"'{_activity(outcome.activity)}' ({outcome.error})")
        print(f"bench: {reason}; {_rows_written(outcome.result, args.json, reason)}", file=sys.stderr)
        return EXIT_FAILED
    from app.host.cli import summarise

    print(summarise(f"bench: the page ended in state '{outcome.state}': {outcome.error or 'no message'}"),
          file=sys.stderr)
    if outcome.result is not None and outcome.result.get("rows"):
        print(text_table(outcome.result))
        reason = summarise(f"the page ended in state '{outcome.state}': {outcome.error or 'no message'}")
        print(f"({_rows_written(outcome.result, args.json, reason)})", file=sys.stderr)
    return EXIT_BAD_INPUT if outcome.state == "error" else EXIT_FAILED


def _report_finished(args: argparse.Namespace, outcome: runtimes.Outcome, started: float) -> int:
    """A finished run: its result written to --json, checked (runtimes.check_received), printed in the --output
    format; exit 1 when no row gave a result, else 0."""
    result = outcome.result
    if result is None:
        print("bench: the page finished but published no result", file=sys.stderr)
        return EXIT_FAILED
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    try:
        runtimes.check_received(result)
    except (ValueError, KeyError, TypeError) as err:
        print(f"bench: the page's result fails its own consistency check ({err}); it is in {args.json}", file=sys.stderr)
        return EXIT_FAILED
    _print_result(args, result, started)
    # A run in which no row produced a result (ERROR, GPU ERROR, not run) failed, whatever else it printed.
    no_result = [r for r in result["rows"] if report.verdict(r) in ("ERROR", "GPU ERROR", "unsupported")]
    return EXIT_FAILED if len(no_result) == len(result["rows"]) else 0


def _print_result(args: argparse.Namespace, result: dict, started: float) -> None:
    """The table (or data format) on stdout; each row's answer, errors and the model line beside it."""
    output = getattr(args, "output", None) or "text"
    print(formats.render(result, output))
    info = sys.stderr if output in formats.DATA_OUTPUTS else sys.stdout  # a data format: stdout holds only the data
    if output.startswith("llama-bench"):
        for line in formats.llama_bench_skipped(result):
            print(f"  not in the llama-bench output: {line}", file=sys.stderr)
    for row in result["rows"]:
        if row.get("output_text"):
            print(f"  {row['engine']} {row['backend']}: {row['output_text'][:100]!r}", file=info)
    for row in result["rows"]:
        if row.get("error"):
            print(f"  {row['engine']} {row['backend']} failed: {row['error']}", file=sys.stderr)
    fetch = result.get("model_fetch", {})
    print(f"model {result['model']['name']} ({result['model']['size'] / 1e6:.1f} MB, sha256 {str(result['model']['sha256'])[:12]}…), "
          f"fetched from {fetch.get('source')} in {fetch.get('fetch_ms', 0):.0f} ms; wall time {time.monotonic() - started:.0f} s; "
          f"JSON: {args.json}", file=info)
