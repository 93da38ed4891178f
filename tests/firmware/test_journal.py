# portable
# The persistent transaction queue on MemoryStorage (a reopen stands for a reboot).
import json

from firmware.journal import LEASE_BLOCK, Journal, JournalFull
from hal.memory import MemoryStorage
from tests.portable import raises


def contents(journal):
    return list(journal)


def test_records_come_out_oldest_first_and_survive_a_reopen():
    storage = MemoryStorage()
    j = Journal(storage, "tx")
    first = j.append({"action": "StartTransaction", "payload": {"meterStart": 0}})
    second = j.append({"action": "MeterValues", "payload": {"wh": 10}})
    third = j.append([1, "two", None, True, 2.5])
    assert first < second < third
    assert len(j) == 3
    assert j.peek() == (first, {"action": "StartTransaction", "payload": {"meterStart": 0}})
    again = Journal(storage, "tx")
    assert contents(again) == contents(j)
    assert contents(again)[2] == (third, [1, "two", None, True, 2.5])
    assert again.problems == []


def test_ack_removes_and_repeated_or_unknown_acks_are_harmless():
    storage = MemoryStorage()
    j = Journal(storage, "tx")
    a, b, c = j.append("a"), j.append("b"), j.append("c")
    assert j.ack(a) is True
    assert j.ack(a) is False
    assert j.ack(12345) is False
    assert j.ack(c) is True  # out of order: b stays where it was
    assert contents(j) == [(b, "b")]
    assert contents(Journal(storage, "tx")) == [(b, "b")]
    assert j.ack(b) is True
    assert j.peek() is None
    assert len(Journal(storage, "tx")) == 0


def test_sequence_numbers_are_never_reused_after_a_reopen():
    storage = MemoryStorage()
    j = Journal(storage, "tx")
    used = [j.append(n) for n in range(3)]
    for seq in used:
        j.ack(seq)
    later = Journal(storage, "tx")
    new = later.append("new")
    assert new > max(used)
    for seq in used:  # a stale ack from before the reboot cannot touch the new record
        assert later.ack(seq) is False
        assert later.update(seq, "stale") is False
    assert contents(later) == [(new, "new")]


def test_update_patches_a_queued_record_in_place():
    # The CSMS assigns the transactionId in StartTransaction.conf; queued records of that transaction
    # carry the local id until then and are patched.
    storage = MemoryStorage()
    j = Journal(storage, "tx")
    start = j.append({"action": "StartTransaction", "local": 7})
    mv = j.append({"action": "MeterValues", "local": 7, "payload": {"transactionId": None}})
    other = j.append({"action": "MeterValues", "local": 8, "payload": {"transactionId": None}})
    assert j.ack(start)
    for seq, record in j:
        if record.get("local") == 7:
            record["payload"]["transactionId"] = 4242
            assert j.update(seq, record) is True
    assert [seq for seq, _ in j] == [mv, other]
    reopened = contents(Journal(storage, "tx"))
    assert reopened[0][1]["payload"]["transactionId"] == 4242
    assert reopened[1][1]["payload"]["transactionId"] is None
    assert j.update(start, {"too": "late"}) is False
    assert j.update(99999, "unknown") is False


def test_a_full_journal_refuses_and_writes_nothing():
    storage = MemoryStorage()
    j = Journal(storage, "tx", capacity=2)
    a = j.append("a")
    j.append("b")
    writes = storage.writes
    err = raises(JournalFull, j.append, "c")
    assert "2 records" in str(err)
    assert storage.writes == writes
    assert [r for _, r in j] == ["a", "b"]
    j.ack(a)
    j.append("c")
    assert [r for _, r in Journal(storage, "tx", capacity=2)] == ["b", "c"]


def test_bad_records_and_arguments_are_refused_clearly():
    storage = MemoryStorage()
    j = Journal(storage, "tx", record_max_bytes=100)
    raises(ValueError, j.append, {"x": object()})
    raises(ValueError, j.append, {1: "int key"})
    raises(ValueError, j.append, [b"bytes"])
    deep = []
    for _ in range(40):
        deep = [deep]
    raises(ValueError, j.append, deep)
    raises(ValueError, j.append, "y" * 200)
    seq = j.append("ok")
    raises(ValueError, j.update, seq, "z" * 200)
    assert contents(j) == [(seq, "ok")]
    for name in ("", "tx.1", "a/b", "t x", None):
        raises(ValueError, Journal, storage, name)
    raises(ValueError, Journal, storage, "tx", 0)


def test_a_record_of_two_kilobytes_round_trips():
    storage = MemoryStorage()
    samples = [{"timestamp": "2025-01-01T00:%02d:00Z" % m, "sampledValue": [{"value": str(m * 100)}]}
               for m in range(30)]
    record = {"action": "StopTransaction", "payload": {"transactionData": samples}}
    assert len(json.dumps(record)) > 1500
    seq = Journal(storage, "tx").append(record)
    assert contents(Journal(storage, "tx")) == [(seq, record)]


def test_costs_one_write_per_append_and_one_delete_per_ack():
    storage = MemoryStorage()
    j = Journal(storage, "tx")
    for n in range(2 * LEASE_BLOCK):
        j.ack(j.append({"n": n}))
    # One record write per append, one delete per ack, and one lease write per LEASE_BLOCK appends.
    assert storage.writes == 2 * LEASE_BLOCK + 2
    assert storage.deletes == 2 * LEASE_BLOCK


def test_damaged_records_are_dropped_and_reported_others_kept():
    storage = MemoryStorage()
    j = Journal(storage, "tx")
    a, b, c = j.append("a"), j.append("b"), j.append("c")
    storage.records["tx.%d" % b] = b'{"cut'
    storage.records["tx.junk"] = b"?"
    storage.records["tx2.1"] = b"not ours"
    again = Journal(storage, "tx")
    assert contents(again) == [(a, "a"), (c, "c")]
    assert again.dropped == 1
    assert len(again.problems) == 2
    assert "tx.%d" % b not in storage.records
    assert again.append("d") > c


def test_an_unreadable_lease_is_reported_and_numbers_continue_above_the_records():
    storage = MemoryStorage()
    j = Journal(storage, "tx")
    a = j.append("a")
    storage.records["tx.lease"] = b"garbage"
    again = Journal(storage, "tx")
    assert again.problems
    assert again.append("b") > a


class FailingStorage(MemoryStorage):
    def __init__(self):
        MemoryStorage.__init__(self)
        self.fail_key = None

    def write(self, key, data):
        MemoryStorage.write(self, key, data)  # the data landed, but the driver reports an error
        if key == self.fail_key:
            raise OSError(28, "no space left")


def test_a_failed_write_leaves_ram_and_storage_in_agreement():
    storage = FailingStorage()
    j = Journal(storage, "tx")
    a = j.append("a")
    storage.fail_key = "tx.%d" % (a + 1)
    raises(OSError, j.append, "b")
    assert contents(j) == [(a, "a")]
    assert contents(Journal(storage, "tx")) == [(a, "a")]
    assert j.append("c") > a + 1


def test_iterating_while_acking_sees_each_record_once():
    j = Journal(MemoryStorage(), "tx")
    for n in range(5):
        j.append(n)
    seen = []
    for seq, record in j:
        seen.append(record)
        j.ack(seq)
        if record == 1:
            j.ack(seq + 1)  # the next one goes too
    assert seen == [0, 1, 3, 4]
    assert len(j) == 0


class Cut(Exception):
    pass


class CuttingStorage(MemoryStorage):
    """A portable stand-in for sim/flash.py: fails before or after mutating step cut_at."""

    def __init__(self, records, cut_at, after):
        MemoryStorage.__init__(self, records)
        self.step = 0
        self.cut_at = cut_at
        self.after = after

    def _step(self, fn, *args):
        now = self.step
        self.step += 1
        if now == self.cut_at and not self.after:
            raise Cut()
        fn(self, *args)
        if now == self.cut_at:
            raise Cut()

    def write(self, key, data):
        self._step(MemoryStorage.write, key, data)

    def delete(self, key):
        self._step(MemoryStorage.delete, key)


def run_script(j, script, progress):
    """Apply script to journal j. progress["before"] holds the records before the operation in progress
    and progress["after"] a check of the records that operation leads to."""
    model = []
    for op, arg in script:
        progress["before"] = list(model)
        if op == "append":
            top = max([seq for seq, _ in model] or [0])
            progress["after"] = lambda seen, m=list(model), r=arg, top=top: (
                seen[:-1] == m and seen[-1][1] == r and seen[-1][0] > top)
            model.append((j.append(arg), arg))
            continue
        if op == "ack":
            seq = model[arg][0] if arg < len(model) else 10 ** 6
            result = [item for item in model if item[0] != seq]
        else:
            seq = model[arg][0]
            result = [(s, "new" if s == seq else r) for s, r in model]
        progress["after"] = lambda seen, result=result: seen == result
        if op == "ack":
            j.ack(seq)
        else:
            j.update(seq, "new")
        model[:] = result
    return model


def test_a_power_cut_at_every_step_leaves_the_state_before_or_after_the_operation():
    script = [("append", "s")] + [("append", n) for n in range(LEASE_BLOCK)] + [
        ("update", 0), ("ack", 0), ("ack", 5), ("update", 3), ("ack", 0), ("append", "x"), ("ack", 99)]
    cut_at = 0
    finished = False
    while not finished:
        for after in (False, True):
            storage = CuttingStorage({}, cut_at, after)
            progress = {}
            try:
                final = run_script(Journal(storage, "tx", capacity=100), script, progress)
                finished = True
                assert contents(Journal(storage, "tx")) == final
                break
            except Cut:
                pass
            seen = contents(Journal(MemoryStorage(storage.records), "tx", capacity=100))
            # The operation in progress happened completely or not at all; nothing else changed.
            assert seen == progress["before"] or progress["after"](seen), (cut_at, after, seen)
        cut_at += 1
    assert cut_at > LEASE_BLOCK + 5  # every step of the script was cut once
