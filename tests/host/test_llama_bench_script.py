"""llama.cpp's own scripts/compare-llama-bench.py reads our --output llama-bench-jsonl, llama-bench and csv of two
runs and prints its table, with our t/s (issue 19, part 4).

The script is the real one of a current llama.cpp: it ships inside the llama-cpp-python sdist, pinned in pins.toml
(role host-tool) and fetched by the registry's client, checked against its sha256 and cached by hash like every
other pin; only the script is taken out of the archive (app.host.build.host_tool_path). It needs GitPython and
tabulate (the test extra). It refused our output before ("Missing required data key(s) at line 1: load_mode,
fit_target, fit_min_ctx"), which the earlier test, replaying its SQL join from an older copy, could not see.

The script reads one JSONL file (llama-bench -o jsonl appended run after run), one JSON file per run (-o json) or
one CSV file per run (-o csv), and compares the build named by -b with the one named by -c: ours are run_id."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from app.core import formats, results
from tests.host import synthetic as syn

SCRIPT_PIN = "llama-cpp-python"
DATA = Path(__file__).parent / "data"


def test_the_script_is_a_pinned_sdist_host_tool_never_served():
    from app.host import pins

    pin = pins.host_tool(SCRIPT_PIN)
    assert (pin.kind, pin.version, pin.tool_file) == ("sdist", "0.3.36", "vendor/llama.cpp/scripts/compare-llama-bench.py")
    assert pin.sha256 == "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
    with pytest.raises(pins.PinError, match="npm package or an sdist"):
        pins.parse_pins({"pin": [{"name": "x", "kind": "wheel", "version": "1", "sha256": "0" * 64, "role": "host-tool",
                                  "tool_file": "x.py"}]})


@pytest.fixture(scope="module")
def script() -> Path:
    from app.host.build import host_tool_path

    path = host_tool_path(SCRIPT_PIN)
    assert path.name == "compare-llama-bench.py"
    return path


def a_run(decode_tok_s: float, created: str, seed: int) -> dict:
    """llama.cpp and flare on the CPU, flare on WebGPU with GPU errors, an unsupported engine, a pp and a tg sweep."""
    return syn.result([
        syn.row(key="llamacpp-wasm", engine="llama.cpp (wllama)", reference=True,
                run_list=syn.runs(5.0, 4, seed=seed, prefill_ms=3000)),
        syn.row(run_list=syn.runs(decode_tok_s, 4, seed=seed + 1)),
        syn.row(key="flare-webgpu", backend="webgpu", run_list=syn.runs(80.0, 3, seed=seed + 2), gpu_errors=2),
        syn.row(key="transformersjs-wasm", engine="transformers.js", run_list=[], unsupported="not this model"),
        syn.row(run_list=syn.runs(20.0, 3, seed=seed + 3, tokens=1, prompt_tokens=64), test="pp64", n_prompt=64,
                n_gen=1, n_depth=0),
        syn.row(run_list=syn.runs(decode_tok_s, 3, seed=seed + 4, tokens=32, prompt_tokens=512), test="tg32 @ d512",
                n_prompt=512, n_gen=32, n_depth=512),
    ], created=created)


def compare_script(script: Path, cwd: Path, inputs: list[str], base: str, new: str) -> list[dict[str, str]]:
    """Run the script as its README says (-t llama-bench, -i per file, -b / -c the builds) in a folder outside any
    git repository; its pipe table as one dict per line."""
    args = [sys.executable, str(script), "-t", "llama-bench", "-b", base, "-c", new]
    for name in inputs:
        args += ["-i", name]
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GIT_PYTHON_REFRESH": "quiet"})
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[-4:] == ["Test", f"t/s {base}", f"t/s {new}", "Speedup"], header
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def expected(records: list[dict]) -> dict[tuple[str, str], float]:
    """(backends, the script's test name) -> avg_ts of our records (one per test; the script averages equal ones)."""
    out = {}
    for r in records:
        if r["build_commit"] == formats.NO_RESULT_BUILD:
            continue
        n_prompt, n_gen, n_depth = int(r["n_prompt"]), int(r["n_gen"]), int(r["n_depth"])
        test = f"pp{n_prompt}" if not n_gen else f"tg{n_gen}" if not n_prompt else f"pp{n_prompt}+tg{n_gen}"
        key = (r["backends"], test + (f"@d{n_depth}" if n_depth else ""))
        assert key not in out
        out[key] = float(r["avg_ts"])
    return out


def check_table(table: list[dict[str, str]], base: dict, new: dict, ids: tuple[str, str]) -> None:
    assert {(row["Backends"], row["Test"]) for row in table} == base.keys() == new.keys()
    for row in table:
        key = (row["Backends"], row["Test"])
        assert row[f"t/s {ids[0]}"] == f"{base[key]:.2f}" and row[f"t/s {ids[1]}"] == f"{new[key]:.2f}"
        assert row["Speedup"] == f"{new[key] / base[key]:.2f}"
        assert row["Model"] == "llama Q8_0"


def test_the_real_script_compares_two_of_our_runs_in_llama_bench_jsonl_and_json(script, tmp_path):
    a = a_run(20.0, "2026-01-01T00:00:00.000Z", 1)
    b = a_run(15.0, "2026-01-02T00:00:00.000Z", 11)
    ids = formats.run_id(a), formats.run_id(b)
    assert ids[0] != ids[1]
    # JSONL: llama-bench -o jsonl appends run after run to one file
    (tmp_path / "runs.jsonl").write_text(formats.render(a, "llama-bench-jsonl") + "\n"
                                         + formats.render(b, "llama-bench-jsonl") + "\n")
    table = compare_script(script, tmp_path, ["runs.jsonl"], *ids)
    base, new = expected(formats.llama_bench_records(a)), expected(formats.llama_bench_records(b))
    check_table(table, base, new, ids)
    # the chat row's prompt and generation, the sweeps; not the GPU ERROR row nor the unsupported one
    assert sorted(base) == [("flare-cpu", "pp32"), ("flare-cpu", "pp64"), ("flare-cpu", "tg16@d32"),
                            ("flare-cpu", "tg32@d512"), ("llamacpp-wasm", "pp32"), ("llamacpp-wasm", "tg16@d32")]
    slower = next(row for row in table if (row["Backends"], row["Test"]) == ("flare-cpu", "tg16@d32"))
    assert float(slower["Speedup"]) == pytest.approx(0.75, abs=0.01)  # 15 tok/s against 20
    # JSON: one file per run (llama-bench -o json)
    (tmp_path / "a.json").write_text(formats.render(a, "llama-bench"))
    (tmp_path / "b.json").write_text(formats.render(b, "llama-bench"))
    assert compare_script(script, tmp_path, ["a.json", "b.json"], *ids) == table


def test_the_real_script_reads_our_csv_each_row_one_llama_bench_test(script, tmp_path):
    a = a_run(20.0, "2026-01-01T00:00:00.000Z", 1)
    b = a_run(15.0, "2026-01-02T00:00:00.000Z", 11)
    ids = formats.run_id(a), formats.run_id(b)
    (tmp_path / "a.csv").write_text(formats.render(a, "csv") + "\n")
    (tmp_path / "b.csv").write_text(formats.render(b, "csv") + "\n")
    table = compare_script(script, tmp_path, ["a.csv", "b.csv"], *ids)
    check_table(table, expected(formats.row_records(a)), expected(formats.row_records(b)), ids)
    # the chat rows as llama-bench's pp+tg test; the rows without a result (GPU ERROR, unsupported) in no build
    assert sorted((row["Backends"], row["Test"]) for row in table) == [
        ("flare-cpu", "pp32+tg16"), ("flare-cpu", "pp64"), ("flare-cpu", "tg32@d512"), ("llamacpp-wasm", "pp32+tg16")]
    chat = [x for x in b["rows"][1]["runs"] if not x["stopped"]]
    pg = statistics.fmean((x["prompt_tokens"] + len(x["token_times_ms"]) - 1)
                          / ((x["token_times_ms"][-1] - x["prefill_start_ms"]) / 1000) for x in chat)
    row = next(r for r in table if (r["Backends"], r["Test"]) == ("flare-cpu", "pp32+tg16"))
    assert row[f"t/s {ids[1]}"] == f"{pg:.2f}"


def test_the_real_script_compares_two_real_runs_of_the_page(script, tmp_path):
    """The trimmed real runs under tests/host/data: a v2 file (read through results.upgrade) and a v3 one."""
    a = results.upgrade(json.loads((DATA / "result-v2.json").read_text()))
    b = json.loads((DATA / "result-v3.json").read_text())
    ids = formats.run_id(a), formats.run_id(b)
    (tmp_path / "real.jsonl").write_text(formats.render(a, "llama-bench-jsonl") + "\n"
                                         + formats.render(b, "llama-bench-jsonl") + "\n")
    table = compare_script(script, tmp_path, ["real.jsonl"], *ids)
    base, new = expected(formats.llama_bench_records(a)), expected(formats.llama_bench_records(b))
    common = base.keys() & new.keys()
    check_table(table, {k: base[k] for k in common}, {k: new[k] for k in common}, ids)
    assert sorted(common) == [("flare-cpu", "pp32"), ("flare-cpu", "tg8@d32"), ("llamacpp-wasm", "pp32"),
                              ("llamacpp-wasm", "tg8@d32")]  # flare WebGPU is a GPU ERROR (SwiftShader) in both


def test_the_real_script_refuses_a_line_without_the_fields_it_requires(script, tmp_path):
    """What it said of our output before: every required field is needed, on every line."""
    a = a_run(20.0, "2026-01-01T00:00:00.000Z", 1)
    lines = [json.loads(x) for x in formats.render(a, "llama-bench-jsonl").splitlines()]
    for line in lines:
        for key in ("load_mode", "fit_target", "fit_min_ctx"):
            del line[key]
    (tmp_path / "old.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    proc = subprocess.run([sys.executable, str(script), "-t", "llama-bench", "-i", "old.jsonl", "-b", "x", "-c", "y"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GIT_PYTHON_REFRESH": "quiet"})
    assert proc.returncode != 0 and "Missing required data key(s) at line 1" in proc.stderr
    assert all(k in proc.stderr.splitlines()[-1] for k in ("load_mode", "fit_target", "fit_min_ctx"))
