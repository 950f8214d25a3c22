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


def test_notebook_typing_a_cell_and_reading_its_output(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=[""])
    editor = chromium.find_element("css selector", ".cell .cm-content")
    editor.click()
    editor.send_keys('print("hello from a cell")')
    editor.send_keys(Keys.ENTER, "6 * 7")
    editor.send_keys(Keys.SHIFT, Keys.ENTER)
    cell = wait_cell(chromium, 0)
    assert cell["source"] == 'print("hello from a cell")\n6 * 7'
    assert text_of(cell) == "hello from a cell\n42"
    shown = chromium.find_element("css selector", ".cell .outputs").text
    assert "hello from a cell" in shown and "42" in shown
    assert chromium.find_element("css selector", ".cell .count").text == "[1]"
    assert len(chromium.execute_script("return window.notebook.cells()")) == 2  # Shift+Enter moved on to a new cell


@pytest.mark.model
def test_repl_top_level_await_of_a_token_from_the_real_engine(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=[
        "from app.web import nb\nmodel = await nb.default_model()\nflare = await nb.flare_engine(model)\n"
        "ids = nb.chat_ids(flare, 'What is the capital of France?')\nawait flare.prefill(ids, 4)\n"
        "engine = flare.handle\ntid = await engine.next_token_async()\ntid",
    ])
    cell = run_cell(chromium, 0, timeout=180)
    results = [o for o in cell["outputs"] if o["output_type"] == "execute_result"]
    assert results and results[0]["data"]["text/plain"] == "504", text_of(cell)  # "The", as llama.cpp begins


def test_repl_exception_points_at_the_cell_line_and_keeps_the_namespace(chromium, site_url):
    open_fresh_notebook(chromium, site_url, cells=["x = 1\ny = 2\n1 / 0", "x + y"])
    cell = run_cell(chromium, 0)
    err = [o for o in cell["outputs"] if o["output_type"] == "error"][0]
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
    assert chromium.execute_script("return document.querySelectorAll('.out-result [data-bench-charts] canvas').length") == 4
    print(f"starter notebook ran in {elapsed:.1f} s")
