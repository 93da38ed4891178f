# portable
# The 1.6 request schemas the charge point checks incoming CALLs against (firmware/ocpp/schema16.py), and
# the OCPP-J 1.6 Table 7 code for each way a payload breaks them. test_v16_props.py compares the table
# with the OCA JSON schemas; the end-to-end fuzz is tests/e2e/test_receive_fuzz.py.
from firmware.ocpp import schema16
from firmware.ocpp.rpc import RpcError
from tests.portable import raises

PROFILE = {"chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
           "chargingProfileKind": "Absolute",
           "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400}]}}


def code(action, payload):
    return raises(RpcError, schema16.check, action, payload).code


def test_valid_requests_pass():
    assert schema16.check("ClearCache", {}) is None
    assert schema16.check("ChangeAvailability", {"connectorId": 0, "type": "Inoperative"}) is None
    assert schema16.check("RemoteStartTransaction", {"idTag": "T", "chargingProfile": PROFILE}) is None
    assert schema16.check("SendLocalList", {"listVersion": 2, "updateType": "Differential",
                                            "localAuthorizationList": [{"idTag": "A"}, {"idTag": "B", "idTagInfo": {
                                                "status": "Blocked", "expiryDate": "2030-01-01T00:00:00+02:00"}}]}) is None
    assert schema16.check("DataTransfer", {"vendorId": "v" * 255, "data": "x" * 5000}) is None


def test_a_field_the_pdu_does_not_have_is_a_formation_violation():
    assert code("ClearCache", {"all": True}) == "FormationViolation"
    assert code("UnlockConnector", {"connectorId": 1, "force": True}) == "FormationViolation"
    profile = dict(PROFILE)
    profile["colour"] = "red"
    assert code("RemoteStartTransaction", {"idTag": "T", "chargingProfile": profile}) == "FormationViolation"


def test_a_missing_required_field_is_a_protocol_error_also_nested():
    assert code("ChangeAvailability", {"type": "Operative"}) == "ProtocolError"
    assert code("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                  "localAuthorizationList": [{"idTagInfo": {"status": "Accepted"}}]}) == "ProtocolError"
    assert code("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                  "localAuthorizationList": [{"idTag": "A", "idTagInfo": {}}]}) == "ProtocolError"


def test_wrong_types_long_strings_and_bad_dates_are_type_constraint_violations():
    for payload in ({"connectorId": "1", "type": "Operative"}, {"connectorId": 1.5, "type": "Operative"},
                    {"connectorId": True, "type": "Operative"}, {"connectorId": 1, "type": 1},
                    {"connectorId": None, "type": "Operative"}):
        assert code("ChangeAvailability", payload) == "TypeConstraintViolation", payload
    assert code("DataTransfer", {"vendorId": "v" * 256}) == "TypeConstraintViolation"
    assert code("GetConfiguration", {"key": ["k" * 51]}) == "TypeConstraintViolation"
    assert code("GetConfiguration", {"key": "HeartbeatInterval"}) == "TypeConstraintViolation"
    for date in ("2030-01-01", "2030-01-01T00:00:00", "tomorrow", "2030-02-30T00:00:00Z"):
        entry = {"idTag": "A", "idTagInfo": {"status": "Accepted", "expiryDate": date}}
        assert code("SendLocalList", {"listVersion": 1, "updateType": "Full",
                                      "localAuthorizationList": [entry]}) == "TypeConstraintViolation", date


def test_a_value_outside_an_enumeration_is_a_property_constraint_violation():
    assert code("ChangeAvailability", {"connectorId": 1, "type": "operative"}) == "PropertyConstraintViolation"
    assert code("TriggerMessage", {"requestedMessage": "StartTransaction"}) == "PropertyConstraintViolation"
    assert code("Reset", {"type": "Medium"}) == "PropertyConstraintViolation"


def test_the_description_names_the_field():
    exc = raises(RpcError, schema16.check, "SendLocalList", {"listVersion": 1, "updateType": "Full",
                                                             "localAuthorizationList": [{"idTag": 5}]})
    assert "localAuthorizationList[0].idTag" in exc.description


def test_the_first_problem_in_table_order_wins_also_on_micropython():
    # ReserveNow's fields: connectorId, expiryDate, idTag, parentIdTag, reservationId (a dict of them would
    # iterate in hash order on MicroPython: connectorId, reservationId, idTag, ...).
    when = "2030-01-01T00:00:00Z"
    assert code("ReserveNow", {"connectorId": 1, "expiryDate": when, "idTag": 5}) == "TypeConstraintViolation"
    assert code("ReserveNow", {"expiryDate": when, "idTag": 5}) == "ProtocolError"
    assert code("ReserveNow", {"idTag": 5, "colour": "red"}) == "FormationViolation"


def test_only_the_requests_have_schemas():
    for action in ("Authorize", "", "@IdTagInfo", "# name", "ClearCache\nReset", " connectorId", None):
        raises(KeyError, schema16.check, action, {})


def test_requests_gives_every_schema_as_nested_dicts():
    requests = schema16.requests()
    assert len(requests) == 26 and "ClearCache" in requests and "UpdateFirmware" in requests
    assert requests["ClearCache"] == {} and requests["Reset"] == {"type": ("enum", True, ("Hard", "Soft"))}
    assert requests["GetConfiguration"]["key"] == ("array", False, ("string", True, 50))
    id_tag_info = {"expiryDate": ("dateTime", False, None), "parentIdTag": ("string", False, 20),
                   "status": ("enum", True, ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"))}
    assert requests["SendLocalList"]["localAuthorizationList"] == ("array", False, ("object", True, {
        "idTag": ("string", True, 20), "idTagInfo": ("object", False, id_tag_info)}))
    period = requests["SetChargingProfile"]["csChargingProfiles"][2]["chargingSchedule"][2]["chargingSchedulePeriod"]
    assert period == ("array", True, ("object", True, {"startPeriod": ("integer", True, None),
                                                       "limit": ("number", True, None),
                                                       "numberPhases": ("integer", False, None)}))
    assert requests["RemoteStartTransaction"]["chargingProfile"][2] == requests["SetChargingProfile"][
        "csChargingProfiles"][2]
