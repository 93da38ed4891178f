# OCPP 1.6J message adapter: builds the 1.6 payloads for what the charge point wants to say, reads
# the CSMS's answers, and turns the CSMS's commands into calls on the version-independent core.
# OCPP 2.0.1 will be a second module with the same functions over the same core.

SUBPROTOCOL = "ocpp1.6"
VERSION = "1.6"
ID_TOKEN_MAX = 20  # CiString20Type, OCPP 1.6 section 7.28


async def handle(cp, call):
    """The .conf payload for a CALL of the CSMS (firmware/ocpp/core16.py); raises RpcError.
    The handlers load with the first CALL: a charger whose CSMS sends none does not carry them (on
    MicroPython's unix port their bytecode would take ~8 KB of heap, issue #4)."""
    from firmware.ocpp import core16

    return await core16.handle(cp, call)


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


def id_tag_info(payload):
    """The IdTagInfo of an Authorize / StartTransaction / StopTransaction .conf, or None."""
    return payload.get("idTagInfo")


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


def data_transfer(vendor_id, message_id=None, data=None):
    payload = {"vendorId": vendor_id}
    if message_id is not None:
        payload["messageId"] = message_id
    if data is not None:
        payload["data"] = data
    return "DataTransfer", payload
