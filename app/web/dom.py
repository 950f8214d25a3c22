"""Small helpers for writing to the page from Python."""

from __future__ import annotations

import html

import js  # type: ignore[import-not-found]


def element(element_id: str):
    return js.document.getElementById(element_id)


def set_state(state: str) -> None:
    """loading | ready | running | done | error: what automation waits on."""
    js.document.documentElement.dataset.state = state


def set_status(text: str) -> None:
    element("status").textContent = text


def log(line: str) -> None:
    node = element("log")
    if node is not None:
        node.textContent += line + "\n"
        node.scrollTop = node.scrollHeight


def show_error(message: str) -> None:
    js.benchShowError(message)


def table_rows(rows: list[tuple[str, str]]) -> str:
    return "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
