"""Notebook documents: the page's cell list <-> nbformat 4 (.ipynb) and percent-format .py.

Pure Python (host-tested against nbformat's schema). Cells are dicts:
{"id", "cell_type": "code" | "markdown", "source": str, "outputs": [nbformat outputs], "execution_count"}.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (Pyodide)", "language": "python"}
_ID_OK = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


class NotebookFormatError(ValueError):
    pass


def new_cell(source: str = "", cell_type: str = "code") -> dict[str, Any]:
    return {"id": uuid.uuid4().hex[:12], "cell_type": cell_type, "source": source, "outputs": [], "execution_count": None}


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _output_to_nb(out: dict[str, Any]) -> dict[str, Any]:
    kind = out["output_type"]
    if kind == "stream":
        return {"output_type": "stream", "name": out["name"], "text": _lines(out["text"])}
    if kind in ("execute_result", "display_data"):
        data = {k: _lines(v) if isinstance(v, str) else v for k, v in out["data"].items()}
        nb = {"output_type": kind, "data": data, "metadata": out.get("metadata", {})}
        if kind == "execute_result":
            nb["execution_count"] = out.get("execution_count")
        return nb
    if kind == "error":
        return {"output_type": "error", "ename": out["ename"], "evalue": out["evalue"], "traceback": list(out["traceback"])}
    raise NotebookFormatError(f"unknown output type {kind!r}")


def to_ipynb(cells: list[dict[str, Any]], python_version: str = "3.13") -> dict[str, Any]:
    nb_cells = []
    for cell in cells:
        cid = cell.get("id") if _ID_OK.match(str(cell.get("id", ""))) else uuid.uuid4().hex[:12]
        if cell.get("cell_type", "code") == "markdown":
            nb_cells.append({"cell_type": "markdown", "id": cid, "metadata": {}, "source": _lines(cell["source"])})
            continue
        nb_cells.append({
            "cell_type": "code", "id": cid, "metadata": {}, "source": _lines(cell["source"]),
            "execution_count": cell.get("execution_count"),
            "outputs": [_output_to_nb(o) for o in cell.get("outputs", [])],
        })
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": KERNELSPEC,
                     "language_info": {"name": "python", "version": python_version, "file_extension": ".py"}},
        "cells": nb_cells,
    }


def _join(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def from_ipynb(text: str) -> list[dict[str, Any]]:
    try:
        nb = json.loads(text)
    except json.JSONDecodeError as err:
        raise NotebookFormatError(f"not a notebook: the file is not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(nb, dict) or nb.get("nbformat") != 4 or not isinstance(nb.get("cells"), list):
        raise NotebookFormatError("not an nbformat 4 notebook (.ipynb): 'nbformat' must be 4 and 'cells' a list")
    cells = []
    for raw in nb["cells"]:
        kind = raw.get("cell_type")
        if kind not in ("code", "markdown", "raw"):
            raise NotebookFormatError(f"unknown cell type {kind!r}")
        cell = new_cell(_join(raw.get("source", "")), "markdown" if kind != "code" else "code")
        if kind == "code":
            cell["execution_count"] = raw.get("execution_count")
            outs = []
            for o in raw.get("outputs", []):
                t = o.get("output_type")
                if t == "stream":
                    outs.append({"output_type": "stream", "name": o.get("name", "stdout"), "text": _join(o.get("text", ""))})
                elif t in ("execute_result", "display_data"):
                    outs.append({"output_type": t, "data": {k: _join(v) if isinstance(v, list) else v for k, v in o.get("data", {}).items()},
                                 "metadata": o.get("metadata", {}), "execution_count": o.get("execution_count")})
                elif t == "error":
                    outs.append({"output_type": "error", "ename": o.get("ename", ""), "evalue": o.get("evalue", ""),
                                 "traceback": list(o.get("traceback", []))})
            cell["outputs"] = outs
        cells.append(cell)
    return cells


def to_percent_py(cells: list[dict[str, Any]]) -> str:
    """Percent format (# %%), which Jupytext, VS Code and Spyder read as cells."""
    parts = []
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            body = "\n".join("# " + line if line else "#" for line in cell["source"].splitlines())
            parts.append(f"# %% [markdown]\n{body}\n")
        else:
            parts.append(f"# %%\n{cell['source'].rstrip()}\n")
    return "\n".join(parts)
