"""The notebook's kernel, in the Pyodide web worker: runs cells in one shared namespace.

Top-level await works (`tid = await engine.next_token_async()`), stdout and stderr stream to the
page while the cell runs, the last expression's value is shown (HTML through `_repr_html_`), and
tracebacks name the cell's own lines. The page only renders what this module posts.

A cell can always be stopped:
- each cell runs as an asyncio task; the page's Interrupt cancels it (`interrupt`), which ends a
  pending `await` (asyncio.sleep, a JS Promise that never settles) at once;
- code that runs without awaiting is stopped by Pyodide's interrupt buffer (KeyboardInterrupt);
  `time.sleep` sleeps in short slices that look at that buffer (notebook_worker.js), so it stops too;
- output goes to the page in batches (app.core.cell_output), never one message per print, and is
  capped per cell, so a print flood neither freezes the page nor fills its memory.
When none of that stops a cell, the page restarts the worker (notebook.js).

`input()` asks the page (a prompt box in the cell; the worker waits on a SharedArrayBuffer), and
raw writes to file descriptors 1 and 2 (`os.write`, `sys.__stdout__`) reach the running cell.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import getpass
import io
import json
import linecache
import sys
import time
import traceback
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.code import eval_code_async  # type: ignore[import-not-found]
from pyodide.ffi import to_js  # type: ignore[import-not-found]

from app.core import notebook_format
from app.core.cell_output import FLUSH_SECONDS, CellOutput

_monotonic = time.monotonic
_original_sleep = time.sleep


def post(message: dict[str, Any]) -> None:
    js.postMessage(to_js(message, dict_converter=js.Object.fromEntries))


_WORKER: Any = None


def _worker() -> Any:
    """The helpers notebook_worker.js defines (Atomics-based sleep and prompt), or None outside it."""
    global _WORKER
    if _WORKER is None:
        _WORKER = getattr(js, "notebookWorker", None)
    return _WORKER


class Run:
    """One execution of one cell: its outputs and the batching of what goes to the page."""

    def __init__(self, cell_id: str, count: int) -> None:
        self.cell_id = cell_id
        self.count = count
        self.output = CellOutput()
        self.task: asyncio.Task | None = None
        self.cancelled = False
        self._last_flush = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._flushing = False

    def write(self, name: str, text: str) -> None:
        take_raw()  # what went to fd 1 / 2 before this write comes first
        self.output.stream(name, text)
        if _monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()
        else:
            self.schedule_flush()

    def schedule_flush(self) -> None:
        """Send what is pending when the cell next awaits (or with the next write after FLUSH_SECONDS)."""
        if self._timer is None and not self._flushing:
            try:
                self._timer = asyncio.get_event_loop().call_later(FLUSH_SECONDS, self.flush)
            except RuntimeError:
                self.flush()

    def flush(self) -> None:
        if self._flushing:
            return
        self._flushing = True
        try:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._last_flush = _monotonic()
            take_raw()
            batch = self.output.take_pending()
            if batch:
                post({"type": "stream", "cell": self.cell_id, **batch})
        finally:
            self._flushing = False

    def add(self, output: dict[str, Any]) -> None:
        self.flush()  # stream text printed before this output arrives first
        self.output.add(output)
        post({"type": "output", "cell": self.cell_id, "output": output})


class CellStream(io.TextIOBase):
    """sys.stdout / sys.stderr while a cell runs."""

    def __init__(self, run: Run, name: str) -> None:
        self.run = run
        self.name = name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            self.run.write(self.name, text)
        return len(text)

    def flush(self) -> None:
        self.run.flush()


class CellStdin(io.TextIOBase):
    """sys.stdin while a cell runs: each line is asked of the page (Cancel means end of input)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.eof = False

    def readable(self) -> bool:
        return True

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        if self.eof:
            return ""
        answer = read_line(self.run, "", password=False)
        if answer is None:
            self.eof = True
            return ""
        self.run.write("stdout", answer + "\n")
        return answer + "\n"

    def read(self, size: int | None = -1) -> str:
        return "".join(iter(self.readline, ""))


def read_line(run: Run, prompt: str, password: bool) -> str | None:
    """Ask the page for one line; None when the person cancels. Interrupt stops the wait."""
    worker = _worker()
    if worker is None:
        raise OSError("input() needs the notebook page: there is no page to ask here")
    run.flush()
    state, text = worker.readLine(run.cell_id, prompt, password).to_py()
    if state == "interrupted":
        raise KeyboardInterrupt
    return None if state == "cancelled" else str(text)


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
    # The interruptible sleep and input() raise KeyboardInterrupt here: their frames say nothing to the reader.
    kept = [f for f in frames[start:] if f.filename != __file__] if start is not None else []
    lines = ["Traceback (most recent call last):\n"] + traceback.format_list(kept) if kept else []
    lines += traceback.format_exception_only(type(err), err)
    return {"output_type": "error", "ename": type(err).__name__, "evalue": str(err), "traceback": lines}


class Kernel:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__main__"}
        self.count = 0
        self.current: Run | None = None

    async def _execute(self, source: str, filename: str) -> tuple[bool, Any]:
        try:
            return True, await eval_code_async(source, globals=self.namespace, filename=filename, return_mode="last_expr")
        except BaseException as err:  # noqa: BLE001 - KeyboardInterrupt and cancellation included: the kernel lives on
            return False, err

    async def run(self, cell_id: str, source: str) -> dict[str, Any]:
        self.count += 1
        count = self.count
        filename = cell_filename(count)
        # linecache lets tracebacks quote the cell's own source lines.
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        run = Run(cell_id, count)
        self.current = run
        post({"type": "started", "cell": cell_id, "execution_count": count})
        old = sys.stdout, sys.stderr, sys.stdin
        sys.stdout, sys.stderr, sys.stdin = CellStream(run, "stdout"), CellStream(run, "stderr"), CellStdin(run)
        status = "ok"
        try:
            run.task = asyncio.ensure_future(self._execute(source, filename))
            try:
                ok, value = await run.task
            except asyncio.CancelledError as err:  # cancelled before its first step
                ok, value = False, err
            _flush_raw_streams()  # text left in sys.__stdout__'s buffer belongs before the result
            take_raw()
            if ok:
                if value is not None:
                    self.namespace["_"] = value
                    run.add({"output_type": "execute_result", "execution_count": count, "data": rich_repr(value), "metadata": {}})
            else:
                status = "error"
                err = value
                if isinstance(err, asyncio.CancelledError) and run.cancelled:
                    stopped = KeyboardInterrupt("Interrupt cancelled the cell while it was waiting (await)")
                    stopped.__traceback__ = err.__traceback__
                    err = stopped
                run.add(format_error(err, filename))
        finally:
            _flush_raw_streams()
            take_raw()
            sys.stdout, sys.stderr, sys.stdin = old
            self.current = None
            run.flush()
        reply = {"type": "finished", "cell": cell_id, "execution_count": count, "status": status,
                 "outputs": run.output.finish()}
        post(reply)
        return reply

    def interrupt(self, cell_id: str) -> bool:
        """Cancel the running cell's task (ends a pending await). False when that cell is not running."""
        run = self.current
        if run is None or run.cell_id != cell_id or run.task is None or run.task.done():
            return False
        run.cancelled = True
        run.task.cancel()
        return True


KERNEL = Kernel()


def interrupt(cell_id: str) -> bool:
    """The page's Interrupt, when the worker is free to hear it (the cell awaits): cancel that cell."""
    return KERNEL.interrupt(str(cell_id))


def _flush_raw_streams() -> None:
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is None or stream.closed:
            continue
        with contextlib.suppress(OSError, ValueError):  # a broken fd must not stop the cell from finishing
            stream.flush()


def take_raw() -> bool:
    """Text written to fd 1 / 2 (os.write, sys.__stdout__, C extensions) goes to the running cell.

    The worker collects it (its stdout/stderr handlers run while the writer has released the GIL);
    False when no cell runs, and the worker logs it to the console instead.
    """
    worker = _worker()
    run = KERNEL.current
    if worker is None or run is None:
        return False
    if worker.rawWaiting:
        for name, text in worker.takeRaw().to_py():
            run.output.stream(str(name), str(text))
        run.schedule_flush()
    return True


# --- what cells get instead of the blocking, uninterruptible originals --------------------------
def sleep(seconds: float) -> None:
    """time.sleep in slices of at most 50 ms: Interrupt stops it, and output printed before it shows."""
    seconds = float(seconds)
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    worker = _worker()
    if worker is None:
        return _original_sleep(seconds)
    if KERNEL.current is not None:
        _flush_raw_streams()
        KERNEL.current.flush()
    deadline = _monotonic() + seconds
    while (left := deadline - _monotonic()) > 0:
        if worker.sleep(min(left, 0.05) * 1000):  # Atomics.wait; true when Interrupt was pressed
            raise KeyboardInterrupt
    return None


def notebook_input(prompt: Any = "") -> str:
    """input(): a prompt box in the running cell; the line typed there is returned (and echoed)."""
    run = KERNEL.current
    if run is None:
        raise RuntimeError("input() works inside a running notebook cell")
    prompt = str(prompt)
    _flush_raw_streams()
    answer = read_line(run, prompt, password=False)
    if answer is None:
        raise EOFError("input(): the prompt was cancelled")
    run.write("stdout", prompt + answer + "\n")
    return answer


def notebook_getpass(prompt: str = "Password: ", stream: Any = None) -> str:
    run = KERNEL.current
    if run is None:
        raise RuntimeError("getpass() works inside a running notebook cell")
    answer = read_line(run, str(prompt), password=True)
    if answer is None:
        raise EOFError("getpass(): the prompt was cancelled")
    run.write("stdout", str(prompt) + "\n")
    return answer


def install() -> None:
    """Swap in the interruptible sleep and the page-backed input (the worker calls this once)."""
    time.sleep = sleep
    builtins.input = notebook_input
    getpass.getpass = notebook_getpass


async def handle(message_proxy: Any) -> None:
    """Dispatch one message from the page (see web/static/notebook.js)."""
    msg = message_proxy.to_py()
    kind = msg.get("type")
    reply_id = msg.get("reply")
    try:
        if kind == "run":
            try:
                await KERNEL.run(msg["cell"], msg["source"])
            except BaseException as err:  # noqa: BLE001 - the page must always hear that the cell ended
                KERNEL.current = None
                post({"type": "finished", "cell": msg["cell"], "execution_count": KERNEL.count, "status": "error",
                      "outputs": [format_error(err, "")]})
            return
        if kind == "export-ipynb":
            nb = notebook_format.to_ipynb(msg["cells"], sys.version.split()[0], msg.get("metadata") or {})
            result = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        elif kind == "export-py":
            result = notebook_format.to_percent_py(msg["cells"])
        elif kind == "import-ipynb":
            result = notebook_format.import_ipynb(msg["text"])
        else:
            raise ValueError(f"unknown message type {kind!r}")
        post({"type": "reply", "reply": reply_id, "ok": True, "result": result})
    except Exception as err:  # noqa: BLE001 - reported to the page in words
        post({"type": "reply", "reply": reply_id, "ok": False, "error": str(err)})
