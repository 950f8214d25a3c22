"""compare.html: two result files chosen in the page are compared by app.core.compare in Pyodide
(pure-Python Mann-Whitney U) and give the same groups and p-values as the command line (scipy)."""

from __future__ import annotations

import json

import pytest

from app.core import compare
from tests.host import synthetic as syn
from tests.page.helpers import wait_for, wait_state

pytestmark = pytest.mark.browser


def open_page(driver, site_url):
    driver.get(site_url + "compare.html")
    assert wait_state(driver, {"ready", "error"}, timeout=120) == "ready", driver.find_element("id", "error").text


def write(path, doc) -> str:
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def choose(driver, tmp_path, base, new):
    for element_id, name, doc in (("base-file", "base.json", base), ("new-file", "new.json", new)):
        path = tmp_path / name
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        driver.find_element("id", element_id).send_keys(str(path))


def test_two_files_are_compared_in_the_page_as_on_the_command_line(browser, site_url, tmp_path):  # in every browser (conftest)
    base = syn.result([syn.row(run_list=syn.runs(20.0, 5, seed=1))])
    new = syn.result([syn.row(run_list=syn.runs(15.0, 5, seed=2), forced=0.2)], created="2026-01-02T00:00:00.000Z")
    open_page(browser, site_url)
    choose(browser, tmp_path, base, new)
    assert wait_state(browser, {"done", "error"}, timeout=60) == "done", browser.find_element("id", "error").text
    page = json.loads(browser.execute_script("return window.benchCompareJSON"))[0]
    host = compare.compare(base, new, base_name="base.json", new_name="new.json")
    assert page["test"]["implementation"] == "pure Python"
    for p_fig, h_fig in zip(page["rows"][0]["figures"], host["rows"][0]["figures"]):
        assert p_fig["group"] == h_fig["group"]
        assert p_fig["p_runs"] == pytest.approx(h_fig["p_runs"], rel=1e-9)
    text = browser.find_element("id", "comparison").text
    assert "Slower (2)" in text and "decode tok/s" in text and "ok -> WRONG (worse)" in text
    assert "| engine | backend | test |" in browser.find_element("id", "compare-md").get_attribute("value")


def test_a_file_that_is_not_a_result_says_so_in_one_line(chromium, site_url, tmp_path):
    open_page(chromium, site_url)
    choose(chromium, tmp_path, syn.result([syn.row()]), '{"schema": "browser-llm-bench/overhead", "schema_version": 2}')
    assert wait_state(chromium, {"done", "error"}, timeout=60) == "error"
    message = wait_for(chromium, "return document.getElementById('error').textContent")
    assert "new.json" in message and "only benchmark results compare" in message


def test_malformed_files_end_in_an_error_naming_the_place_and_the_page_stays_usable(chromium, site_url, tmp_path):
    """A NaN timestamp left the page on "Comparing..." and JSON nested 200,000 deep killed it until reload; both are
    refused with words (checked before any arithmetic, the nesting before parsing), as is a test held twice, and the
    page then compares good files."""
    base = syn.result([syn.row(run_list=syn.runs(20.0, 5, seed=1))])
    nan = json.loads(json.dumps(base))
    nan["rows"][0]["runs"][2]["prefill_start_ms"] = float("nan")
    doubled = json.loads(json.dumps(base))
    doubled["rows"].append(doubled["rows"][0])
    good = syn.result([syn.row(run_list=syn.runs(15.0, 5, seed=2))], created="2026-01-02T00:00:00.000Z")
    open_page(chromium, site_url)
    chromium.find_element("id", "base-file").send_keys(write(tmp_path / "base.json", base))
    # each file under a name of its own: choosing the same path again is no change to the input
    for name, doc, words in (
            ("nan.json", json.dumps(nan), ["nan.json: rows[0].runs[2].prefill_start_ms: NaN is not a number"]),
            ("deep.json", "[" * 200_000 + "]" * 200_000, ["deep.json: ", "nested"]),
            ("twice.json", doubled, ["twice.json: a result holds each test once; rows[0] and rows[1] are the same test"])):
        chromium.find_element("id", "new-file").send_keys(write(tmp_path / name, doc))
        shown = " && ".join(f"text.includes({json.dumps(w)})" for w in words)
        wait_for(chromium, f"const text = document.getElementById('error').textContent; return {shown};", timeout=60)
        assert wait_state(chromium, {"done", "error"}, timeout=10) == "error"
    chromium.find_element("id", "new-file").send_keys(write(tmp_path / "good.json", good))
    assert wait_state(chromium, {"done"}, timeout=60) == "done"
    assert "Slower (2)" in chromium.find_element("id", "comparison").text


def test_a_file_too_large_is_refused_before_it_is_read(chromium, site_url, tmp_path):
    """65 MiB (sparse: nothing on disk) is refused for its size; read, its zeros would be "not JSON"."""
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(compare.MAX_RESULT_BYTES + 1)
    open_page(chromium, site_url)
    chromium.find_element("id", "base-file").send_keys(write(tmp_path / "base.json", syn.result([syn.row()])))
    chromium.find_element("id", "new-file").send_keys(str(big))
    message = "big.json: 67,108,865 bytes, more than the 67,108,864 a result file may have"
    wait_for(chromium, f"return document.getElementById('error').textContent.includes({json.dumps(message)})",
             timeout=60)
    assert wait_state(chromium, {"done", "error"}, timeout=10) == "error"
    assert "not JSON" not in chromium.find_element("id", "error").text
