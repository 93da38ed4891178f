# The embedded CSMS (CPython only): an OCPP 1.6J central system on the `ocpp` package that records
# everything a test may want to check.
#
# One Csms serves many charge points, over any text connection (sim.memlink in virtual time, or a real
# WebSocket from serve_websocket). Every frame in both directions is checked against the OCA 1.6 schemas
# by the `ocpp` package and recorded per charge point with the CSMS's own clock; CALLERRORs sent or
# received and every validation failure land in `errors`, so a clean end-to-end run asserts
# `csms.errors == []`.
#
# This module is the server (Csms: connections, clock, transaction ids). Its parts, each importable from
# here as before: the per charge point records and commands (Station, sim.csms_station), the wire that
# records every frame (sim.csms_wire), and the `ocpp` handlers that answer CALLs (sim.csms_handlers, which
# sets ocpp.messages.ASYNC_VALIDATION = False on import: validation inline, for virtual time).
import asyncio
import collections

from hal.interfaces import ConnectionClosed
from sim.csms_handlers import _Handler
from sim.csms_station import LOG, Station  # noqa: F401 (re-exported)
from sim.csms_wire import ERROR_CODE_SPELLING_16, FRAME_TYPES, _Wire  # noqa: F401 (re-exported)
from sim.memlink import charge_point_id

SUBPROTOCOL = "ocpp1.6"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


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
