# What the embedded CSMS knows about one charge point (CPython only), and the commands it can send it.
#
# A Station outlives its connections: frames, CALL counts, errors and every record (boots, statuses,
# authorizations, transactions, meter values, ...) accumulate across reconnects, stamped with the Csms's
# clock. sim.csms_wire and sim.csms_handlers write into it; tests read it and wait on it (wait_for). The
# Csms that owns it is passed in (clock, transaction ids); nothing here imports sim.csms, so there is no
# cycle. Errors log to the "sim.csms" logger, as before the split.
import asyncio
import collections
import logging

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from hal.interfaces import ConnectionClosed

LOG = logging.getLogger("sim.csms")


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
