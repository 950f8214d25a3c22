"""The host's samples of the browser's memory and each row's share (app.host.process_memory)."""

from __future__ import annotations

import os
import time

import pytest

from app.host import process_memory as pm


def test_this_process_has_a_size_and_a_gone_one_has_none():
    assert pm.process_bytes(os.getpid()) > 1_000_000
    assert pm.process_bytes(2**22 + 12345) is None
    assert pm.total_bytes({os.getpid(), 2**22 + 12345}) > 1_000_000  # the gone process counts 0, not an error
    assert pm.total_bytes(set()) == 0


def test_the_sampler_records_until_stopped():
    s = pm.Sampler(lambda: {os.getpid()}, interval_s=0.02).start()
    time.sleep(0.2)
    samples = s.stop()
    assert len(samples) >= 3 and all(b > 0 for _, b in samples)
    assert all(a[0] < b[0] for a, b in zip(samples, samples[1:]))


def test_the_clock_map_keeps_the_tightest_pair():
    c = pm.ClockMap()
    assert c.host_s(1000.0) is None
    c.add(10.0, 500.0, 10.2)   # 200 ms round trip: offset 9.6 s
    c.add(20.0, 10_400.0, 20.01)  # 10 ms: offset 9.605 s
    assert c.host_s(1000.0) == pytest.approx(10.605) and c.error_s == pytest.approx(0.005)


def _result(*windows):
    return {"model": {"size": 100}, "rows": [{"key": f"r{i}", "memory": {"window_ms": list(w)}} if w else
                                              {"key": f"r{i}", "memory": None} for i, w in enumerate(windows)]}


def test_each_row_gets_its_windows_peak_over_the_baseline_before_the_first_row():
    clock = pm.ClockMap()
    clock.add(100.0, 0.0, 100.0)  # page 0 ms = host 100 s
    samples = [(99.0, 1000), (100.5, 1050), (101.5, 1400), (102.5, 1300), (103.5, 1200), (104.5, 1900), (106.0, 5000)]
    result = _result((1000.0, 3000.0), (4000.0, 5000.0), None)
    assert pm.attribute(result, samples, clock, 0.25) == 2
    a, b = result["rows"][0]["memory"], result["rows"][1]["memory"]
    assert a["process_bytes_baseline"] == 1050 and a["process_bytes_peak"] == 1400 and a["process_own_bytes_peak"] == 350
    assert a["process_own_to_model"] == pytest.approx(3.5) and "every 0.25 s" in a["process_source"]
    assert b["process_bytes_peak"] == 1900 and b["process_own_bytes_peak"] == 850  # the 5000 after its window is not its
    assert result["rows"][2]["memory"] is None


def test_no_clock_or_no_samples_gives_no_figures():
    result = _result((1000.0, 3000.0))
    assert pm.attribute(result, [(1.0, 5)], pm.ClockMap(), 0.25) == 0
    clock = pm.ClockMap()
    clock.add(0.0, 0.0, 0.0)
    assert pm.attribute(result, [], clock, 0.25) == 0 and "process_bytes_peak" not in result["rows"][0]["memory"]
