"""Property tests of the transaction queue's recovery: whatever a damaged flash holds under the queue's
keys, opening the queue reports and skips the damaged records, never crashes, and loses nothing else."""

from hypothesis import given
from hypothesis import strategies as st

from firmware.ocpp.txqueue import TxQueue
from hal.memory import MemoryStorage

ACTIONS = ("StartTransaction", "MeterValues", "StopTransaction")
messages = st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 10 ** 6)), min_size=1, max_size=12)
garbage = st.one_of(st.binary(max_size=64), st.sampled_from([b"", b"{}", b"[]", b"null", b'{"a":"MeterValues"}',
                                                              b'{"a":"Heartbeat","p":{}}', b'{"a":1,"p":[]}',
                                                              b"\xff\xfe", b"[" * 200, b'"x"']))


@given(messages, st.data())
def test_damaged_records_are_reported_and_skipped_and_the_rest_replays_in_order(msgs, data):
    storage = MemoryStorage()
    q = TxQueue(storage, lambda topic, text: None)
    seqs = [q.add(action, {"meterStart": n}, None if action == "StartTransaction" else 1) for action, n in msgs]
    damaged = data.draw(st.sets(st.sampled_from(seqs)))
    for seq in damaged:
        storage.records["txq.%d" % seq] = data.draw(garbage)
    lines = []
    again = TxQueue(storage, lambda topic, text: lines.append(text))
    replayed = [seq for seq, record in again.replayed]
    good = [seq for seq in seqs if seq not in damaged]
    assert [seq for seq in replayed if seq in good] == good  # nothing else lost, order kept
    assert set(replayed) <= set(seqs)
    assert len(lines) == len(set(seqs) - set(replayed))  # every skipped record was reported
    for seq, record in again.replayed:
        assert record["a"] in ACTIONS and isinstance(record["p"], dict)
    assert len(TxQueue(storage, lambda topic, text: None)) == len(replayed)  # skipped ones are gone
