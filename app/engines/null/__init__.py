"""The null engine: flare's streaming API over no model, answering at once (`null`, the harness's ceiling)
or after 5 ms of busy work a token (`null-5ms`, a 200 tok/s engine). Hidden from the page.

Files: engine.py (Pyodide: NullEngine, driven by flare's FlareStream), engine.js (served as
engines/null/engine.js). No pins, no build step.
"""

from app.engines.spec import Drive, EngineSpec, Variant

SPEC = EngineSpec(
    name="null",
    title="null (harness ceiling)",
    variants=(
        Variant("null", "null engine (harness ceiling)", "js", "#8c959f", hidden=True, options={"busy_ms": 0.0}),
        Variant("null-5ms", "null engine, 5 ms a token", "js", "#d0d7de", hidden=True, options={"busy_ms": 5.0}),
    ),
    factory="app.engines.null.engine:make",
    drive=Drive(takes_text=False, stamps_tokens=False, prefill_is_first_token=False, correctness="forced-ids"),
    js=("engine.js",),
    order=90,
)
