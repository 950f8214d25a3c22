"""Notebook documents (.ipynb / .py) built by app.core.notebook_format, checked with nbformat."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from app.core.notebook_format import (
    NotebookFormatError,
    from_ipynb,
    import_ipynb,
    new_cell,
    to_ipynb,
    to_percent_py,
)

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


PNG_1PX = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="


def jupyter_notebook() -> dict:
    """A notebook as Jupyter writes one: a raw cell, markdown with an attachment, tags, notebook metadata."""
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                     "jupytext": {"formats": "ipynb,py:percent"}},
        "cells": [
            {"cell_type": "raw", "id": "raw-1", "metadata": {"format": "text/x-rst"}, "source": [".. note::\n", "   raw text"]},
            {"cell_type": "markdown", "id": "md-1", "metadata": {"tags": ["intro"]},
             "attachments": {"dot.png": {"image/png": PNG_1PX}},
             "source": ["# Title\n", "![a dot](attachment:dot.png)"]},
            {"cell_type": "code", "id": "code-1", "metadata": {"tags": ["parameters", "slow"], "collapsed": False},
             "execution_count": 3, "source": ["x = 1\n", "x"],
             "outputs": [{"output_type": "execute_result", "execution_count": 3, "metadata": {},
                          "data": {"text/plain": ["1"], "image/png": PNG_1PX, "application/json": {"a": [1, 2]}}}]},
        ],
    }


def test_notebook_round_trip_keeps_raw_cells_attachments_tags_and_metadata():
    original = jupyter_notebook()
    nbformat.validate(nbformat.from_dict(original))  # the input itself is a valid notebook
    imported = import_ipynb(json.dumps(original))
    # application/json is kept (and exported) but not drawn here: the page says so, and says only that.
    assert imported["warnings"] == [("outputs of type application/json are kept in the notebook and exported again, "
                                     "but this page does not draw them.")]
    cells = imported["cells"]
    assert [c["cell_type"] for c in cells] == ["raw", "markdown", "code"]
    assert cells[1]["attachments"] == {"dot.png": {"image/png": PNG_1PX}}
    exported = to_ipynb(cells, "3.13.2", imported["metadata"])
    nb = nbformat.reads(json.dumps(exported), as_version=4)
    nbformat.validate(nb)
    raw, md, code = nb.cells
    assert raw.cell_type == "raw" and raw.source == ".. note::\n   raw text" and raw.metadata == {"format": "text/x-rst"}
    assert md.attachments["dot.png"]["image/png"] == PNG_1PX and md.metadata.tags == ["intro"]
    assert code.metadata == {"tags": ["parameters", "slow"], "collapsed": False}
    assert [c.id for c in nb.cells] == ["raw-1", "md-1", "code-1"]
    data = code.outputs[0].data
    assert data["image/png"] == PNG_1PX and data["application/json"] == {"a": [1, 2]} and data["text/plain"] == "1"
    assert nb.metadata.jupytext == {"formats": "ipynb,py:percent"}
    assert nb.metadata.kernelspec.display_name == "Python 3 (Pyodide)"  # what ran it now
    # And back again: nothing drifts on a second round trip.
    again = import_ipynb(json.dumps(exported))
    assert again["cells"] == cells and again["metadata"] == imported["metadata"]


def test_notebook_import_says_what_it_cannot_keep():
    nb = jupyter_notebook()
    nb["cells"][2]["outputs"].append({"output_type": "display_data", "metadata": {},
                                      "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "abc"},
                                               "text/plain": ["IntSlider()"]}})
    nb["cells"][2]["outputs"].append({"output_type": "clear_output"})
    nb["cells"][2]["attachments"] = {"x.png": {"image/png": PNG_1PX}}
    nb["cells"].append({"cell_type": "heading", "source": "old", "metadata": {}})
    imported = import_ipynb(json.dumps(nb))
    text = " ".join(imported["warnings"])
    assert "cell 3: an output of type 'clear_output' is not an nbformat 4 output and was dropped." in text
    assert "cell 3: a code cell cannot carry attachments" in text
    assert "cell 4: unknown cell type 'heading', kept as a raw cell." in text
    assert "application/vnd.jupyter.widget-view+json" in text and "does not draw" in text
    assert imported["cells"][3]["cell_type"] == "raw" and imported["cells"][3]["source"] == "old"
    nbformat.validate(nbformat.from_dict(to_ipynb(imported["cells"], "3.13", imported["metadata"])))
    with pytest.raises(NotebookFormatError, match="nbformat 3 notebook"):
        import_ipynb(json.dumps({"nbformat": 3, "cells": []}))


def test_notebook_export_of_a_truncated_cell_keeps_its_note_and_validates():
    from app.core.cell_output import CellOutput

    out = CellOutput(max_lines=3)
    out.stream("stdout", "".join(f"line {i}\n" for i in range(10)))
    cell = new_cell("for i in range(10): print('line', i)")
    cell["execution_count"] = 1
    cell["outputs"] = out.finish()
    nb = nbformat.reads(json.dumps(to_ipynb([cell])), as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].outputs[0].text == "line 0\nline 1\nline 2\n"
    assert nb.cells[0].outputs[1].data["text/plain"].startswith("output truncated: 7 more lines")
