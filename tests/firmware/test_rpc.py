# portable
# OCPP-J RPC core: examples. Runs under pytest and under the micropython binary (tests/mpy/run.py).
import json

from firmware.ocpp import rpc
from firmware.ocpp.rpc import Call, CallError, CallResult, Rpc, RpcBusy, RpcError, Timeout
from tests.portable import raises


def frame(text):
    return json.loads(text)


# -- our CALLs ------------------------------------------------------------------------------------


def test_call_frame_is_compact_json_with_prefixed_id():
    r = Rpc(id_prefix="a1b2c3d4")
    text = r.call("Heartbeat", {}, now_ms=0)
    assert frame(text) == [2, "a1b2c3d4-1", "Heartbeat", {}]
    assert " " not in text
    assert r.outstanding == ("a1b2c3d4-1", "Heartbeat")


def test_call_then_result_round_trip_clears_outstanding():
    r = Rpc()
    uid = frame(r.call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}, 0))[1]
    event, reply = r.receive('[3, "%s", {"status": "Accepted", "interval": 300}]' % uid, 10)
    assert event == CallResult(uid, "BootNotification", {"status": "Accepted", "interval": 300})
    assert reply is None
    assert r.outstanding is None
    assert r.next_deadline() is None
    assert r.orphans == 0 and r.bad_frames == 0


def test_callerror_answer_is_reported_with_action_and_clears_outstanding():
    r = Rpc()
    uid = frame(r.call("Authorize", {"idTag": "X"}, 0))[1]
    event, reply = r.receive('[4, "%s", "NotSupported", "no", {"k": 1}]' % uid, 5)
    assert event == CallError(uid, "Authorize", "NotSupported", "no", {"k": 1})
    assert reply is None
    assert r.outstanding is None


def test_second_call_while_outstanding_raises_busy_and_changes_nothing():
    r = Rpc()
    r.call("Heartbeat", {}, 0)
    raises(RpcBusy, r.call, "StatusNotification", {}, 1)
    assert r.outstanding == ("1", "Heartbeat")
    r.receive('[3, "1", {}]', 2)
    assert frame(r.call("StatusNotification", {}, 3))[1] == "2"


def test_timeout_is_reported_once_at_the_deadline():
    r = Rpc(call_timeout_ms=1000)
    r.call("Heartbeat", {}, 500)
    assert r.next_deadline() == 1500
    assert r.poll(1499) is None
    assert r.poll(1500) == Timeout("1", "Heartbeat")
    assert r.outstanding is None
    assert r.poll(5000) is None
    assert r.next_deadline() is None


def test_late_reply_after_timeout_is_an_orphan_not_the_answer_to_the_next_call():
    r = Rpc(call_timeout_ms=1000)
    r.call("Heartbeat", {}, 0)
    assert r.poll(1000) == Timeout("1", "Heartbeat")
    r.call("StatusNotification", {}, 1001)
    assert r.receive('[3, "1", {"currentTime": "x"}]', 1002) == (None, None)
    assert r.orphans == 1
    assert r.outstanding == ("2", "StatusNotification")
    event, _ = r.receive('[3, "2", {}]', 1003)
    assert event == CallResult("2", "StatusNotification", {})


def test_duplicate_and_unsolicited_replies_are_orphans():
    r = Rpc()
    assert r.receive('[3, "9", {}]', 0) == (None, None)
    r.call("Heartbeat", {}, 0)
    r.receive('[3, "1", {}]', 1)
    assert r.receive('[3, "1", {}]', 2) == (None, None)
    assert r.receive('[4, "1", "GenericError", "", {}]', 3) == (None, None)
    assert r.orphans == 3
    assert r.bad_frames == 0


def test_callerror_with_unreadable_id_minus_one_is_an_orphan():
    r = Rpc()
    r.call("Heartbeat", {}, 0)
    assert r.receive('[4, "-1", "FormationViolation", "bad", {}]', 1) == (None, None)
    assert r.orphans == 1
    assert r.outstanding == ("1", "Heartbeat")


def test_reset_drops_outstanding_and_ids_keep_counting():
    r = Rpc(id_prefix="boot7")
    r.call("Heartbeat", {}, 0)
    r.reset()
    assert r.outstanding is None and r.poll(10 ** 9) is None
    assert frame(r.call("Heartbeat", {}, 1))[1] == "boot7-2"
    assert r.receive('[3, "boot7-1", {}]', 2) == (None, None)  # answer from the old connection
    assert r.orphans == 1


def test_ids_are_unique_and_at_most_36_chars():
    r = Rpc(id_prefix="p" * 25)
    seen = set()
    for i in range(200):
        uid = frame(r.call("Heartbeat", {}, i))[1]
        assert len(uid) <= 36
        assert uid not in seen
        seen.add(uid)
        r.receive('[3, "%s", {}]' % uid, i)
    r._counter = 10 ** 10 - 2  # the largest counter that still fits
    assert len(frame(r.call("Heartbeat", {}, 0))[1]) == 36


def test_constructor_rejects_bad_arguments():
    raises(ValueError, Rpc, version="2.1")
    raises(ValueError, Rpc, id_prefix="p" * 26)
    raises(ValueError, Rpc, call_timeout_ms=0)


def test_call_rejects_bad_arguments_without_taking_an_id():
    r = Rpc()
    raises(ValueError, r.call, "", {}, 0)
    raises(TypeError, r.call, "Heartbeat", [], 0)
    assert r.outstanding is None
    assert frame(r.call("Heartbeat", {}, 0))[1] == "1"


def test_floats_round_trip():
    r = Rpc()
    values = [0.1, 1 / 3, 230.7, 1e-07, 16.000000000000004, -0.0, 1e300, 123456789.123]
    text = r.call("MeterValues", {"v": values}, 0)
    assert frame(text)[3]["v"] == values
    event, _ = r.receive(r.result("1", {"v": values}), 1)  # the peer answers with the same floats
    assert event.payload["v"] == values


# -- the peer's CALLs -----------------------------------------------------------------------------


def test_incoming_call_becomes_event_and_result_frame():
    r = Rpc()
    event, reply = r.receive('[2, "abc", "Reset", {"type": "Soft"}]', 0)
    assert event == Call("abc", "Reset", {"type": "Soft"})
    assert reply is None
    assert frame(r.result("abc", {"status": "Accepted"})) == [3, "abc", {"status": "Accepted"}]


def test_incoming_call_does_not_touch_our_outstanding_call():
    r = Rpc()
    r.call("Heartbeat", {}, 0)
    event, _ = r.receive('[2, "1", "Reset", {}]', 1)  # same id, other direction
    assert event == Call("1", "Reset", {})
    assert r.outstanding == ("1", "Heartbeat")


def test_error_frame_with_details_default_and_truncated_description():
    r = Rpc()
    assert frame(r.error("a", "NotImplemented")) == [4, "a", "NotImplemented", "", {}]
    f = frame(r.error("a", "GenericError", "x" * 300, {"why": 1}))
    assert f[3] == "x" * 255 and f[4] == {"why": 1}
    assert frame(r.error("a", "GenericError", 42))[3] == "42"


def test_error_uses_each_versions_spelling():
    r16 = Rpc(version="1.6")
    r201 = Rpc(version="2.0.1")
    for code in ("FormatViolation", "FormationViolation"):
        assert frame(r16.error("a", code))[2] == "FormationViolation"
        assert frame(r201.error("a", code))[2] == "FormatViolation"
    for code in ("OccurrenceConstraintViolation", "OccurenceConstraintViolation"):
        assert frame(r16.error("a", code))[2] == "OccurenceConstraintViolation"
        assert frame(r201.error("a", code))[2] == "OccurrenceConstraintViolation"
    raises(ValueError, r16.error, "a", "MessageTypeNotSupported")
    raises(ValueError, r16.error, "a", "RpcFrameworkError")
    raises(ValueError, r201.error, "a", "NoSuchError")
    assert frame(r201.error("a", "RpcFrameworkError"))[2] == "RpcFrameworkError"


def test_error_codes_tables():
    assert len(rpc.ERROR_CODES["1.6"]) == 10
    assert len(rpc.ERROR_CODES["2.0.1"]) == 12
    assert "FormationViolation" in rpc.ERROR_CODES["1.6"]
    assert "FormatViolation" not in rpc.ERROR_CODES["1.6"]
    assert "OccurenceConstraintViolation" in rpc.ERROR_CODES["1.6"]
    assert "FormationViolation" not in rpc.ERROR_CODES["2.0.1"]


def test_result_and_error_reject_bad_ids():
    r = Rpc()
    raises(ValueError, r.result, "x" * 37, {})
    raises(ValueError, r.result, 5, {})
    raises(TypeError, r.result, "a", [])
    raises(ValueError, r.error, None, "GenericError")
    raises(TypeError, r.error, "a", "GenericError", "", [])


def test_error_for_handler_exceptions():
    r = Rpc(version="1.6")
    exc = RpcError("PropertyConstraintViolation", "connectorId 9", {"field": "connectorId"})
    assert frame(r.error_for("a", exc)) == [
        4, "a", "PropertyConstraintViolation", "connectorId 9", {"field": "connectorId"}]
    assert frame(r.error_for("a", RpcError("OccurrenceConstraintViolation")))[2] == "OccurenceConstraintViolation"
    f = frame(r.error_for("a", RpcError("RpcFrameworkError", "d")))
    assert f[2:4] == ["GenericError", "RpcFrameworkError: d"]
    f = frame(r.error_for("a", KeyError("k")))
    assert f[2] == "InternalError" and f[3].startswith("KeyError")
    exc = RpcError("NotImplemented")
    assert exc.code == "NotImplemented" and exc.description == "" and exc.details == {}


# -- malformed frames -----------------------------------------------------------------------------


def bad(version, text):
    r = Rpc(version=version)
    event, reply = r.receive(text, 0)
    assert event is None
    assert r.bad_frames == 1
    return None if reply is None else frame(reply)


def test_malformed_frames_reply_with_exact_formation_violation_in_1_6():
    fv = "FormationViolation"
    cases = [
        ("not json", [4, "-1", fv, "message is not valid JSON", {}]),
        ("", [4, "-1", fv, "message is not valid JSON", {}]),
        ('{"a": 1}', [4, "-1", fv, "message is not a non-empty JSON array", {}]),
        ("[]", [4, "-1", fv, "message is not a non-empty JSON array", {}]),
        ('"2"', [4, "-1", fv, "message is not a non-empty JSON array", {}]),
        ('["2", "id1", "Heartbeat", {}]', [4, "id1", fv, "message type must be an integer", {}]),
        ('[true, "id1", "Heartbeat", {}]', [4, "id1", fv, "message type must be an integer", {}]),
        ('[2.0, "id1", "Heartbeat", {}]', [4, "id1", fv, "message type must be an integer", {}]),
        ('[2, "id1", "Heartbeat"]', [4, "id1", fv, "CALL must have 4 elements, not 3", {}]),
        ('[2, "id1", "Heartbeat", {}, 1]', [4, "id1", fv, "CALL must have 4 elements, not 5", {}]),
        ("[2]", [4, "-1", fv, "CALL must have 4 elements, not 1", {}]),
        ('[2, 17, "Heartbeat", {}]', [4, "-1", fv, "unique id must be a string of at most 36 characters", {}]),
        ('[2, "%s", "Heartbeat", {}]' % ("x" * 37),
         [4, "-1", fv, "unique id must be a string of at most 36 characters", {}]),
        ('[2, "id1", 5, {}]', [4, "id1", fv, "action must be a string", {}]),
        ('[2, "id1", "Heartbeat", []]', [4, "id1", fv, "payload must be a JSON object", {}]),
        ('[2, "id1", "Heartbeat", null]', [4, "id1", fv, "payload must be a JSON object", {}]),
        ('[3, "id1"]', [4, "id1", fv, "CALLRESULT must have 3 elements, not 2", {}]),
        ('[3, "id1", "ok"]', [4, "id1", fv, "payload must be a JSON object", {}]),
    ]
    for text, expected in cases:
        assert bad("1.6", text) == expected, text


def test_malformed_frames_use_format_violation_in_2_0_1():
    assert bad("2.0.1", "nope") == [4, "-1", "FormatViolation", "message is not valid JSON", {}]
    assert bad("2.0.1", '[2, "id1", "Heartbeat", 3]') == [
        4, "id1", "FormatViolation", "payload must be a JSON object", {}]


def test_malformed_callerror_is_counted_but_never_answered():
    for version in ("1.6", "2.0.1"):
        assert bad(version, '[4, "id1", "GenericError", "x"]') is None
        assert bad(version, '[4, "id1", 7, "x", {}]') is None
        assert bad(version, '[4, "id1", "GenericError", "x", []]') is None


def test_malformed_reply_never_matches_the_outstanding_call():
    r = Rpc()
    r.call("Heartbeat", {}, 0)
    event, reply = r.receive('[3, "1", "not an object"]', 1)
    assert event is None and frame(reply)[1:3] == ["1", "FormationViolation"]
    assert r.outstanding == ("1", "Heartbeat")


def test_unknown_message_type_is_ignored_in_1_6():
    assert bad("1.6", '[5, "id1", "x", {}]') is None
    assert bad("1.6", "[0]") is None


def test_unknown_message_type_is_answered_in_2_0_1():
    assert bad("2.0.1", '[5, "id1", "x", {}]') == [
        4, "id1", "MessageTypeNotSupported", "message type 5 is not supported", {}]
    assert bad("2.0.1", "[-7]") == [4, "-1", "MessageTypeNotSupported", "message type -7 is not supported", {}]


def test_receive_never_raises_on_odd_input():
    r = Rpc()
    for text in ("[" * 5000, '"\\ud800"', b"\xff\xfe", b'[2, "b", "Heartbeat", {}]', None, 12, "[1e999]",
                 "[NaN]", '[2, "a", "A", {"x": ' + "1" * 5000 + "}]"):
        event, reply = r.receive(text, 0)
        assert reply is None or isinstance(reply, str)


def test_bad_frames_are_counted():
    r = Rpc()
    r.receive("x", 0)
    r.receive("[9]", 0)
    r.receive('[2, "a", "Heartbeat", {}]', 0)
    assert r.bad_frames == 2
