"""The notebook's kernel, in the Pyodide web worker: runs cells in one shared namespace.

Top-level await works (`tid = await engine.next_token_async()`), stdout and stderr stream to the
page while the cell runs, the last expression's value is shown (HTML through `_repr_html_`), and
tracebacks name the cell's own lines. The page only renders what this module posts.
"""

from __future__ import annotations

import io
import json
import linecache
import sys
import traceback
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.code import eval_code_async  # type: ignore[import-not-found]
from pyodide.ffi import to_js  # type: ignore[import-not-found]

from app.core import notebook_format


def post(message: dict[str, Any]) -> None:
    js.postMessage(to_js(message, dict_converter=js.Object.fromEntries))


class CellStream(io.TextIOBase):
    """stdout / stderr of a running cell: every write goes to the page at once."""

    def __init__(self, cell_id: str, name: str, sink: list) -> None:
        self.cell_id = cell_id
        self.name = name
        self.sink = sink

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            last = self.sink[-1] if self.sink else None
            if last and last["output_type"] == "stream" and last["name"] == self.name:
                last["text"] += text  # one output per run of writes, as Jupyter does
            else:
                self.sink.append({"output_type": "stream", "name": self.name, "text": text})
            post({"type": "stream", "cell": self.cell_id, "name": self.name, "text": text})
        return len(text)


def rich_repr(value: Any) -> dict[str, str]:
    data = {"text/plain": repr(value)}
    method = getattr(value, "_repr_html_", None)
    if callable(method):
        try:
            rendered = method()
            if rendered:
                data["text/html"] = str(rendered)
        except Exception as err:  # noqa: BLE001 - a broken _repr_html_ falls back to repr
            data["text/plain"] += f"\n(_repr_html_ failed: {err})"
    return data


def cell_filename(count: int) -> str:
    return f"<cell [{count}]>"


def format_error(err: BaseException, filename: str) -> dict[str, Any]:
    """A traceback that starts at the cell: frames inside Pyodide's runner are left out."""
    frames = traceback.extract_tb(err.__traceback__)
    start = next((i for i, f in enumerate(frames) if f.filename == filename), None)
    kept = frames[start:] if start is not None else []
    lines = ["Traceback (most recent call last):\n"] + traceback.format_list(kept) if kept else []
    lines += traceback.format_exception_only(type(err), err)
    return {"output_type": "error", "ename": type(err).__name__, "evalue": str(err), "traceback": lines}


class Kernel:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__"}
        self.count = 0

    async def run(self, cell_id: str, source: str) -> dict[str, Any]:
        self.count += 1
        count = self.count
        filename = cell_filename(count)
        # linecache lets tracebacks quote the cell's own source lines.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        outputs: list[dict[str, Any]] = []
        post({"type": "started", "cell": cell_id, "execution_count": count})
        old = sys.stdout, sys.stderr
        sys.stdout = CellStream(cell_id, "stdout", outputs)
        sys.stderr = CellStream(cell_id, "stderr", outputs)
        status = "ok"
        try:
            value = await eval_code_async(source, globals=self.namespace, filename=filename, return_mode="last_expr")
            if value is not None:
                self.namespace["_"] = value
                out = {"output_type": "execute_result", "execution_count": count, "data": rich_repr(value), "metadata": {}}
                outputs.append(out)
                post({"type": "output", "cell": cell_id, "output": out})
        except BaseException as err:  # noqa: BLE001 - KeyboardInterrupt included: the kernel lives on
            status = "error"
            out = format_error(err, filename)
            outputs.append(out)
            post({"type": "output", "cell": cell_id, "output": out})
        finally:
            sys.stdout, sys.stderr = old
        reply = {"type": "finished", "cell": cell_id, "execution_count": count, "status": status, "outputs": outputs}
        post(reply)
        return reply


KERNEL = Kernel()


async def handle(message_proxy: Any) -> None:
    """Dispatch one message from the page (see web/static/notebook.js)."""
    msg = message_proxy.to_py()
    kind = msg.get("type")
    reply_id = msg.get("reply")
    try:
        if kind == "run":
            await KERNEL.run(msg["cell"], msg["source"])
            return
        if kind == "export-ipynb":
            result = json.dumps(notebook_format.to_ipynb(msg["cells"], sys.version.split()[0]), indent=1)
        elif kind == "export-py":
            result = notebook_format.to_percent_py(msg["cells"])
        elif kind == "import-ipynb":
            result = notebook_format.from_ipynb(msg["text"])
        elif kind == "new-cell":
            result = notebook_format.new_cell(msg.get("source", ""))
        else:
            raise ValueError(f"unknown message type {kind!r}")
        post({"type": "reply", "reply": reply_id, "ok": True, "result": result})
    except Exception as err:  # noqa: BLE001 - reported to the page in words
        post({"type": "reply", "reply": reply_id, "ok": False, "error": str(err)})

