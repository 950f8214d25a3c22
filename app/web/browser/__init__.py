"""One seam to the browser: every use of `js` / `pyodide.ffi` in the benchmark path goes through `Browser`.

Like micropip's `_compat`: one abstract interface (seam.py), a Pyodide implementation (in_pyodide.py, the only
benchmark-path module that imports `js`) and a host one (on_host.py), chosen once here by
`"_pyodide_core" in sys.modules`. The benchmark (app/web/bench.py) takes a `Browser` as an argument and
defaults to `BROWSER`; app/web/jsbridge.py keeps the engines' short names over it.
"""

from __future__ import annotations

import sys

from app.web.browser.seam import Browser, Yielder

IN_PYODIDE = "_pyodide_core" in sys.modules

if IN_PYODIDE:
    from app.web.browser.in_pyodide import PyodideBrowser

    BROWSER: Browser = PyodideBrowser()
else:
    from app.web.browser.on_host import HostBrowser

    BROWSER = HostBrowser()

__all__ = ["BROWSER", "IN_PYODIDE", "Browser", "Yielder"]
