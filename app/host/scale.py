"""Load time, memory and decode against model size, in one command: synthetic llama models of real sizes
(app.host.synthetic_gguf: random weights, no download) each benchmarked by `python -m app bench`, one table.

    python -m app.host.scale                        # 0.5B, 1B, 3B x Q8_0, Q4_K; the default engines' CPU rows
    python -m app.host.scale --sizes 1b --types q8_0 --engines llamacpp --json scale.json

The models are written once into the download cache's folder (`synthetic/`, named by size, type and seed; the
same seed gives the same bytes) and reused. Each model runs in its own `bench` (a fresh browser), so one that
takes a browser down costs only its own rows. Rows are never correctness figures: the weights are random.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from app.host.synthetic_gguf import SHAPES, TYPES, write

COLUMNS = ["model", "file MB", "engine", "load s", "memory MB (x file)", "TTFT ms", "decode tok/s", "note"]


def model_path(folder: Path, size: str, qtype: str, seed: int = 0) -> Path:
    return folder / f"llama-{size}-{qtype}-seed{seed}.gguf"


def ensure_model(folder: Path, size: str, qtype: str, tokenizer_from: Path) -> Path:
    """The synthetic model's path, written first when it is not there yet."""
    path = model_path(folder, size, qtype)
    if path.exists():
        from app.core.gguf_header import GGUFError, read_header_from_path

        try:
            read_header_from_path(path)  # every tensor inside the file: not a truncated one
        except GGUFError:
            path.unlink()
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write(size, qtype, path, tokenizer_from)  # through a .partial file: never a truncated model under its name
    return path


def table_rows(label: str, result: dict[str, Any] | None, failure: str = "") -> list[list[str]]:
    """One line per engine of one model's result (or one line saying why there is none)."""
    from app.core import report

    if result is None:
        return [[label, "-", "-", "-", "-", "-", "-", failure or "no result"]]
    size_mb = f"{result['model']['size'] / 1e6:.0f}"
    out = []
    for row in result["rows"]:
        if row.get("test", "chat") != "chat":
            continue
        s = row.get("summary") or {}
        load = sum((row.get("load") or {}).values()) / 1000 if row.get("load") else None
        ttft = (s.get("ttft_ms") or {}).get("mean")
        decode = (s.get("decode_tok_s") or {}).get("mean")
        note = row.get("unsupported") or row.get("error") or ""
        out.append([label, size_mb, f"{row['engine']} {row['backend']}", f"{load:.1f}" if load else "-",
                    report.memory_cell(row), f"{ttft:.0f}" if ttft else "-", f"{decode:.2f}" if decode else "-",
                    note[:240]])
    return out


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from app.host.cache import default_cache_dir

    ap = argparse.ArgumentParser(prog="python -m app.host.scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="0.5b,1b,3b", help=f"comma-separated, of {', '.join(SHAPES)}")
    ap.add_argument("--types", default="q8_0,q4_k", help=f"comma-separated, of {', '.join(TYPES)}")
    ap.add_argument("--engines", default="", help="bench's --engines (default: the default engines' CPU rows, bench --cpu)")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--folder", type=Path, default=None, help="where the models are kept (default: the cache's synthetic/)")
    ap.add_argument("--json", type=Path, default=None, help="every model's result, one list")
    ap.add_argument("--timeout", type=int, default=1200, help="seconds each model's bench may take")
    args = ap.parse_args(argv)
    sizes, types = args.sizes.split(","), args.types.split(",")
    bad = [s for s in sizes if s not in SHAPES] + [t for t in types if t not in TYPES]
    if bad:
        print(f"scale: unknown size or type {bad}; sizes {list(SHAPES)}, types {list(TYPES)}", file=sys.stderr)
        return 2
    folder = args.folder or default_cache_dir() / "synthetic"
    source = Path("dist/models/smollm2-135m-instruct.q8_0.gguf")
    if not source.exists():
        print(f"scale: {source} not found: run `python -m app build` first", file=sys.stderr)
        return 1
    problem = _unwritable(folder, args.json)
    if problem:
        print(f"scale: {problem}", file=sys.stderr)
        return 2
    which = ["--engines", args.engines] if args.engines else ["--cpu"]
    lines: list[list[str]] = []
    results = []
    failed = 0
    for size in sizes:
        for qtype in types:
            label = f"llama {size} {qtype.upper()}"
            path = ensure_model(folder, size, qtype, source)
            out = folder / f"{path.stem}.result.json"
            print(f"[scale] {label}: {path.stat().st_size / 1e6:.0f} MB, bench {' '.join(which)}", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            out.unlink(missing_ok=True)  # the previous run's result: this run's replaces it
            proc = subprocess.run([sys.executable, "-m", "app", "bench", "--model", str(path), *which,
                                   "--max-tokens", str(args.max_tokens), "--runs", str(args.runs), "--warmup", "1",
                                   "--forced-tokens", "0", "--no-perplexity", "--timeout", str(args.timeout),
                                   "--json", str(out)], capture_output=True, text=True, check=False)
            result = json.loads(out.read_text()) if out.exists() else None
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            lines += table_rows(label, result, f"bench exited {proc.returncode}: {tail}")
            results.append({"model": label, "path": str(path), "exit": proc.returncode, "wall_s": time.monotonic() - t0,
                            "result": result})
            failed += proc.returncode != 0
            print(markdown(lines[-len(table_rows(label, result)):]), file=sys.stderr, flush=True)
    print(markdown(lines))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if failed:
        print(f"scale: {failed} of {len(results)} benches failed (their lines say why)", file=sys.stderr)
    return 1 if failed else 0


def _unwritable(folder: Path, json_path: Path | None) -> str | None:
    """Why the models' folder or --json cannot be written, in one line; None when both can. --json is checked as
    bench checks its own (app.host.bench_cli.check_json_path); the folder by making it."""
    from app.core.settings import SettingsError
    from app.host.bench_cli import check_json_path

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"--folder {folder}: cannot make or use it ({err.strerror or err}); give a folder you can write to"
    if json_path is not None:
        try:
            check_json_path(json_path)
        except SettingsError as err:
            return str(err)
    return None


if __name__ == "__main__":
    sys.exit(main())
