"""Where the llama.cpp row's prefill cost goes: every wllama 2.x build we serve, single- and multi-thread, beside
native llama.cpp at 1 thread and every core, on the same tests in one run (issue 25).

    python scripts/native_cost_builds.py [--n-prompt 64] [--n-gen 32] [--runs 3] [--json results/native-cost-builds.json]

One headless Chromium page runs the benchmark (app.web.bench.run_benchmark, the page's own loop) over four
llama.cpp rows: wllama 2.4.0's Memory64 build and 2.3.7's wasm32 build (app/engines/llamacpp/support.py BUILDS),
each at 1 thread and at every core the page may use. Each row is the reference engine's own class with only
its build forced (the page otherwise picks Memory64 wherever it validates). Then this process runs the native rows
(native-1t, native-all) on the page's ids (app/host/host_rows.py) and every row gets its cost against native
(app/core/native_cost.py). The table is printed and the result written to --json. Needs dist/ built, Chromium and
the native binding (python -m app.engines.native.host.wheel).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Runs inside the page's Pyodide: the four wllama rows through the page's benchmark loop. SETTINGS and BUILDS are
# substituted.
PAGE_CODE = r"""
import json
from app.core.settings import BenchSettings
from app.engines import make_engine
from app.engines.llamacpp import engine as wl
from app.web import environment, nb
from app.web.bench import Controller, run_benchmark


class ForcedBuild(wl.WllamaEngine):
    # The reference engine with its wllama build chosen here, not by the browser's features.
    forced = "memory64"

    async def load(self, model):
        self.probe = await wl.jsbridge.import_module(wl.PROBE)
        t0 = wl.jsbridge.now_ms()
        self.w, self.build = await wl.open_wllama(
            model, {"n_ctx": self.n_ctx, "n_threads": self.threads_wanted()}, self.site, build=self.forced)
        self.version = self.build["version"]
        return {"parse_ms": wl.jsbridge.now_ms() - t0}


s = BenchSettings.from_dict(json.loads(SETTINGS))
site = await nb.site()
model = await nb.load_model(s.model)


def engines(keys, site, settings):
    out = []
    for build in json.loads(BUILDS):
        for threads in (1, 0):
            e = make_engine("llamacpp-wasm", site, settings)
            e.__class__ = ForcedBuild
            e.forced, e.threads = build, threads
            out.append(e)
    return out


lines = []
result = await run_benchmark(s, model, site, await environment.collect(site), site["pins"], lambda f, m: None,
                             lines.append, Controller(), make_engines=engines)
json.dumps(result)
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-prompt", type=int, default=64)
    p.add_argument("--n-gen", type=int, default=32)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--builds", default="memory64,wasm32", help="the wllama builds in run order (alternate the order "
                   "between runs to see whether a figure follows the build or the moment it ran)")
    p.add_argument("--json", type=Path, default=ROOT / "results" / "native-cost-builds.json")
    args = p.parse_args(argv)

    from app.core import formats, native_cost
    from app.host.build import DIST
    from app.host.chromium import start_chromium
    from app.host.host_rows import gguf_path, run_host_rows
    from app.host.serve import serve_in_thread, url_of

    settings = {"engines": ["llamacpp-wasm"], "max_tokens": 16, "runs": args.runs, "warmup": args.warmup,
                "forced_tokens": 8, "n_prompt": [args.n_prompt], "n_gen": [args.n_gen]}
    started = time.monotonic()
    server = serve_in_thread(DIST)
    driver = start_chromium(command_timeout_s=1900)  # the whole page run is one WebDriver call
    try:
        driver.get(url_of(server) + "index.html")
        deadline = time.monotonic() + 300
        while not driver.execute_script("return !!globalThis.benchPyodide && "
                                        "document.documentElement.dataset.state === 'ready'"):
            if time.monotonic() > deadline:
                raise SystemExit("the page did not become ready in 300 s")
            time.sleep(0.5)
        driver.set_script_timeout(1800)
        code = PAGE_CODE.replace("json.loads(SETTINGS)", f"json.loads({json.dumps(json.dumps(settings))})").replace(
            "json.loads(BUILDS)", f"json.loads({json.dumps(json.dumps(args.builds.split(',')))})")
        answer = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "benchPyodide.runPythonAsync(arguments[0]).then((r) => done({ok: String(r)}), (e) => done({error: String(e)}));",
            code)
    finally:
        driver.quit()
        server.shutdown()
    if "error" in answer:
        print(answer["error"][-3000:], file=sys.stderr)
        return 1
    result = json.loads(answer["ok"])
    path = gguf_path(result, DIST, None)
    run_host_rows(result, ["native-1t", "native-all"], path, lambda line: print(f"[native] {line}", file=sys.stderr))
    native_cost.annotate(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(formats.render(result, "text"))
    print(f"wall time {time.monotonic() - started:.0f} s; JSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
