"""Host build hook: web-llm always (the page offers the rows), and, with `build.py --mlc PATH`, the MLC model
library and weights built from the build's GGUF (app/engines/mlc/host/pipeline.py), cached by the GGUF's hash,
the recipe and the quantization (one folder each). A later build without --mlc keeps serving what the cache holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.host import pins as pinlib
from app.host.build import MODEL_FILE, BuildError

MLC_RECIPE = "mlc-webgpu-v1"  # pipeline.py's steps; bump when they change what is written
MLC_DIR = "models/mlc"
DEFAULT_QUANTIZATIONS = ("q0f32", "q0f16")
# q0f32: float32, the GGUF's Q8_0 dequantized exactly (the same weights as every other row).
# q0f16: those float32 values rounded to float16: not the same weights.
WEIGHTS_FORMAT = {"q0f32": "MLC q0f32 (float32: the GGUF's Q8_0 dequantized exactly), from GGUF {sha8}",
                  "q0f16": "MLC q0f16 (float16 rounding of the GGUF's dequantized Q8_0: NOT the same weights), from GGUF {sha8}"}


def add_arguments(parser: Any) -> None:
    """The build's MLC options (`python build.py` and `python -m app build` share them)."""
    parser.add_argument("--mlc", type=Path, default=None, metavar="PATH",
                        help="also build MLC WebLLM's model library and weights from the GGUF with this mlc-llm checkout "
                             "(needs pip install -e '.[mlc]' and emscripten; README: MLC WebLLM)")
    parser.add_argument("--mlc-tvm", type=Path, default=None, metavar="PATH",
                        help="an apache/tvm source checkout for the web runtime's headers (default: PATH/3rdparty/tvm of --mlc)")
    parser.add_argument("--mlc-quantizations", default=",".join(DEFAULT_QUANTIZATIONS), metavar="LIST",
                        help="MLC weight formats to build, comma-separated: q0f32 (exact), q0f16")


def forward_arguments(args: Any) -> list[str]:
    """`args`' MLC options as build.py's command line (what `python -m app build` hands on)."""
    out = (["--mlc", str(args.mlc)] if args.mlc is not None else []) + ["--mlc-quantizations", args.mlc_quantizations]
    return out + (["--mlc-tvm", str(args.mlc_tvm)] if args.mlc_tvm is not None else [])


def builder_options(args: Any) -> dict[str, Any] | str:
    """Builder keyword arguments from `args`' MLC options, or the one-line reason they are bad."""
    given = {q.strip() for q in args.mlc_quantizations.split(",") if q.strip()}
    quants = tuple(q for q in DEFAULT_QUANTIZATIONS if q in given)  # each once, in one order
    if not given or given - set(DEFAULT_QUANTIZATIONS):
        return f"--mlc-quantizations {args.mlc_quantizations!r}: use q0f32, q0f16 or both"
    if args.mlc is not None and not args.mlc.is_dir():
        return f"--mlc {args.mlc}: no such folder (give an mlc-llm checkout)"
    return {"mlc": args.mlc.resolve() if args.mlc else None,
            "mlc_tvm": args.mlc_tvm.resolve() if args.mlc_tvm else None, "mlc_quantizations": quants}


def plan(builder: Any, site: dict[str, Any]) -> None:
    """web-llm always; the model when --mlc was given or the cache already holds it."""
    pin = pinlib.one(builder.pins, "webllm")
    root = builder.package(pin) / "lib"
    builder.add("vendor/web-llm/index.js", root / "index.js", pin.name)
    site["importmap"]["imports"]["web-llm"] = "./vendor/web-llm/index.js"
    site["mlc"] = {"version": pin.version, "models": {}}
    plan_model(builder, site)


def _derived(builder: Any, quant: str) -> Path:
    """The cache folder of this GGUF's MLC build of one quantization (each its own: a build of one never hides
    another, and a later build without --mlc serves every one the cache holds)."""
    return builder.cache.root / "derived" / f"mlc-{builder.planned(MODEL_FILE).digest()[:16]}-{MLC_RECIPE}-{quant}"


def plan_model(builder: Any, site: dict[str, Any]) -> None:
    gguf = builder.planned(MODEL_FILE)
    source = getattr(builder, "mlc", None)
    asked = getattr(builder, "mlc_quantizations", None) or DEFAULT_QUANTIZATIONS
    for quant in DEFAULT_QUANTIZATIONS:
        derived = _derived(builder, quant)
        if not (derived / ".complete").exists():
            if source is None or quant not in asked:
                continue  # not asked for, nothing cached: the rows say how to build it
            from app.engines.mlc.host.pipeline import MlcBuildError, build  # noqa: PLC0415 - apache-tvm: only with --mlc

            try:
                builder.derive(derived, lambda out, q=quant: _build(build, gguf.source, Path(source), out, (q,), builder))
            except (MlcBuildError, MlcWeightsDiffer) as err:
                raise BuildError(f"MLC build: {err}") from None
        _plan_cached(builder, site, derived, gguf)
    # The page's checkbox test (web/templates/index.html): the feature's "model" is set when the site has one.
    if site["mlc"]["models"]:
        site["mlc"]["model"] = sorted(site["mlc"]["models"])


def _plan_cached(builder: Any, site: dict[str, Any], derived: Path, gguf: Any) -> None:
    """Serve one cached build: its model folder under resolve/main, its library, and its site record."""
    record = json.loads((derived / "mlc-build.json").read_text())
    model_dirs = {m["dir"] for m in record["models"].values()}
    for path in sorted(derived.rglob("*")):
        if path.is_file() and path.name not in (".complete", "mlc-build.json"):
            rel = path.relative_to(derived)
            # web-llm fetches <model URL>/resolve/main/<file> (its cleanModelUrl): lay the folder out that way.
            if rel.parts[0] in model_dirs:
                rel = Path(rel.parts[0], "resolve", "main", *rel.parts[1:])
            builder.add(f"{MLC_DIR}/{rel.as_posix()}", path, "derived:mlc")
    for quant, model in record["models"].items():
        weights = [builder.planned(f"{MLC_DIR}/{model['dir']}/resolve/main/{f}") for f in model["weight_files"]]
        site["mlc"]["models"][quant] = {
            "model_id": model["model_id"],
            "dir": f"{MLC_DIR}/{model['dir']}",
            "lib": f"{MLC_DIR}/{model['lib']}",
            "lib_sha256": builder.planned(f"{MLC_DIR}/{model['lib']}").digest(),
            "required_features": model.get("required_features", []),
            "context_window_size": model.get("context_window_size"),
            "weights_format": WEIGHTS_FORMAT.get(quant, f"MLC {quant}, from GGUF {{sha8}}").format(sha8=gguf.digest()[:8]),
            "weights_size": sum(w.size() for w in weights),
            "weights_sha256": model.get("weights_sha256"),
            "source_gguf_sha256": gguf.digest(),
            "weights_check": model.get("weights_check"),
            "build": {k: record.get(k) for k in ("apache_tvm", "mlc_llm", "emcc", "timings_s", "recipe")},
        }


class MlcWeightsDiffer(RuntimeError):
    """mlc-llm's shards are not the GGUF's weights (the build stops: its rows would not share weights)."""


def _build(build, gguf: Path, source: Path, out: Path, quants: tuple[str, ...], builder: Any) -> None:
    record = build(gguf, source, out, quants, builder.log, tvm_src=getattr(builder, "mlc_tvm", None))
    record["recipe"] = MLC_RECIPE
    # The proof that the rows share weights: every shard mlc-llm's convert_weight wrote equals the GGUF's tensors
    # dequantized, fused and cast by our own numpy code (shards.py), md5 for md5.
    from app.engines.mlc.host.shards import ShardError, regenerate  # noqa: PLC0415

    for quant, model in record["models"].items():
        try:
            checked = regenerate(gguf, out / model["dir"], log=lambda _: None, write=False)
        except ShardError as err:
            raise MlcWeightsDiffer(f"{quant}: {err}") from None
        model["weights_check"] = (f"all {len(checked)} shards equal the GGUF's tensors dequantized, fused and cast to "
                                  f"{quant[-3:].replace('f32', 'float32').replace('f16', 'float16')} (md5, app/engines/mlc/host/shards.py)")
    (out / "mlc-build.json").write_text(json.dumps(record, indent=1, sort_keys=True))

