# The CALLs an OCPP 1.6 CSMS sends, answered: each payload is checked against its schema first
# (firmware/ocpp/schema16.py: the CALLERROR code for each way it can be wrong), then handed to the
# version-independent charge point (firmware/ocpp/commands.py), whose answer becomes the .conf payload.
from firmware.ocpp.rpc import OCCURENCE_CONSTRAINT_VIOLATION, RpcError

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


async def _remote_start(cp, p):
    # A chargingProfile (a TxProfile) becomes the transaction's (firmware/ocpp/smart_charging.py); ChargePoint
    # .remote_start also refuses an idTag other than the reserved one (firmware/ocpp/reservation.py).
    if "chargingProfile" in p:
        return {"status": cp.remote_start(p["idTag"], p.get("connectorId"), p["chargingProfile"])}
    return {"status": cp.remote_start(p["idTag"], p.get("connectorId"))}


async def _remote_stop(cp, p):
    return {"status": cp.remote_stop(p["transactionId"])}


async def _get_configuration(cp, p):
    keys = p.get("key")
    if keys and len(keys) > cp.config["GetConfigurationMaxKeys"]:
        # GetConfigurationMaxKeys: "maximum number of requested configuration keys in a
        # GetConfiguration.req" (section 9.1.9); more is an occurrence constraint broken (Table 7).
        raise RpcError(OCCURENCE_CONSTRAINT_VIOLATION, "at most %d keys per request"
                       % cp.config["GetConfigurationMaxKeys"])
    known, unknown = cp.config.entries(keys)
    result = {"configurationKey": known}
    if unknown:
        result["unknownKey"] = unknown
    return result


async def _change_configuration(cp, p):
    return {"status": cp.change_configuration(p["key"], p["value"])}


async def _reset(cp, p):
    return {"status": cp.reset(p["type"])}


async def _change_availability(cp, p):
    return {"status": cp.change_availability(p["connectorId"], p["type"])}


async def _clear_cache(cp, p):
    return {"status": cp.auth.clear_cache()}


async def _data_transfer(cp, p):
    # No vendor extensions are installed: every vendorId is unknown (section 5.6).
    return {"status": "UnknownVendorId"}


async def _unlock_connector(cp, p):
    return {"status": cp.unlock_connector(p["connectorId"])}


async def _get_local_list_version(cp, p):
    return {"listVersion": cp.auth.list_version()}


async def _send_local_list(cp, p):
    return {"status": cp.auth.send_local_list(p["updateType"], p["listVersion"], p.get("localAuthorizationList"))}


async def _trigger_message(cp, p):
    return {"status": cp.trigger(p["requestedMessage"], p.get("connectorId"))}


async def _update_firmware(cp, p):
    return cp.fwmgmt.update_firmware(p)  # firmware/ocpp/fwmgmt.py


async def _get_diagnostics(cp, p):
    return cp.fwmgmt.get_diagnostics(p)


async def _set_charging_profile(cp, p):  # Smart Charging: firmware/ocpp/smart_charging.py
    return {"status": cp.smart.set_profile(p["connectorId"], p["csChargingProfiles"])}


async def _clear_charging_profile(cp, p):
    return {"status": cp.smart.clear(p.get("id"), p.get("connectorId"), p.get("chargingProfilePurpose"),
                                     p.get("stackLevel"))}


async def _get_composite_schedule(cp, p):
    return cp.smart.composite(p["connectorId"], p["duration"], p.get("chargingRateUnit"))


async def _reserve_now(cp, p):  # Reservation: firmware/ocpp/reservation.py
    return {"status": cp.reservations.reserve(p["connectorId"], p["expiryDate"], p["idTag"], p.get("parentIdTag"),
                                              p["reservationId"])}


async def _cancel_reservation(cp, p):
    return {"status": cp.reservations.cancel(p["reservationId"])}


async def _install_certificate(cp, p):  # Security extension: firmware/ocpp/certs16.py, loaded on use
    from firmware.ocpp import certs16

    return certs16.install(cp, p)


async def _delete_certificate(cp, p):
    from firmware.ocpp import certs16

    return certs16.delete(cp, p)


async def _get_installed_certificate_ids(cp, p):
    from firmware.ocpp import certs16

    return certs16.installed_ids(cp, p)


async def _certificate_signed(cp, p):  # Security extension A02/A03: firmware/ocpp/certsign16.py, on use
    from firmware.ocpp import certsign16

    return certsign16.certificate_signed(cp, p)


async def _signed_update_firmware(cp, p):  # Security extension L01: firmware/ocpp/signed16.py, on use
    from firmware.ocpp import signed16

    return signed16.request(cp, p)


async def _get_log(cp, p):  # Security extension: firmware/ocpp/log16.py, loaded on use
    return cp.fwmgmt.get_log(p)


async def _extended_trigger_message(cp, p):
    from firmware.ocpp import log16

    return log16.extended_trigger(cp, p)


HANDLERS = {
    "CertificateSigned": _certificate_signed,
    "ExtendedTriggerMessage": _extended_trigger_message,
    "GetLog": _get_log,
    "SignedUpdateFirmware": _signed_update_firmware,
    "DeleteCertificate": _delete_certificate,
    "GetInstalledCertificateIds": _get_installed_certificate_ids,
    "InstallCertificate": _install_certificate,
    "CancelReservation": _cancel_reservation,
    "ClearChargingProfile": _clear_charging_profile,
    "GetCompositeSchedule": _get_composite_schedule,
    "ReserveNow": _reserve_now,
    "SetChargingProfile": _set_charging_profile,
    "ChangeAvailability": _change_availability,
    "ChangeConfiguration": _change_configuration,
    "ClearCache": _clear_cache,
    "DataTransfer": _data_transfer,
    "GetConfiguration": _get_configuration,
    "GetDiagnostics": _get_diagnostics,
    "GetLocalListVersion": _get_local_list_version,
    "RemoteStartTransaction": _remote_start,
    "RemoteStopTransaction": _remote_stop,
    "Reset": _reset,
    "SendLocalList": _send_local_list,
    "TriggerMessage": _trigger_message,
    "UnlockConnector": _unlock_connector,
    "UpdateFirmware": _update_firmware,
}


async def handle(cp, call):
    """The .conf payload for the CSMS's CALL; raises RpcError for the CALLERROR to answer with."""
    handler = HANDLERS.get(call.action)
    if handler is None:
        if call.action in CSMS_ACTIONS:
            raise RpcError("NotSupported", "%s is not supported yet" % call.action)
        raise RpcError("NotImplemented", "unknown action %s" % call.action)
    # The schema tables load with the first CALL (~11 KB of heap on the unix port): a charger whose
    # CSMS never sends one does not carry them.
    from firmware.ocpp import schema16

    schema16.check(call.action, call.payload)
    return await handler(cp, call.payload)
