# The running transaction, kept in storage so that a reset (watchdog, power cut, hard reset) cannot
# lose it: after the reboot the charge point sends what the CSMS has not acknowledged yet (the start, if
# it never got an id) and then stops the transaction once, with the energy the meter really recorded.
#
# One JSON record under one key, rewritten at each step (storage writes are atomic): started (meter
# start known), id assigned, ended (reason, time), and deleted when StopTransaction was acknowledged.
# Issue #5 moves all transaction messages into firmware/journal.py; this record is the minimum that keeps
# a transaction from being lost or stopped twice across a reset.
import json

KEY = "open_tx"
VERSION = 1


def save(storage, tx):
    record = {"v": VERSION, "tag": tx.id_tag, "start_ts": tx.start_ts, "id": tx.transaction_id,
              "start_wh": None if tx.begin is None else tx.begin.energy_wh,
              "stop_ts": tx.stop_ts, "reason": tx.reason}
    storage.write(KEY, json.dumps(record).encode())


def forget(storage):
    if hasattr(storage, "delete"):
        storage.delete(KEY)
    else:
        storage.write(KEY, b"")


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
    if not isinstance(record, dict) or record.get("v") != VERSION or not isinstance(record.get("tag"), str):
        raise ValueError("open transaction record has an unknown layout: %r" % (raw[:80],))
    if record.get("start_wh") is None:
        return None  # the start was never metered, so never sent: nothing reached the CSMS
    return record
