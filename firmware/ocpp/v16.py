# OCPP 1.6J message adapter: builds the 1.6 payloads for what the charge point wants to say, reads
# the CSMS's answers, and turns the CSMS's commands into calls on the version-independent core.
# OCPP 2.0.1 will be a second module with the same functions over the same core.
from firmware.ocpp.rpc import RpcError

SUBPROTOCOL = "ocpp1.6"
VERSION = "1.6"
ID_TOKEN_MAX = 20  # CiString20Type, OCPP 1.6 section 7.28

# The 1.6 actions a CSMS may send (OCPP 1.6 section 5 and the security whitepaper). OCPP-J 1.6 section
# 4.2.3 Table 7: NotSupported = "Requested Action is recognized but not supported by the receiver" (a
# known action we have no handler for), NotImplemented = "Requested Action is not known by receiver"
# (anything else). The `ocpp` package (mobilityhouse) answers the other way round (its issue #493).
CSMS_ACTIONS = (
    "CancelReservation", "CertificateSigned", "ChangeAvailability", "ChangeConfiguration",
    "ClearCache", "ClearChargingProfile", "DataTransfer", "DeleteCertificate", "ExtendedTriggerMessage",
    "GetCompositeSchedule", "GetConfiguration", "GetDiagnostics", "GetInstalledCertificateIds",
    "GetLocalListVersion", "GetLog", "InstallCertificate", "RemoteStartTransaction",
    "RemoteStopTransaction", "ReserveNow", "Reset", "SendLocalList", "SetChargingProfile",
    "SignedUpdateFirmware", "TriggerMessage", "UnlockConnector", "UpdateFirmware",
)


def boot(info):
    payload = {"chargePointVendor": info["vendor"], "chargePointModel": info["model"]}
    if info.get("serial"):
        payload["chargePointSerialNumber"] = info["serial"]
    if info.get("firmware"):
        payload["firmwareVersion"] = info["firmware"]
    return "BootNotification", payload


def boot_result(payload):
    """(status, interval_s): Accepted, Pending or Rejected and the heartbeat / retry interval."""
    return payload["status"], payload["interval"]


def heartbeat():
    return "Heartbeat", {}


def status(connector_id, status_name, error_code, timestamp, info=None):
    payload = {"connectorId": connector_id, "status": status_name, "errorCode": error_code,
               "timestamp": timestamp}
    if info:
        payload["info"] = info[:50]  # CiString50Type
    return "StatusNotification", payload


def authorize(id_tag):
    return "Authorize", {"idTag": id_tag}


def id_tag_accepted(payload):
    return payload["idTagInfo"]["status"] == "Accepted"


def start_transaction(connector_id, id_tag, meter_start_wh, timestamp):
    return "StartTransaction", {"connectorId": connector_id, "idTag": id_tag,
                                "meterStart": int(round(meter_start_wh)), "timestamp": timestamp}


def start_result(payload):
    """(transaction_id, accepted)."""
    return payload["transactionId"], payload["idTagInfo"]["status"] == "Accepted"


def stop_transaction(transaction_id, meter_stop_wh, timestamp, reason, id_tag, transaction_data):
    payload = {"transactionId": transaction_id, "meterStop": int(round(meter_stop_wh)),
               "timestamp": timestamp}
    if reason:  # optional in StopTransaction.req; absent means Local
        payload["reason"] = reason
    if id_tag:
        payload["idTag"] = id_tag
    if transaction_data:
        payload["transactionData"] = transaction_data
    return "StopTransaction", payload


def meter_values(connector_id, transaction_id, meter_value_list):
    payload = {"connectorId": connector_id, "meterValue": meter_value_list}
    if transaction_id is not None:
        payload["transactionId"] = transaction_id
    return "MeterValues", payload


def _sample(value, measurand, unit, context, phase=None, location="Outlet"):
    sample = {"value": value, "context": context, "measurand": measurand, "location": location,
              "unit": unit}
    if phase:
        sample["phase"] = phase
    return sample


def meter_value(reading, measurands, context, timestamp, soc_pct=None):
    """One MeterValue (timestamp + sampledValue list) from a MeterReading and a measurand list."""
    samples = []
    for measurand in measurands.split(","):
        if measurand == "Energy.Active.Import.Register":
            samples.append(_sample("%d" % round(reading.energy_wh), measurand, "Wh", context))
        elif measurand == "Power.Active.Import":
            samples.append(_sample("%.1f" % reading.power_w, measurand, "W", context))
        elif measurand == "Current.Import":
            for i in range(3):
                samples.append(_sample("%.2f" % reading.current_a[i], measurand, "A", context, "L%d" % (i + 1)))
        elif measurand == "Voltage":
            for i in range(3):
                samples.append(_sample("%.1f" % reading.voltage_v[i], measurand, "V", context, "L%d-N" % (i + 1)))
        elif measurand == "SoC" and soc_pct is not None:
            samples.append(_sample("%d" % soc_pct, measurand, "Percent", context, None, "EV"))
    return {"timestamp": timestamp, "sampledValue": samples}


# Incoming calls -----------------------------------------------------------------------------


def _field(payload, name, kind, required=True, max_len=None):
    if name not in payload:
        if required:
            raise RpcError("ProtocolError", "%s is required" % name)
        return None
    value = payload[name]
    if kind is int and (value is True or value is False):
        raise RpcError("TypeConstraintViolation", "%s must be an integer" % name)
    if not isinstance(value, kind):
        raise RpcError("TypeConstraintViolation", "%s has the wrong type" % name)
    if max_len is not None and len(value) > max_len:
        raise RpcError("TypeConstraintViolation", "%s is longer than %d" % (name, max_len))
    return value


async def _remote_start(cp, payload):
    id_tag = _field(payload, "idTag", str, max_len=ID_TOKEN_MAX)
    connector_id = _field(payload, "connectorId", int, required=False)
    return {"status": cp.remote_start(id_tag, connector_id)}


async def _remote_stop(cp, payload):
    return {"status": cp.remote_stop(_field(payload, "transactionId", int))}


async def _get_configuration(cp, payload):
    keys = _field(payload, "key", list, required=False)
    for name in keys or ():
        if not isinstance(name, str):
            raise RpcError("TypeConstraintViolation", "key must be a list of strings")
        if len(name) > 50:  # CiString50Type
            raise RpcError("TypeConstraintViolation", "key %s... is longer than 50" % name[:20])
    known, unknown = cp.config.entries(keys)
    result = {"configurationKey": known}
    if unknown:
        result["unknownKey"] = unknown
    return result


async def _change_configuration(cp, payload):
    key = _field(payload, "key", str, max_len=50)
    value = _field(payload, "value", str, max_len=500)
    return {"status": cp.change_configuration(key, value)}


async def _reset(cp, payload):
    kind = _field(payload, "type", str)
    if kind not in ("Hard", "Soft"):
        raise RpcError("PropertyConstraintViolation", "type must be Hard or Soft")
    return {"status": cp.reset(kind)}


HANDLERS = {
    "RemoteStartTransaction": _remote_start,
    "RemoteStopTransaction": _remote_stop,
    "GetConfiguration": _get_configuration,
    "ChangeConfiguration": _change_configuration,
    "Reset": _reset,
}


async def handle(cp, call):
    handler = HANDLERS.get(call.action)
    if handler is None:
        if call.action in CSMS_ACTIONS:
            raise RpcError("NotSupported", "%s is not supported yet" % call.action)
        raise RpcError("NotImplemented", "unknown action %s" % call.action)
    return await handler(cp, call.payload)
