# Transactions: one as the charge point keeps it until the CSMS has its StopTransaction, and the charge
# point's side of its life (a mixin of ChargePoint): started and ended by the charger, metered at both
# ends, its messages kept in the persistent queue (firmware/ocpp/txqueue.py, firmware/ocpp/open_tx.py)
# so that neither an outage nor a reset loses one, and an interrupted one stopped once after a reboot.
import asyncio

from firmware.ocpp import open_tx
from firmware.ocpp.txqueue import Queued, TxQueue

CONNECTOR = 1
METER_ATTEMPTS = 5  # reads for a transaction's start or end before giving up ...
METER_RETRY_S = 1  # ... this far apart (each read already retries on the bus: firmware/meter.py)
MAX_ALIGNED = 24  # clock-aligned values (StopTxnAlignedData) kept for StopTransaction; the newest win


class Transaction:
    def __init__(self, id_tag, start_ts):
        self.id_tag = id_tag
        self.parent_id_tag = None  # from the IdTagInfo that let it start, when known
        self.start_ts = start_ts
        self.begin = None  # MeterReading at the start, once read
        self.end = None  # MeterReading after the contactor opened, once read
        self.stop_ts = None
        self.transaction_id = None  # assigned by the CSMS in StartTransaction.conf
        self.sampled_ms = None  # clock ms of the last periodic sample (the start, before the first)
        self.reason = None  # why it stopped, once it has
        self.local = None  # the id of its StartTransaction record in the queue (firmware/ocpp/txqueue.py)
        self.start_msg = self.stop_msg = None  # their Queued outbox entries
        self.stop_queued = False  # the StopTransaction is in the queue
        self.aligned = []  # MeterValue dicts of StopTxnAlignedData, for StopTransaction's transactionData

    def add_aligned(self, value):
        self.aligned = self.aligned[-(MAX_ALIGNED - 1):] + [value]


class Reading:
    # Stands in when the meter gave nothing at all: zeros, and the log says why.
    energy_wh = 0.0
    power_w = 0.0
    voltage_v = (0.0, 0.0, 0.0)
    current_a = (0.0, 0.0, 0.0)


NO_READING = Reading()


class TransactionEvents:
    def _recover(self, reset_cause):
        # The transaction queue of the last boot goes out first, in its order; a transaction it left
        # open (a Start without its Stop) is stopped once, with the meter's energy (firmware/ocpp/open_tx.py).
        storage = self.storage
        if storage is None:  # a bare charge point (tests): the queue in RAM; a board always has storage
            from hal.memory import MemoryStorage

            storage = MemoryStorage()
        self.txq = TxQueue(storage, self.log)
        self._recovered = []
        opened = {}  # local id -> Transaction not stopped in the queue
        stopped = []  # local ids with a queued Stop
        for seq, record in self.txq.replayed:
            if record["a"] == "StartTransaction":
                p = record["p"]
                opened[seq] = self._restored(seq, p["idTag"], p["timestamp"], p["meterStart"], None)
            elif record["a"] == "StopTransaction":
                stopped.append(record.get("l"))
                opened.pop(record.get("l"), None)
        try:
            record = open_tx.load(self.txq.journal.storage)
        except ValueError as exc:
            self.log("boot", str(exc))
            record = None
        if record is not None and record["l"] not in stopped:
            tx = opened.get(record["l"]) or self._restored(record["l"], record["tag"], record["start_ts"],
                                                            record["start_wh"], record["id"])
            tx.transaction_id = record["id"] or tx.transaction_id
            tx.stop_ts, tx.reason = record["stop_ts"], record["reason"]
            opened[record["l"]] = tx
        for seq, record in self.txq.replayed:
            tx = opened.get(seq) if record["a"] == "StartTransaction" else None
            self._queue(Queued(self.txq, record["a"], tx, seq))
        for local in sorted(opened):
            tx = opened[local]
            tx.stop_ts = tx.stop_ts or self.clock.utc()
            tx.reason = tx.reason or ("PowerLoss" if reset_cause == "power" else "Reboot")
            self.log("boot", "transaction left open by the last boot (%s): stopping it, reason %s"
                     % (reset_cause, tx.reason))
            self._queue_stop(tx, read_meter=False)
            self._recovered.append(tx)
        if not opened:
            open_tx.forget(self.txq.journal.storage)  # its Stop is queued already (or it never started)

    def _restored(self, local, id_tag, start_ts, start_wh, tx_id):
        tx = Transaction(id_tag, start_ts)
        tx.local = local
        tx.transaction_id = tx_id
        tx.begin = Reading()
        tx.begin.energy_wh = start_wh
        return tx

    def _recovery_tasks(self):
        return [self._read_meter_into(tx, "end") for tx in self._recovered]

    def _persist(self, tx):
        # Only needed while the Stop is not in the queue: the transactionId, or why it ended.
        if tx.local is not None and not tx.stop_queued:
            open_tx.save(self.txq.journal.storage, tx)

    def _queue(self, queued):
        self.outbox.append([queued.action, None, queued.build, queued])
        self._wake.set()

    def queue_sample(self, tx, value):
        """One MeterValues of transaction tx (firmware/ocpp/sampling.py), kept until delivered."""
        if tx.local is None:
            self.log("meter", "sample before the transaction's start reading: not sent")
            return
        payload = self.adapter.meter_values(CONNECTOR, tx.transaction_id, [value])[1]
        self._queue(Queued(self.txq, "MeterValues", tx, self.txq.add("MeterValues", payload, tx.local)))

    def _tx_done(self, queued, result):
        """A transaction message was answered (result: the CALLRESULT payload) or given up (False)."""
        tx = queued.tx
        if result is False:
            self.log("txqueue", "%s given up after TransactionMessageAttempts" % queued.action)
        elif queued.action == "StartTransaction":
            tx_id, accepted = self.adapter.start_result(result)
            info = self.adapter.id_tag_info(result) or {}
            if tx is not None:
                tx.transaction_id = tx_id
                self.auth.learn(tx.id_tag, info)
                tx.parent_id_tag = info.get("parentIdTag") or tx.parent_id_tag
                self._persist(tx)  # before the Start leaves the queue: a cut now re-sends the Start
            self.txq.resolve(queued.seq, tx_id)
            if not accepted and tx is not None and self.tx is tx and self.config["StopTransactionOnInvalidId"]:
                self.charger.stop("DeAuthorized")
        elif queued.action == "StopTransaction" and tx is not None:
            self.auth.learn(tx.id_tag, self.adapter.id_tag_info(result))
        self.txq.ack(queued.seq)

    def tx_started(self):
        tx = Transaction(self.pending_id_tag or "unknown", self.clock.utc())
        tx.parent_id_tag = self.pending_parent
        tx.sampled_ms = self.clock.ms()
        self.pending_id_tag = self.pending_parent = None
        self.tx = tx
        self._sampling.set()
        tx.start_msg = Queued(self.txq, "StartTransaction", tx)  # written once the meter answered
        self._queue(tx.start_msg)
        self.spawn(self._read_meter_into(tx, "begin"))

    def tx_ended(self, reason):
        tx = self.tx
        if tx is None:
            return
        self.tx = None
        self._sampling.set()
        tx.stop_ts = self.clock.utc()
        tx.reason = reason
        self._persist(tx)
        self._queue_stop(tx)
        if self.availability.tx_ended():  # a Scheduled ChangeAvailability happens now (section 5.2)
            self.availability_changed()

    def _queue_stop(self, tx, read_meter=True):
        tx.stop_msg = Queued(self.txq, "StopTransaction", tx)  # written once the meter answered
        self._queue(tx.stop_msg)
        if read_meter:
            self.spawn(self._read_meter_into(tx, "end"))

    def _stop_payload(self, tx):
        sampled = self.config["StopTxnSampledData"]
        data = list(tx.aligned)
        data.append(self.adapter.meter_value(tx.end, sampled, "Transaction.End", tx.stop_ts))
        if not isinstance(tx.begin, Reading):  # a start recovered from storage has only its energy
            data.insert(0, self.adapter.meter_value(tx.begin, sampled, "Transaction.Begin", tx.start_ts))
        data = [value for value in data if value["sampledValue"]]  # nothing configured: none at all
        return self.adapter.stop_transaction(tx.transaction_id, tx.end.energy_wh, tx.stop_ts, tx.reason,
                                             tx.id_tag, data)[1]

    async def _read_meter_into(self, tx, which):
        # Begin: before the contactor closes; end: after it opened, so the register is final. A meter
        # that does not answer at once (a bus still busy after a reset) gets a few more tries.
        while which == "end" and tx.local is None:
            await asyncio.sleep(METER_RETRY_S)  # the Stop is written after its Start
        reading = None
        for attempt in range(METER_ATTEMPTS):
            reading = await self.charger.read_meter()
            if reading is not None:
                break
            await asyncio.sleep(METER_RETRY_S)
        if reading is None:
            self.log("meter", "no reading for transaction %s" % which)
            reading = tx.begin if which == "end" and tx.begin is not None else NO_READING
        setattr(tx, which, reading)
        while True:
            try:
                self._write_end(tx, which)
                break
            except MemoryError as exc:  # a heap short for a moment: the Start or Stop must not be lost
                self.log("txqueue", "MemoryError: %s; %s of transaction kept, written again in %d s"
                         % (exc, which, METER_RETRY_S))
                await asyncio.sleep(METER_RETRY_S)
        self._wake.set()

    def _write_end(self, tx, which):
        # The queue's write is all or nothing (firmware/journal.py), so a failed one can be done again.
        if which == "begin":
            start = self.adapter.start_transaction(CONNECTOR, tx.id_tag, tx.begin.energy_wh, tx.start_ts)[1]
            if getattr(tx, "reservation_id", None) is not None:
                # StartTransaction.req names the reservation it ends (section 5.13); in the record, so
                # a Start replayed after a reboot still names it.
                start["reservationId"] = tx.reservation_id
            tx.local = tx.start_msg.seq = self.txq.add("StartTransaction", start)
        else:
            tx.stop_msg.seq = self.txq.add("StopTransaction", self._stop_payload(tx), tx.local)
            tx.stop_queued = True
            open_tx.forget(self.txq.journal.storage)  # the queue says it all now
