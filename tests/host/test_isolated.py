"""--isolate's merge (app.host.runtimes._isolated): the reference from its own page, each engine from its page, an
engine whose page died or never started gets an ERROR row saying so, and the merged result passes the checks."""

from __future__ import annotations

import copy

from app.core import results
from app.host.runtimes._base import Outcome
from app.host.runtimes._isolated import IsolatedRuntime, merge
from tests.host import synthetic as syn


def test_the_merge_keeps_each_pages_own_rows_and_says_what_did_not_run():
    ref = syn.row(key="llamacpp-wasm", engine="llama.cpp (wllama)", reference=True)
    page1 = syn.result([ref])
    page2 = syn.result([copy.deepcopy(ref)])  # the flare page published only its reference row, then died
    settings = copy.deepcopy(page1["settings"])
    settings["engines"] = ["llamacpp-wasm", "flare-cpu", "null"]
    merged = merge(settings, [("llamacpp-wasm", Outcome("done", "", page1, [])),
                              ("flare-cpu", Outcome("lost", "tab crashed", page2, []))], pending=["null"])
    rows = {r["key"]: r for r in merged["rows"]}
    assert list(rows) == ["llamacpp-wasm", "flare-cpu", "null"]
    assert rows["llamacpp-wasm"]["runs"] == ref["runs"]  # the first page's reference row, kept once
    assert rows["flare-cpu"]["error"] == "the page died while this engine ran, in its own page (--isolate): tab crashed"
    assert rows["flare-cpu"]["engine"] == "flare-web" and rows["flare-cpu"]["runs"] == []
    assert rows["null"]["error"].startswith("not run: the run ended before this engine's own page started")
    assert merged["settings"]["engines"] == settings["engines"] and "reference alone first" in merged["environment"]["isolation"]
    results.check_result(merged)
    assert merge(settings, [("llamacpp-wasm", Outcome("lost", "x", None, []))]) is None


def test_the_plan_runs_the_reference_alone_then_before_each_engine():
    runtime = IsolatedRuntime.__new__(IsolatedRuntime)
    assert runtime.plan(["llamacpp-wasm", "flare-cpu", "null"]) == [
        ("llamacpp-wasm", ["llamacpp-wasm"]), ("flare-cpu", ["llamacpp-wasm", "flare-cpu"]),
        ("null", ["llamacpp-wasm", "null"])]
    assert runtime.plan(["flare-cpu"]) == [("flare-cpu", ["flare-cpu"])]
