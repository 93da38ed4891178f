"""The journal under power cuts: for every script of appends, acks, updates and reboots, and for EVERY
storage step of it, a cut before, after or (on files) inside that step leaves, after a reboot, exactly
the records before or after the operation in progress: nothing lost that append() returned for, nothing
acked back, no duplicates, and sequence numbers that keep growing."""

import os
import shutil
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

import firmware.journal as journal_mod
from firmware.journal import Journal, JournalFull
from hal.file_storage import FileStorage
from hal.memory import MemoryStorage
from sim.flash import CutStorage, PowerCut

CAPACITY = 6
SMALL_LEASE = 3  # so that scripts cross lease boundaries often

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), json_values),
        st.tuples(st.just("ack"), st.integers(0, 20)),
        st.tuples(st.just("update"), st.integers(0, 20), json_values),
        st.tuples(st.just("reboot")),
    ),
    max_size=14,
)


def play(storage, script, progress):
    """Run script against a journal on storage, checking it against a list model as it goes.
    progress holds, for the operation in progress, the records before it and a check of those after."""
    j = Journal(storage, "tx", capacity=CAPACITY)
    model = list(j)
    issued = progress.setdefault("issued", [0])  # every sequence number append() returned
    for op in script:
        before = list(model)
        progress["before"] = before
        if op[0] == "append":
            record, top = op[1], max(issued)
            progress["after"] = lambda seen, b=before, r=record, t=top: (
                seen[:-1] == b and seen[-1][1] == r and seen[-1][0] > t)
            if len(model) >= CAPACITY:
                try:
                    j.append(record)
                except JournalFull:
                    continue
                raise AssertionError("a full journal took a record")
            seq = j.append(record)
            assert seq > top
            issued.append(seq)
            model.append((seq, record))
        elif op[0] == "ack":
            seq = issued[op[1] % len(issued)]  # live, already acked, or 0 (never issued)
            model = [item for item in model if item[0] != seq]
            progress["after"] = lambda seen, m=model: seen == m
            assert j.ack(seq) == (len(model) < len(before))
        elif op[0] == "update":
            seq = issued[op[1] % len(issued)]
            model = [(s, op[2] if s == seq else r) for s, r in model]
            progress["after"] = lambda seen, m=model: seen == m
            assert j.update(seq, op[2]) == (seq in [s for s, _ in before])
        else:
            progress["after"] = lambda seen, b=before: seen == b
            j = Journal(storage, "tx", capacity=CAPACITY)
        assert list(j) == model
        assert len(j) == len(model)
    return model


def check_every_cut(script, new_storage, reopen, modes):
    """Run script once to count its storage steps, then again with a cut at each step in each mode."""
    saved, journal_mod.LEASE_BLOCK = journal_mod.LEASE_BLOCK, SMALL_LEASE
    try:
        counter = CutStorage(new_storage())
        final = play(counter, script, {})
        assert list(Journal(reopen(counter.inner), "tx", capacity=CAPACITY)) == final
        for cut_at in range(counter.steps):
            for mode in modes:
                cut = CutStorage(new_storage(), cut_at, mode)
                progress = {}
                try:
                    play(cut, script, progress)
                except PowerCut:
                    pass
                else:
                    raise AssertionError("no cut at step %d" % cut_at)
                inner = reopen(cut.inner)
                rebooted = Journal(inner, "tx", capacity=CAPACITY)
                seen = list(rebooted)
                assert rebooted.problems == [] and rebooted.dropped == 0
                assert seen == progress["before"] or progress["after"](seen), (cut_at, mode, seen)
                # The journal goes on working and never hands out a number again, even once emptied and
                # rebooted once more.
                for seq, _ in seen:
                    assert rebooted.ack(seq)
                again = Journal(reopen(inner), "tx", capacity=CAPACITY)
                top = max(progress["issued"] + [seq for seq, _ in seen])
                assert list(again) == [] and again.append("after reboot") > top
    finally:
        journal_mod.LEASE_BLOCK = saved


@given(operations)
@settings(max_examples=150)
def test_every_cut_on_ram_storage_leaves_the_state_before_or_after(script):
    check_every_cut(script, MemoryStorage, lambda inner: MemoryStorage(inner.records), ("before", "after"))


@given(operations)
@settings(max_examples=40)
def test_every_cut_on_file_storage_including_torn_writes(script):
    base = tempfile.mkdtemp(prefix="evse_journal_")
    dirs = []

    def new_storage():
        dirs.append(os.path.join(base, str(len(dirs))))
        return FileStorage(dirs[-1], sync=False)

    def reopen(inner):
        again = FileStorage(inner.directory, sync=False)
        assert not [n for n in os.listdir(inner.directory) if n.endswith(".tmp")]
        return again

    try:
        check_every_cut(script, new_storage, reopen, ("before", "after", "torn"))
        for d in dirs:
            assert not [n for n in os.listdir(d) if n.endswith(".bad")]
    finally:
        shutil.rmtree(base)


@given(operations)
def test_the_journal_matches_a_list_across_reboots(script):
    storage = MemoryStorage()
    final = play(storage, script, {})
    assert list(Journal(storage, "tx", capacity=CAPACITY)) == final
