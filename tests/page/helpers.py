from __future__ import annotations

import json
import time
import urllib.parse


def wait_for(driver, predicate_js: str, timeout: float = 120, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(predicate_js)
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for: {predicate_js}")


def state(driver) -> str:
    return driver.execute_script("return document.documentElement.dataset.state")


def wait_state(driver, states, timeout=300) -> str:
    wanted = json.dumps(sorted(states))
    wait_for(driver, f"return {wanted}.includes(document.documentElement.dataset.state)", timeout)
    return state(driver)


def open_bench(driver, site_url: str, settings: dict | None = None, autorun: bool = False) -> None:
    query = {}
    if settings is not None:
        query["settings"] = json.dumps(settings)
    if autorun:
        query["autorun"] = "1"
    # Through about:blank, so the page gets a renderer process of its own: in Chromium 156, once the notebook page
    # (its Pyodide worker) has been open in the tab, performance.measureUserAgentSpecificMemory() of the next page
    # of the same site never answers (seen: no answer in 12 s, 20 s later still none); after about:blank it
    # answers in ~30 ms. README "Known limits" says so to people.
    driver.get("about:blank")
    driver.get(site_url + "index.html" + ("?" + urllib.parse.urlencode(query) if query else ""))


def result(driver) -> dict:
    raw = driver.execute_script("return window.benchResultJSON")
    assert raw, "the page published no result"
    return json.loads(raw)


def fill_tiny_flare_cpu_run(driver) -> None:
    """The page's form set for the smallest real run: flare CPU, 2 tokens, 1 run, no checks."""
    driver.execute_script("""
        document.getElementById('max_tokens').value = '2';
        document.getElementById('runs').value = '1';
        document.getElementById('warmup').value = '0';
        document.getElementById('forced_tokens').value = '0';
        document.getElementById('perplexity').checked = false;
        for (const b of document.querySelectorAll('input[name=engine]')) b.checked = b.value === 'flare-cpu';
    """)


# Page-side Python the tokenizer comparisons share (run with run_python): the site, both embedded models, and the
# texts every tokenizer check feeds: the default chat prompt, the capital-of-France prompt and the passage.
TOKENIZER_TEXTS = r"""
import json
from app.core.settings import BenchSettings
from app.web import nb
from app.web.bench import render_prompt
from app.web.tokenizer import LlamaCppTokenizer

site = await nb.site()
MODEL_IDS = ("smollm2-135m", "gemma3-270m")


def texts_of(model):
    default = BenchSettings()
    capital = BenchSettings(prompt="What is the capital of France?", system="You are a helpful assistant.")
    return {"prompt": render_prompt(default, model).text, "capital": render_prompt(capital, model).text,
            "passage": default.passage}
"""


def run_python(driver, code: str, timeout_s: int = 600):
    """Run `code` with the page's Pyodide (runPythonAsync: top-level await allowed); its last value as a string."""
    driver.set_script_timeout(timeout_s)
    answer = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "benchPyodide.runPythonAsync(arguments[0]).then((r) => done({ok: String(r)}), (e) => done({error: String(e)}));",
        code)
    assert "error" not in answer, answer["error"][-3000:]
    return answer["ok"]
