"""The notebook page in headless Chromium: cells, top-level await on the real engine, errors,
interrupt, persistence, .ipynb export/import, and the starter notebook top to bottom."""

from __future__ import annotations

import json
import time

import nbformat
import pytest
from selenium.webdriver.common.keys import Keys

from tests.page.helpers import wait_for, wait_state

pytestmark = pytest.mark.browser


def open_fresh_notebook(driver, site_url, cells=None):
    driver.get(site_url + "notebook.html")
    driver.execute_script("localStorage.clear()")
    driver.get(site_url + "notebook.html")
    wait_state(driver, {"ready", "error"}, timeout=120)
    assert driver.execute_script("return document.documentElement.dataset.state") == "ready", \
        driver.find_element("id", "error").text
    if cells is not None:
        nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
              "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": src, "outputs": [],
                         "execution_count": None} for i, src in enumerate(cells)]}
        driver.execute_async_script(
            "const done = arguments[1]; window.notebook.importIpynb(arguments[0]).then(done)", json.dumps(nb))


def run_cell(driver, index, timeout=120):
    cell_id = driver.execute_script("return window.notebook.cells()[arguments[0]].id", index)
    driver.execute_script("window.notebook.runCell(arguments[0])", cell_id)
    return wait_cell(driver, index, timeout)


def wait_cell(driver, index, timeout=120):
    wait_for(driver, "const c = window.notebook.cells()[arguments[0]];"
             "return c && typeof c.execution_count === 'number' && document.documentElement.dataset.state === 'ready'"
             .replace("arguments[0]", str(index)), timeout)
    return driver.execute_script("return window.notebook.cells()[arguments[0]]", index)


def text_of(cell) -> str:
    parts = []
    for out in cell["outputs"]:
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] == "execute_result":
            parts.append(out["data"]["text/plain"])
        elif out["output_type"] == "error":
            parts.append("".join(out["traceback"]))
    return "".join(parts)


def test_notebook_typing_a_cell_and_reading_its_output(browser, site_url):  # in every browser (conftest)
    open_fresh_notebook(browser, site_url, cells=[""])
    editor = browser.find_element("css selector", ".cell .cm-content")
    editor.click()
    editor.send_keys('print("hello from a cell")')
    editor.send_keys(Keys.ENTER, "6 * 7")
    editor.send_keys(Keys.SHIFT, Keys.ENTER)
    cell = wait_cell(browser, 0)
    assert cell["source"] == 'print("hello from a cell")\n6 * 7'
    assert text_of(cell) == "hello from a cell\n42"
    shown = browser.find_element("css selector", ".cell .outputs").text
    assert "hello from a cell" in shown and "42" in shown
    assert browser.find_element("css selector", ".cell .count").text == "[1]"
    assert len(browser.execute_script("return window.notebook.cells()")) == 2  # Shift+Enter moved on to a new cell


@pytest.mark.model
def test_repl_top_level_await_of_a_token_from_the_real_engine(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=[(
        "from app.web import nb\nmodel = await nb.default_model()\nflare = await nb.flare_engine(model)\n"
        "ids = nb.chat_ids(flare, 'What is the capital of France?')\nawait flare.prefill(ids, 4)\n"
        "engine = flare.handle\ntid = await engine.next_token_async()\ntid"
    )])
    cell = run_cell(chromium, 0, timeout=180)
    results = [o for o in cell["outputs"] if o["output_type"] == "execute_result"]
    assert results and results[0]["data"]["text/plain"] == "504", text_of(cell)  # "The", as llama.cpp begins


def test_repl_exception_points_at_the_cell_line_and_keeps_the_namespace(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=["x = 1\ny = 2\n1 / 0", "x + y"])
    cell = run_cell(chromium, 0)
    err = next(o for o in cell["outputs"] if o["output_type"] == "error")
    trace = "".join(err["traceback"])
    assert err["ename"] == "ZeroDivisionError"
    assert 'File "<cell [1]>", line 3' in trace and "1 / 0" in trace
    assert "_pyodide" not in trace and "eval_code_async" not in trace  # the kernel's own frames are left out
    assert "ZeroDivisionError" in chromium.find_element("css selector", ".cell .out-error").text
    assert text_of(run_cell(chromium, 1)) == "3"


def test_repl_interrupting_an_endless_loop(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=["n = 0\nwhile True:\n    n += 1", "'still alive', n > 0"])
    cell_id = chromium.execute_script("return window.notebook.cells()[0].id")
    chromium.execute_script("window.notebook.runCell(arguments[0])", cell_id)
    wait_for(chromium, "return document.documentElement.dataset.state === 'running'")
    time.sleep(1.0)
    chromium.find_element("id", "nb-interrupt").click()
    cell = wait_cell(chromium, 0, timeout=30)
    assert "KeyboardInterrupt" in text_of(cell)
    assert text_of(run_cell(chromium, 1)) == "('still alive', True)"


def test_notebook_persists_across_reload(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=["answer = 41 + 1\nanswer"])
    run_cell(chromium, 0)
    chromium.refresh()
    wait_state(chromium, {"ready"}, timeout=120)
    cells = chromium.execute_script("return window.notebook.cells()")
    assert cells[0]["source"] == "answer = 41 + 1\nanswer" and text_of(cells[0]) == "42"
    assert "42" in chromium.find_element("css selector", ".cell .outputs").text


def test_notebook_export_is_valid_ipynb_and_imports_back(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=["print('out')\n'value'", "raise ValueError('boom')"])
    run_cell(chromium, 0)
    run_cell(chromium, 1)
    text = chromium.execute_async_script("const done = arguments[0]; window.notebook.exportIpynb().then(done)")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert [o["output_type"] for o in nb.cells[0].outputs] == ["stream", "execute_result"]
    assert nb.cells[1].outputs[0]["ename"] == "ValueError"
    py = chromium.execute_async_script("const done = arguments[0]; window.notebook.exportPy().then(done)")
    assert py.startswith("# %%\nprint('out')")
    open_fresh_notebook(chromium, site_url)
    count = chromium.execute_async_script("const done = arguments[1]; window.notebook.importIpynb(arguments[0]).then(done)", text)
    cells = chromium.execute_script("return window.notebook.cells()")
    assert count == 2 and cells[0]["source"] == "print('out')\n'value'" and text_of(cells[1]).count("boom") >= 1


@pytest.mark.model
def test_starter_notebook_runs_top_to_bottom(chromium, site_url):
    open_fresh_notebook(chromium, site_url)  # no saved notebook: the starter is loaded
    cells = chromium.execute_script("return window.notebook.cells()")
    code = [i for i, c in enumerate(cells) if c["cell_type"] == "code"]
    assert len(code) >= 4
    started = time.monotonic()
    chromium.execute_script("window.notebook.runAll()")
    wait_for(chromium, "return window.notebook.cells().filter(c => c.cell_type === 'code')"
             ".every(c => typeof c.execution_count === 'number') && document.documentElement.dataset.state === 'ready'",
             timeout=600, poll=0.5)
    elapsed = time.monotonic() - started
    cells = chromium.execute_script("return window.notebook.cells()")
    for i in code:
        assert not [o for o in cells[i]["outputs"] if o["output_type"] == "error"], text_of(cells[i])
    last = cells[code[-1]]["outputs"][-1]
    html = last["data"]["text/html"]
    assert "llama.cpp (wllama)" in html and "flare-web" in html
    assert 'class="bad">ERROR' not in html and "could not" not in html, text_of(cells[code[-1]])
    assert "reference" in html  # llama.cpp's row ran and checked flare
    # decode, TTFT, load, per-token latency, memory
    assert chromium.execute_script("return document.querySelectorAll('.out-result [data-bench-charts] canvas').length") == 5
    fit = chromium.execute_script(
        "return [document.documentElement.scrollWidth <= window.innerWidth,"
        " [...document.querySelectorAll('.out-result [data-bench-charts] canvas')].every(c =>"
        "   c.getBoundingClientRect().right <= c.closest('.body').getBoundingClientRect().right + 1)]")
    assert fit == [True, True]  # the charts fit the cell: no horizontal overflow at 1400 px
    warning = next(c for c in cells if "flare-web 0.2.21 answers WRONG" in c["source"])
    assert warning["cell_type"] == "markdown" and "Reading a run" in warning["source"]
    progress = [line for line in text_of(cells[code[-1]]).splitlines() if line.startswith("[")]
    percents = [int(line[1:5].strip(" %")) for line in progress]
    assert percents == sorted(percents), progress  # progress lines in order
    print(f"starter notebook ran in {elapsed:.1f} s")


# --- a cell can always be stopped (issue 15) -------------------------------------------------------
def start_cell(driver, index):
    cell_id = driver.execute_script("return window.notebook.cells()[arguments[0]].id", index)
    driver.execute_script("window.notebook.runCell(arguments[0])", cell_id)
    wait_for(driver, "return window.notebook.kernel().running === arguments[0]".replace("arguments[0]", json.dumps(cell_id)))
    return cell_id


def click_interrupt_and_time_it(driver, index, timeout=10.0) -> tuple[dict, float]:
    started = time.monotonic()
    driver.find_element("id", "nb-interrupt").click()
    cell = wait_cell(driver, index, timeout)
    return cell, time.monotonic() - started


STUCK_CELLS = {
    "time.sleep": "import time; time.sleep(120)",
    "asyncio.sleep": "import asyncio; await asyncio.sleep(8)",
    "never-resolving Promise": "from js import Promise; await Promise.new(lambda res, rej: None)",
    "print flood": 'while True: print("x" * 200)',
}


@pytest.mark.parametrize("kind", list(STUCK_CELLS))
def test_interrupt_stops_a_stuck_cell_and_the_next_cell_runs(chromium, site_url, kind):
    open_fresh_notebook(chromium, site_url, cells=[STUCK_CELLS[kind], "1+1"])
    start_cell(chromium, 0)
    time.sleep(2.0)
    # The page answers WebDriver at once while the cell runs (the print flood once froze it for minutes).
    t = time.monotonic()
    assert chromium.execute_script("return document.getElementById('nb-interrupt').disabled") is False
    assert time.monotonic() - t < 1.0
    cell, took = click_interrupt_and_time_it(chromium, 0)
    assert took < 3.0, f"{kind}: {took:.1f} s to stop"
    assert "KeyboardInterrupt" in text_of(cell), text_of(cell)[-500:]
    assert chromium.execute_script("return window.notebook.kernel().generation") == 1  # stopped, not restarted
    assert text_of(run_cell(chromium, 1, timeout=20)) == "2"
    print(f"{kind}: stopped {took:.2f} s after Interrupt")


def test_interrupt_drops_the_cells_queued_behind_a_stuck_one(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=[STUCK_CELLS["never-resolving Promise"], "1+1", "2+2"])
    start_cell(chromium, 0)
    for i in (1, 2):
        chromium.execute_script("window.notebook.runCell(window.notebook.cells()[arguments[0]].id)", i)
    assert chromium.find_element("id", "status").text == "Running (2 queued)"
    click_interrupt_and_time_it(chromium, 0)
    cells = chromium.execute_script("return window.notebook.cells()")
    assert [c["execution_count"] for c in cells[1:]] == [None, None]  # Interrupt means stop: they did not start
    assert text_of(run_cell(chromium, 2, timeout=20)) == "4"


def test_importing_a_notebook_while_a_cell_hangs_stops_it_and_the_new_cells_run(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=[STUCK_CELLS["never-resolving Promise"]])
    start_cell(chromium, 0)
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "id": "new", "metadata": {}, "source": "3*3", "outputs": [], "execution_count": None}]}
    chromium.execute_async_script("const done = arguments[1]; window.notebook.importIpynb(arguments[0]).then(done)",
                                  json.dumps(nb))
    assert text_of(run_cell(chromium, 0, timeout=20)) == "9"  # the old cell's end still freed the queue


def test_a_cell_that_ignores_interrupt_gets_a_kernel_restart_that_keeps_the_sources(chromium, site_url):
    # A synchronous JavaScript call that blocks for a minute: neither cancelling nor KeyboardInterrupt reach it.
    sources = ["kept = 'from before the restart'",
               ("from js import Atomics, Int32Array, SharedArrayBuffer\n"
                "Atomics.wait(Int32Array.new(SharedArrayBuffer.new(4)), 0, 0, 60_000)"),
               "1+1", "kept"]
    open_fresh_notebook(chromium, site_url, cells=sources)
    run_cell(chromium, 0)
    start_cell(chromium, 1)
    time.sleep(1.0)
    started = time.monotonic()
    chromium.find_element("id", "nb-interrupt").click()
    offer = wait_for(chromium, "const n = document.getElementById('notice'); return !n.hidden && n.textContent", timeout=6)
    offered = time.monotonic() - started
    assert "has not stopped" in offer and "Python will be restarted in" in offer and "Restart now" in offer
    wait_for(chromium, "return window.notebook.kernel().generation === 2", timeout=10)  # performed without a click
    restarted = time.monotonic() - started
    wait_state(chromium, {"ready"}, timeout=120)
    cells = chromium.execute_script("return window.notebook.cells()")
    assert [c["source"] for c in cells] == sources
    assert "Python was restarted" in text_of(cells[1]) and cells[1]["execution_count"] is None
    assert "Python restarted" in chromium.find_element("id", "notice").text
    assert text_of(run_cell(chromium, 2)) == "2"
    assert "NameError" in text_of(run_cell(chromium, 3))  # a new Python: the old variables are gone
    print(f"restart offered {offered:.1f} s and performed {restarted:.1f} s after Interrupt")


def test_print_flood_output_is_capped_with_a_note_and_a_download(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=["for i in range(5000):\n    print('line', i)\n'done'"])
    cell = run_cell(chromium, 0)
    stream = [o for o in cell["outputs"] if o["output_type"] == "stream"]
    assert stream[0]["text"].splitlines()[-1] == "line 1999" and len(stream[0]["text"].splitlines()) == 2000
    note = chromium.find_element("css selector", ".cell .out-truncated")
    assert "output truncated: 3,000 more lines" in note.text
    assert note.find_element("tag name", "button").text == "Download the full output"
    full = chromium.execute_script("return window.notebook.fullOutput(window.notebook.cells()[0].id)")
    assert full.splitlines() == [f"line {i}" for i in range(5000)]
    assert text_of(cell).endswith("'done'")  # the result still shows, after the note


# --- nb.stream, input(), raw writes (issue 15) -------------------------------------------------------
def test_nb_stream_yields_whole_characters(chromium, site_url):
    # An engine whose tokens are single UTF-8 bytes, as byte-level BPE spreads one character over several.
    fake = (
        "from app.web import nb\n"
        "TEXT = 'naïve café 日本 😀'\n"
        "class Tok:\n"
        "    def decode(self, ids):\n"
        "        return bytes(ids.to_py().tolist()).decode('utf-8', errors='replace')\n"
        "class Engine:\n"
        "    tokenizer = Tok()\n"
        "    async def reset(self): self.left = list(TEXT.encode())\n"
        "    async def prefill(self, ids, n): pass\n"
        "    async def next_token(self): return self.left.pop(0) if self.left else None\n"
        "pieces = [p async for _, p, _ in nb.stream(Engine(), [], max_tokens=100)]\n"
        "(''.join(pieces) == TEXT, sum(p.count('\\ufffd') for p in pieces), pieces.count(''), len(pieces))"
    )
    open_fresh_notebook(chromium, site_url, cells=[fake])
    assert text_of(run_cell(chromium, 0)) == "(True, 0, 9, 24)"  # 24 bytes, 15 characters: 9 empty pieces


def test_input_is_answered_in_a_prompt_box(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=["name = input('Your name: ')\nf'hello {name}'", "input('again? ')"])
    start_cell(chromium, 0)
    field = wait_for(chromium, "return document.querySelector('.cell form.stdin input')", timeout=10)
    assert "Your name:" in chromium.find_element("css selector", ".cell form.stdin").text
    field.send_keys("Ada Lovelace ☃", Keys.ENTER)
    cell = wait_cell(chromium, 0, 10)
    assert text_of(cell) == "Your name: Ada Lovelace ☃\n'hello Ada Lovelace ☃'"
    start_cell(chromium, 1)
    form = wait_for(chromium, "return document.querySelectorAll('.cell')[1].querySelector('form.stdin')", timeout=10)
    form.find_element("xpath", ".//button[text()='Cancel']").click()
    assert "EOFError: input(): the prompt was cancelled" in text_of(wait_cell(chromium, 1, 10))


def test_raw_writes_to_fd_1_and_2_show_in_the_cell(chromium, site_url):
    source = ("import os, sys\n"
              "os.write(1, b'raw \\xc3')\n"  # é cut in two writes
              "os.write(1, b'\\xa9 fd1\\n')\n"
              "os.write(2, b'to fd2\\n')\n"
              "sys.__stdout__.write('a fragment without a newline')\n"
              "'result'")
    open_fresh_notebook(chromium, site_url, cells=[source])
    cell = run_cell(chromium, 0)
    assert [(o.get("name"), o.get("text")) for o in cell["outputs"] if o["output_type"] == "stream"] == [
        ("stdout", "raw é fd1\n"), ("stderr", "to fd2\n"), ("stdout", "a fragment without a newline")]
    assert cell["outputs"][-1]["data"]["text/plain"] == "'result'"
    assert "raw é fd1" in chromium.find_element("css selector", ".cell .outputs").text


# --- .ipynb in the page: raw, markdown, attachments, tags (issue 15) -----------------------------------
def test_markdown_and_raw_cells_render_and_survive_export(chromium, site_url):
    from tests.host.test_notebook_format import PNG_1PX, jupyter_notebook

    nb = jupyter_notebook()
    nb["cells"][1]["source"].append("\n\n<img src=x onerror=\"document.title='owned'\"> **bold**")
    open_fresh_notebook(chromium, site_url)
    chromium.execute_async_script("const done = arguments[1]; window.notebook.importIpynb(arguments[0]).then(done)",
                                  json.dumps(nb))
    md = chromium.find_element("css selector", ".cell-markdown .markdown")
    assert md.find_element("tag name", "h1").text == "Title"
    assert md.find_element("tag name", "strong").text == "bold"
    src = md.find_element("css selector", "img[alt='a dot']").get_attribute("src")
    assert src == "data:image/png;base64," + PNG_1PX
    assert chromium.execute_script("return document.querySelector('.cell-markdown [onerror]')") is None
    assert chromium.title != "owned"
    assert "#intro" in chromium.find_element("css selector", ".cell-markdown .cell-tags").text
    raw = chromium.find_element("css selector", ".cell-raw")
    assert "never run" in raw.text and raw.find_element("css selector", ".count").text == "raw"
    assert "application/json" in chromium.find_element("id", "notice").text  # what is kept but not drawn
    text = chromium.execute_async_script("const done = arguments[0]; window.notebook.exportIpynb().then(done)")
    out = nbformat.reads(text, as_version=4)
    nbformat.validate(out)
    assert [c.cell_type for c in out.cells] == ["raw", "markdown", "code"]
    assert out.cells[1].attachments["dot.png"]["image/png"] == PNG_1PX
    assert out.cells[2].metadata.tags == ["parameters", "slow"] and out.cells[0].metadata == {"format": "text/x-rst"}
    assert out.metadata.jupytext == {"formats": "ipynb,py:percent"}


def test_result_charts_fit_the_cell_width(chromium, site_url):
    # Four wide canvases in the charts grid, as a benchmark result draws them, at a 1400 px window.
    html = "<div class=\"charts\">" + "<div><canvas width=\"1600\" height=\"300\"></canvas></div>" * 4 + "</div>"
    open_fresh_notebook(chromium, site_url, cells=[
        f"class Wide:\n    def _repr_html_(self):\n        return {html!r}\nWide()"])
    run_cell(chromium, 0)
    sizes = chromium.execute_script(
        "const body = document.querySelector('.cell .body').getBoundingClientRect();"
        "return {page: [document.documentElement.scrollWidth, window.innerWidth], body: body.right,"
        " canvases: [...document.querySelectorAll('.out-result canvas')].map(c => c.getBoundingClientRect().right)}")
    assert sizes["page"][1] >= 1300 and sizes["page"][0] <= sizes["page"][1], sizes
    assert len(sizes["canvases"]) == 4 and max(sizes["canvases"]) <= sizes["body"] + 1, sizes


@pytest.mark.model
def test_nb_lists_the_embedded_models_and_gives_llama_cpps_prompt_ids(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=[(
        "from app.web import nb\nawait nb.site()\n[m['id'] for m in nb.models()]"
    ), (
        "ids = await nb.prompt_ids(await nb.default_model(), 'What is the capital of France?', 'You are a helpful assistant.')\n"
        "ids == [1, 9690, 198, 2683, 359, 253, 5356, 11173, 30, 2, 198, 1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47,"
        " 2, 198, 1, 520, 9531, 198]"
    )])
    assert text_of(run_cell(chromium, 0)) == "['smollm2-135m', 'gemma3-270m']"
    assert text_of(run_cell(chromium, 1, timeout=180)).endswith("True")
