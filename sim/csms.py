# The embedded CSMS (CPython only): an OCPP 1.6J central system on the `ocpp` package that records
# everything a test may want to check.
#
# One Csms serves many charge points, over any text connection (sim.memlink in virtual time, or a real
# WebSocket from serve_websocket). Every frame in both directions is checked against the OCA 1.6 schemas
# by the `ocpp` package and recorded per charge point with the CSMS's own clock; CALLERRORs sent or
# received and every validation failure land in `errors`, so a clean end-to-end run asserts
# `csms.errors == []`.
#
# What tests steer: token rules (set_token: per idTag status, expiryDate, parentIdTag; accepted_tokens
# for the plain case), a boot-status sequence (boot_statuses, e.g. ("Pending", "Pending", "Accepted"), the
# last repeating), an outage switch (csms.offline or station.offline: connections closed and refused until
# it is set back), and commands on the loop's clock (schedule(at_s, fn, *args)).
#
# This module is the server (Csms: connections, clock, transaction ids). Its parts, each importable from
# here as before: the per charge point records and commands (Station, sim.csms_station), the wire that
# records every frame (sim.csms_wire), and the `ocpp` handlers that answer CALLs (sim.csms_handlers, which
# sets ocpp.messages.ASYNC_VALIDATION = False on import: validation inline, for virtual time).
import asyncio
import collections

from hal.interfaces import ConnectionClosed
from sim.csms_handlers import _Handler
from sim.csms_station import ID_TAG_STATUSES, LOG, Station  # noqa: F401 (re-exported)
from sim.csms_wire import ERROR_CODE_SPELLING_16, FRAME_TYPES, _Wire  # noqa: F401 (re-exported)
from sim.memlink import charge_point_id

SUBPROTOCOL = "ocpp1.6"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class Csms:
    """An OCPP 1.6J central system for tests and simulations (see the module comment)."""

    def __init__(self, accepted_tokens=("TAG1",), heartbeat_interval_s=300, boot_statuses=("Accepted",),
                 clock=None, vendor_ids=(), call_timeout_s=30, tokens=None):
        if not boot_statuses:
            raise ValueError("boot_statuses needs at least one status")
        self.accepted_tokens = set(accepted_tokens)
        self.tokens = {}  # idTag -> IdTagInfo the CSMS answers with (set_token); before accepted_tokens
        for id_tag, info in (tokens or {}).items():
            self.set_token(id_tag, **info)
        self.scheduled = []  # {at_s, name, done, result, error}: what schedule() ran, in order
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
        self._offline = False

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

    # -- token rules ------------------------------------------------------------------------------

    def set_token(self, id_tag, status="Accepted", expiry_date=None, parent_id_tag=None):
        """What the CSMS answers for id_tag from now on (Authorize, Start/StopTransaction): a status of
        OCPP 1.6 section 7.2, an expiryDate (RFC 3339 text) and a parentIdTag, both optional."""
        if status not in ID_TAG_STATUSES:
            raise ValueError("status must be one of %s" % ", ".join(ID_TAG_STATUSES))
        info = {"status": status}
        if expiry_date is not None:
            info["expiryDate"] = expiry_date
        if parent_id_tag is not None:
            info["parentIdTag"] = parent_id_tag
        self.tokens[id_tag] = info

    def id_tag_info(self, id_tag):
        """The IdTagInfo for id_tag: its set_token rule, else Accepted for accepted_tokens, else Invalid."""
        if id_tag in self.tokens:
            return dict(self.tokens[id_tag])
        return {"status": "Accepted" if id_tag in self.accepted_tokens else "Invalid"}

    def id_tag_status(self, id_tag):
        return self.id_tag_info(id_tag)["status"]

    # -- schedule and outages ---------------------------------------------------------------------

    def schedule(self, at_s, fn, *args):
        """Run fn(*args) (a coroutine function or a plain one) when the clock reaches at_s seconds
        (clock.ms() / 1000, the loop's clock); its result or error lands in `scheduled`. Returns the task."""
        record = {"at_s": at_s, "name": getattr(fn, "__name__", repr(fn)), "done": False, "result": None,
                  "error": None}
        self.scheduled.append(record)

        async def run():
            self.utc()  # binds the clock
            await asyncio.sleep(max(at_s - self.clock.ms() / 1000, 0))
            try:
                result = fn(*args)
                record["result"] = await result if asyncio.iscoroutine(result) else result
            except Exception as exc:  # recorded for the test to look at, not raised into the loop
                record["error"] = exc
            record["done"] = True

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def offline(self):
        """True: the CSMS is down: every connection is closed and new ones are refused until False."""
        return self._offline

    @offline.setter
    def offline(self, value):
        self._offline = bool(value)
        if self._offline:
            for station in self.stations.values():
                station._hang_up()

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
        refusal = None
        if subprotocol != SUBPROTOCOL:
            refusal = "only %s is served" % SUBPROTOCOL
        elif self._offline or station.offline:
            refusal = "offline"
        if refusal is not None:
            self.rejected.append({"utc": self.utc(), "charge_point_id": cp_id, "subprotocol": subprotocol,
                                  "reason": refusal})
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

    async def serve_websocket(self, host="127.0.0.1", port=0, ssl=None, passwords=None):
        """Start a real WebSocket server (subprotocol ocpp1.6 required) and return the bound port.

        ssl: an ssl.SSLContext: wss:// (security profile 2; with verify_mode CERT_REQUIRED and a CA
        loaded, a client certificate is required: profile 3). passwords: {charge point id: password}:
        HTTP Basic auth is required (profiles 1 and 2); a wrong or missing one is answered 401."""
        from websockets.asyncio.server import serve

        if host not in LOOPBACK_HOSTS:
            raise ValueError("the simulated CSMS binds loopback only, not %r" % (host,))
        options = {}
        if passwords is not None:
            options["process_request"] = lambda connection, request: self._basic_auth(connection, request, passwords)
        server = await serve(self._on_websocket, host, port, subprotocols=[SUBPROTOCOL], ssl=ssl, **options)
        self._servers.append(server)
        return server.sockets[0].getsockname()[1]

    def _basic_auth(self, connection, request, passwords):
        # Security whitepaper section 2.1: "Authorization: Basic base64(<ChargePointId>:<AuthorizationKey>)".
        import base64
        import http

        try:
            cp_id = charge_point_id(request.path)
        except ValueError:
            cp_id = None
        expected = "Basic " + base64.b64encode(("%s:%s" % (cp_id, passwords.get(cp_id))).encode()).decode()
        if cp_id in passwords and request.headers.get("Authorization") == expected:
            return None
        self.rejected.append({"utc": self.utc(), "charge_point_id": cp_id, "subprotocol": None,
                              "reason": "basic auth failed"})
        return connection.respond(http.HTTPStatus.UNAUTHORIZED, "basic auth failed\n")

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
        peer = ws.transport.get_extra_info("peercert") if ws.transport is not None else None
        if peer:  # mutual TLS: the client certificate's subject, as the CSMS saw it
            headers[":client-subject"] = dict(rdn[0] for rdn in peer.get("subject", ()))
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
