"""Run one of mlc-llm's own command-line entry points (gen_config, convert_weight, compile) on apache-tvm 0.27
with our shims (tvm_compat), in this process:

    python -m app.engines.mlc.host.mlc_tool MLC_SRC {gen_config|convert_weight|compile} ARGS...

MLC_SRC is an mlc-llm checkout (python/mlc_llm) or a copy tvm_compat.prepare_source() made; a plain checkout is
copied and patched into a temporary folder first (never patched in place). The pipeline runs this module as a
subprocess (sys.executable) so that mlc-llm's imports, logging and monkeypatches stay out of the build process.
ARGS are mlc-llm's own (`... compile --help`)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

COMMANDS = ("gen_config", "convert_weight", "compile")


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ["SKIP_LOADING_MLCLLM_SO"] = "1"  # before mlc_llm.base is imported: it loads the .so otherwise
    from app.engines.mlc.host import tvm_compat

    src = Path(argv[0])
    if not tvm_compat.is_prepared(src):
        src = Path(tempfile.mkdtemp(prefix="mlc-src-"))
        tvm_compat.prepare_source(Path(argv[0]), src)
    sys.path.insert(0, str(src / "python"))
    # mlc-llm probes devices in a child `python -m mlc_llm.cli.check_device`: it must find the same copy.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(src / "python")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    tvm_compat.install()
    import importlib

    from mlc_llm.support import logging as mlc_logging

    mlc_logging.enable_logging()
    if argv[1] == "compile":
        tvm_compat.patch_webgpu_object_export()
        tvm_compat.patch_compile_passes()
    cli = importlib.import_module(f"mlc_llm.cli.{argv[1]}")
    cli.main(argv[2:])
    shims_out = os.environ.get("MLC_TOOL_SHIMS_JSON")  # the pipeline's record: which shims this step applied
    if shims_out:
        import json

        Path(shims_out).write_text(json.dumps(tvm_compat.SHIMS_APPLIED, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
