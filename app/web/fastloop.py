"""Run one coroutine so that each JS promise it awaits resumes it directly, on the microtask queue.

Why: under Pyodide's event loop (pyodide.webloop.WebLoop) `await promise` costs about 55-70 µs in
headless Chromium, most of it outside the engine: the future it creates gets a bookkeeping callback,
and resuming the awaiting task is a browser task of its own (`scheduler.postTask`), with a fresh
PyProxy each way. A JS loop awaiting the same promise pays 0.3 µs. For an engine at 200 tok/s that is
1.3% of its figure, and the null engine's ceiling would be ~15,000 tok/s.

`run(coro)` steps `coro` itself. While a step runs, asyncio's running loop is this runner, so the
future that `await <JsProxy>` creates (Pyodide calls `asyncio.get_event_loop().create_future()`) is
a `_Future` whose `set_result` (called from the promise's `then`, a microtask) steps the coroutine
at once: no browser task, no extra proxy. Everything else a step asks the loop for (call_soon,
create_task, call_later, time...) goes to the real WebLoop, and anything else the coroutine waits
on (an asyncio future or task, `asyncio.sleep`) resumes it through the real loop: slower, still
correct. Cancelling the awaiting task cancels the coroutine at its pending await.

The browser still gets its turn: a coroutine that awaits only resolved promises runs on microtasks
alone, so the benchmark's decode loop yields on its own schedule (web/static/yield.js), as the JS loop does.

Pure asyncio (no `js`): on the host the same runner steps the coroutine, resumed through the host's loop
(the clock the loop reads comes from the browser seam, app/web/browser).
"""

from __future__ import annotations

import asyncio
import contextvars
from asyncio import events
from collections.abc import Coroutine
from typing import Any

# Awaits resumed, since the page started: "direct" by the promise's own microtask, "through the loop"
# (an asyncio future, asyncio.sleep...). Tests read them: the decode loop must really take the direct path.
COUNTS = {"direct": 0, "through_loop": 0}


class _Future(asyncio.Future):
    """A future whose completion resumes the runner's coroutine synchronously (when it is what it waits on)."""

    # Its loop is the runner (create_future below), so get_loop() finds who to wake.
    def set_result(self, result: Any) -> None:
        super().set_result(result)
        self.get_loop()._wake(self)

    def set_exception(self, exception: BaseException) -> None:
        super().set_exception(exception)
        self.get_loop()._wake(self)


class _Runner:
    """Steps one coroutine; stands in as the running loop only while a step runs."""

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._real = events.get_running_loop()
        self._coro = coro
        self._context = contextvars.copy_context()
        self._outer = asyncio.current_task()
        self._waiting: Any = None
        self._stepping = False
        self._finished = False
        self._cancel_requested = False
        self.done: asyncio.Future = self._real.create_future()

    # --- what asyncio asks of "the loop" while a step runs ---------------------------------------
    def create_future(self) -> asyncio.Future:
        return _Future(loop=self)

    def get_debug(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    # --- stepping ---------------------------------------------------------------------------------
    def _wake(self, fut: Any) -> None:
        if fut is not self._waiting or self._finished:
            return  # done before anyone waited on it (the await will not suspend), or not ours
        COUNTS["direct" if type(fut) is _Future else "through_loop"] += 1
        self._waiting = None
        self._step()

    def _step(self, throw: BaseException | None = None) -> None:
        if self._finished:
            return
        if self._cancel_requested and throw is None:
            throw = asyncio.CancelledError()
        self._stepping = True
        events._set_running_loop(self)
        entered = self._outer is not None
        if entered:
            asyncio.tasks._enter_task(self, self._outer)
        try:
            if throw is None:
                yielded = self._context.run(self._coro.send, None)
            else:
                yielded = self._context.run(self._coro.throw, throw)
        except StopIteration as stop:
            self._finish(result=stop.value)
            return
        except BaseException as err:
            self._finish(error=err)
            if not isinstance(err, Exception):
                raise
            return
        finally:
            if entered:
                asyncio.tasks._leave_task(self, self._outer)
            events._set_running_loop(self._real)
            self._stepping = False
        self._suspend_on(yielded)

    def _suspend_on(self, yielded: Any) -> None:
        if type(yielded) is _Future:
            yielded._asyncio_future_blocking = False
            self._waiting = yielded
            return  # its set_result steps us
        if yielded is None:  # a bare `yield` (asyncio.sleep(0)): run again soon, after other tasks
            self._waiting = _SOON
            self._real.call_soon(self._wake, _SOON)
            return
        if getattr(yielded, "_asyncio_future_blocking", None) is not None:
            yielded._asyncio_future_blocking = False  # an asyncio future or task of the real loop
            self._waiting = yielded
            yielded.add_done_callback(self._wake)
            return
        self._real.call_soon(self._step, RuntimeError(f"fastloop: the coroutine yielded {yielded!r}, not a future"))

    def _finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self._finished = True
        self._waiting = None
        if self.done.done():  # the awaiting task was cancelled
            return
        if error is None:
            self.done.set_result(result)
        elif isinstance(error, asyncio.CancelledError):
            self.done.cancel()
        else:
            self.done.set_exception(error)

    def cancel(self) -> None:
        """The awaiting task was cancelled: cancel the coroutine at its pending await."""
        if self._finished:
            return
        self._cancel_requested = True
        waiting = self._waiting
        if self._stepping:
            return  # raised at its next step
        self._waiting = None
        if isinstance(waiting, asyncio.Future) and not waiting.done():
            waiting.cancel()  # a late resolution of its promise is then ignored
        self._step(asyncio.CancelledError())


_SOON = object()  # what a runner waits on after a bare `yield`


async def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Await `coro`, stepping it directly from the promises it awaits (see the module's docstring)."""
    runner = _Runner(coro)
    runner._step()
    try:
        return await runner.done
    except asyncio.CancelledError:
        runner.cancel()
        raise
