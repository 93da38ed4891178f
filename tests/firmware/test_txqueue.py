# portable
# The persistent transaction queue (firmware/ocpp/txqueue.py) on MemoryStorage; a new TxQueue on the
# same storage stands for a reboot.
from firmware.journal import Journal
from firmware.ocpp.txqueue import Queued, TxQueue
from hal.memory import MemoryStorage


def quiet():
    lines = []
    return lines, lambda topic, text: lines.append(text)


def start(ts="2025-01-01T00:00:00Z"):
    return {"connectorId": 1, "idTag": "TAG1", "meterStart": 100, "timestamp": ts}


def sample(wh):
    return {"connectorId": 1, "meterValue": [{"timestamp": "t", "sampledValue": [{"value": str(wh)}]}]}


def stop(data=None):
    p = {"meterStop": 200, "timestamp": "t2", "reason": "Local"}
    if data is not None:
        p["transactionData"] = data
    return p


def test_messages_are_replayed_in_order_after_a_reboot():
    storage = MemoryStorage()
    lines, log = quiet()
    q = TxQueue(storage, log)
    local = q.add("StartTransaction", start())
    q.add("MeterValues", sample(150), local)
    q.add("StopTransaction", stop(), local)
    again = TxQueue(storage, log)
    assert [r["a"] for s, r in again.replayed] == ["StartTransaction", "MeterValues", "StopTransaction"]
    assert again.replayed[0][0] == local and again.replayed[2][1]["l"] == local
    assert len(again) == 3 and lines == []


def test_the_id_the_csms_gives_is_written_into_every_queued_message_of_the_transaction():
    storage = MemoryStorage()
    q = TxQueue(storage, quiet()[1])
    local = q.add("StartTransaction", start())
    mv = q.add("MeterValues", sample(150), local)
    other = q.add("StartTransaction", start("2025-01-01T01:00:00Z"))
    end = q.add("StopTransaction", stop(), local)
    q.resolve(local, 42)
    q.ack(local)
    assert q.payload(mv)["transactionId"] == 42
    again = TxQueue(storage, quiet()[1])  # the id survives a reboot, the Start is gone
    assert [s for s, r in again.replayed] == [mv, other, end]
    assert again.payload(end)["transactionId"] == 42
    assert "transactionId" not in again.payload(other)


def test_a_message_of_a_transaction_that_never_got_an_id_is_dropped_and_logged():
    lines, log = quiet()
    q = TxQueue(MemoryStorage(), log)
    local = q.add("StartTransaction", start())
    mv = q.add("MeterValues", sample(150), local)
    q.ack(local)  # given up after TransactionMessageAttempts
    assert q.payload(mv) is False
    assert len(q) == 0 and "never gave an id" in lines[-1]


def test_a_full_queue_drops_the_oldest_sample_never_a_start_or_stop():
    lines, log = quiet()
    q = TxQueue(MemoryStorage(), log, samples_max=3)
    local = q.add("StartTransaction", start())
    samples = [q.add("MeterValues", sample(wh), local) for wh in range(5)]
    q.add("StopTransaction", stop(), local)
    kinds = [q.actions[s] for s in q.journal.seqs()]
    assert kinds == ["StartTransaction", "MeterValues", "MeterValues", "MeterValues", "StopTransaction"]
    assert q.journal.seqs()[1:4] == samples[2:]
    assert q.dropped == 2 and "oldest MeterValues" in lines[0]
    for i in range(40):  # Starts and Stops beyond every limit are kept
        q.add("StopTransaction", stop(), local)
    assert q._count("StopTransaction") == 41


def test_a_queued_entry_builds_nothing_until_written_and_false_once_dropped():
    q = TxQueue(MemoryStorage(), quiet()[1])
    entry = Queued(q, "StartTransaction")
    assert entry.build() is None
    entry.seq = q.add("StartTransaction", start())
    assert entry.build()["idTag"] == "TAG1"
    q.ack(entry.seq)
    assert entry.build() is False


def test_a_stop_too_large_for_one_record_loses_its_oldest_transaction_data_first():
    lines, log = quiet()
    q = TxQueue(MemoryStorage(), log)
    data = [{"timestamp": "t%d" % i, "sampledValue": [{"value": "x" * 200}]} for i in range(40)]
    p = stop(data)
    p["transactionId"] = 5
    seq = q.add("StopTransaction", p, 7)
    kept = q.payload(seq)["transactionData"]
    assert 0 < len(kept) < 40 and kept[-1]["timestamp"] == "t39"
    assert "too large" in lines[0]


def test_records_of_an_unknown_layout_are_reported_and_skipped():
    storage = MemoryStorage()
    j = Journal(storage, "txq")
    j.append({"a": "Heartbeat", "p": {}})
    j.append([1, 2])
    good = j.append({"a": "StartTransaction", "p": start()})
    lines, log = quiet()
    q = TxQueue(storage, log)
    assert [s for s, r in q.replayed] == [good]
    assert len(lines) == 2 and len(q) == 1
