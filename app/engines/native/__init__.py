"""llama.cpp compiled for this machine's CPU and run by the host Python itself (llama-cpp-python's low-level API):
the native row every browser row is costed against ("vs native").

It runs on the host, never in the page (`runs_on="host"`): `python -m app bench` runs the page first, then these
rows in its own process through the same Benchmark loop (app/web/bench.py over app/web/browser/on_host.py), with
the page's prompt ids, stop ids and reference tokens (app/host/host_rows.py). Two variants: every core of the
machine, and one thread (llama-bench's `-t`).

Files: support.py (pure: the install command, the thread count, the words of a missing binding), host/engine.py
(NativeEngine over llama_cpp's ctypes API), host/wheel.py (`python -m app.engines.native.host.wheel`: builds the
binding's wheel from the pinned sdist once, caches it by the sdist's sha256, installs it). No pins served, no
JavaScript.
"""

from app.engines.spec import NATIVE_BACKEND, Drive, EngineSpec, Variant

SPEC = EngineSpec(
    name="native",
    title="llama.cpp native",
    variants=(
        Variant("native-all", "llama.cpp native, every core", NATIVE_BACKEND, "#953800", hidden=True,
                options={"threads": 0}),
        Variant("native-1t", "llama.cpp native, 1 thread", NATIVE_BACKEND, "#d18616", hidden=True,
                options={"threads": 1}),
    ),
    factory="app.engines.native.host.engine:make",
    # Ids in, each token stamped by the loop's clock on receipt (the host's perf_counter), teacher-forced by ids.
    drive=Drive(takes_text=False, stamps_tokens=False, prefill_is_first_token=False, correctness="forced-ids"),
    order=95,
    runs_on="host",
)
