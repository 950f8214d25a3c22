"""`--isolate`: every engine in a page of its own, so that one engine's crash costs only its row.

In one page, an engine that aborts is its row's ERROR and the next rows run; but one that takes the page down
(the renderer killed for memory, a crashed GPU process taking the tab) ends the run, and the rows after it never
run. With --isolate the chosen runtime runs once per engine, each time with a fresh browser: the reference
(llama.cpp) alone first, then for every other engine a page that runs the reference again (its greedy tokens and
perplexity are what correctness is checked against) and then the engine. The reference's row is kept from its own
page, each engine's rows from its page; a page that was lost or timed out gives its engine an ERROR row saying so,
and the run goes on with the next engine. What it costs: a browser start, Pyodide, the model's fetch and one more
reference row per engine (README, "One engine's crash does not cost the others", has the figures). Not registered
itself (its module starts with "_"): the `--isolate` option wraps the runtime the other options chose.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

from app.host.runtimes._base import Job, Outcome, Progress, Runtime
from app.host.runtimes._browsers import WORST_FIRST

ISOLATION = ("a fresh page per engine (--isolate): the reference alone first, then each engine after a run of the "
             "reference in its own page; the reference row is the first page's")


def failed_row(template: dict[str, Any], key: str, why: str) -> dict[str, Any]:
    """An ERROR row for engine `key` whose page ended before the row was published, shaped like `template`."""
    from app.core import results
    from app.engines import BY_KEY, SPEC_OF

    row = copy.deepcopy(template)
    row.update(key=key, engine=SPEC_OF[key].title, backend=BY_KEY[key].backend, is_reference=BY_KEY[key].reference,
               load={}, warmups=[], runs=[], summary=results.summarize_row([]), correctness=None, info={},
               output_text="", error=why, unsupported=None, shims=[], gpu_errors=None, console_errors=None,
               gpu_devices=[], notes=[])
    for field in ("memory", "weights", "node", "in_progress"):
        row.pop(field, None)
    return row


def merge(settings: dict[str, Any], pages: list[tuple[str, Outcome]], pending: list[str] | None = None
          ) -> dict[str, Any] | None:
    """One result from the per-engine pages: `pages` is [(engine key, outcome)], the reference's first. Rows of
    each page's own engine are kept (every test of it); an engine whose page published no row of it gets an ERROR
    row naming how its page ended; each key of `pending` (engines whose page has not run yet) an ERROR row saying
    so, which is what an interrupted run keeps. None when no page published anything."""
    base = next((copy.deepcopy(o.result) for _, o in pages if o.result), None)
    if base is None:
        return None
    base["settings"] = copy.deepcopy(settings)
    template = next((r for _, o in pages if o.result for r in o.result["rows"]), None)
    rows = []
    for key, outcome in pages:
        own = [r for r in (outcome.result or {}).get("rows", []) if r["key"] == key and not r.get("in_progress")]
        if not own and template is not None:
            how = {"lost": "the page died", "timeout": "the time ran out"}.get(outcome.state, f"the page ended ({outcome.state})")
            own = [failed_row(template, key, f"{how} while this engine ran, in its own page (--isolate)"
                                             + (f": {outcome.error}" if outcome.error else ""))]
        rows += own
    if template is not None:
        rows += [failed_row(template, key, "not run: the run ended before this engine's own page started (--isolate)")
                 for key in pending or []]
    base["rows"] = rows
    from app.engines import REFERENCE_KEY

    ran_reference = any(key == REFERENCE_KEY for key, _ in pages)
    base["environment"]["isolation"] = ISOLATION if ran_reference else "a fresh page per engine (--isolate)"
    return base


class IsolatedRuntime(Runtime):
    """The chosen runtime, once per engine; one merged result (see the module docstring)."""

    name = "isolated"
    program = "the pages"
    where = "(--isolate: each engine in a page of its own)"
    in_words = "runs each engine in its own page"

    def __init__(self, make: Callable[[], Runtime], serve_host: str | None = None) -> None:
        super().__init__(serve_host)
        self.make = make
        self.inner = make()
        self.program = self.inner.program
        self.pages: list[tuple[str, Outcome]] = []
        self.job: Job | None = None

    def preflight(self) -> None:
        self.inner.preflight()

    def start(self, job: Job) -> None:
        self.echo(f"[bench] --isolate: each engine in its own page ({', '.join(job.settings['engines'])})")

    def open(self, job: Job) -> None:
        self.job = job

    def plan(self, engines: list[str]) -> list[tuple[str, list[str]]]:
        """[(engine key, the engines its page runs)]: the reference alone, then each other after the reference."""
        from app.engines import REFERENCE_KEY

        ref = [k for k in engines if k == REFERENCE_KEY]
        return [(k, [k] if k == REFERENCE_KEY else ref + [k]) for k in engines]

    def follow(self) -> str:
        job = self.job
        steps = self.plan(list(job.settings["engines"]))
        for i, (key, engines) in enumerate(steps):
            # All the time left, not a share: a page that needs more than an even share (the first, which also
            # starts Python and fetches the model cold) would otherwise time out in a run that fits --timeout.
            share = max(0.0, self.left())
            own = Progress()

            def say(line: str, key: str = key, own: Progress = own) -> None:
                self.echo(f"[{key}] {line}")
                self.progress.activity = f"{key}: {own.activity}"

            page_job = dataclasses.replace(job, settings={**job.settings, "engines": engines}, token=Job(job.dist).token)
            runtime = self.inner if i == 0 else self.make()
            self.echo(f"[bench] {key}: a fresh page running {', '.join(engines)} ({share:.0f} s of the time left)")
            try:
                outcome = runtime.run(page_job, share, own, say)
            except Exception as err:  # noqa: BLE001 - one page's failure must not lose the others' rows
                outcome = Outcome("lost", f"{type(err).__name__}: {err}", own.result(), [], own.activity)
            self.pages.append((key, outcome))
            merged = merge(job.settings, self.pages, pending=[k for k, _ in steps[i + 1:]])
            if merged is not None:
                import json

                self.progress.result_raw = json.dumps(merged)
        states = [o.state for _, o in self.pages] or ["lost"]
        return min(states, key=lambda s: WORST_FIRST.index(s) if s in WORST_FIRST else 0)

    def collect(self, state: str) -> Outcome:
        for key, outcome in self.pages:
            self.echo(f"[bench] {key}: {outcome.state}" + (f" ({outcome.error})" if outcome.error else ""))
        errors = "; ".join(f"{k}: {o.error}" for k, o in self.pages if o.error)
        activity = "; ".join(f"{k}: {o.activity}" for k, o in self.pages)
        return Outcome(state, errors, merge(self.job.settings, self.pages), [], activity)
