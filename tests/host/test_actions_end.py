"""Every action ends, and settings of any length reach the page (issue 19, parts 1, 2 and the CLI cases of 8): the
chat template's work budget, an empty rendered prompt, JSON nested past what Python can parse, the one-time path
the settings travel by, the 414 page, and the bench command's refusals in words. Host only: each test takes well
under a second but for the few that start `python -m app` (about a second each)."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core import chat_template as ct
from app.core import notebook_format
from app.core.jsontext import JsonTextError, loads, nesting_depth
from app.core.settings import MAX_PROMPT_CHARS, BenchSettings, SettingsError, settings_from_json
from app.host.cli import join_negative_values, summarise
from app.host.runtimes import Job
from app.host.serve import serve_in_thread
from tests.host import synthetic as syn
from tests.host.test_bench_host import FakeTokenizer, Harness, model, settings

REPO = Path(__file__).resolve().parents[2]
RUNAWAY = "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"
SLOW_STEPS = "{% for a in range(99999) %}{{ range(99999) | join }}{% endfor %}"  # few steps, each long
BRACKETS = "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}"
EMPTY = "{% if false %}never{% endif %}  \n"
JAPANESE = ("日本語の長い文章です。" * 3000)[:MAX_PROMPT_CHARS]
SOURCE = "the chat template of m.gguf"


# --- the chat template: a work budget, the template named ----------------------------------------------------------
def render(template: str, **kw):
    return ct.render(template, "hi", None, source=SOURCE, **kw)


def test_a_runaway_loop_is_stopped_within_seconds_naming_the_template():
    started = time.monotonic()
    with pytest.raises(ct.TemplateError) as caught:
        render(RUNAWAY)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith(SOURCE) and "did not finish rendering within its budget" in message
    assert "steps" in message and "a runaway loop?" in message


def test_a_loop_of_few_slow_steps_is_stopped_by_the_time_budget():
    started = time.monotonic()
    with pytest.raises(ct.TemplateError, match=r"within its budget \(more than 0\.5 s"):
        render(SLOW_STEPS, budget=ct.RenderBudget(max_seconds=0.5))
    assert time.monotonic() - started < 3


def test_the_budget_pauses_for_the_browser_and_stop_ends_the_render():
    pauses: list[float] = []
    budget = ct.RenderBudget(pause=lambda: pauses.append(time.monotonic()), pause_every_s=0.01,
                             stopped=lambda: len(pauses) >= 3)
    with pytest.raises(ct.RenderStopped, match=f"stopped while {SOURCE} rendered: nothing was measured"):
        render(SLOW_STEPS, budget=budget)
    assert len(pauses) == 3


def test_a_pause_that_cannot_happen_is_dropped_and_the_trace_function_is_put_back():
    before = sys.gettrace()

    def cannot() -> None:
        raise RuntimeError("no stack switching here")

    with pytest.raises(ct.TemplateError, match="within its budget"):
        render(RUNAWAY, budget=ct.RenderBudget(pause=cannot, pause_every_s=0.0))
    assert sys.gettrace() is before
    assert render("{{ messages[0]['content'] }}!").text == "hi!"  # and a good template still renders


def test_3000_nested_brackets_name_the_template_not_a_recursion_error():
    with pytest.raises(ct.TemplateError) as caught:
        render(BRACKETS)
    assert str(caught.value).startswith(f"{SOURCE} is nested too deeply to parse")
    assert "RecursionError" not in str(caught.value).split("(")[0]


def test_too_many_nested_blocks_and_endless_recursion_are_words():
    with pytest.raises(ct.TemplateError, match=f"^{SOURCE} does not compile: SyntaxError"):
        render("{% for a in range(2) %}" * 25 + "{% endfor %}" * 25)
    with pytest.raises(ct.TemplateError, match=f"^{SOURCE} failed while rendering: it recursed too deeply"):
        render("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}")


@pytest.mark.parametrize("template, words", [("{{ 'x' * 10**9 }}", "'*' would make a sequence of 1,000,000,000 items"),
                                             ("{{ 9 ** 999999999 }}", "'**' would make an integer of about")])
def test_one_huge_operation_is_refused_before_it_runs(template, words):
    started = time.monotonic()
    with pytest.raises(ct.TemplateError, match=re.escape(words)):
        render(template)
    assert time.monotonic() - started < 1
    assert render("{{ '-' * 3 }}{{ 2 ** 10 }}").text == "---1024"


@pytest.mark.parametrize("template", [EMPTY, "   ", "{# nothing #}"])
def test_an_empty_rendered_prompt_is_refused_naming_the_template(template):
    with pytest.raises(ct.TemplateError, match=f"^{SOURCE} rendered an empty prompt"):
        render(template)


def test_raise_exception_names_the_template():
    with pytest.raises(ct.TemplateError, match=f"^{SOURCE} refused the conversation: no system turns"):
        render("{{ raise_exception('no system turns') }}")


def _run_until_the_template(template: str, pause=None, stop_in_pause: bool = False):
    """run_benchmark over a model whose template is `template`; (the exception, whether the tokenizer was opened)."""
    from app.web import bench

    h = Harness()
    opened: list[bool] = []

    async def open_tokenizer(m, site):
        opened.append(True)
        return FakeTokenizer()

    async def blocking_pause():
        def pause() -> None:
            if stop_in_pause:
                h.controller.request_stop()  # what a click on Stop does while the page has its turn
        return pause

    h.browser.blocking_pause = blocking_pause
    s = settings(warmup=0, runs=1, perplexity=False)
    with pytest.raises(ct.TemplateError) as caught:
        asyncio.run(bench.run_benchmark(
            s, model(name="m.gguf", metadata={"tokenizer.chat_template": template}), {}, {}, [], lambda f, m: None,
            h.lines.append, h.controller, browser=h.browser, open_tokenizer=open_tokenizer,
            make_engines=lambda keys, site, s: []))
    return caught.value, bool(opened)


@pytest.mark.parametrize("template, words", [(RUNAWAY, "did not finish rendering"), (EMPTY, "rendered an empty prompt")])
def test_the_benchmark_refuses_a_bad_template_before_anything_loads(template, words):
    err, opened = _run_until_the_template(template)
    assert words in str(err) and str(err).startswith("the chat template of m.gguf (tokenizer.chat_template)")
    assert not opened, "refused before llama.cpp (the tokenizer of record) loaded the model"


def test_stop_pressed_while_the_template_renders_ends_the_benchmark():
    err, opened = _run_until_the_template(SLOW_STEPS, stop_in_pause=True)
    assert isinstance(err, ct.RenderStopped) and not opened


# --- JSON nested past what Python parses ---------------------------------------------------------------------------
def test_nesting_is_measured_without_recursion_and_strings_do_not_count():
    started = time.monotonic()
    assert nesting_depth("[" * 200_000 + "]" * 200_000) == 200_000
    assert time.monotonic() - started < 1
    assert nesting_depth('{"a": "[[[{{\\" ]]", "b": [[1]]}') == 3
    assert nesting_depth("") == 0 and nesting_depth("]]]") == 0
    with pytest.raises(JsonTextError, match="the file nests arrays or objects 200,000 deep; at most 64"):
        loads("[" * 200_000 + "]" * 200_000, 64, "the file")
    with pytest.raises(JsonTextError, match=r"not JSON \(Expecting value at line 1, column 1\)"):
        loads("nope", 64)


def test_a_notebook_whose_metadata_nests_100000_deep_is_refused_in_words():
    deep = '{"nbformat": 4, "nbformat_minor": 5, "cells": [], "metadata": ' + '{"a": ' * 100_000 + "1" + "}" * 100_001
    started = time.monotonic()
    with pytest.raises(notebook_format.NotebookFormatError, match="nests arrays or objects 100,00[12] deep; at most 100"):
        notebook_format.import_ipynb(deep)
    assert time.monotonic() - started < 1


def test_a_notebook_of_the_wrong_shape_is_refused_or_kept_in_words():
    with pytest.raises(notebook_format.NotebookFormatError, match="not an nbformat 4 notebook this page can read"):
        notebook_format.import_ipynb(json.dumps({"nbformat": 4, "cells": [{"cell_type": "code", "source": [1, 2]}]}))
    imported = notebook_format.import_ipynb(json.dumps({"nbformat": 4, "cells": [], "metadata": [1]}))
    assert imported["metadata"] == {} and "metadata is list, not an object" in imported["warnings"][0]


# --- settings: of any length, by a one-time path; sweeps not silently ignored ----------------------------------------
def test_the_longest_prompts_in_any_script_fit_the_settings_text():
    for text in (JAPANESE, "\U0001F642" * MAX_PROMPT_CHARS, "\"\n" * (MAX_PROMPT_CHARS // 2)):
        s = BenchSettings(prompt=text, system=text).validate()
        for ensure_ascii in (True, False):
            assert settings_from_json(json.dumps(s.to_dict(), ensure_ascii=ensure_ascii)).prompt == text
    with pytest.raises(SettingsError, match="the settings are 1,000,001 characters long; at most 1,000,000"):
        settings_from_json(" " * 1_000_001)


@pytest.mark.parametrize("kw, words", [
    ({"n_prompt": [32, 32]}, "n_prompt lists 32 more than once"),
    ({"n_gen": [16, 64, 16]}, "n_gen lists 16 more than once"),
    ({"depth": [0, 512]}, "depth 0,512 applies to the tg tests only, and there are none: give n_gen too"),
    ({"depth": [512], "n_prompt": [32]}, "depth 512 applies to the tg tests only"),
])
def test_sweeps_that_would_repeat_or_be_ignored_are_refused(kw, words):
    with pytest.raises(SettingsError, match=words):
        BenchSettings.from_dict(kw)
    assert BenchSettings.from_dict({"n_gen": [16], "depth": [0, 512]}).depth == [0, 512]


def test_a_pasted_megabyte_is_not_echoed_back():
    with pytest.raises(SettingsError) as caught:
        BenchSettings.from_dict({"engines": ["z" * 1_000_000]})
    assert len(str(caught.value)) < 600 and "more characters" in str(caught.value)
    assert summarise("x" * 5000).endswith("(4,400 more characters not shown)") and summarise("short") == "short"


def test_the_job_hands_its_settings_over_at_a_one_time_path_not_in_the_url(tmp_path):
    (tmp_path / "index.html").write_text("<!doctype html>")
    job = Job(tmp_path, BenchSettings(prompt=JAPANESE, system=JAPANESE).to_dict())
    query = job.page_query()
    assert len(json.dumps(query)) < 120 and "settings" not in query and query["settings_url"].startswith("run-settings/")
    server = serve_in_thread(tmp_path, once=job.once_routes())
    try:
        host, port = server.server_address[:2]

        def get(path: str) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()

        status, body = get(job.settings_route())
        assert status == 200 and settings_from_json(body.decode("utf-8")).prompt == JAPANESE
        assert len(body) < 250_000  # UTF-8 as it is: 3 bytes a character
        assert get(job.settings_route())[0] == 404, "served once, then forgotten"
        assert get("/run-settings/guessed.json")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(ValueError, match="one-time routes must start with /run-settings/"):
        serve_in_thread(tmp_path, once={"/index.json": b"{}"})


def test_a_link_past_the_request_line_limit_is_answered_in_words(site_server):
    host, port = site_server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/index.html?settings=" + "%E6%97%A5" * 25_000)
    response = conn.getresponse()
    text = response.read().decode()
    assert response.status == 414 and "This link is too long" in text
    assert "put them after #settings= instead of ?settings=" in text and "paste the prompt into the form" in text


# --- the bench and compare commands -----------------------------------------------------------------------------------
def app(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.mark.parametrize("args, words", [
    (["--n-prompt", "32,32"], "bench: --n-prompt lists 32 more than once"),
    (["--depth", "0,512"], "bench: --depth 0,512 applies to the tg tests only, and there are none: give --n-gen too"),
    (["--n-prompt", ","], "argument --n-prompt: a comma-separated list of whole numbers, like 32,128, not ','"),
    (["--n-gen", "16,,64"], "argument --n-gen: a comma-separated list of whole numbers, like 32,128, not '16,,64'"),
    (["--engines", "z" * 100_000], "more characters"),
    (["--max-tokens", "9" * 100_000 + "x"], "more characters not shown"),
])
def test_bench_refuses_in_one_short_line(args, words):
    proc = app("bench", *args, "--timeout", "30")
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and max(len(line) for line in proc.stderr.splitlines()) < 800


def test_a_negative_fail_on_is_refused_in_words(tmp_path):
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps(syn.result([syn.row()])))
    proc = app("compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--fail-on", "-5%")
    assert proc.returncode == 2 and "--fail-on" in proc.stderr and "-5%" in proc.stderr
    assert "expected one argument" not in proc.stderr and "Traceback" not in proc.stderr
    assert join_negative_values(["--fail-on", "-5%", "a", "--min-change", "-0.5", "-h"]) == \
        ["--fail-on=-5%", "a", "--min-change=-0.5", "-h"]
    assert join_negative_values(["--max-tokens", "-5", "--cpu"]) == ["--max-tokens=-5", "--cpu"]


def _template_gguf(tmp_path: Path, template: str) -> Path:
    from tests.host.test_gguf_header import VT, gguf_file

    path = tmp_path / "templated.gguf"
    gguf_file(path, [("tokenizer.chat_template", template, VT.STRING, None)])
    return path


@pytest.mark.parametrize("template, words", [
    (RUNAWAY, "did not finish rendering within its budget"),
    (BRACKETS, "is nested too deeply to parse"),
    (EMPTY, "rendered an empty prompt"),
])
def test_bench_refuses_a_bad_chat_template_before_any_browser_starts(tmp_path, template, words):
    started = time.monotonic()
    proc = app("bench", "--model", str(_template_gguf(tmp_path, template)), "--engines", "llamacpp", "--timeout", "60")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "the chat template of templated.gguf (tokenizer.chat_template)" in proc.stderr and words in proc.stderr
    assert "[bench] running" not in proc.stderr and time.monotonic() - started < 30


def test_the_nesting_scan_stays_linear_on_a_line_of_escaped_quotes():
    import time

    from app.core import jsontext

    crafted = '{"a": "' + '\\"' * 20_000  # an unterminated string of escaped quotes
    started = time.monotonic()
    assert jsontext.nesting_depth(crafted) == 1
    assert time.monotonic() - started < 2.0  # 4.6 s with the quadratic pattern on this machine; ms now
