"""A row's memory: its own (the page's growth from just before its engine loaded) apart from the page's total
(app.web.gpu_capture.memory_fields), and how the table shows them (app.core.report)."""

from __future__ import annotations

import pytest

from app.core import report
from app.web.gpu_capture import memory_fields


def test_the_rows_own_memory_is_the_growth_from_before_its_load():
    m = memory_fields({"bytes": 500}, {"bytes": 700}, 100, before_load={"bytes": 300})
    assert (m["page_bytes_before_load"], m["page_bytes_after_load"], m["page_bytes_at_end"]) == (300, 500, 700)
    assert m["page_bytes_peak"] == 700 and m["peak_to_model"] == pytest.approx(7.0)
    assert m["engine_bytes_after_load"] == 200 and m["engine_bytes_peak"] == 400
    assert m["engine_peak_to_model"] == pytest.approx(4.0) and m["error"] is None


def test_without_a_figure_before_load_the_rows_own_is_unknown_and_says_why():
    m = memory_fields({"bytes": 500}, {"bytes": 400}, 100, before_load={"error": "no answer within 10000 ms"})
    assert m["page_bytes_peak"] == 500 and m["engine_bytes_peak"] is None and m["engine_peak_to_model"] is None
    assert m["error"] == "no answer within 10000 ms"


def test_a_page_that_shrank_while_loading_gives_zero_not_a_negative_figure():
    m = memory_fields({"bytes": 250}, {"bytes": 260}, 100, before_load={"bytes": 300})
    assert m["engine_bytes_after_load"] == 0 and m["engine_bytes_peak"] == 0


def test_the_table_shows_the_rows_own_and_the_page_total_apart():
    own = {"memory": memory_fields({"bytes": 500e6}, {"bytes": 700e6}, 100e6, before_load={"bytes": 300e6})}
    assert report.memory_cell(own) == "400 (4.0x)"
    old = {"memory": {"page_bytes_peak": 700e6, "peak_to_model": 7.0}}  # a result from before the split
    assert report.memory_cell(old) == "page 700 (7.0x)"
    assert report.memory_cell({"memory": None}) == "-"
    note = report.page_memory_note({"rows": [own, {"memory": {"page_bytes_peak": 900e6}}]})
    assert len(note) == 1 and "peaked at 900 MB" in note[0] and "as the page counts it" in note[0]
    # The host's count of the browser's processes, where the run had one, comes first.
    host = {"memory": {**own["memory"], "process_own_bytes_peak": 250e6, "process_own_to_model": 2.5,
                       "process_bytes_peak": 1200e6}}
    assert report.memory_cell(host) == "250 (2.5x)" and report.own_memory(host)[2] == "process"
    note = report.page_memory_note({"rows": [host]})
    assert "PSS, sampled by the host" in note[0] and "peaked at 1200 MB" in note[0]
    assert report.page_memory_note({"rows": [{"memory": None}]}) == []
