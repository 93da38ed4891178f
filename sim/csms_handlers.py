# The embedded CSMS's answers to a charge point (CPython only): the `ocpp` package's 1.6 ChargePoint with
# one @on handler per CALL a charge point may send; each records into its Station, then answers.
#
# The handler gets its Station (and through it the Csms: clock, token rules, boot statuses, vendor
# ids, transaction ids) passed in; it imports nothing of sim.csms, so there is no cycle.
#
# Validation runs inline (ocpp.messages.ASYNC_VALIDATION = False, set here, on import, for the whole
# process): the package's default thread executor cannot run in virtual time. This module is where the
# package's ChargePoint is subclassed, so it is always imported before any frame is validated.
import ocpp.messages
from ocpp.routing import on
from ocpp.v16 import ChargePoint as OcppChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

ocpp.messages.ASYNC_VALIDATION = False


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
        info = self.csms.id_tag_info(id_tag)
        self.station.authorizations.append({"utc": self.csms.utc(), "id_tag": id_tag, "status": info["status"]})
        return call_result.Authorize(id_tag_info=info)

    @on(Action.start_transaction)
    def on_start_transaction(self, call_unique_id, **_):
        p = self._payload(call_unique_id)
        info = self.csms.id_tag_info(p["idTag"])
        tx = self._seen_start(p) or self.csms._new_transaction(self.station, p, info["status"])
        return call_result.StartTransaction(transaction_id=tx["transaction_id"], id_tag_info=info)

    def _seen_start(self, p):
        # OCPP 1.6 has no message id that survives a charge point's reboot: a StartTransaction whose
        # answer was lost comes again with the same content, and gets the same transactionId (issue #5).
        for tx in self.station.transactions.values():
            if (tx["connector_id"], tx["id_tag"], tx["meter_start_wh"], tx["timestamp_start"]) == (
                    p["connectorId"], p["idTag"], p["meterStart"], p["timestamp"]):
                self.station.duplicates.append({"utc": self.csms.utc(), "action": "StartTransaction",
                                                "transaction_id": tx["transaction_id"]})
                return tx
        return None

    @on(Action.stop_transaction)
    def on_stop_transaction(self, call_unique_id, **_):
        p = self._payload(call_unique_id)
        tx = self.station.transactions.get(p["transactionId"])
        if tx is None:
            self.station._error("in", "record", action="StopTransaction",
                                description="unknown transactionId %r" % p["transactionId"])
        elif tx["meter_stop_wh"] is not None:  # stopped before: the same Stop again, or a second one
            same = (tx["meter_stop_wh"], tx["timestamp_stop"]) == (p["meterStop"], p["timestamp"])
            if same:
                self.station.duplicates.append({"utc": self.csms.utc(), "action": "StopTransaction",
                                                "transaction_id": tx["transaction_id"]})
            else:
                self.station._error("in", "record", action="StopTransaction",
                                    description="transaction %r stopped twice" % p["transactionId"])
        else:
            tx.update({"meter_stop_wh": p["meterStop"], "timestamp_stop": p["timestamp"],
                       "stop_utc": self.csms.utc(), "reason": p.get("reason"),
                       "stop_id_tag": p.get("idTag"), "transaction_data": p.get("transactionData")})
        if "idTag" in p:
            return call_result.StopTransaction(id_tag_info=self.csms.id_tag_info(p["idTag"]))
        return call_result.StopTransaction()

    @on(Action.meter_values)
    def on_meter_values(self, call_unique_id, **_):
        p = self._payload(call_unique_id)
        tx_id = p.get("transactionId")
        tx = self.station.transactions.get(tx_id) if tx_id is not None else None
        if tx is not None and p["meterValue"] and p["meterValue"][0] in tx["meter_values"]:
            self.station.duplicates.append({"utc": self.csms.utc(), "action": "MeterValues", "transaction_id": tx_id})
            return call_result.MeterValues()  # sent again after a lost answer: recorded once
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

    @on(Action.security_event_notification)
    def on_security_event_notification(self, type, timestamp, tech_info=None, **_):
        self.station.security_events.append({"utc": self.csms.utc(), "type": type, "timestamp": timestamp,
                                             "tech_info": tech_info})
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    def on_sign_certificate(self, csr, **_):
        status = self.station.sign_certificate_status
        self.station.sign_requests.append({"utc": self.csms.utc(), "csr": csr, "status": status})
        return call_result.SignCertificate(status=status)

    @on(Action.log_status_notification)
    def on_log_status_notification(self, status, request_id=None, **_):
        self.station.log_statuses.append({"utc": self.csms.utc(), "status": status, "request_id": request_id})
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    def on_signed_firmware_status_notification(self, status, request_id=None, **_):
        self.station.signed_firmware_statuses.append({"utc": self.csms.utc(), "status": status,
                                                      "request_id": request_id})
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(self, status, **_):
        self.station.firmware_statuses.append({"utc": self.csms.utc(), "status": status})
        return call_result.FirmwareStatusNotification()
