# What the CSMS may ask of the charge point, independent of the protocol version (the version module,
# firmware/ocpp/core16.py for 1.6, checks the payloads and calls these). Methods of ChargePoint, loaded
# with the first one used (ChargePoint.__getattr__): they work on the charge point's state (self.tx,
# self.availability, self.auth, self.config, the outbox).
import asyncio

from firmware.ocpp.chargepoint import CONNECTOR
from firmware.ocpp.link import CallFailed

RESET_DRAIN_S = 60  # a Reset waits at most this long for StopTransaction and friends to reach the CSMS
RESET_POLL_S = 0.5


class Commands:
    def remote_start(self, id_tag, connector_id):
        if connector_id not in (None, CONNECTOR) or self.tx is not None or not self.charger.can_start() \
                or not self.availability.operative(CONNECTOR):
            return "Rejected"
        if self.config["AuthorizeRemoteTxRequests"]:
            self.spawn(self.present_token(id_tag))
        else:
            self.pending_id_tag = id_tag
            self.pending_parent = None
            self.charger.authorize()
        return "Accepted"

    def remote_stop(self, transaction_id):
        if self.tx is None or self.tx.transaction_id != transaction_id:
            return "Rejected"
        self.charger.stop("Remote")
        return "Accepted"

    def reset(self, kind):
        """Reset.req (section 5.14): a running transaction is stopped (reason SoftReset / HardReset)
        and its StopTransaction delivered first, then the charge point restarts."""
        self.charger.reset_faults()  # an explicit reset also clears latched faults whose cause is gone
        if self.tx is not None:
            self.charger.stop("HardReset" if kind == "Hard" else "SoftReset")
        self.spawn(self._reboot_when_idle(kind))
        return "Accepted"

    async def _reboot_when_idle(self, kind):
        # The Reset.conf goes out first (section 5.14: the charge point responds, then resets): the link
        # sends it when the handler returns, so give it that turn. Then let StopTransaction and friends
        # reach the CSMS (while online), then boot again.
        await asyncio.sleep(RESET_POLL_S)
        waited_s = RESET_POLL_S
        while (self.tx is not None or self.outbox) and waited_s < RESET_DRAIN_S:
            await asyncio.sleep(RESET_POLL_S)
            waited_s += RESET_POLL_S
        if self.restart is not None:
            await self.restart(kind)  # the board restarts: nothing after this runs
            return
        self.booted = False  # without a board restart: the OCPP session starts over
        await self.link.stop_connection()

    def change_availability(self, connector_id, kind):
        """ChangeAvailability.req (section 5.2): Accepted, Rejected or Scheduled."""
        status = self.availability.request(connector_id, kind, self.tx is not None)
        if status == "Accepted":
            if not self.availability.operative(CONNECTOR) and self.tx is None:
                self.pending_id_tag = None
                self.charger.stop("Other")  # withdraws an authorization still waiting for the EV
            self.availability_changed()
        return status

    def availability_changed(self):
        cp_status = "Available" if self.availability.operative(0) else "Unavailable"
        if cp_status != self._cp_status and self.booted:
            self._cp_status = cp_status
            self._send(*self.adapter.status(0, cp_status, "NoError", self.clock.utc()))
        self.status_changed()

    def unlock_connector(self, connector_id):
        # UnlockStatus NotSupported: "Charge Point has no connector lock, or ConnectorId is unknown"
        # (section 7.46). This charger has no lock (a tethered cable or a plain socket), so nothing is
        # unlocked and a running transaction is left alone: RemoteStopTransaction stops it.
        return "NotSupported"

    def trigger(self, message, connector_id):
        """TriggerMessage.req (section 5.17): Accepted (the message follows the answer), Rejected (no
        such connector)."""
        if connector_id is not None and connector_id not in (0, CONNECTOR):
            return "Rejected"
        self.spawn(self._triggered(message, connector_id))
        return "Accepted"

    async def _triggered(self, message, connector_id):
        await asyncio.sleep(0)  # after the answer (section 5.17: the response first)
        if message == "BootNotification" and not self.booted:
            self._boot_now.set()  # the boot loop sends it at once
            return
        utc = self.clock.utc()
        if message == "StatusNotification":
            for connector in ((0, CONNECTOR) if connector_id is None else (connector_id,)):
                if connector == 0:
                    self._send_triggered(*self.adapter.status(0, self._cp_status, "NoError", utc))
                else:
                    status, error_code, info = self.connector_status()
                    self._send_triggered(*self.adapter.status(CONNECTOR, status, error_code, utc, info))
        elif message == "MeterValues":
            reading = await self.charger.read_meter()
            if reading is None:
                return
            connector = CONNECTOR if connector_id is None else connector_id
            value = self.adapter.meter_value(reading, self.config["MeterValuesSampledData"], "Trigger",
                                             self.clock.utc(), self.charger.soc_pct())
            tx_id = self.tx.transaction_id if connector == CONNECTOR and self.tx is not None else None
            if value["sampledValue"]:
                self._send_triggered(*self.adapter.meter_values(connector, tx_id, [value]))
        elif message == "Heartbeat":
            self._send_triggered(*self.adapter.heartbeat())
        elif message == "LogStatusNotification":  # ExtendedTriggerMessage: firmware/ocpp/log16.py
            from firmware.ocpp import log16

            self._send_triggered(*log16.triggered(self))
        elif message in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
            # firmware/ocpp/fwmgmt.py: SignedFirmwareStatusNotification while a SignedUpdateFirmware runs
            self._send_triggered(*self.fwmgmt.triggered(message))
        else:
            self._send_triggered(*self.adapter.boot(self.info))

    def trigger_status(self, message):
        """The status of a triggered Diagnostics/FirmwareStatusNotification: Idle unless a job runs."""
        return self.fwmgmt.trigger_status(message)

    def _send_triggered(self, action, payload):
        # Accepted: the outbox. Pending: only triggered messages may go out (section 4.2.1), directly.
        if self.booted:
            self._send(action, payload)
        else:
            self.spawn(self._call_logged(action, payload))

    async def _call_logged(self, action, payload):
        try:
            await self.link.call(action, payload)
        except CallFailed as exc:
            self.log("trigger", str(exc))

    async def data_transfer(self, vendor_id, message_id=None, data=None):
        """DataTransfer.req to the CSMS: its answer (status, maybe data). Raises CallFailed."""
        if not self.booted:
            raise CallFailed("DataTransfer", "BootNotification not accepted yet")
        return await self.link.call(*self.adapter.data_transfer(vendor_id, message_id, data))
