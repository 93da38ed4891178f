# The embedded CSMS (CPython only): an OCPP 1.6J central system on the `ocpp` package that records
# everything a test may want to check.
#
# One Csms serves many charge points, over any text connection (sim.memlink in virtual time, or a real
# WebSocket from serve_websocket). Every frame in both directions is checked against the OCA 1.6 schemas
# by the `ocpp` package and recorded per charge point with the CSMS's own clock; CALLERRORs sent or
# received and every validation failure land in `errors`, so a clean end-to-end run asserts
# `csms.errors == []`.
#
# Validation runs inline (ocpp.messages.ASYNC_VALIDATION = False, set on import for the whole process):
# the package's default thread executor cannot run in virtual time.
import asyncio
import collections
import json
import logging

import ocpp.messages
from ocpp.exceptions import OCPPError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from hal.interfaces import ConnectionClosed
from sim.memlink import charge_point_id

ocpp.messages.ASYNC_VALIDATION = False

LOG = logging.getLogger("sim.csms")

SUBPROTOCOL = "ocpp1.6"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# OCPP-J 1.6 Table 7 spells two codes differently from the `ocpp` package (errata 5.1-5.2: kept on purpose)
ERROR_CODE_SPELLING_16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
FRAME_TYPES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}


def _ws_closed_types():
    try:
        from websockets.exceptions import ConnectionClosed as WsClosed
    except ImportError:  # pragma: no cover - websockets is a dependency
        return (ConnectionClosed,)
    return (ConnectionClosed, WsClosed)


_CLOSED_ERRORS = _ws_closed_types()


class _Wire:
    """Wraps one connection: records every frame, labels responses with their action, converts the
    transport's close into hal ConnectionClosed, and respells error codes for 1.6 on the way out."""

    def __init__(self, connection, station):
        self.connection = connection
        self.station = station
        self._in_calls = {}  # unique id -> action of CALLs received (to label our replies)
        self._out_calls = {}  # unique id -> action of CALLs sent (to label their responses)

    async def recv(self):
        try:
            text = await self.connection.recv()
        except _CLOSED_ERRORS as exc:
            raise ConnectionClosed(str(exc)) from exc
        if isinstance(text, bytes):
            self.station._error("in", "frame", description="binary frame; OCPP-J uses text frames")
            text = text.decode("utf-8", "replace")
        self._note("in", text, self._in_calls, self._out_calls)
        return text

    async def send(self, text):
        text = self._respell(text)
        self._note("out", text, self._out_calls, self._in_calls)
        try:
            await self.connection.send(text)
        except _CLOSED_ERRORS as exc:
            raise ConnectionClosed(str(exc)) from exc

    async def close(self):
        try:
            await self.connection.close()
        except _CLOSED_ERRORS:
            pass

    def _respell(self, text):
        frame = _parse(text)
        if frame is None or frame[0] != 4 or len(frame) < 3 or frame[2] not in ERROR_CODE_SPELLING_16:
            return text
        original = frame[2]
        frame[2] = ERROR_CODE_SPELLING_16[original]
        self.station._respelled.append((frame[1], original))
        return json.dumps(frame, separators=(",", ":"))

    def _note(self, direction, text, calls_here, calls_there):
        frame = _parse(text)
        if frame is None or len(frame) < 3 or frame[0] not in FRAME_TYPES or not isinstance(frame[1], str):
            self.station._frame(direction, "INVALID", None, None, None, text)
            self.station._error(direction, "frame", description="not an OCPP-J frame: %.200s" % text)
            return
        kind, unique_id = FRAME_TYPES[frame[0]], frame[1]
        if kind == "CALL":
            action = frame[2]
            calls_here[unique_id] = action
            payload = frame[3] if len(frame) > 3 else None
        else:
            action = calls_there.pop(unique_id, None)
            payload = frame[2] if kind == "CALLRESULT" else None
        self.station._frame(direction, kind, action, unique_id, payload, text)
        if kind == "CALLERROR":
            remapped = [o for uid, o in self.station._respelled if uid == unique_id]
            self.station._error(direction, "callerror", unique_id=unique_id, action=action,
                                code=frame[2] if len(frame) > 2 else None,
                                description=frame[3] if len(frame) > 3 else None,
                                details=frame[4] if len(frame) > 4 else None,
                                remapped_from=remapped[-1] if remapped else None)
        elif action is None and kind == "CALLRESULT":
            self.station._error(direction, "frame", unique_id=unique_id,
                                description="response to no outstanding CALL")


def _parse(text):
    try:
        frame = json.loads(text)
    except (TypeError, ValueError):
        return None
    return frame if isinstance(frame, list) and frame else None


class _Handler(OcppChargePoint):
    """The `ocpp` package's view of one connection; every handler records, then answers."""

    def __init__(self, station, wire, call_timeout_s):
        super().__init__(station.id, wire, response_timeout=call_timeout_s)
        self.station = station
        self.csms = station.csms

    def _payload(self, unique_id):
        return self.station._payload_of("in", unique_id)

    @on(Action.boot_notification)
    def on_boot_notification(self, call_unique_id, **_):
        st = self.station
        statuses = self.csms.boot_statuses
        status = statuses[min(len(st.boot_notifications), len(statuses) - 1)]
        st.boot_notifications.append({"utc": self.csms.utc(), "status": status,
                                      "payload": self._payload(call_unique_id)})
        return call_result.BootNotification(current_time=self.csms.utc(), status=status,
                                            interval=self.csms.heartbeat_interval_s)

    @on(Action.heartbeat)
    def on_heartbeat(self, **_):
        self.station.heartbeats.append(self.csms.utc())
        return call_result.Heartbeat(current_time=self.csms.utc())

    @on(Action.status_notification)
    def on_status_notification(self, call_unique_id, **_):
        p = self._payload(call_unique_id)
        self.station.statuses.append({
            "utc": self.csms.utc(), "connector_id": p["connectorId"], "status": p["status"],
            "error_code": p["errorCode"], "timestamp": p.get("timestamp"), "info": p.get("info"),
            "vendor_error_code": p.get("vendorErrorCode")})
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag, **_):
        status = self.csms.id_tag_status(id_tag)
        self.station.authorizations.append({"utc": self.csms.utc(), "id_tag": id_tag, "status": status})
        return call_result.Authorize(id_tag_info={"status": status})

    @on(Action.start_transaction)
    def on_start_transaction(self, call_unique_id, **_):
        p = self._payload(call_unique_id)
        status = self.csms.id_tag_status(p["idTag"])
        tx = self.csms._new_transaction(self.station, p, status)
        return call_result.StartTransaction(transaction_id=tx["transaction_id"],
                                            id_tag_info={"status": status})

    @on(Action.stop_transaction)
    def on_stop_transaction(self, call_unique_id, **_):
        p = self._payload(call_unique_id)
        tx = self.station.transactions.get(p["transactionId"])
        if tx is None:
            self.station._error("in", "record", action="StopTransaction",
                                description="unknown transactionId %r" % p["transactionId"])
        else:
            tx.update({"meter_stop_wh": p["meterStop"], "timestamp_stop": p["timestamp"],
                       "stop_utc": self.csms.utc(), "reason": p.get("reason"),
                       "stop_id_tag": p.get("idTag"), "transaction_data": p.get("transactionData")})
        if "idTag" in p:
            return call_result.StopTransaction(id_tag_info={"status": self.csms.id_tag_status(p["idTag"])})
        return call_result.StopTransaction()

    @on(Action.meter_values)
    def on_meter_values(self, call_unique_id, **_):
        p = self._payload(call_unique_id)
        tx_id = p.get("transactionId")
        self.station.meter_values.append({"utc": self.csms.utc(), "connector_id": p["connectorId"],
                                          "transaction_id": tx_id, "meter_value": p["meterValue"]})
        if tx_id is not None:
            tx = self.station.transactions.get(tx_id)
            if tx is None:
                self.station._error("in", "record", action="MeterValues",
                                    description="unknown transactionId %r" % tx_id)
            else:
                tx["meter_values"].extend(p["meterValue"])
        return call_result.MeterValues()

    @on(Action.data_transfer)
    def on_data_transfer(self, call_unique_id, **_):
        p = self._payload(call_unique_id)
        known = p["vendorId"] in self.csms.vendor_ids
        status = "Accepted" if known else "UnknownVendorId"
        self.station.data_transfers.append({"utc": self.csms.utc(), "payload": p, "status": status})
        return call_result.DataTransfer(status=status)

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(self, status, **_):
        self.station.diagnostics_statuses.append({"utc": self.csms.utc(), "status": status})
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status, **_):
        self.station.firmware_statuses.append({"utc": self.csms.utc(), "status": status})
        return call_result.FirmwareStatusNotification()


class Station:
    """What the CSMS knows about one charge point (kept across reconnects), and its commands."""

    def __init__(self, csms, cp_id):
        self.csms = csms
        self.id = cp_id
        self.frames = []  # {utc, direction, type, action, unique_id, payload, text}
        self.counts = {"in": collections.Counter(), "out": collections.Counter()}  # CALLs by action
        # {utc, direction, kind, unique_id, action, code, description, details, remapped_from}
        self.errors = []
        self.connections = []  # {utc, event: connected|disconnected, subprotocol, headers}
        self.boot_notifications = []  # {utc, status, payload}
        self.heartbeats = []  # utc of each
        self.statuses = []  # {utc, connector_id, status, error_code, timestamp, info, vendor_error_code}
        self.authorizations = []  # {utc, id_tag, status}
        self.transactions = {}  # transaction_id -> record (see Csms._new_transaction)
        self.meter_values = []  # {utc, connector_id, transaction_id, meter_value}
        self.data_transfers = []
        self.diagnostics_statuses = []
        self.firmware_statuses = []
        self._respelled = []  # (unique_id, original code)
        self._wire = None
        self._handler = None
        self._task = None
        self._next_call = 0
        self._waiters = []

    @property
    def connected(self):
        return self._wire is not None

    # -- records ----------------------------------------------------------------------------------

    def _frame(self, direction, kind, action, unique_id, payload, text):
        self.frames.append({"utc": self.csms.utc(), "direction": direction, "type": kind, "action": action,
                            "unique_id": unique_id, "payload": payload, "text": text})
        if kind == "CALL":
            self.counts[direction][action] += 1
        self._changed()

    def _error(self, direction, kind, unique_id=None, action=None, code=None, description=None,
               details=None, remapped_from=None):
        error = {"utc": self.csms.utc(), "direction": direction, "kind": kind, "unique_id": unique_id,
                 "action": action, "code": code, "description": description, "details": details,
                 "remapped_from": remapped_from}
        self.errors.append(error)
        LOG.warning("%s: %s", self.id, error)
        self._changed()

    def _payload_of(self, direction, unique_id):
        for frame in reversed(self.frames):
            if frame["unique_id"] == unique_id and frame["direction"] == direction:
                return frame["payload"]
        raise KeyError(unique_id)

    def _changed(self):
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(self, predicate, timeout_s=None):
        """Wait until predicate() is true; it is re-checked after every recorded frame or error."""

        async def watch():
            while not predicate():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                await waiter

        await asyncio.wait_for(watch(), timeout_s)

    async def wait_for_action(self, action, count=1, direction="in", timeout_s=None):
        await self.wait_for(lambda: self.counts[direction][action] >= count, timeout_s)

    # -- commands (CSMS -> charge point) ----------------------------------------------------------

    async def call(self, payload):
        """Send one CALL (an ocpp.v16.call dataclass) and return the response payload as received.

        Raises the OCPPError for a CALLERROR or a schema failure, ConnectionClosed when the charge point
        is not connected or goes away meanwhile, asyncio.TimeoutError after the call timeout."""
        handler, task = self._handler, self._task
        if handler is None:
            raise ConnectionClosed("%s is not connected" % self.id)
        self._next_call += 1
        unique_id = "csms-%d" % self._next_call
        calling = asyncio.ensure_future(handler.call(payload, suppress=False, unique_id=unique_id))
        await asyncio.wait({calling, task}, return_when=asyncio.FIRST_COMPLETED)
        if not calling.done():
            calling.cancel()
            await asyncio.gather(calling, return_exceptions=True)
            raise ConnectionClosed("%s disconnected during %s" % (self.id, type(payload).__name__))
        try:
            calling.result()
        except OCPPError as exc:
            sent = any(f["unique_id"] == unique_id for f in self.frames if f["direction"] == "out")
            answered_with_error = any(f["unique_id"] == unique_id and f["type"] == "CALLERROR"
                                      for f in self.frames)
            if not answered_with_error:
                self._error("in" if sent else "out", "validation", unique_id=unique_id,
                            action=type(payload).__name__, code=exc.code, description=str(exc),
                            details=exc.details)
            raise
        return self._payload_of("in", unique_id)

    async def remote_start(self, id_tag, connector_id=None):
        return await self.call(call.RemoteStartTransaction(id_tag=id_tag, connector_id=connector_id))

    async def remote_stop(self, transaction_id):
        return await self.call(call.RemoteStopTransaction(transaction_id=transaction_id))

    async def get_configuration(self, keys=None):
        return await self.call(call.GetConfiguration(key=list(keys) if keys is not None else None))

    async def change_configuration(self, key, value):
        return await self.call(call.ChangeConfiguration(key=key, value=value))

    async def reset(self, kind="Soft"):
        return await self.call(call.Reset(type=kind))

    async def trigger_message(self, requested_message, connector_id=None):
        return await self.call(call.TriggerMessage(requested_message=requested_message,
                                                   connector_id=connector_id))

    async def disconnect(self):
        """Close the current connection from the CSMS side."""
        if self._wire is not None:
            await self._wire.close()


class Csms:
    """An OCPP 1.6J central system for tests and simulations (see the module comment)."""

    def __init__(self, accepted_tokens=("TAG1",), heartbeat_interval_s=300, boot_statuses=("Accepted",),
                 clock=None, vendor_ids=(), call_timeout_s=30):
        if not boot_statuses:
            raise ValueError("boot_statuses needs at least one status")
        self.accepted_tokens = set(accepted_tokens)
        self.heartbeat_interval_s = heartbeat_interval_s
        self.boot_statuses = tuple(boot_statuses)
        self.vendor_ids = set(vendor_ids)
        self.call_timeout_s = call_timeout_s
        self.clock = clock  # None: the running loop's .clock (sim.vloop), else a RealClock
        self.stations = {}  # charge point id -> Station
        self.transactions = {}  # transaction_id -> record, all charge points
        self.rejected = []  # {utc, charge_point_id, subprotocol, reason}: connections refused
        self._next_transaction_id = 1
        self._tasks = set()
        self._servers = []

    # -- clock and records ------------------------------------------------------------------------

    def utc(self):
        if self.clock is None:
            self.clock = getattr(asyncio.get_running_loop(), "clock", None)
            if self.clock is None:
                from sim.vloop import RealClock

                self.clock = RealClock()
        return self.clock.utc()

    def station(self, cp_id):
        if cp_id not in self.stations:
            self.stations[cp_id] = Station(self, cp_id)
        return self.stations[cp_id]

    @property
    def errors(self):
        """Every error recorded for any charge point, in order of charge point id."""
        return [e for cp_id in sorted(self.stations) for e in self.stations[cp_id].errors]

    def counts(self, direction="in"):
        total = collections.Counter()
        for station in self.stations.values():
            total.update(station.counts[direction])
        return total

    def id_tag_status(self, id_tag):
        return "Accepted" if id_tag in self.accepted_tokens else "Invalid"

    def _new_transaction(self, station, p, status):
        tx_id = self._next_transaction_id
        self._next_transaction_id += 1
        tx = {"transaction_id": tx_id, "charge_point_id": station.id, "id_tag": p["idTag"],
              "id_tag_status": status, "connector_id": p["connectorId"], "meter_start_wh": p["meterStart"],
              "timestamp_start": p["timestamp"], "start_utc": self.utc(),
              "reservation_id": p.get("reservationId"), "meter_values": [], "meter_stop_wh": None,
              "timestamp_stop": None, "stop_utc": None, "reason": None, "stop_id_tag": None,
              "transaction_data": None}
        self.transactions[tx_id] = station.transactions[tx_id] = tx
        return tx

    # -- connections ------------------------------------------------------------------------------

    def accept(self, cp_id, connection, subprotocol=None, headers=None):
        """Serve one charge point on any text connection; returns the task that runs until it closes.

        subprotocol and headers default to the connection's attributes of those names (sim.memlink
        sets them), else ocpp1.6 and none. A newer connection for the same charge point id replaces
        the older one."""
        if subprotocol is None:
            subprotocol = getattr(connection, "subprotocol", None) or SUBPROTOCOL
        if headers is None:
            headers = getattr(connection, "headers", None) or {}
        task = asyncio.get_running_loop().create_task(
            self._serve(cp_id, connection, subprotocol, dict(headers)), name="csms:" + cp_id)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _serve(self, cp_id, connection, subprotocol, headers):
        station = self.station(cp_id)
        if subprotocol != SUBPROTOCOL:
            self.rejected.append({"utc": self.utc(), "charge_point_id": cp_id, "subprotocol": subprotocol,
                                  "reason": "only %s is served" % SUBPROTOCOL})
            await connection.close()
            return
        if station._wire is not None:
            await station._wire.close()
        wire = _Wire(connection, station)
        handler = _Handler(station, wire, self.call_timeout_s)
        station._wire, station._handler = wire, handler
        station._task = asyncio.current_task()
        station.connections.append({"utc": self.utc(), "event": "connected", "subprotocol": subprotocol,
                                    "headers": headers})
        try:
            await handler.start()
        except ConnectionClosed:
            pass
        except Exception as exc:
            station._error("-", "internal", description="CSMS handler crashed: %r" % exc)
            raise
        finally:
            if station._wire is wire:
                station._wire = station._handler = station._task = None
            station.connections.append({"utc": self.utc(), "event": "disconnected",
                                        "subprotocol": subprotocol, "headers": headers})
            station._changed()

    async def serve_websocket(self, host="127.0.0.1", port=0):
        """Start a real WebSocket server (subprotocol ocpp1.6 required) and return the bound port."""
        from websockets.asyncio.server import serve

        if host not in LOOPBACK_HOSTS:
            raise ValueError("the simulated CSMS binds loopback only, not %r" % (host,))
        server = await serve(self._on_websocket, host, port, subprotocols=[SUBPROTOCOL])
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    async def _on_websocket(self, ws):
        try:
            cp_id = charge_point_id(ws.request.path)
        except ValueError:
            await ws.close(1008, "no charge point id in the path")
            return
        if ws.subprotocol != SUBPROTOCOL:  # websockets already refuses a handshake without it
            await ws.close(1002, "subprotocol %s required" % SUBPROTOCOL)
            return
        headers = dict(ws.request.headers.raw_items())
        await asyncio.gather(self.accept(cp_id, ws, SUBPROTOCOL, headers), return_exceptions=True)

    async def stop(self):
        """Close every server and connection this CSMS started, and wait for its tasks."""
        for server in self._servers:
            server.close()
        for server in self._servers:
            await server.wait_closed()
        self._servers = []
        for station in self.stations.values():
            if station._wire is not None:
                await station._wire.close()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=5)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
