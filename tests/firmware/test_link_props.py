"""The CSMS link's receive path under fuzzing (Hypothesis, CPython, virtual time): whatever text arrives,
the link never crashes, each reply is a well-formed OCPP-J 1.6 frame of the kind the input calls for,
and afterwards the session carries on both ways."""

import asyncio
import json
import os

import ocpp.v16
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft4Validator

from firmware.config import Config
from firmware.ocpp import v16
from firmware.ocpp.link import Link
from firmware.ocpp.rpc import ERROR_CODES, Rpc
from sim import vloop
from sim.memlink import MemoryNetwork

SCHEMAS = os.path.join(os.path.dirname(ocpp.v16.__file__), "schemas")
CODES_16 = ERROR_CODES["1.6"]
HANDLED = ["RemoteStartTransaction", "RemoteStopTransaction", "GetConfiguration", "ChangeConfiguration", "Reset"]
NO_REPLY = object()


def response_validator(action, _cache={}):
    if action not in _cache:
        with open(os.path.join(SCHEMAS, action + "Response.json")) as f:
            _cache[action] = Draft4Validator(json.load(f))
    return _cache[action]


class FakeChargePoint:
    """The charge point behind v16.handle, accepting whatever it is asked."""

    def __init__(self):
        self.config = Config()

    def remote_start(self, id_tag, connector_id):
        return "Accepted"

    def remote_stop(self, transaction_id):
        return "Accepted"

    def change_configuration(self, key, value):
        return self.config.set(key, value)

    def reset(self, kind):
        return "Accepted"


# -- what arrives -----------------------------------------------------------------------------------

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
ids = st.one_of(st.text(max_size=40), st.integers(), st.none(), st.just("-1"))
near_frames = st.builds(
    lambda head, rest: [head] + rest,
    st.one_of(st.integers(-1, 6), st.sampled_from([2.0, True, "2", None])),
    st.lists(st.one_of(ids, st.sampled_from(HANDLED + ["ReserveNow", "Nope"]), json_values), max_size=5),
)
payload_values = st.one_of(json_values, st.text(max_size=60), st.integers(-3, 3),
                           st.sampled_from(["Hard", "Soft", "HeartbeatInterval", "10", "true"]),
                           st.lists(st.one_of(st.text(max_size=60), st.integers()), max_size=3))
# Well-framed CALLs whose payloads may break the 1.6 schema anywhere.
calls = st.builds(
    lambda uid, action, payload: [2, uid, action, payload],
    st.text(max_size=36), st.sampled_from(HANDLED + ["ReserveNow", "UnlockConnector", "Nope", ""]),
    st.dictionaries(st.sampled_from(["idTag", "connectorId", "transactionId", "key", "value", "type",
                                     "chargingProfile", "extra"]), payload_values, max_size=4),
)
messages = st.one_of(
    st.text(max_size=60),
    json_values.map(json.dumps),
    near_frames.map(json.dumps),
    calls.map(json.dumps),
    st.sampled_from(["", "[", "[]", "{}", "null", "[2]", "[4, \"x\"]", "[2, \"a\", \"Reset\"]",
                     "[2, \"" + "i" * 37 + "\", \"Reset\", {}]", "[3, \"nobody\", {}]", "[\"2\", \"a\", \"Reset\", {}]",
                     "[2, \"a\", \"Reset\", {\"type\": \"Soft\"}] trailing", "\ufeff[2, \"a\", \"Reset\", {}]"]),
)


def expected_reply_kind(text):
    """What OCPP-J 1.6 (and firmware.ocpp.rpc) says the link must answer: NO_REPLY, "format" with the id to
    answer to, or "call" with the CALL's id (a CALLRESULT or a handler's CALLERROR)."""
    try:
        frame = json.loads(text)
    except ValueError:
        return "format", "-1"
    if not isinstance(frame, list) or not frame:
        return "format", "-1"
    readable = frame[1] if len(frame) > 1 and isinstance(frame[1], str) and len(frame[1]) <= 36 else "-1"
    if type(frame[0]) is not int:
        return "format", readable
    if frame[0] not in (2, 3, 4):
        return NO_REPLY, None  # OCPP-J 1.6: unknown message types are ignored
    arity = {2: 4, 3: 3, 4: 5}[frame[0]]
    well_formed = len(frame) == arity and readable == frame[1] and (
        (frame[0] == 2 and isinstance(frame[2], str) and isinstance(frame[3], dict))
        or (frame[0] == 3 and isinstance(frame[2], dict))
        or (frame[0] == 4 and isinstance(frame[2], str) and isinstance(frame[3], str) and isinstance(frame[4], dict)))
    if frame[0] == 2:
        return ("call", frame[1]) if well_formed else ("format", readable)
    if frame[0] == 3 and not well_formed:
        return "format", readable
    return NO_REPLY, None  # an orphan answer, or a malformed CALLERROR (never answer an error with an error)


def check_reply(text, reply):
    kind, uid = expected_reply_kind(text)
    if kind is NO_REPLY:
        assert reply is None, (text, reply)
        return
    assert reply is not None, text
    frame = json.loads(reply)
    assert isinstance(frame, list) and frame[1] == uid, (text, frame)
    if kind == "format":
        assert frame[0] == 4 and frame[2] == "FormationViolation", (text, frame)  # the 1.6 spelling
    if frame[0] == 4:
        assert len(frame) == 5, frame
        assert frame[2] in CODES_16, frame
        assert isinstance(frame[3], str) and len(frame[3]) <= 255
        assert isinstance(frame[4], dict)
    else:
        assert frame[0] == 3 and len(frame) == 3 and kind == "call"
        action = json.loads(text)[2]
        errors = list(response_validator(action).iter_errors(frame[2]))
        assert not errors, (text, frame, errors[0].message)


async def session(clock, texts):
    ends = []
    network = MemoryNetwork(acceptor=lambda cp_id, end: ends.append(end), latency_s=0.0)
    cp = FakeChargePoint()
    link = Link(network, "ws://csms/CP1", v16.SUBPROTOCOL, Rpc(call_timeout_ms=5000), clock,
                lambda call: v16.handle(cp, call))
    task = asyncio.create_task(link.run())
    await link.online.wait()
    end = ends[0]

    async def reply():
        try:
            return await asyncio.wait_for(end.recv(), 1)
        except asyncio.TimeoutError:
            return None

    for text in texts:
        await end.send(text)
        check_reply(text, await reply())
        assert not task.done() and link.online.is_set() and link.connects == 1

    # the session carries on: their CALL is answered, ours goes out and gets its answer
    await end.send(json.dumps([2, "after", "Reset", {"type": "Soft"}]))
    assert json.loads(await reply()) == [3, "after", {"status": "Accepted"}]
    ours = asyncio.create_task(link.call("Heartbeat", {}))
    frame = json.loads(await reply())
    assert frame[0] == 2 and frame[2:] == ["Heartbeat", {}]
    await end.send(json.dumps([3, frame[1], {"currentTime": "2025-01-01T00:00:00Z"}]))
    assert await ours == {"currentTime": "2025-01-01T00:00:00Z"}
    assert link.connects == 1
    await link.stop()
    await asyncio.wait_for(task, 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, min_size=1, max_size=6))
def test_any_received_text_gets_a_well_formed_reply_and_the_session_carries_on(texts):
    vloop.run(lambda clock: session(clock, texts))


@settings(max_examples=100, deadline=None)
@given(st.lists(calls, min_size=1, max_size=4))
def test_schema_breaking_calls_get_a_callerror_or_a_valid_answer(frames):
    vloop.run(lambda clock: session(clock, [json.dumps(f) for f in frames]))


@settings(max_examples=50, deadline=None)
@given(garbage=st.binary(max_size=40))
def test_undecodable_bytes_as_text_get_formation_violation(garbage):
    text = garbage.decode("latin-1")
    vloop.run(lambda clock: session(clock, [text]))
