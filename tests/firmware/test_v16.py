# portable
# OCPP 1.6J adapter: the payloads it builds (field names and types checked by hand against OCPP 1.6
# section 6) and how it answers the CSMS's calls. Schema validation with the `ocpp` package's JSON schemas
# is in test_v16_props.py (CPython). Runs under pytest and under the micropython binary.
from firmware.config import Config
from firmware.meter import MeterReading
from firmware.ocpp import v16
from firmware.ocpp.rpc import Call, RpcError
from tests.portable import raises, run_async

TS = "2025-01-01T00:00:00.000Z"
ALL_MEASURANDS = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"


def reading(energy_wh=12345.6, power_w=7360.04):
    return MeterReading((230.04, 231.0, 229.96), (16.0, 15.5, 0.0), (2300.0, 2310.0, 2298.0),
                        power_w, energy_wh, 0)


# -- payloads the charge point sends ---------------------------------------------------------------


def test_boot_notification_required_and_optional_fields():
    action, payload = v16.boot({"vendor": "OpenEVSE", "model": "AC22", "serial": "SN1", "firmware": "0.1"})
    assert action == "BootNotification"
    assert payload == {"chargePointVendor": "OpenEVSE", "chargePointModel": "AC22",
                       "chargePointSerialNumber": "SN1", "firmwareVersion": "0.1"}
    _, payload = v16.boot({"vendor": "V", "model": "M", "serial": "", "firmware": None})
    assert payload == {"chargePointVendor": "V", "chargePointModel": "M"}


def test_boot_result_reads_status_and_interval():
    assert v16.boot_result({"status": "Accepted", "currentTime": TS, "interval": 300}) == ("Accepted", 300)
    assert v16.boot_result({"status": "Pending", "currentTime": TS, "interval": 0}) == ("Pending", 0)


def test_heartbeat_has_an_empty_payload():
    assert v16.heartbeat() == ("Heartbeat", {})


def test_status_notification_fields_and_info_cut_to_50():
    action, payload = v16.status(1, "Charging", "NoError", TS)
    assert action == "StatusNotification"
    assert payload == {"connectorId": 1, "status": "Charging", "errorCode": "NoError", "timestamp": TS}
    _, payload = v16.status(0, "Faulted", "OtherError", TS, "x" * 80)
    assert payload["info"] == "x" * 50  # CiString50Type


def test_authorize_and_its_answer():
    assert v16.authorize("TAG1") == ("Authorize", {"idTag": "TAG1"})
    assert v16.id_tag_accepted({"idTagInfo": {"status": "Accepted"}})
    for status in ("Blocked", "Expired", "Invalid", "ConcurrentTx"):
        assert not v16.id_tag_accepted({"idTagInfo": {"status": status}})


def test_start_transaction_meter_start_is_integer_wh():
    action, payload = v16.start_transaction(1, "TAG1", 12345.6, TS)
    assert action == "StartTransaction"
    assert payload == {"connectorId": 1, "idTag": "TAG1", "meterStart": 12346, "timestamp": TS}
    assert type(payload["meterStart"]) is int


def test_start_result_reads_transaction_id_and_acceptance():
    assert v16.start_result({"transactionId": 7, "idTagInfo": {"status": "Accepted"}}) == (7, True)
    assert v16.start_result({"transactionId": 8, "idTagInfo": {"status": "Invalid"}}) == (8, False)


def test_stop_transaction_full_and_minimal():
    data = [v16.meter_value(reading(), "Energy.Active.Import.Register", "Transaction.End", TS)]
    action, payload = v16.stop_transaction(7, 20000.4, TS, "EVDisconnected", "TAG1", data)
    assert action == "StopTransaction"
    assert payload == {"transactionId": 7, "meterStop": 20000, "timestamp": TS, "reason": "EVDisconnected",
                       "idTag": "TAG1", "transactionData": data}
    assert type(payload["meterStop"]) is int
    _, payload = v16.stop_transaction(7, 1.0, TS, "Local", None, [])
    assert payload == {"transactionId": 7, "meterStop": 1, "timestamp": TS, "reason": "Local"}


def test_stop_transaction_without_reason_omits_it():
    # reason is optional in StopTransaction.req (absent means Local); null is not a valid value
    _, payload = v16.stop_transaction(7, 1.0, TS, None, None, None)
    assert "reason" not in payload


def test_meter_values_with_and_without_transaction():
    mv = [v16.meter_value(reading(), "Energy.Active.Import.Register", "Sample.Periodic", TS)]
    assert v16.meter_values(1, 7, mv) == ("MeterValues", {"connectorId": 1, "transactionId": 7, "meterValue": mv})
    assert v16.meter_values(1, None, mv) == ("MeterValues", {"connectorId": 1, "meterValue": mv})


def test_meter_value_samples_every_measurand_with_units_phases_and_string_values():
    mv = v16.meter_value(reading(), ALL_MEASURANDS, "Sample.Periodic", TS, soc_pct=42)
    assert mv["timestamp"] == TS
    samples = mv["sampledValue"]
    by = {}
    for s in samples:
        assert isinstance(s["value"], str)
        assert s["context"] == "Sample.Periodic"
        by[(s["measurand"], s.get("phase"))] = s
    assert by[("Energy.Active.Import.Register", None)]["value"] == "12346"
    assert by[("Energy.Active.Import.Register", None)]["unit"] == "Wh"
    assert by[("Power.Active.Import", None)]["value"] == "7360.0"
    assert by[("Power.Active.Import", None)]["unit"] == "W"
    assert [by[("Current.Import", p)]["value"] for p in ("L1", "L2", "L3")] == ["16.00", "15.50", "0.00"]
    assert by[("Current.Import", "L3")]["unit"] == "A"
    assert by[("Voltage", "L2-N")]["value"] == "231.0"
    assert by[("Voltage", "L1-N")]["unit"] == "V"
    assert by[("SoC", None)]["value"] == "42"
    assert by[("SoC", None)]["unit"] == "Percent"
    assert by[("SoC", None)]["location"] == "EV"
    assert by[("Voltage", "L3-N")]["location"] == "Outlet"
    assert len(samples) == 1 + 1 + 3 + 3 + 1


def test_meter_value_leaves_out_soc_when_unknown():
    mv = v16.meter_value(reading(), "SoC,Energy.Active.Import.Register", "Transaction.Begin", TS)
    assert [s["measurand"] for s in mv["sampledValue"]] == ["Energy.Active.Import.Register"]


# -- calls from the CSMS ---------------------------------------------------------------------------


class FakeChargePoint:
    """What v16.handle needs from the charge point: config, auth and the commands; records the calls."""

    def __init__(self, answer="Accepted"):
        self.config = Config()
        self.answer = answer
        self.calls = []
        self.auth = FakeAuth()

    def remote_start(self, id_tag, connector_id):
        self.calls.append(("remote_start", id_tag, connector_id))
        return self.answer

    def remote_stop(self, transaction_id):
        self.calls.append(("remote_stop", transaction_id))
        return self.answer

    def change_configuration(self, key, value):
        self.calls.append(("change_configuration", key, value))
        return self.config.set(key, value)

    def reset(self, kind):
        self.calls.append(("reset", kind))
        return self.answer

    def change_availability(self, connector_id, kind):
        self.calls.append(("change_availability", connector_id, kind))
        return self.answer

    def unlock_connector(self, connector_id):
        self.calls.append(("unlock_connector", connector_id))
        return "NotSupported"

    def trigger(self, message, connector_id):
        self.calls.append(("trigger", message, connector_id))
        return self.answer


class FakeAuth:
    def __init__(self):
        self.calls = []

    def clear_cache(self):
        self.calls.append("clear_cache")
        return "Accepted"

    def list_version(self):
        return 4

    def send_local_list(self, update_type, version, entries):
        self.calls.append((update_type, version, entries))
        return "VersionMismatch"


def handle(cp, action, payload):
    return run_async(v16.handle(cp, Call("m1", action, payload)))


def error_code(cp, action, payload):
    def go():
        handle(cp, action, payload)
    return raises(RpcError, go).code


def test_remote_start_passes_id_tag_and_optional_connector():
    cp = FakeChargePoint()
    assert handle(cp, "RemoteStartTransaction", {"idTag": "TAG1"}) == {"status": "Accepted"}
    assert handle(cp, "RemoteStartTransaction", {"idTag": "TAG2", "connectorId": 1}) == {"status": "Accepted"}
    assert cp.calls == [("remote_start", "TAG1", None), ("remote_start", "TAG2", 1)]


def test_remote_start_answer_comes_from_the_charge_point():
    assert handle(FakeChargePoint("Rejected"), "RemoteStartTransaction", {"idTag": "T"}) == {"status": "Rejected"}


def test_remote_start_id_tag_of_20_characters_is_fine_21_is_a_type_constraint_violation():
    cp = FakeChargePoint()
    assert handle(cp, "RemoteStartTransaction", {"idTag": "x" * 20}) == {"status": "Accepted"}
    # CiString20Type is a data type: OCPP-J 1.6 Table 7 TypeConstraintViolation ("violates data type
    # constraints"); the ocpp package maps maxLength the same way.
    assert error_code(cp, "RemoteStartTransaction", {"idTag": "x" * 21}) == "TypeConstraintViolation"
    assert len(cp.calls) == 1


def test_missing_required_field_is_a_protocol_error():
    # OCPP-J 1.6 Table 7 ProtocolError: "Payload for Action is incomplete" (ocpp package: required ->
    # ProtocolError)
    cp = FakeChargePoint()
    assert error_code(cp, "RemoteStartTransaction", {}) == "ProtocolError"
    assert error_code(cp, "RemoteStartTransaction", {"connectorId": 1}) == "ProtocolError"
    assert error_code(cp, "RemoteStopTransaction", {}) == "ProtocolError"
    assert error_code(cp, "ChangeConfiguration", {"key": "HeartbeatInterval"}) == "ProtocolError"
    assert error_code(cp, "ChangeConfiguration", {"value": "1"}) == "ProtocolError"
    assert error_code(cp, "Reset", {}) == "ProtocolError"
    assert cp.calls == []


def test_wrong_type_is_a_type_constraint_violation():
    cp = FakeChargePoint()
    cases = [
        ("RemoteStartTransaction", {"idTag": 12}),
        ("RemoteStartTransaction", {"idTag": None}),
        ("RemoteStartTransaction", {"idTag": "T", "connectorId": "1"}),
        ("RemoteStartTransaction", {"idTag": "T", "connectorId": 1.0}),
        ("RemoteStartTransaction", {"idTag": "T", "connectorId": True}),
        ("RemoteStopTransaction", {"transactionId": "7"}),
        ("RemoteStopTransaction", {"transactionId": False}),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": 60}),
        ("ChangeConfiguration", {"key": ["HeartbeatInterval"], "value": "60"}),
        ("GetConfiguration", {"key": "HeartbeatInterval"}),
        ("GetConfiguration", {"key": [1]}),
        ("GetConfiguration", {"key": [None]}),
        ("GetConfiguration", {"key": [["HeartbeatInterval"]]}),
        ("Reset", {"type": 1}),
    ]
    for action, payload in cases:
        assert error_code(cp, action, payload) == "TypeConstraintViolation", (action, payload)
    assert cp.calls == []


def test_too_long_strings_are_type_constraint_violations():
    cp = FakeChargePoint()
    assert error_code(cp, "ChangeConfiguration", {"key": "k" * 51, "value": "1"}) == "TypeConstraintViolation"
    assert error_code(cp, "ChangeConfiguration", {"key": "k", "value": "v" * 501}) == "TypeConstraintViolation"
    assert error_code(cp, "GetConfiguration", {"key": ["k" * 51]}) == "TypeConstraintViolation"
    assert handle(cp, "ChangeConfiguration", {"key": "k" * 50, "value": "v" * 500}) == {"status": "NotSupported"}


def test_remote_stop_passes_the_transaction_id():
    cp = FakeChargePoint()
    assert handle(cp, "RemoteStopTransaction", {"transactionId": 7}) == {"status": "Accepted"}
    assert cp.calls == [("remote_stop", 7)]


def test_get_configuration_all_keys():
    cp = FakeChargePoint()
    result = handle(cp, "GetConfiguration", {})
    assert "unknownKey" not in result
    keys = [e["key"] for e in result["configurationKey"]]
    assert "HeartbeatInterval" in keys and "NumberOfConnectors" in keys
    assert handle(cp, "GetConfiguration", {"key": []}) == result


def test_get_configuration_named_and_unknown_keys():
    result = handle(FakeChargePoint(), "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    assert result == {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "86400"}],
                      "unknownKey": ["Nope"]}


def test_get_configuration_only_unknown_keys_gives_an_empty_known_list():
    result = handle(FakeChargePoint(), "GetConfiguration", {"key": ["Nope"]})
    assert result == {"configurationKey": [], "unknownKey": ["Nope"]}


def test_change_configuration_statuses():
    cp = FakeChargePoint()
    assert handle(cp, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "300"}) == {"status": "Accepted"}
    assert cp.config["HeartbeatInterval"] == 300
    assert handle(cp, "ChangeConfiguration", {"key": "HeartbeatInterval", "value": "x"}) == {"status": "Rejected"}
    assert handle(cp, "ChangeConfiguration", {"key": "NumberOfConnectors", "value": "2"}) == {"status": "Rejected"}
    assert handle(cp, "ChangeConfiguration", {"key": "Nope", "value": "2"}) == {"status": "NotSupported"}


def test_reset_hard_and_soft():
    cp = FakeChargePoint()
    assert handle(cp, "Reset", {"type": "Hard"}) == {"status": "Accepted"}
    assert handle(cp, "Reset", {"type": "Soft"}) == {"status": "Accepted"}
    assert cp.calls == [("reset", "Hard"), ("reset", "Soft")]


def test_reset_of_an_unknown_type_is_a_property_constraint_violation():
    cp = FakeChargePoint()
    # "Payload is syntactically correct but at least one field contains an invalid value"
    assert error_code(cp, "Reset", {"type": "Medium"}) == "PropertyConstraintViolation"
    assert error_code(cp, "Reset", {"type": "hard"}) == "PropertyConstraintViolation"
    assert cp.calls == []


def test_known_action_without_a_handler_is_not_supported():
    # OCPP-J 1.6 Table 7: NotSupported = "Requested Action is recognized but not supported by the
    # receiver". (The ocpp package answers NotImplemented here: mobilityhouse/ocpp issue #493.)
    from firmware.ocpp.core16 import CSMS_ACTIONS, HANDLERS
    cp = FakeChargePoint()
    unhandled = [action for action in CSMS_ACTIONS if action not in HANDLERS]
    for action in unhandled:
        assert error_code(cp, action, {}) == "NotSupported", action


def test_unknown_action_is_not_implemented():
    # OCPP-J 1.6 Table 7: NotImplemented = "Requested Action is not known by receiver".
    cp = FakeChargePoint()
    for action in ("FlyToTheMoon", "", "reset", "BootNotification", "StartTransaction"):
        assert error_code(cp, action, {}) == "NotImplemented", action


def test_every_error_code_is_a_1_6_code():
    from firmware.ocpp.rpc import ERROR_CODES
    cp = FakeChargePoint()
    for action, payload in (("Reset", {}), ("Reset", {"type": 1}), ("Reset", {"type": "x"}), ("ReserveNow", {}),
                            ("Nope", {})):
        assert error_code(cp, action, payload) in ERROR_CODES["1.6"]


def test_change_availability_passes_connector_and_type():
    cp = FakeChargePoint("Scheduled")
    assert handle(cp, "ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}) == {"status": "Scheduled"}
    assert cp.calls == [("change_availability", 0, "Inoperative")]


def test_clear_cache_and_the_local_list_go_to_the_authorizer():
    cp = FakeChargePoint()
    assert handle(cp, "ClearCache", {}) == {"status": "Accepted"}
    assert handle(cp, "GetLocalListVersion", {}) == {"listVersion": 4}
    entries = [{"idTag": "A", "idTagInfo": {"status": "Accepted"}}]
    reply = handle(cp, "SendLocalList", {"listVersion": 3, "updateType": "Differential", "localAuthorizationList": entries})
    assert reply == {"status": "VersionMismatch"}
    handle(cp, "SendLocalList", {"listVersion": 5, "updateType": "Full"})
    assert cp.auth.calls == ["clear_cache", ("Differential", 3, entries), ("Full", 5, None)]


def test_data_transfer_knows_no_vendor():
    cp = FakeChargePoint()
    assert handle(cp, "DataTransfer", {"vendorId": "com.example", "data": "x"}) == {"status": "UnknownVendorId"}


def test_unlock_and_trigger_pass_their_arguments():
    cp = FakeChargePoint()
    assert handle(cp, "UnlockConnector", {"connectorId": 1}) == {"status": "NotSupported"}
    assert handle(cp, "TriggerMessage", {"requestedMessage": "Heartbeat"}) == {"status": "Accepted"}
    assert handle(cp, "TriggerMessage", {"requestedMessage": "MeterValues", "connectorId": 1}) == {"status": "Accepted"}
    assert cp.calls == [("unlock_connector", 1), ("trigger", "Heartbeat", None), ("trigger", "MeterValues", 1)]


def test_get_configuration_of_more_keys_than_allowed_is_an_occurence_constraint_violation():
    cp = FakeChargePoint()
    most = cp.config["GetConfigurationMaxKeys"]
    assert len(handle(cp, "GetConfiguration", {"key": ["HeartbeatInterval"] * most})["configurationKey"]) == most
    assert error_code(cp, "GetConfiguration", {"key": ["HeartbeatInterval"] * (most + 1)}) == "OccurenceConstraintViolation"


def test_a_field_the_request_does_not_have_is_a_formation_violation_and_nothing_happens():
    cp = FakeChargePoint()
    assert error_code(cp, "Reset", {"type": "Soft", "delay": 5}) == "FormationViolation"
    assert error_code(cp, "ChangeAvailability", {"connectorId": 1, "type": "Operative", "x": 1}) == "FormationViolation"
    assert cp.calls == []


def test_data_transfer_payload_builder():
    assert v16.data_transfer("v") == ("DataTransfer", {"vendorId": "v"})
    assert v16.data_transfer("v", "m", "") == ("DataTransfer", {"vendorId": "v", "messageId": "m", "data": ""})
    assert v16.id_tag_info({"transactionId": 1, "idTagInfo": {"status": "Blocked"}}) == {"status": "Blocked"}
    assert v16.id_tag_info({}) is None
