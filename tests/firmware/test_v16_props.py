"""OCPP 1.6J adapter: every payload it builds, and every answer it gives, validates against the OCA JSON
schemas shipped in the `ocpp` package, for any input (Hypothesis, CPython only)."""

import asyncio
import datetime
import json
import os
import re

import ocpp.v16
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from firmware.config import KEYS, MEASURANDS, Config
from firmware.meter import MeterReading
from firmware.ocpp import schema16, v16
from firmware.ocpp.rpc import Call, RpcError

SCHEMAS = os.path.join(os.path.dirname(ocpp.v16.__file__), "schemas")
_validators = {}

# RFC 3339 date-time (JSON schema "format": "date-time"); jsonschema only checks formats with extras installed
DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

# OCPP 1.6 Reason (StopTransaction.req), ChargePointStatus and ChargePointErrorCode (fact sheet 4.3)
REASONS = ["EmergencyStop", "EVDisconnected", "HardReset", "Local", "Other", "PowerLoss", "Reboot", "Remote",
           "SoftReset", "UnlockCommand", "DeAuthorized"]
STATUSES = ["Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing", "Reserved",
            "Unavailable", "Faulted"]
ERROR_CODES = ["ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature",
               "InternalError", "LocalListConflict", "NoError", "OtherError", "OverCurrentFailure",
               "OverVoltage", "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure", "ResetFailure",
               "UnderVoltage", "WeakSignal"]
CONTEXTS = ["Interruption.Begin", "Interruption.End", "Sample.Clock", "Sample.Periodic", "Transaction.Begin",
            "Transaction.End", "Trigger", "Other"]


def validator(name):
    if name not in _validators:
        with open(os.path.join(SCHEMAS, name + ".json")) as f:
            schema = json.load(f)
        Draft4Validator.check_schema(schema)
        _validators[name] = Draft4Validator(schema)
    return _validators[name]


def check_dates(node):
    """Every timestamp-like field anywhere in node is an RFC 3339 date-time."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("timestamp", "currentTime"):
                assert isinstance(value, str) and DATE_TIME.match(value), value
            check_dates(value)
    elif isinstance(node, list):
        for item in node:
            check_dates(item)


def assert_valid(action, payload, response=False):
    name = action + ("Response" if response else "")
    # a wire round trip first: what the CSMS sees is JSON, not Python objects
    wire = json.loads(json.dumps(payload))
    errors = sorted(validator(name).iter_errors(wire), key=str)
    assert not errors, "%s invalid: %s\n%r" % (name, errors[0].message, payload)
    check_dates(wire)


# -- strategies ------------------------------------------------------------------------------------

timestamps = st.builds(
    lambda dt: dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (dt.microsecond // 1000),
    st.datetimes(min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2099, 12, 31)))
id_tags = st.text(min_size=1, max_size=20)  # CiString20Type
energy_wh = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
phase3 = lambda low, high: st.tuples(*[st.floats(low, high, allow_nan=False)] * 3)  # noqa: E731
readings = st.builds(
    MeterReading, phase3(0, 500), phase3(-100, 100), phase3(-25000, 25000),
    st.floats(-75000, 75000, allow_nan=False), energy_wh, st.integers(0, 2 ** 40))
measurand_lists = st.lists(st.sampled_from(MEASURANDS), min_size=1, max_size=8).map(",".join)
socs = st.one_of(st.none(), st.integers(0, 100))
tx_ids = st.integers(-2 ** 31, 2 ** 31 - 1)
connectors = st.integers(0, 10)


def samples_of(measurands, soc):
    # what meter_value should produce: one per measurand (three per phased one), SoC only when known
    count = 0
    for m in measurands.split(","):
        count += 3 if m in ("Current.Import", "Voltage") else 0 if m == "SoC" and soc is None else 1
    return count


# -- payloads the charge point sends ---------------------------------------------------------------


@given(vendor=st.text(min_size=1, max_size=20), model=st.text(min_size=1, max_size=20),
       serial=st.one_of(st.none(), st.text(max_size=25)), firmware=st.one_of(st.none(), st.text(max_size=50)))
def test_boot_notification_is_valid(vendor, model, serial, firmware):
    action, payload = v16.boot({"vendor": vendor, "model": model, "serial": serial, "firmware": firmware})
    assert_valid(action, payload)


def test_heartbeat_is_valid():
    assert_valid(*v16.heartbeat())


@given(connector=connectors, status=st.sampled_from(STATUSES), error=st.sampled_from(ERROR_CODES),
       ts=timestamps, info=st.one_of(st.none(), st.text(max_size=200)))
def test_status_notification_is_valid(connector, status, error, ts, info):
    assert_valid(*v16.status(connector, status, error, ts, info))


@given(id_tag=id_tags)
def test_authorize_is_valid(id_tag):
    assert_valid(*v16.authorize(id_tag))


@given(connector=connectors, id_tag=id_tags, wh=energy_wh, ts=timestamps)
def test_start_transaction_is_valid(connector, id_tag, wh, ts):
    action, payload = v16.start_transaction(connector, id_tag, wh, ts)
    assert_valid(action, payload)
    assert abs(payload["meterStart"] - wh) <= 0.5


@given(reading=readings, measurands=measurand_lists, context=st.sampled_from(CONTEXTS), ts=timestamps,
       soc=socs, tx=st.one_of(st.none(), tx_ids), connector=connectors)
def test_meter_value_is_valid_inside_meter_values(reading, measurands, context, ts, soc, tx, connector):
    mv = v16.meter_value(reading, measurands, context, ts, soc)
    if samples_of(measurands, soc) == 0:
        return  # e.g. only SoC and no SoC known: nothing to send (MeterValues needs >= 1 sample)
    assert len(mv["sampledValue"]) == samples_of(measurands, soc)
    assert_valid(*v16.meter_values(connector, tx, [mv]))


@given(tx=tx_ids, begin=readings, end=readings, measurands=measurand_lists, t0=timestamps, t1=timestamps,
       reason=st.one_of(st.none(), st.sampled_from(REASONS)), id_tag=st.one_of(st.none(), id_tags),
       soc=socs)
def test_stop_transaction_with_transaction_data_is_valid(tx, begin, end, measurands, t0, t1, reason, id_tag, soc):
    data = [v16.meter_value(begin, measurands, "Transaction.Begin", t0, soc),
            v16.meter_value(end, measurands, "Transaction.End", t1, soc)]
    action, payload = v16.stop_transaction(tx, end.energy_wh, t1, reason, id_tag, data)
    assert_valid(action, payload)
    assert payload.get("reason") == reason


@given(tx=tx_ids, wh=energy_wh, ts=timestamps)
def test_stop_transaction_minimal_is_valid(tx, wh, ts):
    assert_valid(*v16.stop_transaction(tx, wh, ts, None, None, None))


# -- answers to the CSMS's calls -------------------------------------------------------------------


class FakeChargePoint:
    def __init__(self):
        self.config = Config()

    def remote_start(self, id_tag, connector_id):
        return "Accepted" if connector_id in (None, 1) else "Rejected"

    def remote_stop(self, transaction_id):
        return "Rejected"

    def change_configuration(self, key, value):
        return self.config.set(key, value)

    def reset(self, kind):
        return "Accepted"

    def change_availability(self, connector_id, kind):
        return "Accepted" if connector_id in (0, 1) else "Rejected"

    def unlock_connector(self, connector_id):
        return "NotSupported"

    def trigger(self, message, connector_id):
        return "Accepted"


def answer(action, payload):
    """(response payload, None) or (None, RpcError code)."""
    try:
        return asyncio.run(v16.handle(FakeChargePoint(), Call("m", action, payload))), None
    except RpcError as exc:
        return None, exc.code


key_names = st.one_of(st.sampled_from(sorted(KEYS)), st.text(max_size=60))


@given(keys=st.one_of(st.none(), st.lists(key_names, max_size=10)))
def test_get_configuration_answer_is_valid_or_a_type_error(keys):
    request = {} if keys is None else {"key": keys}
    result, code = answer("GetConfiguration", request)
    if validator("GetConfiguration").is_valid(request):
        assert code is None
        assert_valid("GetConfiguration", result, response=True)
    else:
        assert code == "TypeConstraintViolation"


@given(key=key_names, value=st.one_of(st.text(max_size=20), st.integers().map(str),
                                      st.sampled_from(["true", "false", ",".join(MEASURANDS)])))
def test_change_configuration_answer_is_valid(key, value):
    request = {"key": key, "value": value}
    result, code = answer("ChangeConfiguration", request)
    if validator("ChangeConfiguration").is_valid(request):
        assert_valid("ChangeConfiguration", result, response=True)
    else:
        assert code == "TypeConstraintViolation"


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8)
fields = {
    "RemoteStartTransaction": st.fixed_dictionaries(
        {}, optional={"idTag": st.one_of(id_tags, st.text(min_size=21, max_size=30), json_values),
                      "connectorId": st.one_of(connectors, json_values)}),
    "RemoteStopTransaction": st.fixed_dictionaries({}, optional={"transactionId": st.one_of(tx_ids, json_values)}),
    "Reset": st.fixed_dictionaries({}, optional={"type": st.one_of(st.sampled_from(["Hard", "Soft"]), json_values)}),
}


@settings(max_examples=200)
@given(data=st.data(), action=st.sampled_from(sorted(fields)))
def test_commands_answer_valid_payloads_or_the_right_error(data, action):
    request = data.draw(fields[action])
    result, code = answer(action, request)
    errors = list(validator(action).iter_errors(request))
    if not errors:
        assert code is None, (request, code)
        assert_valid(action, result, response=True)
    else:
        kinds = {e.validator for e in errors}
        expected = {"required": "ProtocolError", "type": "TypeConstraintViolation",
                    "maxLength": "TypeConstraintViolation", "enum": "PropertyConstraintViolation"}
        # (a wrong-typed value also trips the schemas' stray additionalProperties on enum strings)
        assert code in {expected.get(k) for k in kinds}, (request, kinds, code)


# -- the compact request schemas against the OCA ones ------------------------------------------------

_KIND = {schema16.INT: "integer", schema16.NUM: "number", schema16.STR: "string", schema16.ENUM: "string",
         schema16.TIME: "string", schema16.OBJ: "object", schema16.LIST: "array"}


def same_fields(ours, theirs, where):
    assert sorted(ours) == sorted(theirs.get("properties", {})), where
    assert sorted(n for n in ours if ours[n][1]) == sorted(theirs.get("required", [])), where
    assert theirs.get("additionalProperties") is False, where
    for name in ours:
        same_value(ours[name], theirs["properties"][name], where + "." + name)


def same_value(ours, theirs, where):
    kind, _required, arg = ours
    assert _KIND[kind] == theirs["type"], where
    if kind == schema16.STR:
        assert arg == theirs.get("maxLength"), where
    elif kind == schema16.ENUM:
        assert sorted(arg) == sorted(theirs["enum"]), where
    elif kind == schema16.TIME:
        assert theirs.get("format") == "date-time", where
    elif kind == schema16.OBJ:
        same_fields(arg, theirs, where)
    elif kind == schema16.LIST:
        same_value(arg, theirs["items"], where + "[]")


def inline_refs(node, definitions):
    """The schema with every {"$ref": "#/definitions/X"} replaced by X (the security extension's use them)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return inline_refs(definitions[node["$ref"].split("/")[-1]], definitions)
        return {k: inline_refs(v, definitions) for k, v in node.items()}
    if isinstance(node, list):
        return [inline_refs(v, definitions) for v in node]
    return node


def test_every_request_schema_is_the_oca_schema():
    requests = schema16.requests()
    for action in requests:
        with open(os.path.join(SCHEMAS, action + ".json")) as f:
            theirs = json.load(f)
        same_fields(requests[action], inline_refs(theirs, theirs.get("definitions", {})), action)
    from firmware.ocpp.core16 import HANDLERS
    assert sorted(requests) == sorted(HANDLERS)
