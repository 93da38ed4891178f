"""tools/footprint.py's import measurement under the real micropython binary, on two tiny modules."""

import os
import shutil

import pytest

from tools import footprint


def test_import_costs_gives_each_modules_own_cost_and_the_string_pool(tmp_path):
    (tmp_path / "small.py").write_text("X = 1\n")
    (tmp_path / "big.py").write_text("TABLE = [bytearray(%d) for _ in range(8)]\n" % 1000)
    baseline, costs, total = footprint.import_costs(tmp_path, ["small", "big"])
    own = dict(costs)
    assert set(own) == {"small", "big"}
    assert own["big"] >= 8 * 1000 > own["small"]  # eight 1000-byte buffers, against one int
    assert total >= own["big"] and baseline > 0
    assert footprint.QSTRS["n_qstr"] > 0 and footprint.QSTRS["n_total_bytes"] >= footprint.QSTRS["n_str_data_bytes"]


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="needs Node.js and npm")
def test_the_wasm32_build_is_a_32_bit_micropython_with_half_size_pointers(tmp_path):
    # evse footprint --wasm32: the same imports on MicroPython built for wasm32, where a list of 1000 slots
    # takes 4 bytes a slot instead of x86-64's 8 (fetches the wheel and Pyodide once, into the cache).
    (tmp_path / "slots.py").write_text("SLOTS = [None] * 1000\n")
    wasm32 = footprint.wasm32_runtime(os.path.expanduser("~/.cache/evse-wasm32"), say=lambda text: None)
    _, costs32, _ = footprint.import_costs(tmp_path, ["slots"], wasm32)
    _, costs64, _ = footprint.import_costs(tmp_path, ["slots"])
    assert 4000 <= dict(costs32)["slots"] < 6000 <= 8000 <= dict(costs64)["slots"]


def test_full_stores_fills_each_bounded_store_to_its_capacity(tmp_path):
    from firmware.ocpp import parts
    from firmware.ocpp.authorize import CACHE_ENTRIES
    from firmware.ocpp.keys16 import LOCAL_LIST_MAX

    footprint.compile_tree(tmp_path)
    full = footprint.full_stores(tmp_path)
    assert set(full) == {"logbook", "auth_cache", "local_list"}
    assert full["logbook"][1] == parts.LOG_LINES
    assert full["auth_cache"][1] == CACHE_ENTRIES and full["local_list"][1] == LOCAL_LIST_MAX
    assert all(size > 0 for size, _ in full.values())


def test_with_repeat_a_heap_size_passes_only_if_every_session_at_it_passes(monkeypatch):
    # Near the limit a session passes or fails from run to run: 280 KB here passes twice, then fails.
    runs = {}

    class Result:
        def __init__(self, passed):
            self.passed, self.reason = passed, "" if passed else "MemoryError"
            self.stderr, self.output, self.memory_logs = "", [], []

    def session(staging, heapsize, commanded=False):
        kb = int(heapsize[:-1])
        runs[kb] = runs.get(kb, 0) + 1
        return Result(kb >= 288 or (kb == 280 and runs[kb] <= 2))

    monkeypatch.setattr(footprint, "session", session)
    said = []
    assert footprint.smallest_heap_kb(None, 256, 320, said.append) == 280
    runs.clear()
    assert footprint.smallest_heap_kb(None, 256, 320, said.append, repeat=3) == 288
    assert runs[280] == 3 and said[-1] == "  heapsize  280 KB: FAIL (run 3: MemoryError)"


def test_a_failed_session_names_where_the_first_memory_error_was_raised():
    stderr = """Traceback (most recent call last):
  File "asyncio/core.py", line 1, in run_until_complete
  File "firmware/ocpp/link.mpy", line 203, in call
  File "hal/websocket.mpy", line 433, in _frame
MemoryError: memory allocation failed, allocating 120 bytes
Traceback (most recent call last):
  File "firmware/charger.mpy", line 171, in _poll_meter
MemoryError: memory allocation failed, allocating 280 bytes
"""
    assert footprint.first_memory_error(stderr) == "hal/websocket.mpy line 433 in _frame, allocating 120 bytes"
    assert footprint.first_memory_error("micropython exited (1)\nOSError: 5\n") is None
