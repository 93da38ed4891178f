# What the embedded CSMS knows about one charge point (CPython only), and the commands it can send it:
# each 1.6 command, validated by the `ocpp` package, and send_raw for frames that must not be (fuzzing).
#
# A Station outlives its connections: frames, CALL counts, errors and every record (boots, statuses,
# authorizations, transactions, meter values, ...) accumulate across reconnects, stamped with the Csms's
# clock. sim.csms_wire and sim.csms_handlers write into it; tests read it and wait on it (wait_for). The
# Csms that owns it is passed in (clock, transaction ids); nothing here imports sim.csms, so there is no
# cycle. Errors log to the "sim.csms" logger, as before the split.
import asyncio
import collections
import json
import logging

from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from hal.interfaces import ConnectionClosed

LOG = logging.getLogger("sim.csms")
ID_TAG_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")  # OCPP 1.6 section 7.2


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
        self.duplicates = []  # {utc, action, transaction_id}: a transaction message seen before (issue #5)
        self.data_transfers = []
        self.diagnostics_statuses = []
        self.firmware_statuses = []
        self.signed_firmware_statuses = []  # {utc, status, request_id}: SignedFirmwareStatusNotification
        self.security_events = []  # {utc, type, timestamp, tech_info}
        self.log_statuses = []  # {utc, status, request_id}
        self.sign_requests = []  # {utc, csr, status}: SignCertificate.req (security whitepaper A02)
        self.sign_certificate_status = "Accepted"  # what SignCertificate.conf answers
        self.raw_replies = []  # what send_raw got back, in order
        self._offline = False
        self._respelled = []  # (unique_id, original code)
        self._wire = None
        self._handler = None
        self._task = None
        self._next_call = 0
        self._waiters = []

    @property
    def connected(self):
        return self._wire is not None

    @property
    def offline(self):
        """True: this charge point's connection is closed and refused until False (the CSMS may be up
        for others)."""
        return self._offline

    @offline.setter
    def offline(self, value):
        self._offline = bool(value)
        if self._offline:
            self._hang_up()

    def _hang_up(self):
        if self._wire is not None:
            asyncio.get_running_loop().create_task(self._wire.close())

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
        if not calling.done() and any(f["unique_id"] == unique_id and f["direction"] == "in" for f in self.frames):
            # Answered, then closed (a Reset): the answer is already queued for the `ocpp` package.
            await asyncio.wait({calling}, timeout=1)
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

    async def remote_start(self, id_tag, connector_id=None, charging_profile=None):
        """charging_profile: a ChargingProfile dict as on the wire (camelCase keys), or None."""
        return await self.call(call.RemoteStartTransaction(id_tag=id_tag, connector_id=connector_id,
                                                           charging_profile=charging_profile))

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

    async def change_availability(self, connector_id, kind):
        return await self.call(call.ChangeAvailability(connector_id=connector_id, type=kind))

    async def clear_cache(self):
        return await self.call(call.ClearCache())

    async def data_transfer(self, vendor_id, message_id=None, data=None):
        return await self.call(call.DataTransfer(vendor_id=vendor_id, message_id=message_id, data=data))

    async def unlock_connector(self, connector_id):
        return await self.call(call.UnlockConnector(connector_id=connector_id))

    async def get_local_list_version(self):
        return await self.call(call.GetLocalListVersion())

    async def send_local_list(self, list_version, update_type, entries=None):
        """entries: AuthorizationData dicts as on the wire ({"idTag": ..., "idTagInfo": {...}})."""
        return await self.call(call.SendLocalList(list_version=list_version, update_type=update_type,
                                                  local_authorization_list=entries))

    async def update_firmware(self, location, retrieve_date, retries=None, retry_interval=None):
        return await self.call(call.UpdateFirmware(location=location, retrieve_date=retrieve_date,
                                                   retries=retries, retry_interval=retry_interval))

    async def signed_update_firmware(self, request_id, firmware, retries=None, retry_interval=None):
        """firmware: a FirmwareType dict as on the wire (location, retrieveDateTime, signingCertificate,
        signature, maybe installDateTime)."""
        return await self.call(call.SignedUpdateFirmware(request_id=request_id, firmware=firmware, retries=retries,
                                                         retry_interval=retry_interval))

    async def get_diagnostics(self, location, retries=None, retry_interval=None, start_time=None, stop_time=None):
        return await self.call(call.GetDiagnostics(location=location, retries=retries, retry_interval=retry_interval,
                                                   start_time=start_time, stop_time=stop_time))

    # Smart Charging and Reservation (profiles as dicts with the wire's camelCase keys)
    async def set_charging_profile(self, connector_id, profile):
        return await self.call(call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=profile))

    async def clear_charging_profile(self, id=None, connector_id=None, purpose=None, stack_level=None):
        return await self.call(call.ClearChargingProfile(id=id, connector_id=connector_id,
                                                         charging_profile_purpose=purpose, stack_level=stack_level))

    async def get_composite_schedule(self, connector_id, duration_s, unit=None):
        return await self.call(call.GetCompositeSchedule(connector_id=connector_id, duration=duration_s,
                                                         charging_rate_unit=unit))

    async def reserve_now(self, connector_id, expiry_date, id_tag, reservation_id, parent_id_tag=None):
        return await self.call(call.ReserveNow(connector_id=connector_id, expiry_date=expiry_date, id_tag=id_tag,
                                               reservation_id=reservation_id, parent_id_tag=parent_id_tag))

    async def cancel_reservation(self, reservation_id):
        return await self.call(call.CancelReservation(reservation_id=reservation_id))

    # Security extension certificate management (hash data as dicts with the wire's camelCase keys)
    async def install_certificate(self, certificate_type, certificate_pem):
        return await self.call(call.InstallCertificate(certificate_type=certificate_type,
                                                       certificate=certificate_pem))

    async def delete_certificate(self, hash_data):
        return await self.call(call.DeleteCertificate(certificate_hash_data=hash_data))

    async def get_installed_certificate_ids(self, certificate_type):
        return await self.call(call.GetInstalledCertificateIds(certificate_type=certificate_type))

    async def get_log(self, log_type, request_id, remote_location, oldest=None, latest=None, retries=None,
                      retry_interval=None):
        log = {"remoteLocation": remote_location}
        if oldest is not None:
            log["oldestTimestamp"] = oldest
        if latest is not None:
            log["latestTimestamp"] = latest
        return await self.call(call.GetLog(log=log, log_type=log_type, request_id=request_id, retries=retries,
                                           retry_interval=retry_interval))

    async def extended_trigger_message(self, requested_message, connector_id=None):
        return await self.call(call.ExtendedTriggerMessage(requested_message=requested_message,
                                                           connector_id=connector_id))

    async def certificate_signed(self, chain_pem):
        return await self.call(call.CertificateSigned(certificate_chain=chain_pem))

    async def send_raw(self, text, timeout_s=5):
        """Send text as it is (no validation: for fuzzing the charge point) and return the reply frame
        (parsed) that answers it: the CALLRESULT/CALLERROR with the frame's unique id, or with "-1" when
        the id cannot be read. None when nothing answers within timeout_s."""
        if self._wire is None:
            raise ConnectionClosed("%s is not connected" % self.id)
        try:
            frame = json.loads(text)
            unique_id = frame[1] if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str) \
                else None
        except (TypeError, ValueError, RecursionError):
            unique_id = None
        first = len(self.frames)
        await self._wire.send(text)
        wanted = (unique_id, "-1")

        def answered():
            return any(f["direction"] == "in" and f["type"] in ("CALLRESULT", "CALLERROR")
                       and f["unique_id"] in wanted for f in self.frames[first:])

        try:
            await self.wait_for(answered, timeout_s)
        except asyncio.TimeoutError:
            self.raw_replies.append(None)
            return None
        reply = next(f for f in self.frames[first:] if f["direction"] == "in"
                     and f["type"] in ("CALLRESULT", "CALLERROR") and f["unique_id"] in wanted)
        self.raw_replies.append(reply)
        return json.loads(reply["text"])

    async def disconnect(self):
        """Close the current connection from the CSMS side."""
        if self._wire is not None:
            await self._wire.close()
