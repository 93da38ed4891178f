"""sim/flash.py: power cuts between (and inside) storage writes."""

import os

import pytest

from hal.file_storage import FileStorage
from hal.memory import MemoryStorage
from sim.flash import CutStorage, PowerCut


def test_passes_everything_through_and_counts_steps_until_armed():
    inner = MemoryStorage()
    s = CutStorage(inner)
    s.write("a", b"1")
    s.write("b", b"2")
    s.delete("a")
    assert (s.steps, s.writes, s.deletes) == (3, 2, 1)
    assert s.read("b") == b"2" and s.read("a") is None
    assert s.keys() == ["b"]


def test_a_cut_before_a_write_leaves_the_old_value_and_stops_everything():
    inner = MemoryStorage({"k": b"old"})
    s = CutStorage(inner, cut_at=1)
    s.write("x", b"0")
    with pytest.raises(PowerCut):
        s.write("k", b"new")
    assert inner.read("k") == b"old"
    assert s.dead
    for call in (lambda: s.read("k"), lambda: s.write("y", b""), lambda: s.delete("x"), lambda: s.keys()):
        with pytest.raises(PowerCut):
            call()
    assert inner.records == {"k": b"old", "x": b"0"}


def test_a_cut_after_a_write_keeps_the_new_value():
    inner = MemoryStorage({"k": b"old"})
    s = CutStorage(inner, cut_at=0, mode="after")
    with pytest.raises(PowerCut):
        s.write("k", b"new")
    assert inner.read("k") == b"new"


@pytest.mark.parametrize("mode, left", [("before", {"k": b"v"}), ("after", {}), ("torn", {"k": b"v"})])
def test_a_cut_around_a_delete(mode, left):
    inner = MemoryStorage({"k": b"v"})
    s = CutStorage(inner, cut_at=0, mode=mode)
    with pytest.raises(PowerCut):
        s.delete("k")
    assert inner.records == left


def test_a_torn_write_on_file_storage_leaves_half_a_temp_file_that_the_next_start_drops(tmp_path):
    inner = FileStorage(str(tmp_path), sync=False)
    inner.write("config", b"old value")
    s = CutStorage(inner, cut_at=0, mode="torn")
    with pytest.raises(PowerCut):
        s.write("config", b"the new value, long enough to be torn")
    assert sorted(os.listdir(tmp_path)) == ["config.rec", "config.tmp"]
    assert 0 < os.path.getsize(tmp_path / "config.tmp") < 12 + 37
    rebooted = FileStorage(str(tmp_path))
    assert rebooted.read("config") == b"old value"
    assert rebooted.corrupt == 0
    assert os.listdir(tmp_path) == ["config.rec"]


def test_torn_on_a_ram_store_is_a_cut_before_the_write():
    inner = MemoryStorage({"k": b"old"})
    with pytest.raises(PowerCut):
        CutStorage(inner, cut_at=0, mode="torn").write("k", b"new")
    assert inner.records == {"k": b"old"}


def test_power_cut_is_not_swallowed_by_except_exception():
    s = CutStorage(MemoryStorage(), cut_at=0)
    with pytest.raises(PowerCut):
        try:
            s.write("k", b"v")
        except Exception:  # what firmware does to log and carry on
            pytest.fail("a power cut must not be caught as an Exception")


def test_arming_later_counts_from_construction_and_bad_arguments_are_refused():
    s = CutStorage(MemoryStorage())
    s.write("a", b"")
    s.arm(2, "after")
    s.write("b", b"")
    with pytest.raises(PowerCut):
        s.write("c", b"")
    assert s.inner.keys() == ["a", "b", "c"]
    with pytest.raises(ValueError):
        s.arm(0, "sideways")
    with pytest.raises(ValueError):
        CutStorage(MemoryStorage(), cut_at=-1)
