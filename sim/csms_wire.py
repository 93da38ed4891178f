# The embedded CSMS's side of one connection (CPython only): the recording wrapper sim.csms puts between
# a transport and the `ocpp` package.
#
# _Wire parses every OCPP-J frame in both directions, records it on the Station it serves (labelling each
# CALLRESULT/CALLERROR with the action of its CALL), turns the transport's close into hal
# ConnectionClosed, and respells the two error codes that OCPP-J 1.6 spells differently from the `ocpp`
# package. It only calls the Station handed to it (_frame, _error, _respelled); it imports nothing of
# sim.csms, so there is no cycle.
import json

from hal.interfaces import ConnectionClosed

# OCPP-J 1.6 Table 7 spells two codes differently from the `ocpp` package (errata 5.1-5.2: kept on purpose)
ERROR_CODE_SPELLING_16 = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
}
FRAME_TYPES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}


def _ws_closed_types():
    try:
        from websockets.exceptions import ConnectionClosed as WsClosed
    except ImportError:  # pragma: no cover - websockets is a dependency
        return (ConnectionClosed,)
    return (ConnectionClosed, WsClosed)


_CLOSED_ERRORS = _ws_closed_types()


class _Wire:
    """Wraps one connection: records every frame, labels responses with their action, converts the
    transport's close into hal ConnectionClosed, and respells error codes for 1.6 on the way out."""

    def __init__(self, connection, station):
        self.connection = connection
        self.station = station
        self._in_calls = {}  # unique id -> action of CALLs received (to label our replies)
        self._out_calls = {}  # unique id -> action of CALLs sent (to label their responses)

    async def recv(self):
        try:
            text = await self.connection.recv()
        except _CLOSED_ERRORS as exc:
            raise ConnectionClosed(str(exc)) from exc
        if isinstance(text, bytes):
            self.station._error("in", "frame", description="binary frame; OCPP-J uses text frames")
            text = text.decode("utf-8", "replace")
        self._note("in", text, self._in_calls, self._out_calls)
        return text

    async def send(self, text):
        text = self._respell(text)
        self._note("out", text, self._out_calls, self._in_calls)
        try:
            await self.connection.send(text)
        except _CLOSED_ERRORS as exc:
            raise ConnectionClosed(str(exc)) from exc

    async def close(self):
        try:
            await self.connection.close()
        except _CLOSED_ERRORS:
            pass

    def _respell(self, text):
        frame = _parse(text)
        if frame is None or frame[0] != 4 or len(frame) < 3 or frame[2] not in ERROR_CODE_SPELLING_16:
            return text
        original = frame[2]
        frame[2] = ERROR_CODE_SPELLING_16[original]
        self.station._respelled.append((frame[1], original))
        return json.dumps(frame, separators=(",", ":"))

    def _note(self, direction, text, calls_here, calls_there):
        frame = _parse(text)
        if frame is None or len(frame) < 3 or frame[0] not in FRAME_TYPES or not isinstance(frame[1], str):
            self.station._frame(direction, "INVALID", None, None, None, text)
            self.station._error(direction, "frame", description="not an OCPP-J frame: %.200s" % text)
            return
        kind, unique_id = FRAME_TYPES[frame[0]], frame[1]
        if kind == "CALL":
            action = frame[2]
            calls_here[unique_id] = action
            payload = frame[3] if len(frame) > 3 else None
        else:
            action = calls_there.pop(unique_id, None)
            payload = frame[2] if kind == "CALLRESULT" else None
        self.station._frame(direction, kind, action, unique_id, payload, text)
        if kind == "CALLERROR":
            remapped = [o for uid, o in self.station._respelled if uid == unique_id]
            self.station._error(direction, "callerror", unique_id=unique_id, action=action,
                                code=frame[2] if len(frame) > 2 else None,
                                description=frame[3] if len(frame) > 3 else None,
                                details=frame[4] if len(frame) > 4 else None,
                                remapped_from=remapped[-1] if remapped else None)
        elif action is None and kind == "CALLRESULT":
            self.station._error(direction, "frame", unique_id=unique_id,
                                description="response to no outstanding CALL")


def _parse(text):
    try:
        frame = json.loads(text)
    except (TypeError, ValueError):
        return None
    return frame if isinstance(frame, list) and frame else None
