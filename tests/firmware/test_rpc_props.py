"""OCPP-J RPC core: properties that must hold for every input (Hypothesis, CPython only)."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.ocpp.rpc import (
    ERROR_CODES, Call, CallError, CallResult, Rpc, RpcBusy, Timeout,
)

VERSIONS = st.sampled_from(["1.6", "2.0.1"])

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(), inner, max_size=6),
    max_leaves=20,
)
ids = st.one_of(st.text(max_size=40), st.integers(), st.none(), st.just("-1"))
# Lists shaped almost like RPC frames, so that every branch of receive() is reached often.
near_frames = st.builds(
    lambda head, rest: [head] + rest,
    st.one_of(st.integers(-1, 6), st.sampled_from([2.0, True, "2", None])),
    st.lists(st.one_of(ids, json_values, st.dictionaries(st.text(max_size=5), json_scalars, max_size=3)),
             max_size=5),
)


def readable(frame):
    if isinstance(frame, list) and len(frame) > 1 and isinstance(frame[1], str) and len(frame[1]) <= 36:
        return frame[1]
    return "-1"


def check_reply(version, reply, sent_frame):
    """reply is a well-formed CALLERROR frame of this version, addressed to the frame's id or "-1"."""
    f = json.loads(reply)
    assert isinstance(f, list) and len(f) == 5
    assert f[0] == 4 and type(f[0]) is int
    assert isinstance(f[1], str) and len(f[1]) <= 36
    assert f[2] in ERROR_CODES[version]
    assert isinstance(f[3], str) and len(f[3]) <= 255
    assert isinstance(f[4], dict)
    assert f[1] == readable(sent_frame)


def feed(version, text):
    r = Rpc(version=version)
    r.call("Heartbeat", {}, 0)
    event, reply = r.receive(text, 1)
    assert event is None or reply is None
    assert r.outstanding in (None, ("1", "Heartbeat"))
    return r, event, reply


@given(VERSIONS, st.one_of(st.text(), st.binary()))
def test_receive_never_raises_on_arbitrary_text(version, text):
    r, event, reply = feed(version, text)
    if reply is not None:
        try:
            sent = json.loads(text)
        except Exception:
            sent = None
        check_reply(version, reply, sent)


@given(VERSIONS, st.one_of(json_values, near_frames))
def test_every_reply_to_any_json_value_is_a_well_formed_callerror(version, value):
    r, event, reply = feed(version, json.dumps(value))
    if reply is not None:
        check_reply(version, reply, value)
        assert r.bad_frames == 1
    if event is not None:
        assert isinstance(event, (Call, CallResult, CallError))
        assert event.unique_id == value[1]
        if isinstance(event, (CallResult, CallError)):
            assert event.unique_id == "1" and event.action == "Heartbeat"
    if event is None and reply is None:
        assert r.bad_frames + r.orphans == 1


@given(VERSIONS, st.text(max_size=36), st.text(), st.integers(0, 300))
def test_error_frames_round_trip(version, uid, action, n):
    r = Rpc(version=version)
    event, reply = r.receive(json.dumps([2, uid, action, {"n": n}]), 0)
    assert event == Call(uid, action, {"n": n}) and reply is None
    f = json.loads(r.error(uid, "OccurrenceConstraintViolation", "d" * n))
    assert f[1] == uid and f[2] in ERROR_CODES[version] and len(f[3]) == min(n, 255)


ops = st.lists(
    st.one_of(
        st.tuples(st.just("call"), st.sampled_from(["Heartbeat", "Authorize", "MeterValues"])),
        st.tuples(st.just("answer"), st.sampled_from([3, 4])),
        st.tuples(st.just("orphan"), st.integers(0, 50), st.sampled_from([3, 4])),
        st.tuples(st.just("advance"), st.integers(0, 40000)),
        st.tuples(st.just("reset")),
        st.tuples(st.just("peer_call")),
        st.tuples(st.just("junk"), st.text(max_size=20).map(lambda s: "#" + s)),  # never valid JSON
    ),
    max_size=60,
)


def reply_text(kind, uid):
    if kind == 3:
        return json.dumps([3, uid, {"for": uid}])
    return json.dumps([4, uid, "GenericError", "for " + uid, {}])


@settings(max_examples=300)
@given(VERSIONS, st.integers(1, 30000), ops)
def test_interleavings_keep_one_outstanding_call_and_match_replies_to_the_right_call(version, timeout_ms, script):
    r = Rpc(version=version, id_prefix="boot", call_timeout_ms=timeout_ms)
    now = 0
    sent = []  # (unique_id, action) of every CALL we sent
    current = None  # index in sent of the model's outstanding call
    deadline = None
    orphans = 0
    for op in script:
        if op[0] == "call":
            if current is None:
                f = json.loads(r.call(op[1], {}, now))
                assert f[1] not in [uid for uid, _ in sent] and len(f[1]) <= 36
                sent.append((f[1], op[1]))
                current, deadline = len(sent) - 1, now + timeout_ms
            else:
                try:
                    r.call(op[1], {}, now)
                    raise AssertionError("two outstanding calls")
                except RpcBusy:
                    pass
        elif op[0] in ("answer", "orphan"):
            if not sent:
                continue
            if op[0] == "answer":
                idx = len(sent) - 1
                kind = op[1]
            else:
                idx = op[1] % len(sent)
                kind = op[2]
            uid = sent[idx][0]
            event, reply = r.receive(reply_text(kind, uid), now)
            assert reply is None
            if current == idx:
                cls = CallResult if kind == 3 else CallError
                assert isinstance(event, cls)
                assert (event.unique_id, event.action) == sent[idx]
                if kind == 3:
                    assert event.payload == {"for": uid}
                else:
                    assert event.description == "for " + uid
                current = deadline = None
            else:
                assert event is None
                orphans += 1
        elif op[0] == "advance":
            now += op[1]
            event = r.poll(now)
            if current is not None and now >= deadline:
                assert event == Timeout(*sent[current])
                current = deadline = None
            else:
                assert event is None
        elif op[0] == "reset":
            r.reset()
            current = deadline = None
        elif op[0] == "peer_call":
            event, reply = r.receive('[2, "peer-1", "Reset", {"type": "Soft"}]', now)
            assert event == Call("peer-1", "Reset", {"type": "Soft"}) and reply is None
        else:
            r.receive(op[1], now)
        assert r.outstanding == (None if current is None else sent[current])
        assert r.next_deadline() == deadline
        assert r.orphans == orphans
