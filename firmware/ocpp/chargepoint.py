# The OCPP charge point, independent of the protocol version: boot, heartbeat, connector status,
# authorization, transactions and their meter values, remote commands. Payloads come from a version
# adapter module (firmware/ocpp/v16.py today); the link carries them.
#
# Outgoing messages go through one ordered outbox served by one task, so the CSMS sees them in the
# order things happened (Preparing, StartTransaction, Charging, MeterValues..., StopTransaction).
# Transaction messages are never dropped while offline; a stale StatusNotification is replaced by
# the newer one. The outbox is in RAM for now: persisting it across power cuts is issue #5.
import asyncio

from firmware.config import canonical
from firmware.ocpp import open_tx
from firmware.ocpp.link import CallFailed
from firmware.waiting import event_or_timeout

CONNECTOR = 1  # one connector per charger for now
METER_ATTEMPTS = 5  # reads for a transaction's start or end before giving up ...
METER_RETRY_S = 1  # ... this far apart (each read already retries on the bus: firmware/meter.py)


class Transaction:
    def __init__(self, id_tag, start_ts):
        self.id_tag = id_tag
        self.start_ts = start_ts
        self.begin = None  # MeterReading at the start, once read
        self.end = None  # MeterReading after the contactor opened, once read
        self.stop_ts = None
        self.transaction_id = None  # assigned by the CSMS in StartTransaction.conf
        self.sampled_ms = None  # clock ms of the last periodic sample (the start, before the first)
        self.reason = None  # why it stopped, once it has


class _Reading:
    # Stands in when the meter gave nothing at all: zeros, and the log says why.
    energy_wh = 0.0
    power_w = 0.0
    voltage_v = (0.0, 0.0, 0.0)
    current_a = (0.0, 0.0, 0.0)


_NO_READING = _Reading()


class ChargePoint:
    def __init__(self, adapter, link, config, clock, charger, info, log=None, storage=None, reset_cause="power"):
        self.adapter = adapter
        self.link = link
        self.config = config
        self.clock = clock
        self.charger = charger
        self.info = info
        self.log = log or (lambda *args: None)
        self.booted = False
        self.boot_status = None
        self.outbox = []  # [action, payload or None, builder or None, transaction or None]
        self._sending = None  # the outbox entry on the wire now
        self.tx = None
        self.pending_id_tag = None
        self.last_sent_ms = 0
        self._wake = asyncio.Event()
        self._sampling = asyncio.Event()  # the transaction or the sample interval changed
        self._last_status = None
        self.storage = storage
        self._recovered = None  # a transaction the last boot left open, to stop once the tasks run
        self.boot_note = None  # why the last boot ended, if not a plain power-up: told to the CSMS once
        link.handler = self._handle
        link.on_connect = self._on_connect
        if storage is not None:
            self._recover(reset_cause)

    def _recover(self, reset_cause):
        # A transaction the last boot left open: deliver its start if needed, then stop it once.
        try:
            record = open_tx.load(self.storage)
        except ValueError as exc:
            self.log("boot", str(exc))
            open_tx.forget(self.storage)
            return
        if record is None:
            return
        tx = Transaction(record["tag"], record["start_ts"])
        tx.transaction_id = record["id"]
        tx.begin = _Reading()
        tx.begin.energy_wh = record["start_wh"]
        tx.stop_ts = record["stop_ts"] or self.clock.utc()
        tx.reason = record["reason"] or ("PowerLoss" if reset_cause == "power" else "Reboot")
        self.log("boot", "transaction left open by the last boot (%s): stopping it, reason %s"
                 % (reset_cause, tx.reason))
        if tx.transaction_id is None:
            self._send_tx("StartTransaction", tx, lambda: self.adapter.start_transaction(
                CONNECTOR, tx.id_tag, tx.begin.energy_wh, tx.start_ts)[1])
        self._queue_stop(tx, read_meter=False)
        self._recovered = tx

    # Tasks ------------------------------------------------------------------------------------

    def tasks(self):
        tasks = [self.link.run(), self._serve_outbox(), self._heartbeat(), self._sample_meter()]
        if self._recovered is not None:
            tasks.append(self._read_meter_into(self._recovered, "end"))
        return tasks

    async def _on_connect(self):
        connection = self.link.connects  # a newer connection runs its own boot loop; this one then ends
        while not self.booted and connection == self.link.connects:
            action, payload = self.adapter.boot(self.info)
            try:
                status, interval_s = self.adapter.boot_result(await self.link.call(action, payload))
            except CallFailed as exc:
                self.log("boot", str(exc))
                if not self.link.online.is_set():
                    return  # the next connect tries again
                await asyncio.sleep(10)
                continue
            self.boot_status = status
            if status == "Accepted":
                self.booted = True
                if interval_s > 0:
                    self.config.set("HeartbeatInterval", str(interval_s))  # validated like any other change
            else:  # Pending or Rejected: try again after the interval the CSMS gave
                await asyncio.sleep(max(interval_s, 1))
        if not self.booted:
            return
        self._last_status = None
        if self.boot_note:
            # OCPP 1.6 BootNotification has no reason field: say it on connector 0 (the charge point).
            self._send(*self.adapter.status(0, "Available", "InternalError", self.clock.utc(), self.boot_note))
            self.boot_note = None
        self.status_changed()
        self._wake.set()

    async def _serve_outbox(self):
        while True:
            if not self.outbox or not self.booted or not self.link.online.is_set():
                self._wake.clear()
                await self._wake.wait()
                continue
            entry = self.outbox[0]
            action, payload, build, tx = entry
            if build is not None:
                payload = build()
                if payload is None:  # not ready (waiting for the meter): wait for news
                    self._wake.clear()
                    await self._wake.wait()
                    continue
            attempts = 0
            self._sending = entry  # a newer status must not remove what is on the wire
            while True:
                try:
                    result = await self.link.call(action, payload)
                    self.last_sent_ms = self.clock.ms()
                    break
                except CallFailed as exc:
                    self.log("outbox", str(exc))
                    if not self.link.online.is_set():
                        result = None
                        break  # resend after the reconnect
                    attempts += 1
                    if tx is None or attempts >= self.config["TransactionMessageAttempts"]:
                        result = False  # given up (issue #5 keeps such messages for later)
                        break
                    await asyncio.sleep(self.config["TransactionMessageRetryInterval"] * attempts)
            if result is None:
                continue
            self._sending = None
            self._drop(entry)
            if result is not False:
                self._delivered(action, result, tx)

    def _drop(self, entry):
        for i in range(len(self.outbox)):
            if self.outbox[i] is entry:
                del self.outbox[i]
                return

    def _delivered(self, action, result, tx):
        if action == "StartTransaction":
            tx.transaction_id, accepted = self.adapter.start_result(result)
            self._persist(tx)
            if not accepted and self.tx is tx and self.config["StopTransactionOnInvalidId"]:
                self.charger.stop("DeAuthorized")
        elif action == "StopTransaction" and self.storage is not None and self.tx is None:
            open_tx.forget(self.storage)

    def _persist(self, tx):
        if self.storage is not None and tx.begin is not None:
            open_tx.save(self.storage, tx)

    async def _heartbeat(self):
        while True:
            interval_ms = self.config["HeartbeatInterval"] * 1000
            idle_ms = self.clock.ms() - self.last_sent_ms
            if idle_ms < interval_ms or not self.booted or not self.link.online.is_set():
                await asyncio.sleep(max(interval_ms - idle_ms, 1000) / 1000)
                continue
            action, payload = self.adapter.heartbeat()
            try:
                await self.link.call(action, payload)
                self.last_sent_ms = self.clock.ms()
            except CallFailed as exc:
                self.log("heartbeat", str(exc))
                await asyncio.sleep(10)

    async def _sample_meter(self):
        # "Samples are acquired and transmitted periodically at this interval from the start of the
        # charging transaction" (OCPP 1.6 section 9.1, MeterValueSampleInterval; 0 = none). A new
        # transaction or a new interval wakes this task, so a change takes effect at once.
        while True:
            self._sampling.clear()
            tx = self.tx
            interval_ms = self.config["MeterValueSampleInterval"] * 1000
            if tx is None or interval_ms <= 0:
                await self._sampling.wait()
                continue
            due_ms = tx.sampled_ms + interval_ms
            if await event_or_timeout(self._sampling, due_ms - self.clock.ms()):
                continue  # a new transaction or interval: start over
            now = self.clock.ms()
            tx.sampled_ms = due_ms if now - due_ms < interval_ms else now  # on the grid unless far behind
            reading = await self.charger.read_meter()
            if reading is None or self.tx is not tx:
                continue
            value = self.adapter.meter_value(reading, self.config["MeterValuesSampledData"], "Sample.Periodic",
                                       self.clock.utc(), self.charger.soc_pct())
            if not value["sampledValue"]:
                continue  # nothing configured that this meter measures; an empty list is invalid in 1.6
            # Bound now: the loop rebinds tx and value before a queued sample is built (offline, found
            # by the fault campaign: `evse faults --replay 810448082`).
            self._send_tx("MeterValues", tx, lambda tx=tx, value=value: self.adapter.meter_values(
                CONNECTOR, tx.transaction_id, [value])[1])

    # Outbox -----------------------------------------------------------------------------------

    def _send(self, action, payload):
        self.outbox.append([action, payload, None, None])
        self._wake.set()

    def _send_tx(self, action, tx, build):
        # Built when sent: the transactionId is only known once StartTransaction is answered.
        self.outbox.append([action, None, build, tx])
        self._wake.set()

    # Events from the charger ------------------------------------------------------------------

    def status_changed(self):
        status, error_code, info = self.charger.connector_status()
        if (status, error_code) == self._last_status:
            return
        self._last_status = (status, error_code)
        # An unsent status is stale now: only the newest one goes out.
        self.outbox = [e for e in self.outbox if e is self._sending or not (
            e[0] == "StatusNotification" and e[3] is None and e[1]["connectorId"] == CONNECTOR)]
        self._send(*self.adapter.status(CONNECTOR, status, error_code, self.clock.utc(), info))

    def tx_started(self):
        tx = Transaction(self.pending_id_tag or "unknown", self.clock.utc())
        tx.sampled_ms = self.clock.ms()
        self.pending_id_tag = None
        self.tx = tx
        self._sampling.set()

        def build():
            if tx.begin is None:
                return None  # the meter has not answered yet
            return self.adapter.start_transaction(CONNECTOR, tx.id_tag, tx.begin.energy_wh, tx.start_ts)[1]

        self._send_tx("StartTransaction", tx, build)
        asyncio.create_task(self._read_meter_into(tx, "begin"))

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

    def _queue_stop(self, tx, read_meter=True):
        def build():
            if tx.end is None:
                return None
            sampled = self.config["StopTxnSampledData"]
            data = [self.adapter.meter_value(tx.end, sampled, "Transaction.End", tx.stop_ts)]
            if not isinstance(tx.begin, _Reading):  # a start recovered from storage has only its energy
                data.insert(0, self.adapter.meter_value(tx.begin, sampled, "Transaction.Begin", tx.start_ts))
            return self.adapter.stop_transaction(tx.transaction_id, tx.end.energy_wh, tx.stop_ts, tx.reason,
                                                 tx.id_tag, data)[1]

        self._send_tx("StopTransaction", tx, build)
        if read_meter:
            asyncio.create_task(self._read_meter_into(tx, "end"))

    async def _read_meter_into(self, tx, which):
        # Begin: before the contactor closes; end: after it opened, so the register is final. A meter
        # that does not answer at once (a bus still busy after a reset) gets a few more tries.
        reading = None
        for attempt in range(METER_ATTEMPTS):
            reading = await self.charger.read_meter()
            if reading is not None:
                break
            await asyncio.sleep(METER_RETRY_S)
        if reading is None:
            self.log("meter", "no reading for transaction %s" % which)
            reading = tx.begin if which == "end" and tx.begin is not None else _NO_READING
        setattr(tx, which, reading)
        if which == "begin":
            self._persist(tx)
        self._wake.set()

    async def present_token(self, id_tag):
        """An RFID tag at the reader: authorize it with the CSMS and let the charger go on."""
        if not self.booted:
            # No request but BootNotification until it is Accepted (OCPP 1.6 section 4.2); local
            # authorization without the CSMS is issue #5.
            self.log("authorize", "refused: BootNotification not accepted yet")
            return False
        action, payload = self.adapter.authorize(id_tag)
        try:
            accepted = self.adapter.id_tag_accepted(await self.link.call(action, payload))
        except CallFailed as exc:
            self.log("authorize", str(exc))
            accepted = False  # local authorization offline is issue #5
        if accepted:
            self.pending_id_tag = id_tag
            self.charger.authorize()
        return accepted

    # Commands from the CSMS -------------------------------------------------------------------

    async def _handle(self, call):
        return await self.adapter.handle(self, call)

    def remote_start(self, id_tag, connector_id):
        if connector_id not in (None, CONNECTOR) or self.tx is not None or not self.charger.can_start():
            return "Rejected"
        if self.config["AuthorizeRemoteTxRequests"]:
            asyncio.create_task(self.present_token(id_tag))
        else:
            self.pending_id_tag = id_tag
            self.charger.authorize()
        return "Accepted"

    def remote_stop(self, transaction_id):
        if self.tx is None or self.tx.transaction_id != transaction_id:
            return "Rejected"
        self.charger.stop("Remote")
        return "Accepted"

    def change_configuration(self, key, value):
        status = self.config.set(key, value)
        if canonical(key) == "MeterValueSampleInterval" and status == "Accepted":
            self._sampling.set()
        return status

    def reset(self, kind):
        self.charger.reset_faults()  # an explicit reset also clears latched faults whose cause is gone
        if self.tx is not None:
            self.charger.stop("HardReset" if kind == "Hard" else "SoftReset")
        asyncio.create_task(self._reboot_when_idle())
        return "Accepted"

    async def _reboot_when_idle(self):
        # Let StopTransaction and friends reach the CSMS first, then boot again.
        while self.tx is not None or self.outbox:
            await asyncio.sleep(0.5)
        self.booted = False
        await self.link.stop_connection()
