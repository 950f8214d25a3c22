"""Notebook documents: the page's cell list <-> nbformat 4 (.ipynb) and percent-format .py.

Pure Python (host-tested against nbformat's schema). Cells are dicts:
{"id", "cell_type": "code" | "markdown" | "raw", "source": str, "metadata": dict,
 "outputs": [nbformat outputs, multi-line strings joined], "execution_count", "attachments" (markdown, raw)}.

What the page cannot run it keeps: raw cells stay raw, markdown cells keep their attachments, cell
metadata (tags and the rest) and the notebook's own metadata survive a round trip. What cannot be
kept is dropped with a sentence in `ImportedNotebook.warnings`, which the page shows.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

MAX_DEPTH = 100  # a notebook nests about 6 deep; its metadata and outputs are free-form, but not this deep
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (Pyodide)", "language": "python"}
CELL_TYPES = ("code", "markdown", "raw")
OUTPUT_TYPES = ("stream", "execute_result", "display_data", "error")
# MIME types the notebook page draws; others are kept in the file and listed in a warning.
SHOWN_MIME = ("text/plain", "text/html", "text/markdown", "image/png", "image/jpeg", "image/gif", "image/svg+xml")
_ID_OK = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")


class NotebookFormatError(ValueError):
    pass


def new_cell(source: str = "", cell_type: str = "code") -> dict[str, Any]:
    cell: dict[str, Any] = {"id": uuid.uuid4().hex[:12], "cell_type": cell_type, "source": source, "metadata": {}}
    if cell_type == "code":
        cell.update(outputs=[], execution_count=None)
    return cell


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _join(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _is_json_mime(mime: str) -> bool:
    return mime == "application/json" or mime.endswith("+json")


def _split_mime(mime: str, value: Any) -> Any:
    """nbformat stores text as a list of lines; binary (base64) images and JSON data as they are."""
    if _is_json_mime(mime) or not isinstance(value, str):
        return value
    if mime.startswith("image/") and mime != "image/svg+xml":
        return value
    return _lines(value)


def _join_mime(mime: str, value: Any) -> Any:
    if _is_json_mime(mime):
        return value
    return _join(value) if isinstance(value, list) else value


def _output_to_nb(out: dict[str, Any]) -> dict[str, Any]:
    kind = out["output_type"]
    if kind == "stream":
        return {"output_type": "stream", "name": out["name"], "text": _lines(out["text"])}
    if kind in ("execute_result", "display_data"):
        data = {k: _split_mime(k, v) for k, v in out["data"].items()}
        nb = {"output_type": kind, "data": data, "metadata": out.get("metadata") or {}}
        if kind == "execute_result":
            nb["execution_count"] = out.get("execution_count")
        return nb
    if kind == "error":
        return {"output_type": "error", "ename": out["ename"], "evalue": out["evalue"], "traceback": list(out["traceback"])}
    raise NotebookFormatError(f"unknown output type {kind!r}")


def to_ipynb(cells: list[dict[str, Any]], python_version: str = "3.13",
             metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """An nbformat 4.5 notebook. `metadata` is the imported notebook's own, kept apart from the kernel's."""
    nb_cells = []
    seen: set[str] = set()
    for cell in cells:
        cid = str(cell.get("id", ""))
        if not _ID_OK.match(cid) or cid in seen:
            cid = uuid.uuid4().hex[:12]
        seen.add(cid)
        kind = cell.get("cell_type", "code")
        if kind not in CELL_TYPES:
            raise NotebookFormatError(f"unknown cell type {kind!r}")
        out: dict[str, Any] = {"cell_type": kind, "id": cid, "metadata": dict(cell.get("metadata") or {}),
                               "source": _lines(cell.get("source", ""))}
        if kind == "code":
            out["execution_count"] = cell.get("execution_count") if isinstance(cell.get("execution_count"), int) else None
            out["outputs"] = [_output_to_nb(o) for o in cell.get("outputs", [])]
        elif cell.get("attachments"):
            out["attachments"] = cell["attachments"]
        nb_cells.append(out)
    meta = dict(metadata or {})
    meta["kernelspec"] = KERNELSPEC
    meta["language_info"] = {"name": "python", "version": python_version, "file_extension": ".py"}
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": nb_cells}


def _output_from_nb(o: dict[str, Any], where: str, warnings: list[str], hidden: set[str]) -> dict[str, Any] | None:
    t = o.get("output_type")
    if t == "stream":
        return {"output_type": "stream", "name": o.get("name", "stdout"), "text": _join(o.get("text", ""))}
    if t in ("execute_result", "display_data"):
        data = {k: _join_mime(k, v) for k, v in (o.get("data") or {}).items()}
        hidden.update(k for k in data if k not in SHOWN_MIME)
        out = {"output_type": t, "data": data, "metadata": o.get("metadata") or {}}
        if t == "execute_result":
            out["execution_count"] = o.get("execution_count")
        return out
    if t == "error":
        return {"output_type": "error", "ename": o.get("ename", ""), "evalue": o.get("evalue", ""),
                "traceback": list(o.get("traceback", []))}
    warnings.append(f"{where}: an output of type {t!r} is not an nbformat 4 output and was dropped.")
    return None


def import_ipynb(text: str) -> dict[str, Any]:
    """{"cells", "metadata" (the notebook's, less the kernel's), "warnings" (sentences for the page)}.

    Raises NotebookFormatError in words for anything that is not an nbformat 4 notebook this page can read, a file
    nested deeper than MAX_DEPTH included (measured before parsing: Python's parser would overflow Pyodide's stack)."""
    from app.core.jsontext import JsonTextError, loads

    try:
        nb = loads(text, MAX_DEPTH, "the file")
    except JsonTextError as err:
        raise NotebookFormatError(f"not a notebook this page can read: {err}") from None
    try:
        return _import(nb)
    except NotebookFormatError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError, RecursionError) as err:
        raise NotebookFormatError(f"not an nbformat 4 notebook this page can read ({type(err).__name__}: "
                                  f"{str(err)[:200]})") from None


def _import(nb: Any) -> dict[str, Any]:
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise NotebookFormatError("not an nbformat 4 notebook (.ipynb): 'nbformat' must be 4 and 'cells' a list")
    if nb.get("nbformat") != 4:
        raise NotebookFormatError(f"this is an nbformat {nb.get('nbformat')!r} notebook; only nbformat 4 can be read "
                                  "(Jupyter's `jupyter nbconvert --to notebook` upgrades older ones)")
    warnings: list[str] = []
    hidden: set[str] = set()
    cells = []
    seen: set[str] = set()
    for n, raw in enumerate(nb["cells"], 1):
        if not isinstance(raw, dict):
            raise NotebookFormatError(f"cell {n} is not an object")
        kind = raw.get("cell_type")
        source = _join(raw.get("source", ""))
        if kind not in CELL_TYPES:
            warnings.append(f"cell {n}: unknown cell type {kind!r}, kept as a raw cell.")
            kind = "raw"
        cell = new_cell(source, kind)
        cid = raw.get("id")
        if isinstance(cid, str) and _ID_OK.match(cid) and cid not in seen:
            cell["id"] = cid
        seen.add(cell["id"])
        cell["metadata"] = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        if kind == "code":
            count = raw.get("execution_count")
            cell["execution_count"] = count if isinstance(count, int) else None
            outs = [_output_from_nb(o, f"cell {n}", warnings, hidden) for o in raw.get("outputs", []) if isinstance(o, dict)]
            cell["outputs"] = [o for o in outs if o is not None]
            if raw.get("attachments"):
                warnings.append(f"cell {n}: a code cell cannot carry attachments in nbformat 4; they were dropped.")
        elif raw.get("attachments"):
            cell["attachments"] = raw["attachments"]
        cells.append(cell)
    if hidden:
        warnings.append("outputs of type " + ", ".join(sorted(hidden)) + " are kept in the notebook and exported again, "
                        "but this page does not draw them.")
    raw_meta = nb.get("metadata") or {}
    if not isinstance(raw_meta, dict):
        warnings.append(f"the notebook's metadata is {type(raw_meta).__name__}, not an object; it was dropped.")
        raw_meta = {}
    metadata = {k: v for k, v in raw_meta.items() if k not in ("kernelspec", "language_info")}
    return {"cells": cells, "metadata": metadata, "warnings": warnings}


def from_ipynb(text: str) -> list[dict[str, Any]]:
    """The cells of an .ipynb (see import_ipynb for its metadata and what could not be kept)."""
    return import_ipynb(text)["cells"]


def to_percent_py(cells: list[dict[str, Any]]) -> str:
    """Percent format (# %%), which Jupytext, VS Code and Spyder read as cells."""
    parts = []
    for cell in cells:
        kind = cell.get("cell_type")
        if kind in ("markdown", "raw"):
            body = "\n".join("# " + line if line else "#" for line in cell["source"].splitlines())
            parts.append(f"# %% [{kind}]\n{body}\n")
        else:
            parts.append(f"# %%\n{cell['source'].rstrip()}\n")
    return "\n".join(parts)
