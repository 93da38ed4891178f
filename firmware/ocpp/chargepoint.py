# The OCPP charge point, independent of the protocol version: boot, heartbeat, connector status,
# transactions and their meter values. Payloads come from a version adapter module (firmware/ocpp/v16.py
# today); the link carries them. Authorization is firmware/ocpp/authorize.py, the meter sampling tasks
# firmware/ocpp/sampling.py, the commands of the CSMS firmware/ocpp/commands.py.
#
# Outgoing messages go through one ordered outbox served by one task, so the CSMS sees them in the
# order things happened (Preparing, StartTransaction, Charging, MeterValues..., StopTransaction).
# Transaction messages are never dropped while offline; a stale StatusNotification is replaced by
# the newer one. Transaction messages are also written to flash first (firmware/ocpp/txqueue.py).
import asyncio

from firmware.config import canonical
from firmware.ocpp import sampling
from firmware.ocpp.authorize import Authorizer
from firmware.ocpp.availability import Availability
from firmware.ocpp.link import CallFailed
from firmware.ocpp.parts import Parts
from firmware.ocpp.transaction import TransactionEvents
from firmware.waiting import event_or_timeout, keep_stepping, sleep_s

BOOT_RETRY_S = 10  # BootNotification got a CALLERROR or no answer: try again after this
PILOT_KNOWN_WAIT_MS = 1000
CONNECTOR = 1  # one connector per charger for now


class ChargePoint(TransactionEvents, Parts):
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
        self.pending_parent = None  # parentIdTag of the pending idTag, when known
        self.last_sent_ms = 0
        # async fn(cause) the board sets to really restart: cause "Hard" or "Soft" (OCPP Reset) or "firmware"
        # (into a new slot). None: the OCPP session starts over without a restart (a bare test rig).
        self.restart = None
        self._wake = asyncio.Event()
        self._sampling = asyncio.Event()  # the transaction or the sample interval changed
        self._aligning = asyncio.Event()  # ClockAlignedDataInterval changed
        self._beat_changed = asyncio.Event()  # HeartbeatInterval changed
        self._boot_now = asyncio.Event()  # TriggerMessage(BootNotification) while not accepted yet
        self._last_status = None
        self._cp_status = "Available"  # of connector 0, as the CSMS last heard it
        self.storage = storage
        # The logbook, the security event store and the optional parts (firmware/ocpp/parts.py: smart
        # charging, reservations, firmware management, security), each built on first use.
        self._build_parts()
        self.availability = Availability(storage)
        for problem in self.availability.problems:
            self.log("boot", problem)
        self.auth = Authorizer(self)
        self._recovered = []  # transactions the last boot left open, to stop once the tasks run
        self.boot_note = None  # why the last boot ended, if not a plain power-up: told to the CSMS once
        link.handler = self._handle
        link.on_connect = self._on_connect
        self._recover(reset_cause)  # firmware/ocpp/transaction.py: the transaction queue replayed

    # Tasks ------------------------------------------------------------------------------------

    def tasks(self):
        tasks = [self.link.run(), self._serve_outbox(), self._heartbeat(), sampling.periodic(self),
                 sampling.aligned(self)]
        return tasks + self.part_tasks() + self._recovery_tasks()

    async def _on_connect(self):
        connection = self.link.connects  # a newer connection runs its own boot loop; this one then ends
        # Boot once the pilot has been read, so that the first StatusNotification says what the EV does:
        # one still plugged after a reboot is Preparing, never a moment of Available (the CP is known
        # ~30 ms after boot; the wait is bounded all the same).
        known = getattr(self.charger, "pilot_known", None)
        if known is not None:
            await event_or_timeout(known, PILOT_KNOWN_WAIT_MS)
        while not self.booted and connection == self.link.connects:
            self._boot_now.clear()
            try:
                result = await self.link.call(*self.adapter.boot(self.info))
                interval_s = self.adapter.boot_result(result)[1]
                self.boot_result(result)
            except CallFailed as exc:
                self.log("boot", str(exc))
                if not self.link.online.is_set():
                    return  # the next connect tries again
                interval_s = BOOT_RETRY_S
            if not self.booted:  # Pending or Rejected: try again after the interval the CSMS gave
                await event_or_timeout(self._boot_now, max(interval_s, 1) * 1000)
        if not self.booted:
            return
        self._last_status = None
        self._cp_status = "Available" if self.availability.operative(0) else "Unavailable"  # persists a reboot
        if self.boot_note:
            # OCPP 1.6 BootNotification has no reason field: say it on connector 0 (the charge point).
            self._send(*self.adapter.status(0, self._cp_status, "InternalError", self.clock.utc(), self.boot_note))
            self.boot_note = None
        elif self._cp_status == "Unavailable":
            self._send(*self.adapter.status(0, self._cp_status, "NoError", self.clock.utc()))
        self.status_changed()
        self._wake.set()

    def __getattr__(self, name):
        # Only for a name the charge point does not have: the CSMS's commands (firmware/ocpp/commands.py:
        # Reset, RemoteStart, TriggerMessage...) load with the first one used. A plain charging session
        # never needs them (~4 KB of heap under MicroPython, issue #4).
        from firmware.ocpp import commands

        command = getattr(commands.Commands, name, None)
        if command is None:
            raise AttributeError(name)
        return lambda *args: command(self, *args)

    def change_configuration(self, key, value):
        name = canonical(key)
        if name == "SecurityProfile":
            return self.security.change_profile(value)  # firmware/ocpp/security16.py: only upward
        status = self.config.set(key, value)
        if status == "Accepted":  # wake the task that waits on the old value
            if name == "MeterValueSampleInterval":
                self._sampling.set()
            elif name == "ClockAlignedDataInterval":
                self._aligning.set()
            elif name == "HeartbeatInterval":
                self._beat_changed.set()
            elif name == "WebSocketPingInterval":
                self.link.ping_changed.set()  # firmware/ocpp/link.py: applies at once
        return status

    def boot_result(self, payload):
        """A BootNotification.conf (at boot, or triggered later)."""
        status, interval_s = self.adapter.boot_result(payload)
        self.boot_status = status
        if status == "Accepted":
            self.booted = True
            if interval_s > 0:
                self.change_configuration("HeartbeatInterval", str(interval_s))  # validated like any change

    async def _serve_outbox(self):
        # After a MemoryError the entry is still at the head of the outbox (and still _sending, as after a
        # lost connection) and goes out on the next try.
        await keep_stepping(self._serve_next, self.log, "outbox", "the message goes out on the next try")

    async def _serve_next(self):
        """Send the head of the outbox (or wait for one to send)."""
        if not self.outbox or not self.booted or not self.link.online.is_set():
            self._wake.clear()
            await self._wake.wait()
            return
        entry = self.outbox[0]
        action, payload, build, tx = entry
        if build is not None:
            payload = build()
            if payload is None:  # not ready (waiting for the meter): wait for news
                self._wake.clear()
                await self._wake.wait()
                return
            if payload is False:  # a queued transaction message dropped meanwhile (logged)
                self._drop(entry)
                return
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
                    result = False  # given up (OCPP 1.6 section 4.10)
                    break
                await sleep_s(self.config["TransactionMessageRetryInterval"] * attempts)  # up to 99 days
        if result is None:
            return
        self._sending = None
        self._drop(entry)
        if tx is not None:
            self._tx_done(tx, result)  # firmware/ocpp/transaction.py: out of the queue
        elif result is not False:
            self._delivered(action, result, tx)

    def _drop(self, entry):
        for i in range(len(self.outbox)):
            if self.outbox[i] is entry:
                del self.outbox[i]
                return

    def _delivered(self, action, result, tx):
        if action == "BootNotification":
            self.boot_result(result)

    async def _heartbeat(self):
        while True:
            self._beat_changed.clear()
            interval_ms = self.config["HeartbeatInterval"] * 1000
            idle_ms = self.clock.ms() - self.last_sent_ms
            if idle_ms < interval_ms or not self.booted or not self.link.online.is_set():
                await event_or_timeout(self._beat_changed, max(interval_ms - idle_ms, 1000))
                continue
            try:
                await self.link.call(*self.adapter.heartbeat())
                self.last_sent_ms = self.clock.ms()
            except CallFailed as exc:
                self.log("heartbeat", str(exc))
                await asyncio.sleep(10)

    # Outbox -----------------------------------------------------------------------------------

    def _send(self, action, payload):
        self.outbox.append([action, payload, None, None])
        self._wake.set()

    # Events from the charger ------------------------------------------------------------------

    def connector_status(self):
        """(status, errorCode, info) of the connector: the charger's, Unavailable while Inoperative."""
        status, error_code, info = self.charger.connector_status()
        if status != "Faulted" and self.tx is None and not self.availability.operative(CONNECTOR):
            status = "Unavailable"
        elif status == "Available" and self._reservations is not None and self._reservations.active() is not None:
            status = "Reserved"  # firmware/ocpp/reservation.py
        return status, error_code, info

    def status_changed(self):
        status, error_code, info = self.connector_status()
        if (status, error_code) == self._last_status:
            return
        self._last_status = (status, error_code)
        # An unsent status is stale now: only the newest one goes out.
        self.outbox = [e for e in self.outbox if e is self._sending or not (
            e[0] == "StatusNotification" and e[3] is None and e[1]["connectorId"] == CONNECTOR)]
        self._send(*self.adapter.status(CONNECTOR, status, error_code, self.clock.utc(), info))

    # Authorization and commands -----------------------------------------------------------------

    async def present_token(self, id_tag):
        """An RFID tag at the reader (firmware/ocpp/authorize.py). True if it was accepted."""
        if self.tx is None and self._reservations is not None and not await self._reservations.admits(id_tag):
            self.log("authorize", "refused: the connector is reserved for another idTag")
            return False
        return await self.auth.present(id_tag)

    def remote_start(self, id_tag, connector_id, charging_profile=None):
        """Commands.remote_start, refused for a bad chargingProfile (firmware/ocpp/smart_charging.py) or an
        idTag other than the reserved one (with AuthorizeRemoteTxRequests, present_token checks that)."""
        smart = self.smart if charging_profile is not None else self._smart
        reservations = self._reservations
        if (smart is not None and not smart.remote_start_profile(id_tag, charging_profile)) or not (
                self.config["AuthorizeRemoteTxRequests"] or reservations is None
                or reservations.admits_known(id_tag)):
            if smart is not None:
                smart.pending = None
            return "Rejected"
        from firmware.ocpp import commands

        status = commands.Commands.remote_start(self, id_tag, connector_id)
        if status != "Accepted" and smart is not None:
            smart.pending = None
        return status

    def tx_started(self):
        TransactionEvents.tx_started(self)
        if self._smart is not None:
            self._smart.tx_started(self.tx)
        # Set before the meter's first reading writes the StartTransaction record, which carries it
        # (firmware/ocpp/transaction.py).
        if self._reservations is not None:
            self.tx.reservation_id = self._reservations.tx_started(self.tx)

    def tx_ended(self, reason):
        TransactionEvents.tx_ended(self, reason)
        if self._smart is not None:
            self._smart.tx_ended()

    async def _handle(self, call):
        return await self.adapter.handle(self, call)

    def conflict(self, id_tag):
        # The CSMS disagrees with the Local Authorization List (section 3.5.2).
        self._send(*self.adapter.status(0, self._cp_status, "LocalListConflict", self.clock.utc(),
                                        "idTag " + id_tag))

