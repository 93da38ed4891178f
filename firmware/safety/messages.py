# What the main controller and the safety node tell each other, as payloads for the safety link
# (firmware/safety/link.py frames them). Every message is a full state snapshot, so a lost one is
# repaired by the next and a stale one can simply be dropped.
import struct

from firmware import faults

COMMAND = 1  # main -> safety
REPORT = 2  # safety -> main

# COMMAND flags
ALLOW = 1  # the main controller wants the contactor closed

# REPORT flags
RELAY_CLOSED = 1  # the safety node's switch in the coil circuit is closed
PERMITS = 2  # the safety node would close it if the main controller asked
SELFTEST_OK = 4  # the residual current monitor passed its last self-test
TESTING = 8  # a self-test runs now

PLACES = ("power_path", "connector", "ambient")  # temperature sensor places, by index
NO_READING = -32768  # deci-degrees of a broken sensor

_COMMAND = "<BBB"  # kind, flags, reset count (mod 256: a change asks for a reset of latched faults)
_REPORT = "<BBIB"  # kind, flags, fault mask (faults.SAFETY_CODES), number of temperatures
_TEMP = "<Bh"  # place index, deci-degrees C


class BadMessage(ValueError):
    pass


# CPython raises struct.error on a short buffer, MicroPython ValueError (and has no struct.error).
_UNPACK_ERRORS = (ValueError, struct.error) if hasattr(struct, "error") else (ValueError,)


def command(allow, resets):
    return struct.pack(_COMMAND, COMMAND, ALLOW if allow else 0, resets & 0xFF)


def report(flags, codes, temps_c):
    """temps_c: {place: degrees C or None (broken)}."""
    out = [struct.pack(_REPORT, REPORT, flags, faults.pack(codes), len(temps_c))]
    for place in temps_c:
        temp_c = temps_c[place]
        deci = NO_READING if temp_c is None else max(-32767, min(32767, int(round(temp_c * 10))))
        out.append(struct.pack(_TEMP, PLACES.index(place), deci))
    return b"".join(out)


def parse(payload):
    """("command", allow, resets) or ("report", flags, codes, {place: celsius or None})."""
    if not payload:
        raise BadMessage("empty message")
    kind = payload[0]
    try:
        if kind == COMMAND:
            _, flags, resets = struct.unpack(_COMMAND, payload)
            return ("command", bool(flags & ALLOW), resets)
        if kind == REPORT:
            size = struct.calcsize(_REPORT)
            _, flags, mask, count = struct.unpack(_REPORT, payload[:size])
            step = struct.calcsize(_TEMP)
            if len(payload) != size + count * step:
                raise BadMessage("report length %d for %d temperatures" % (len(payload), count))
            temps = {}
            for i in range(count):
                index, deci = struct.unpack(_TEMP, payload[size + i * step:size + (i + 1) * step])
                if index >= len(PLACES):
                    raise BadMessage("unknown temperature place %d" % index)
                temps[PLACES[index]] = None if deci == NO_READING else deci / 10.0
            return ("report", flags, faults.unpack(mask), temps)
    except _UNPACK_ERRORS as exc:
        if isinstance(exc, BadMessage):
            raise
        raise BadMessage("malformed message: %s" % exc)
    raise BadMessage("unknown message kind %d" % kind)
