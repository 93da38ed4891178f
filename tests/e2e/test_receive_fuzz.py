"""The charge point's receive path under fire: Hypothesis has the embedded CSMS send raw frames (no
validation on the way out) to a booted charge point: text that is not JSON, JSON that is not an OCPP-J
frame, unknown message types, unknown and unsupported actions, and for every CALL the charge point
handles a valid payload with one thing broken (a field dropped, added, of the wrong type, too long,
outside its enumeration, a bad dateTime) or a schema-valid value out of range.

Expected answers (OCPP-J 1.6 section 4.2.3, Table 7; how each schema failure maps is in
firmware/ocpp/schema16.py): the CALLERROR code for what was broken, with the frame's unique id; for a
frame whose id cannot be read, a FormationViolation with id "-1" (firmware/ocpp/rpc.py applies the
2.0.1 rule) or nothing; for an unknown message type or a reply to nothing, nothing. Every broken payload
is first checked to break the OCA JSON schema the same way (jsonschema), so the oracle is the standard's
schema, not the firmware's table (the security extension's draft-06 schemas with their
"#/definitions" inlined). Every handled CALL has a base, each is fuzzed on its own too, and each base sent
whole gets a CALLRESULT its response schema accepts. After each burst the session carries on: the same
connection answers a valid call, and a transaction started before it completes."""

import asyncio
import copy
import json
import os

import ocpp.v16
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.validators import validator_for

from firmware.ocpp import schema16
from firmware.ocpp.core16 import CSMS_ACTIONS, HANDLERS
from sim.csms import Csms
from tests.e2e.test_stories import booted, charging, run, stopped

SCHEMAS = os.path.join(os.path.dirname(ocpp.v16.__file__), "schemas")
_schemas = {}

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUZnV6eg==\n-----END CERTIFICATE-----\n"
BASES = {  # a valid request per CALL the charge point handles
    "ChangeAvailability": {"connectorId": 1, "type": "Operative"},
    "ChangeConfiguration": {"key": "MeterValueSampleInterval", "value": "60"},
    "ClearCache": {},
    "DataTransfer": {"vendorId": "com.example", "messageId": "m1", "data": "d"},
    "GetConfiguration": {"key": ["HeartbeatInterval"]},
    "GetLocalListVersion": {},
    "RemoteStartTransaction": {"connectorId": 1, "idTag": "FUZZ", "chargingProfile": {
        "chargingProfileId": 1, "stackLevel": 0, "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Absolute", "validFrom": "2025-01-01T00:00:00Z",
        "chargingSchedule": {"chargingRateUnit": "A", "duration": 60, "startSchedule": "2025-01-01T00:00:00Z",
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]}}},
    "RemoteStopTransaction": {"transactionId": 99},
    "Reset": {"type": "Soft"},
    "SendLocalList": {"listVersion": 1, "updateType": "Full", "localAuthorizationList": [
        {"idTag": "A", "idTagInfo": {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z", "parentIdTag": "P"}}]},
    "TriggerMessage": {"requestedMessage": "Heartbeat", "connectorId": 1},
    "UnlockConnector": {"connectorId": 1},
    # Reservation and Smart Charging. Dates lie after the rig's clock (2025) so nothing expires mid-test.
    "CancelReservation": {"reservationId": 1},
    "ReserveNow": {"connectorId": 1, "expiryDate": "2030-01-01T00:00:00Z", "idTag": "FUZZ", "parentIdTag": "P",
                   "reservationId": 7},
    "SetChargingProfile": {"connectorId": 0, "csChargingProfiles": {
        "chargingProfileId": 3, "stackLevel": 1, "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Recurring", "recurrencyKind": "Daily", "validFrom": "2025-01-01T00:00:00Z",
        "validTo": "2030-01-01T00:00:00Z",
        "chargingSchedule": {"chargingRateUnit": "A", "duration": 86400, "startSchedule": "2025-01-01T00:00:00Z",
                             "minChargingRate": 6.0,
                             "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}]}}},
    "ClearChargingProfile": {"id": 3, "connectorId": 0, "chargingProfilePurpose": "TxDefaultProfile", "stackLevel": 1},
    "GetCompositeSchedule": {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"},
    # Firmware management: a location nothing listens on (port 9, discard) fails fast; a retrieve date
    # after the rig's clock keeps the download from starting at all.
    "UpdateFirmware": {"location": "http://127.0.0.1:9/x", "retrieveDate": "2030-01-01T00:00:00Z", "retries": 1,
                       "retryInterval": 30},
    "GetDiagnostics": {"location": "http://127.0.0.1:9/x", "retries": 1, "retryInterval": 30,
                       "startTime": "2025-01-01T00:00:00Z", "stopTime": "2030-01-01T00:00:00Z"},
    # Security extension: PEM that is a string, not a certificate; the point is the receive path.
    "SignedUpdateFirmware": {"requestId": 5, "retries": 1, "retryInterval": 30, "firmware": {
        "location": "http://127.0.0.1:9/x", "retrieveDateTime": "2030-01-01T00:00:00Z",
        "installDateTime": "2030-01-01T00:00:00Z", "signingCertificate": PEM, "signature": "AAAA"}},
    "InstallCertificate": {"certificateType": "CentralSystemRootCertificate", "certificate": PEM},
    "DeleteCertificate": {"certificateHashData": {"hashAlgorithm": "SHA256", "issuerNameHash": "00" * 32,
                                                  "issuerKeyHash": "11" * 32, "serialNumber": "01"}},
    "GetInstalledCertificateIds": {"certificateType": "CentralSystemRootCertificate"},
    "CertificateSigned": {"certificateChain": PEM},
    "GetLog": {"log": {"remoteLocation": "http://127.0.0.1:9/x", "oldestTimestamp": "2025-01-01T00:00:00Z",
                       "latestTimestamp": "2030-01-01T00:00:00Z"}, "logType": "DiagnosticsLog", "requestId": 6,
               "retries": 1, "retryInterval": 30},
    "ExtendedTriggerMessage": {"requestedMessage": "Heartbeat", "connectorId": 1},
}
# Handled actions with no base, and why (none today: every CALL can be fuzzed without harm, since a
# broken payload never reaches its handler).
NOT_FUZZED = {}
# Bases sent valid once, whole, by test_every_base_is_answered_with_a_valid_conf: not a Soft Reset (it
# ends the session this test watches).
NOT_SENT_WHOLE = {"Reset"}
# Schema-valid values a charge point must answer calmly (a status, not an error).
OUT_OF_RANGE = [
    ("ChangeAvailability", ("connectorId",), 7), ("ChangeAvailability", ("connectorId",), -3),
    ("UnlockConnector", ("connectorId",), 0), ("TriggerMessage", ("connectorId",), 5),
    ("RemoteStartTransaction", ("connectorId",), 2), ("RemoteStopTransaction", ("transactionId",), -1),
    ("SendLocalList", ("listVersion",), -1), ("SendLocalList", ("listVersion",), 0),
    ("ChangeConfiguration", ("key",), "NoSuchKey"), ("ChangeConfiguration", ("value",), "-1"),
    ("GetConfiguration", ("key",), []), ("DataTransfer", ("data",), ""),
    ("ReserveNow", ("connectorId",), 0), ("ReserveNow", ("connectorId",), 9),
    ("ReserveNow", ("expiryDate",), "2020-01-01T00:00:00Z"),  # already expired
    ("CancelReservation", ("reservationId",), 424242), ("CancelReservation", ("reservationId",), -1),
    ("GetCompositeSchedule", ("connectorId",), 5), ("GetCompositeSchedule", ("duration",), 0),
    ("GetCompositeSchedule", ("duration",), -60),
    ("ClearChargingProfile", ("id",), 987654), ("ClearChargingProfile", ("connectorId",), 9),
    ("SetChargingProfile", ("connectorId",), 9), ("SetChargingProfile", ("csChargingProfiles", "stackLevel"), -1),
    ("SetChargingProfile", ("csChargingProfiles", "transactionId"), 5),  # only a TxProfile may name one (7.7)
    ("GetInstalledCertificateIds", ("certificateType",), "ManufacturerRootCertificate"),  # none installed
    ("DeleteCertificate", ("certificateHashData", "serialNumber"), "ffffffff"),
    ("DeleteCertificate", ("certificateHashData", "issuerNameHash"), ""),
    ("CertificateSigned", ("certificateChain",), "garbage"), ("CertificateSigned", ("certificateChain",), ""),
    ("InstallCertificate", ("certificate",), "not a certificate"),
    ("ExtendedTriggerMessage", ("connectorId",), 9), ("TriggerMessage", ("connectorId",), 0),
]
WRONG = {"integer": ["1", 1.5, True, None, [], {}], "number": ["1", True, None, []], "string": [1, 2.5, False, None, [], {}],
         "object": [1, "x", [], None], "array": [1, "x", {}, None]}
# Not RFC 3339 date-times: words, a month 13, a space for the T, no UTC offset, nothing.
BAD_DATES = ["yesterday", "2025-13-01T00:00:00Z", "2025-01-01 00:00:00", "2025-01-01T00:00:00", ""]
NOT_JSON = ["", "[", "{", "[2,\"a\"", "nope", "[2, 'single']", "\x00", "[1,]"]
NOT_FRAMES = ["{}", "[]", "null", "3", "\"CALL\"", "{\"a\": [2]}"]
UNSUPPORTED = sorted(set(CSMS_ACTIONS) - set(HANDLERS))  # known 1.6 actions without a handler (yet)


def schema(action):
    """The OCA schema of action, its "#/definitions/..." references (security extension) inlined."""
    if action not in _schemas:
        with open(os.path.join(SCHEMAS, action + ".json")) as f:
            whole = json.load(f)
        _schemas[action] = _inline(whole, whole.get("definitions", {}))
    return _schemas[action]


def _inline(node, definitions):
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(definitions[node["$ref"].split("/")[-1]], definitions)
        return {k: _inline(v, definitions) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, definitions) for v in node]
    return node


def validator(action):
    return validator_for(schema(action))(schema(action))


def fields(node, payload, path=()):
    """(path, schema node, required) of every field in payload, depth first."""
    for name, value in payload.items():
        sub = node["properties"][name]
        yield path + (name,), sub, name in node.get("required", ())
        if sub["type"] == "object":
            yield from fields(sub, value, path + (name,))
        elif sub["type"] == "array" and value and sub["items"].get("type") == "object":
            yield from fields(sub["items"], value[0], path + (name, 0))


def objects(node, payload, path=()):
    yield path
    for p, sub, _ in fields(node, payload, path):
        if sub["type"] == "object":
            yield p
        elif sub["type"] == "array" and sub["items"].get("type") == "object":
            yield p + (0,)


def at(payload, path):
    for step in path:
        payload = payload[step]
    return payload


def put(payload, path, value):
    at(payload, path[:-1])[path[-1]] = value


@st.composite
def broken_calls(draw, actions=None):
    """(action, payload, expected CALLERROR code) for one of actions (default: every base)."""
    action = draw(st.sampled_from(sorted(actions or BASES)))
    payload = copy.deepcopy(BASES[action])
    node = schema(action)
    options = ["extra"] + (["field"] if payload else [])
    if draw(st.sampled_from(options)) == "extra":
        where = draw(st.sampled_from(list(objects(node, payload))))
        at(payload, where)[draw(st.sampled_from(["colour", "x", "idTag2", "Status"]))] = draw(st.integers(0, 9))
        return action, payload, "FormationViolation"
    path, sub, required = draw(st.sampled_from(list(fields(node, payload))))
    kinds = ["type"] + (["drop"] if required else [])
    if "maxLength" in sub:
        kinds.append("long")
    if "enum" in sub:
        kinds.append("enum")
    if sub.get("format") == "date-time":
        kinds.append("date")
    kind = draw(st.sampled_from(kinds))
    if kind == "drop":
        del at(payload, path[:-1])[path[-1]]
        return action, payload, "ProtocolError"
    if kind == "type":
        put(payload, path, draw(st.sampled_from(WRONG[sub["type"]])))
        return action, payload, "TypeConstraintViolation"
    if kind == "long":
        put(payload, path, "x" * (sub["maxLength"] + draw(st.integers(1, 30))))
        return action, payload, "TypeConstraintViolation"
    if kind == "enum":
        put(payload, path, draw(st.sampled_from(["", "accepted", "Maybe", sub["enum"][0] + " "])))
        return action, payload, "PropertyConstraintViolation"
    put(payload, path, draw(st.sampled_from(BAD_DATES)))
    return action, payload, "TypeConstraintViolation:date"


def schema_kinds(action, payload):
    return {e.validator for e in validator(action).iter_errors(payload)}


# The standard's schema must agree that the payload is broken in the way the generator says.
AGREES = {"FormationViolation": {"additionalProperties"}, "ProtocolError": {"required"},
          "TypeConstraintViolation": {"type", "maxLength"}, "PropertyConstraintViolation": {"enum"}}

frames = st.one_of(
    st.builds(lambda t: ("text", t, "unreadable"), st.sampled_from(NOT_JSON) | st.text(max_size=20).filter(
        lambda t: not _is_json(t))),
    st.builds(lambda t: ("text", t, "unreadable"), st.sampled_from(NOT_FRAMES)),
    st.builds(lambda i, k: ("frame", [k, "u%d" % i, "Heartbeat", {}], "ignored"), st.integers(0, 99),
              st.sampled_from([0, 1, 5, 6, 99, -2])),
    st.builds(lambda i: ("frame", [3, "orphan%d" % i, {}], "ignored"), st.integers(0, 99)),
    st.builds(lambda i: ("frame", [4, "orphan%d" % i, "GenericError", "", {}], "ignored"), st.integers(0, 99)),
    st.builds(lambda i, f: ("frame", f(i), "FormationViolation"), st.integers(0, 99), st.sampled_from([
        lambda i: [2, "f%d" % i, "Heartbeat"], lambda i: [2, "f%d" % i, 7, {}], lambda i: [2, "f%d" % i, "Reset", []],
        lambda i: [2, "f%d" % i, "Reset", {}, {}], lambda i: ["2", "f%d" % i, "Reset", {}]])),
    st.builds(lambda f: ("frame", f, "unreadable"), st.sampled_from([
        [2, 7, "Reset", {"type": "Soft"}], [2, "x" * 37, "Reset", {"type": "Soft"}], [2, None, "Heartbeat", {}]])),
    st.builds(lambda a: ("call", a, {}, "NotImplemented"), st.sampled_from(["MakeCoffee", "", "reset", "Heartbeat",
                                                                         "BootNotification", "StartTransaction"])),
    st.builds(lambda a: ("call", a, {}, "NotSupported"), st.sampled_from(UNSUPPORTED)) if UNSUPPORTED else st.nothing(),
    st.builds(lambda c: ("call",) + c, broken_calls()),
    st.builds(lambda c: ("valid",) + c, st.sampled_from(OUT_OF_RANGE)),
)


def _is_json(text):
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


async def fire(station, item, n):
    """Send one fuzz item, check the answer; returns a description of what was sent."""
    kind = item[0]
    if kind == "valid":
        action, path, value = item[1:]
        payload = copy.deepcopy(BASES[action])
        put(payload, path, value)
        assert not schema_kinds(action, payload), (action, payload)
        reply = await station.send_raw(json.dumps([2, "v%d" % n, action, payload]))
        assert reply is not None and reply[:2] == [3, "v%d" % n], (item, reply)
        assert not list(validator(action + "Response").iter_errors(reply[2])), (item, reply)
        return
    if kind == "call":
        action, payload, code = item[1:]
        if code.endswith(":date"):  # jsonschema checks no formats without extras; BAD_DATES are bad by hand
            code = code[:-5]
        elif action in BASES:
            assert AGREES[code] & schema_kinds(action, payload), (action, payload, schema_kinds(action, payload))
        unique_id = "c%d" % n
        reply = await station.send_raw(json.dumps([2, unique_id, action, payload]))
        assert reply is not None and reply[:3] == [4, unique_id, code], (item, reply)
        assert isinstance(reply[3], str) and len(reply[3]) <= 255 and reply[4] == {}
        return
    text = item[1] if kind == "text" else json.dumps(item[1])
    expected = item[2]
    reply = await station.send_raw(text, timeout_s=2)
    if expected == "ignored":
        assert reply is None, (item, reply)
    elif expected == "unreadable":
        assert reply is None or reply[:3] == [4, "-1", "FormationViolation"], (item, reply)
    else:
        assert reply is not None and reply[:3] == [4, item[1][1], expected], (item, reply)


async def carries_on(rig):
    got = await rig.station.get_configuration(["NumberOfConnectors"])
    assert got["configurationKey"][0]["value"] == "1"
    assert rig.fw.cp.booted and rig.fw.cp.link.connects == 1  # the same connection all along


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(burst=st.lists(frames, min_size=1, max_size=6))
def test_any_frame_gets_the_right_answer_and_the_session_carries_on(burst):
    async def story(rig, clock):
        await booted(rig, clock)
        for n, item in enumerate(burst):
            await fire(rig.station, item, n)
        await carries_on(rig)
        for error in rig.station.errors:  # what the CSMS noted is what the fuzz provoked, nothing else
            assert error["kind"] in ("callerror", "frame"), error

    run(story, expect_errors=True)


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(burst=st.lists(frames, min_size=3, max_size=10))
def test_a_transaction_completes_through_a_burst_of_bad_frames(burst):
    async def story(rig, clock):
        tx = await charging(rig, clock)
        for n, item in enumerate(burst):
            await fire(rig.station, item, n)
            await asyncio.sleep(1)
        await carries_on(rig)
        rig.plant.unplug()
        done = await stopped(rig, clock)
        assert done["transaction_id"] == tx["transaction_id"] and done["reason"] == "EVDisconnected"
        assert done["meter_stop_wh"] >= done["meter_start_wh"]

    run(story, csms=Csms(), expect_errors=True)


def calls_of(action):
    """Broken and out-of-range CALLs of one action only: the mixed bursts above reach each action seldom."""
    odd = [c for c in OUT_OF_RANGE if c[0] == action]
    broken = st.builds(lambda c: ("call",) + c, broken_calls([action]))
    if not odd:
        return broken
    return broken | st.builds(lambda c: ("valid",) + c, st.sampled_from(odd))


@pytest.mark.parametrize("action", sorted(BASES))
def test_each_action_broken_every_way_gets_the_right_callerror(action):
    @settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow], deadline=None)
    @given(burst=st.lists(calls_of(action), min_size=4, max_size=8))
    def bursts(burst):
        async def story(rig, clock):
            await booted(rig, clock)
            for n, item in enumerate(burst):
                await fire(rig.station, item, n)
            await carries_on(rig)
            for error in rig.station.errors:
                assert error["kind"] in ("callerror", "frame"), error

        run(story, expect_errors=True)

    bursts()


def test_every_handled_call_has_a_base_that_both_schemas_accept():
    assert set(BASES) == set(HANDLERS) - set(NOT_FUZZED), sorted(set(HANDLERS) ^ set(BASES))
    for action, payload in sorted(BASES.items()):
        assert not list(validator(action).iter_errors(payload)), action
        schema16.check(action, payload)  # raises RpcError when the firmware's table disagrees
        assert list(fields(schema(action), payload)) or not payload, action  # the walker sees every field
    for action, path, value in OUT_OF_RANGE:
        payload = copy.deepcopy(BASES[action])
        put(payload, path, value)
        assert not list(validator(action).iter_errors(payload)), (action, path, value)


def test_every_base_is_answered_with_a_valid_conf_and_the_session_carries_on():
    async def story(rig, clock):
        await booted(rig, clock)
        for n, action in enumerate(sorted(set(BASES) - NOT_SENT_WHOLE)):
            reply = await rig.station.send_raw(json.dumps([2, "b%d" % n, action, BASES[action]]))
            assert reply is not None and reply[:2] == [3, "b%d" % n], (action, reply)
            assert not list(validator(action + "Response").iter_errors(reply[2])), (action, reply)
        await asyncio.sleep(60)  # the uploads and downloads to nowhere fail in their own time
        await carries_on(rig)
        assert rig.station.errors == []

    run(story)
