"""OCPP-J RPC core: framing, unique ids, one outstanding CALL, timeouts, error replies.

Sans-I/O: the caller feeds received texts and the current time (now_ms, monotonic milliseconds) and sends
the texts this object returns. No socket, clock or sleep in here. Portable subset (runs on MicroPython).

Frames (OCPP-J 1.6 section 4, 2.0.1 part 4 section 4):
    CALL        [2, "<uniqueId>", "<action>", {payload}]
    CALLRESULT  [3, "<uniqueId>", {payload}]
    CALLERROR   [4, "<uniqueId>", "<errorCode>", "<errorDescription>", {errorDetails}]
"""

import json

CALL = 2  # OCPP-J 1.6 4.1.3 / 2.0.1 part 4 4.1.3
CALLRESULT = 3
CALLERROR = 4

MAX_ID_LEN = 36  # OCPP-J 1.6 4.2.1: unique id is at most 36 characters
MAX_DESCRIPTION_LEN = 255  # OCPP 2.0.1 part 4 4.2.3: errorDescription maxLength 255
UNREADABLE_ID = "-1"  # OCPP 2.0.1 part 4 4.2.3: reply id when the message id cannot be read

# Error codes shared by both versions (OCPP-J 1.6 Table 7, OCPP 2.0.1 part 4 4.3)
NOT_IMPLEMENTED = "NotImplemented"
NOT_SUPPORTED = "NotSupported"
INTERNAL_ERROR = "InternalError"
PROTOCOL_ERROR = "ProtocolError"
SECURITY_ERROR = "SecurityError"
PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
GENERIC_ERROR = "GenericError"
# OCPP-J 1.6 Table 7 only; misspelt on purpose (1.6 errata 5.1-5.2: "do not fix")
FORMATION_VIOLATION = "FormationViolation"
OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
# OCPP 2.0.1 part 4 4.3 only
FORMAT_VIOLATION = "FormatViolation"
OCCURRENCE_CONSTRAINT_VIOLATION = "OccurrenceConstraintViolation"
MESSAGE_TYPE_NOT_SUPPORTED = "MessageTypeNotSupported"
RPC_FRAMEWORK_ERROR = "RpcFrameworkError"

_COMMON = (NOT_IMPLEMENTED, NOT_SUPPORTED, INTERNAL_ERROR, PROTOCOL_ERROR, SECURITY_ERROR,
           PROPERTY_CONSTRAINT_VIOLATION, TYPE_CONSTRAINT_VIOLATION, GENERIC_ERROR)
ERROR_CODES = {
    "1.6": _COMMON + (FORMATION_VIOLATION, OCCURENCE_CONSTRAINT_VIOLATION),
    "2.0.1": _COMMON + (FORMAT_VIOLATION, OCCURRENCE_CONSTRAINT_VIOLATION,
                        MESSAGE_TYPE_NOT_SUPPORTED, RPC_FRAMEWORK_ERROR),
}
# Either spelling a handler may use -> the spelling each version puts on the wire.
_SPELLING = {
    "1.6": {FORMAT_VIOLATION: FORMATION_VIOLATION,
            OCCURRENCE_CONSTRAINT_VIOLATION: OCCURENCE_CONSTRAINT_VIOLATION},
    "2.0.1": {FORMATION_VIOLATION: FORMAT_VIOLATION,
              OCCURENCE_CONSTRAINT_VIOLATION: OCCURRENCE_CONSTRAINT_VIOLATION},
}

try:  # compact separators: CPython, MicroPython >= 1.21
    json.dumps([1], separators=(",", ":"))
    _SEPARATORS = {"separators": (",", ":")}
except TypeError:  # older MicroPython: default separators, still valid JSON
    _SEPARATORS = {}


def _dumps(frame):
    return json.dumps(frame, **_SEPARATORS)


def _is_id(value):
    return isinstance(value, str) and len(value) <= MAX_ID_LEN


class RpcError(Exception):
    """Raised by a message handler to have its CALL answered with a CALLERROR."""

    def __init__(self, code, description="", details=None):
        super().__init__(code, description)
        self.code = code
        self.description = description
        self.details = {} if details is None else details


class RpcBusy(Exception):
    """call() while our previous CALL is unanswered (OCPP-J 1.6 4.1.1: one outstanding CALL)."""


class _Event:
    __slots__ = ()

    def __eq__(self, other):
        return type(self) is type(other) and all(
            getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__,
                           ", ".join(repr(getattr(self, n)) for n in self.__slots__))


class Call(_Event):
    """The peer's request; answer it with Rpc.result / Rpc.error / Rpc.error_for."""
    __slots__ = ("unique_id", "action", "payload")

    def __init__(self, unique_id, action, payload):
        self.unique_id = unique_id
        self.action = action
        self.payload = payload


class CallResult(_Event):
    """The answer to our outstanding CALL; action is the action of that CALL."""
    __slots__ = ("unique_id", "action", "payload")

    def __init__(self, unique_id, action, payload):
        self.unique_id = unique_id
        self.action = action
        self.payload = payload


class CallError(_Event):
    """The peer's CALLERROR for our outstanding CALL."""
    __slots__ = ("unique_id", "action", "code", "description", "details")

    def __init__(self, unique_id, action, code, description, details):
        self.unique_id = unique_id
        self.action = action
        self.code = code
        self.description = description
        self.details = details


class Timeout(_Event):
    """Our outstanding CALL got no answer in time; a later answer to it is an orphan."""
    __slots__ = ("unique_id", "action")

    def __init__(self, unique_id, action):
        self.unique_id = unique_id
        self.action = action


class Rpc:
    """One side of an OCPP-J connection, for version "1.6" or "2.0.1".

    id_prefix makes unique ids unique across reboots and reconnects: pass something boot-unique
    (e.g. 8 random hex digits). Ids are id_prefix + "-" + counter (just the counter without a prefix).
    """

    def __init__(self, version="1.6", id_prefix="", call_timeout_ms=30000):
        if version not in ERROR_CODES:
            raise ValueError("unsupported OCPP version %r" % (version,))
        if not isinstance(id_prefix, str) or len(id_prefix) > MAX_ID_LEN - 11:
            raise ValueError("id_prefix must be a string of at most %d characters" % (MAX_ID_LEN - 11))
        if call_timeout_ms <= 0:
            raise ValueError("call_timeout_ms must be positive")
        self.version = version
        self.codes = ERROR_CODES[version]
        self.format_violation = self.normalize_code(FORMAT_VIOLATION)  # malformed frame
        self.id_prefix = id_prefix
        self.call_timeout_ms = call_timeout_ms
        self.bad_frames = 0  # malformed frames and unknown message types received
        self.orphans = 0  # replies that answer no outstanding CALL of ours
        self._counter = 0
        self._outstanding = None  # (unique_id, action, deadline_ms)

    # -- our CALLs ---------------------------------------------------------------------------------

    @property
    def outstanding(self):
        """(unique_id, action) of our unanswered CALL, or None."""
        if self._outstanding is None:
            return None
        return self._outstanding[0], self._outstanding[1]

    def call(self, action, payload, now_ms):
        """Return the CALL frame text to send; raise RpcBusy while another CALL is outstanding."""
        if self._outstanding is not None:
            raise RpcBusy("CALL %s %s is still outstanding" % self.outstanding)
        if not isinstance(action, str) or not action:
            raise ValueError("action must be a non-empty string")
        if not isinstance(payload, dict):
            raise TypeError("payload must be a dict")
        unique_id = self._next_id()
        text = _dumps([CALL, unique_id, action, payload])  # may raise TypeError: nothing changed yet
        self._counter += 1
        self._outstanding = (unique_id, action, now_ms + self.call_timeout_ms)
        return text

    def poll(self, now_ms):
        """Return Timeout (and forget the CALL) once the outstanding CALL has timed out, else None."""
        out = self._outstanding
        if out is None or now_ms - out[2] < 0:
            return None
        self._outstanding = None
        return Timeout(out[0], out[1])

    def next_deadline(self):
        """The now_ms at which poll() will report a Timeout, or None."""
        return None if self._outstanding is None else self._outstanding[2]

    def reset(self):
        """New connection: drop the outstanding CALL (no Timeout is reported). Ids keep counting."""
        self._outstanding = None

    def _next_id(self):
        n = str(self._counter + 1)
        return self.id_prefix + "-" + n if self.id_prefix else n

    # -- answers to the peer's CALLs ---------------------------------------------------------------

    def result(self, unique_id, payload):
        """Return the CALLRESULT frame text answering the peer's CALL unique_id."""
        self._check_id(unique_id)
        if not isinstance(payload, dict):
            raise TypeError("payload must be a dict")
        return _dumps([CALLRESULT, unique_id, payload])

    def error(self, unique_id, code, description="", details=None):
        """Return the CALLERROR frame text; code in either spelling is put in this version's spelling.

        Raises ValueError for a code this version does not define. description is cut to 255 characters.
        """
        self._check_id(unique_id)
        wire_code = self.normalize_code(code)
        if wire_code not in self.codes:
            raise ValueError("%r is not an OCPP %s error code" % (code, self.version))
        if not isinstance(description, str):
            description = str(description)
        if details is None:
            details = {}
        elif not isinstance(details, dict):
            raise TypeError("details must be a dict")
        return _dumps([CALLERROR, unique_id, wire_code, description[:MAX_DESCRIPTION_LEN], details])

    def error_for(self, unique_id, exc):
        """CALLERROR frame text for an exception a handler raised: RpcError keeps its code (GenericError
        if this version lacks it), anything else is an InternalError."""
        if isinstance(exc, RpcError):
            code = self.normalize_code(exc.code)
            details = exc.details if isinstance(exc.details, dict) else {}
            if code in self.codes:
                return self.error(unique_id, code, exc.description, details)
            return self.error(unique_id, GENERIC_ERROR, "%s: %s" % (exc.code, exc.description), details)
        return self.error(unique_id, INTERNAL_ERROR, "%s: %s" % (type(exc).__name__, exc))

    def normalize_code(self, code):
        """The spelling of code that this version puts on the wire."""
        return _SPELLING[self.version].get(code, code)

    def _check_id(self, unique_id):
        if not _is_id(unique_id):
            raise ValueError("unique_id must be a string of at most %d characters" % MAX_ID_LEN)

    # -- incoming ----------------------------------------------------------------------------------

    def receive(self, text, now_ms):
        """Parse one received message. Returns (event or None, reply text to send or None); never raises.

        Call -> (Call, None); answer later with result()/error(). CALLRESULT/CALLERROR for our outstanding
        CALL -> (CallResult/CallError, None). A reply to anything else -> (None, None), counted in orphans.
        Malformed -> (None, CALLERROR text) with the version's format code and the frame's unique id, or
        "-1" when the id cannot be read (a 2.0.1 rule, applied to 1.6 too). A malformed CALLERROR gets no
        reply (never answer an error with an error). Unknown message type: 1.6 -> (None, None);
        2.0.1 -> MessageTypeNotSupported. Every malformed or unknown frame is counted in bad_frames.
        Timeouts only happen in poll(): poll first to enforce a deadline strictly.
        """
        try:
            frame = json.loads(text)
        except Exception:  # ValueError, UnicodeError, RecursionError, MemoryError, TypeError...
            return self._bad(UNREADABLE_ID, "message is not valid JSON")
        if not isinstance(frame, list) or not frame:
            return self._bad(UNREADABLE_ID, "message is not a non-empty JSON array")
        n = len(frame)
        reply_id = frame[1] if n > 1 and _is_id(frame[1]) else UNREADABLE_ID
        kind = frame[0]
        if type(kind) is not int:  # bool is not a message type
            return self._bad(reply_id, "message type must be an integer")
        if kind not in (CALL, CALLRESULT, CALLERROR):
            self.bad_frames += 1
            if self.version == "1.6":
                return None, None  # OCPP-J 1.6 4.1.3: ignore unknown message types
            return None, self._reply(reply_id, MESSAGE_TYPE_NOT_SUPPORTED,
                                     "message type %d is not supported" % kind)
        problem = _check_frame(frame)
        if problem is not None:
            if kind == CALLERROR:
                self.bad_frames += 1
                return None, None
            return self._bad(reply_id, problem)
        unique_id = frame[1]
        if kind == CALL:
            return Call(unique_id, frame[2], frame[3]), None
        out = self._outstanding
        if out is None or out[0] != unique_id:
            self.orphans += 1  # late after a timeout, duplicate, from an old connection, or "-1"
            return None, None
        self._outstanding = None
        if kind == CALLRESULT:
            return CallResult(unique_id, out[1], frame[2]), None
        return CallError(unique_id, out[1], frame[2], frame[3], frame[4]), None

    def _bad(self, reply_id, description):
        self.bad_frames += 1
        return None, self._reply(reply_id, self.format_violation, description)

    def _reply(self, unique_id, code, description):
        return _dumps([CALLERROR, unique_id, code, description[:MAX_DESCRIPTION_LEN], {}])


_ARITY = {CALL: 4, CALLRESULT: 3, CALLERROR: 5}
_NAMES = {CALL: "CALL", CALLRESULT: "CALLRESULT", CALLERROR: "CALLERROR"}


def _check_frame(frame):
    """None if frame (a list whose first element is CALL, CALLRESULT or CALLERROR) is well formed,
    else what is wrong with it."""
    kind = frame[0]
    if len(frame) != _ARITY[kind]:
        return "%s must have %d elements, not %d" % (_NAMES[kind], _ARITY[kind], len(frame))
    if not _is_id(frame[1]):
        return "unique id must be a string of at most %d characters" % MAX_ID_LEN
    if kind == CALL:
        if not isinstance(frame[2], str):
            return "action must be a string"
        if not isinstance(frame[3], dict):
            return "payload must be a JSON object"
    elif kind == CALLRESULT:
        if not isinstance(frame[2], dict):
            return "payload must be a JSON object"
    else:
        if not isinstance(frame[2], str) or not isinstance(frame[3], str):
            return "errorCode and errorDescription must be strings"
        if not isinstance(frame[4], dict):
            return "errorDetails must be a JSON object"
    return None
