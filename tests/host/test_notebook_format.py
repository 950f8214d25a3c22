"""Notebook documents (.ipynb / .py) built by app.core.notebook_format, checked with nbformat."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from app.core.notebook_format import NotebookFormatError, from_ipynb, new_cell, to_ipynb, to_percent_py

STARTER = Path(__file__).resolve().parents[2] / "web/static/notebooks/starter.ipynb"


def sample_cells():
    a = new_cell("print('hi')\n1 + 1")
    a["execution_count"] = 1
    a["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "hi\n"},
        {"output_type": "execute_result", "execution_count": 1, "data": {"text/plain": "2"}, "metadata": {}},
    ]
    b = new_cell("1/0")
    b["execution_count"] = 2
    b["outputs"] = [{"output_type": "error", "ename": "ZeroDivisionError", "evalue": "division by zero",
                     "traceback": ["Traceback (most recent call last):\n", "ZeroDivisionError: division by zero\n"]}]
    return [new_cell("# Title", "markdown"), a, b]


def test_notebook_export_is_valid_nbformat_4():
    nb = nbformat.reads(json.dumps(to_ipynb(sample_cells())), as_version=4)
    nbformat.validate(nb)
    assert nb.cells[1].outputs[1].data["text/plain"] == "2"


def test_notebook_round_trip_keeps_sources_and_outputs():
    cells = sample_cells()
    back = from_ipynb(json.dumps(to_ipynb(cells)))
    assert [c["source"] for c in back] == [c["source"] for c in cells]
    assert back[1]["outputs"][0]["text"] == "hi\n" and back[2]["outputs"][0]["ename"] == "ZeroDivisionError"


def test_notebook_import_refuses_what_is_not_a_notebook():
    with pytest.raises(NotebookFormatError, match="not JSON"):
        from_ipynb("print('hello')")
    with pytest.raises(NotebookFormatError, match="nbformat 4"):
        from_ipynb(json.dumps({"cells": "x"}))


def test_notebook_py_export_uses_percent_cells():
    text = to_percent_py(sample_cells())
    assert text.startswith("# %% [markdown]\n# # Title\n")
    assert "# %%\nprint('hi')\n1 + 1\n" in text
    compile(text, "notebook.py", "exec")


def test_starter_notebook_is_valid():
    nbformat.validate(nbformat.read(STARTER, as_version=4))
