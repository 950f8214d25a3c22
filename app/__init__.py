"""browser-llm-bench: a Pyodide-hosted benchmark of LLM engines running in the browser.

Layout, by where code may run:
- ``app.core``: pure Python, runs on the host and inside Pyodide (stats, schema, GGUF header).
- ``app.host``: host only (build, serve, headless driver, command line). Not shipped to the page.
- ``app.web``: browser only; the one place that imports ``js`` / ``pyodide.ffi``.
"""

__version__ = "0.1.0"
