# What the transaction queue (firmware/ocpp/txqueue.py) cannot say on its own about the running
# transaction: its transactionId once its StartTransaction left the queue, and why and when it ended
# before its StopTransaction could be written (the end meter reading comes later). One JSON record
# under one key (storage writes are atomic), deleted once the StopTransaction is in the queue.
#
# After a reboot firmware/ocpp/transaction.py finds the interrupted transaction from the queue (a Start
# without its Stop) and this record, and stops it once: reason PowerLoss (or Reboot, or the reason it
# had already ended with), with the energy the meter really recorded.
import json

KEY = "open_tx"
VERSION = 2


def save(storage, tx):
    record = {"v": VERSION, "l": tx.local, "tag": tx.id_tag, "start_ts": tx.start_ts, "id": tx.transaction_id,
              "start_wh": None if tx.begin is None else tx.begin.energy_wh,
              "stop_ts": tx.stop_ts, "reason": tx.reason}
    storage.write(KEY, json.dumps(record).encode())


def forget(storage):
    if storage.read(KEY) is not None:
        storage.delete(KEY)


def load(storage):
    """The record left by the last boot, or None. A record that does not parse is reported by raising
    ValueError (the caller logs it and goes on without it)."""
    raw = storage.read(KEY)
    if not raw:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        raise ValueError("open transaction record is not JSON: %r" % (raw[:40],))
    if (not isinstance(record, dict) or record.get("v") != VERSION or not isinstance(record.get("tag"), str)
            or not isinstance(record.get("l"), int) or not isinstance(record.get("start_wh"), (int, float))):
        raise ValueError("open transaction record has an unknown layout: %r" % (raw[:80],))
    return record
