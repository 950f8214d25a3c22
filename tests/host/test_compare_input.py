"""python -m app compare on malformed, hostile or odd result files (issue 19): every one is refused with exit 2
and one line on stderr naming the file and the place in it, before any arithmetic, in a second or two; text
output escapes control characters; long lists of problems are summarised; v2 files are checked too.

The same checks run in the page (app.core.compare is shared); tests/page/test_compare_page.py shows it there."""

from __future__ import annotations

import copy
import json
import os
import threading
import time
from pathlib import Path

import pytest

from app.core import compare, result_schema
from app.host import compare_cli
from app.host.cli import main
from tests.host import synthetic as syn

DATA = Path(__file__).parent / "data"


def write(path: Path, doc) -> str:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def pair(new_rate: float = 15.0) -> tuple[dict, dict]:
    base = syn.result([syn.row(run_list=syn.runs(20.0, 5, seed=1))])
    new = syn.result([syn.row(run_list=syn.runs(new_rate, 5, seed=2))], created="2026-01-02T00:00:00.000Z")
    return base, new


def refused(capsys, argv: list[str], *expected: str, seconds: float = 10.0) -> str:
    """Run compare; it must exit 2 within `seconds` with one line on stderr holding every `expected` text."""
    started = time.monotonic()
    assert main(argv) == 2
    assert time.monotonic() - started < seconds
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("compare: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and not captured.out
    for text in expected:
        assert text in err, err
    return err


def _each_run(field: str, value):
    def change(doc):
        for run in doc["rows"][0]["runs"]:
            run[field] = value
    return change


# (what is broken, how, what the line says): each in a v3 file and in the same file as schema version 2.
BROKEN = [
    ("negative prompt_tokens", _each_run("prompt_tokens", -200), "rows[0].runs[0].prompt_tokens: must be bigger than or equal to 0"),
    ("fractional prompt_tokens", _each_run("prompt_tokens", 31.5), "rows[0].runs[0].prompt_tokens: must be integer"),
    ("booleans as timestamps", _each_run("prefill_start_ms", True), "rows[0].runs[0].prefill_start_ms: must be number"),
    ("a boolean token time", lambda d: d["rows"][0]["runs"][2]["token_times_ms"].__setitem__(3, False),
     "rows[0].runs[2].token_times_ms[3]: must be number"),
    ("NaN timestamps", _each_run("prefill_end_ms", float("nan")), "rows[0].runs[0].prefill_end_ms: NaN is not a number"),
    ("an infinite timestamp", lambda d: d["rows"][0]["runs"][1]["token_times_ms"].__setitem__(0, float("inf")),
     "rows[0].runs[1].token_times_ms[0]: Infinity is not a number"),
    ("1.7e308", _each_run("prefill_start_ms", 1.7e308), "rows[0].runs[0].prefill_start_ms: 1.7e+308 is too large"),
    ("runs an integer", lambda d: d["rows"][0].__setitem__("runs", 3), "rows[0].runs: must be array"),
    ("settings a list", lambda d: d.__setitem__("settings", [1, 2]), "settings: must be object"),
    ("token times a string", _each_run("token_times_ms", "soon"), "rows[0].runs[0].token_times_ms: must be array"),
    ("a run a list", lambda d: d["rows"][0]["runs"].__setitem__(0, [1, 2]), "rows[0].runs[0]: must be object"),
    ("a count as text", lambda d: d["rows"][0].__setitem__("n_prompt", "32"), "rows[0].n_prompt: must be integer or null"),
    ("timestamps out of order", _each_run("prefill_end_ms", 0.5), "rows[0].runs[0]: prefill timestamps are out of order"),
]


@pytest.mark.parametrize("version", [3, 2])
@pytest.mark.parametrize("what, change, message", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_malformed_result_is_refused_naming_the_field(tmp_path, capsys, version, what, change, message):
    base, new = pair()
    new["schema_version"] = version
    change(new)
    a, b = write(tmp_path / "base.json", base), write(tmp_path / "new.json", new)
    refused(capsys, ["compare", a, b], f"{b}: ", message)
    # never a --fail-on verdict: bad input is exit 2 (negative prompt_tokens said "prefill -200%, slower" and exit 1)
    refused(capsys, ["compare", a, b, "--fail-on", "5%"], message)
    refused(capsys, ["compare", b, a], message)  # as the base too
    with pytest.raises(compare.CompareError, match="new.json"):
        compare.compare(base, json.loads(Path(b).read_text()), new_name="new.json")


def test_a_v2_file_is_checked_against_the_shape_its_loader_reads():
    """The older shape is the v3 schema with fewer fields required: a real v2 file matches it; types are v3's."""
    real = json.loads((DATA / "result-v2.json").read_text())
    assert result_schema.older_problems(real) == []
    minimal = {"schema": "browser-llm-bench/result", "schema_version": 2, "rows": [
        {"key": "flare-cpu", "backend": "wasm-cpu", "runs": [
            {"prompt_tokens": 3, "prefill_start_ms": 0.0, "prefill_end_ms": 5.0, "token_times_ms": [6.0, 7.0]}]}]}
    assert result_schema.older_problems(minimal) == []
    compare.read_result(minimal, "minimal.json")
    bad = copy.deepcopy(minimal)
    bad["rows"][0]["runs"][0]["prompt_tokens"] = True
    bad["rows"][0]["gpu_errors"] = {"count": -1}
    assert set(result_schema.older_problems(bad)) >= {"rows[0].runs[0].prompt_tokens: must be integer",
                                                       "rows[0].gpu_errors.count: must be bigger than or equal to 0"}
    del bad["rows"][0]["runs"][0]["prefill_end_ms"]
    assert "rows[0].runs[0].prefill_end_ms: missing (required)" in result_schema.older_problems(bad)
    assert result_schema.older_problems({**minimal, "schema_version": 3}) == ["schema_version: must be one of [1, 2]"]


def test_numbers_in_a_document_given_as_a_dict_are_checked_too():
    base, new = pair()
    new["environment"]["page_ready_ms"] = float("-inf")
    new["rows"][0]["load"]["parse_ms"] = 10 ** 30
    with pytest.raises(compare.CompareError) as caught:
        compare.compare(base, new, new_name="new.json")
    text = str(caught.value)
    assert "environment.page_ready_ms: -Infinity is not a number" in text and "rows[0].load.parse_ms" in text


def test_a_5000_digit_integer_is_refused_without_converting_it(tmp_path, capsys):
    base, new = pair()
    text = json.dumps(new).replace('"prompt_tokens": 32', '"prompt_tokens": ' + "9" * 5000, 1)
    a, b = write(tmp_path / "a.json", base), write(tmp_path / "b.json", text)
    err = refused(capsys, ["compare", a, b], "rows[0].runs[0].prompt_tokens: an integer of 5,000 digits")
    assert len(err) < 300


@pytest.mark.parametrize("depth", [33, 200_000])
def test_deep_nesting_is_refused_before_parsing_naming_line_and_column(tmp_path, capsys, depth):
    base, _ = pair()
    a = write(tmp_path / "a.json", base)
    deep = '{"schema": "browser-llm-bench/result",\n "rows": ' + "[" * depth + "]" * depth + "}"
    b = write(tmp_path / "b.json", deep)
    refused(capsys, ["compare", a, b], "b.json: line 2 column 41: nested deeper than 32 levels")
    # inside a real result's free-form environment too
    doc = copy.deepcopy(base)
    doc["environment"]["features"] = json.loads("[" * 40 + "]" * 40)
    refused(capsys, ["compare", a, write(tmp_path / "c.json", doc)], "nested deeper than 32 levels")


def test_brackets_inside_strings_do_not_count_as_nesting(tmp_path, capsys):
    base, new = pair(20.0)
    new["settings"]["prompt"] = "[[[[{{{{" * 100 + '"\\' + "]]" * 50
    a, b = write(tmp_path / "a.json", base), write(tmp_path / "b.json", new)
    assert main(["compare", a, b]) == 0
    assert compare.nesting_problem(json.dumps(new)) is None
    assert "Same (4):" in capsys.readouterr().out


def test_a_crafted_flat_file_is_refused_in_seconds():
    text = "[" + "[]," * 3_000_000 + "[" * 40 + "]" * 40 + "]"
    started = time.monotonic()
    problem = compare.nesting_problem(text)
    assert time.monotonic() - started < 10
    assert problem.startswith("after line 1 column ") and "nested deeper than 32" in problem


def test_an_unterminated_string_of_escaped_quotes_is_read_in_linear_time(tmp_path, capsys):
    """A string pattern tried again from every quote would take hours on this 4 MB line."""
    text = '["' + '\\"' * 2_000_000
    started = time.monotonic()
    assert compare.nesting_problem(text) is None
    assert time.monotonic() - started < 10  # quadratic would be hours; linear is under a second idle
    a = write(tmp_path / "a.json", pair()[0])
    refused(capsys, ["compare", a, write(tmp_path / "b.json", text)], "b.json: not JSON (Unterminated string")


def test_a_test_held_twice_is_refused_naming_both_rows(tmp_path, capsys):
    """The last row used to win, so file order flipped 'Slower' to 'Same'."""
    base, slow = pair(15.0)
    _, same = pair(20.0)
    doubled = copy.deepcopy(slow)
    doubled["rows"].append(copy.deepcopy(same["rows"][0]))
    a, b = write(tmp_path / "a.json", base), write(tmp_path / "b.json", doubled)
    err = refused(capsys, ["compare", a, b], "b.json: a result holds each test once; rows[0] and rows[1] are the same "
                  "test (flare-web wasm-cpu chat tg16, prompt 32, model abababab)")
    doubled["rows"].reverse()
    assert refused(capsys, ["compare", a, write(tmp_path / "c.json", doubled)]).replace("c.json", "b.json") == err
    doubled["schema_version"] = 2
    refused(capsys, ["compare", write(tmp_path / "d.json", doubled), a], "rows[0] and rows[1] are the same test")
    # another test of the same engine (a sweep row) is no duplicate
    sweep = copy.deepcopy(slow)
    sweep["rows"].append(syn.row(run_list=syn.runs(20.0, 5, tokens=1, prompt_tokens=64), test="pp64", n_prompt=64,
                                 n_gen=1, n_depth=0))
    assert main(["compare", a, write(tmp_path / "e.json", sweep)]) == 0
    capsys.readouterr()


def test_a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer(tmp_path, capsys):
    a = write(tmp_path / "a.json", pair()[0])
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(main(["compare", a, str(fifo)])), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # unblock it, then fail
        with open(fifo, "w"):
            pass
        pytest.fail("compare waited on the FIFO")
    assert result == [2]
    err = capsys.readouterr().err
    assert f"{fifo}: a FIFO (named pipe), not a result JSON file" in err and err.count("\n") == 1


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_a_device_is_refused_before_reading(tmp_path, capsys):
    a = write(tmp_path / "a.json", pair()[0])
    refused(capsys, ["compare", a, "/dev/zero"], "/dev/zero: a character device, not a result JSON file")
    refused(capsys, ["compare", "/dev/zero", a], "/dev/zero: a character device")
    refused(capsys, ["compare", a, str(tmp_path)], f"{tmp_path}: a folder, not a result JSON")


def test_a_file_too_large_is_refused_before_reading(tmp_path, capsys, monkeypatch):
    a = write(tmp_path / "a.json", pair()[0])
    big = tmp_path / "big.json"
    with open(big, "wb") as f:  # sparse: 65 MiB on paper, nothing on disk
        f.truncate(compare.MAX_RESULT_BYTES + 1)
    def no_reading(*args, **kwargs):
        raise AssertionError("the file was opened for reading")

    monkeypatch.setattr(compare_cli.os, "fdopen", no_reading)
    err = refused(capsys, ["compare", str(big), a], f"{big}: 67,108,865 bytes, more than the 67,108,864 a result "
                  "file may have")
    assert len(err) < 300
    monkeypatch.undo()
    # the limit holds for the bytes read, too (a file that grows after it was checked)
    assert compare_cli.read_bytes(Path(a), limit=100_000) == Path(a).read_bytes()
    with pytest.raises(compare.CompareError, match="more than the 100 a result file may have"):
        compare_cli.read_bytes(Path(a), limit=100)


def test_not_utf8_and_not_json_name_the_place(tmp_path, capsys):
    a = write(tmp_path / "a.json", pair()[0])
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"schema": "caf\xe9"}')
    refused(capsys, ["compare", a, str(latin)], "latin.json: not UTF-8 text (byte 15)")
    refused(capsys, ["compare", a, write(tmp_path / "cut.json", '{"schema":\n  "browser-llm-bench/result", [')],
            "cut.json: not JSON (Expecting property name enclosed in double quotes at line 2 column 31)")


def test_a_huge_value_is_quoted_short(tmp_path, capsys):
    """A 2 MB line used to be printed for a large non-matching input."""
    a = write(tmp_path / "a.json", pair()[0])
    b = write(tmp_path / "b.json", {"schema": "x" * 5_000_000, "schema_version": 3, "rows": []})
    err = refused(capsys, ["compare", a, b], "b.json: schema 'xxxxx", "...")
    assert len(err) < 300
    c = write(tmp_path / "c.json", {"schema": "browser-llm-bench/result", "schema_version": "3" * 100_000, "rows": []})
    assert len(refused(capsys, ["compare", a, c], "schema version '333")) < 300


def test_a_long_list_of_problems_is_summarised_in_one_short_line(tmp_path, capsys):
    base, new = pair()
    for run in new["rows"][0]["runs"]:
        run["token_times_ms"] = ["late"] * 2000
    a, b = write(tmp_path / "a.json", base), write(tmp_path / "b.json", new)
    err = refused(capsys, ["compare", a, b], "rows[0].runs[0].token_times_ms[0]: must be number; "
                  "rows[0].runs[0].token_times_ms[1]: must be number; rows[0].runs[0].token_times_ms[2]: must be number")
    assert err.rstrip().endswith("(and 9,997 more)")  # 5 runs x 2,000 bad timestamps
    assert len(err) < 400
    for run in new["rows"][0]["runs"]:
        run["token_times_ms"] = [float("nan")] * 2000
    err = refused(capsys, ["compare", a, write(tmp_path / "c.json", new)], "(and 9,997 more)")
    assert len(err) < 400


def test_control_characters_are_escaped_in_text_markdown_and_messages(tmp_path, capsys):
    """A crafted engine name carried terminal escape codes into compare's text output."""
    base, new = pair()
    evil = "evil\x1b[2J\x1b]0;pwned\x07\u202e\nnext"
    new["rows"][0]["engine"] = evil
    new["created"] = "2026\x1b[31m"
    a, b = write(tmp_path / "a.json", base), write(tmp_path / "b.json", new)
    for output in ("text", "md"):
        assert main(["compare", a, b, "--output", output, "--fail-on", "5%"]) == 1
        out, err = capsys.readouterr()
        for stream in (out, err):
            assert "\x1b" not in stream and "\x07" not in stream and "\u202e" not in stream
        assert "evil\\x1b[2J\\x1b]0;pwned\\x07\\u202e\\nnext" in out and "2026\\x1b[31m" in out
        assert "evil\\x1b[2J" in err and err.count("\n") == 2  # decode tok/s and ITL p50, one line each
    assert main(["compare", a, b, "--output", "json"]) == 0  # JSON escapes them itself, and keeps the value
    assert json.loads(capsys.readouterr().out)[0]["rows"][0]["engine"] == evil
    named = tmp_path / "bad\x1b[31mname.json"
    named.write_text("[]")
    err = refused(capsys, ["compare", a, str(named)], "bad\\x1b[31mname.json: not a browser-llm-bench/result")
    assert "\x1b" not in err


def test_v2_and_v3_files_keep_being_read(tmp_path, capsys):
    a, b = str(DATA / "result-v2.json"), str(DATA / "result-v3.json")
    assert main(["compare", a, b]) == 0
    assert "flare-web" in capsys.readouterr().out
