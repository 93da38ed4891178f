# The bridge's messages (portable subset; the plant side in sim/ uses the same module).
#
# Each message is one frame of firmware/frames.py (COBS + CRC-32, so a byte lost or flipped on a UART
# costs one message, never the stream), its payload a type byte and fixed little-endian fields:
#
#   firmware -> plant                         plant -> firmware
#   H version                hello            H version, u32 wall clock (epoch s)   hello
#   K                        keepalive        K                                     keepalive
#   P u8 generator, u16 duty pilot            C i16 high mV, i16 low mV             CP plateaus
#   O u8 output, u8 on       switch/TEST      I u8 input, u8 active                 digital input
#                                             T f32 ohms, name (UTF-8)              temperature sensor
#                                             R id tag (UTF-8, 1..20)               RFID card
#
# After hello the plant sends its whole state (every input, temperature and the CP), then changes.
import struct

from firmware.frames import encode

VERSION = 1
MAX_PAYLOAD = 64
KEEPALIVE_MS = 250  # a frame at least this often each way, so silence means a dead peer
PEER_TIMEOUT_MS = 1000  # four keepalives missed: the peer is gone
OPEN_SENSOR_OHMS = 1e9  # what an unreported sensor reads: firmware/temperature.py calls it open

PILOT_X1 = 0
PILOT_PWM = 1
PILOT_F = 2
GENERATORS = ("x1", "pwm", "f")
OUTPUTS = ("contactor", "relay", "rcd_test")  # main controller's switch, safety node's switch, RCD TEST
INPUTS = ("feedback", "rcd_ac", "rcd_dc", "estop", "pe_fault")
MAX_NAME = 16
MAX_TAG = 20  # OCPP 1.6 IdToken: CiString20Type


def frame(payload):
    return encode(payload)


def hello(epoch_s=None):
    if epoch_s is None:
        return b"H" + bytes((VERSION,))
    return b"H" + struct.pack("<BI", VERSION, epoch_s)


def keepalive():
    return b"K"


def pilot(generator, duty_permille):
    return b"P" + struct.pack("<BH", generator, duty_permille)


def output(code, on):
    return b"O" + bytes((code, 1 if on else 0))


def cp(high_mv, low_mv):
    return b"C" + struct.pack("<hh", high_mv, low_mv)


def input_(code, active):
    return b"I" + bytes((code, 1 if active else 0))


def temperature(name, ohms):
    return b"T" + struct.pack("<f", ohms) + _utf8("T", name, MAX_NAME)


def tag(id_tag):
    return b"R" + _utf8("R", id_tag, MAX_TAG)


def _utf8(kind, text, most):
    # The sender refuses what the receiver would (_text): the bounds are in bytes of UTF-8, not characters.
    body = text.encode()
    if not 1 <= len(body) <= most:
        raise ValueError("%s message with %d bytes of text (1..%d)" % (kind, len(body), most))
    return body


def _fields(payload, fmt):
    if len(payload) - 1 != struct.calcsize(fmt):
        raise ValueError("%s message of %d bytes" % (chr(payload[0]), len(payload)))
    return struct.unpack(fmt, payload[1:])


def _text(kind, body, most):
    if not 1 <= len(body) <= most:
        raise ValueError("%s message with %d bytes of text" % (kind, len(body)))
    try:
        return body.decode()
    except UnicodeError:
        raise ValueError("%s message with text that is not UTF-8" % kind)


def _flag(code, value, names):
    if code >= len(names) or value > 1:
        raise ValueError("no such signal: %d = %d" % (code, value))
    return names[code], value == 1


def _check_version(version):
    if version != VERSION:
        raise ValueError("bridge version %d, we speak %d" % (version, VERSION))


def decode_from_plant(payload):
    """("hello", epoch_s) | ("keepalive",) | ("cp", high_mv, low_mv) | ("input", name, active) |
    ("temperature", name, ohms) | ("tag", id_tag). ValueError for anything else."""
    if not payload:
        raise ValueError("empty message")
    kind = payload[:1]
    if kind == b"H":
        version, epoch_s = _fields(payload, "<BI")
        _check_version(version)
        return ("hello", epoch_s)
    if kind == b"K":
        _fields(payload, "<")
        return ("keepalive",)
    if kind == b"C":
        high, low = _fields(payload, "<hh")
        return ("cp", high, low)
    if kind == b"I":
        name, active = _flag(*_fields(payload, "<BB"), names=INPUTS)
        return ("input", name, active)
    if kind == b"T":
        if len(payload) < 6:
            raise ValueError("T message of %d bytes" % len(payload))
        ohms = struct.unpack("<f", payload[1:5])[0]
        if not ohms >= 0:  # also refuses NaN
            raise ValueError("temperature sensor at %r ohms" % ohms)
        return ("temperature", _text("T", payload[5:], MAX_NAME), ohms)
    if kind == b"R":
        return ("tag", _text("R", payload[1:], MAX_TAG))
    raise ValueError("unknown message type %r" % kind)


def decode_from_firmware(payload):
    """("hello",) | ("keepalive",) | ("pilot", "x1"|"pwm"|"f", duty) | ("output", name, on)."""
    if not payload:
        raise ValueError("empty message")
    kind = payload[:1]
    if kind == b"H":
        _check_version(_fields(payload, "<B")[0])
        return ("hello",)
    if kind == b"K":
        _fields(payload, "<")
        return ("keepalive",)
    if kind == b"P":
        generator, duty = _fields(payload, "<BH")
        if generator >= len(GENERATORS) or generator == PILOT_PWM and not 1 <= duty <= 999:
            raise ValueError("pilot %d with duty %d" % (generator, duty))
        return ("pilot", GENERATORS[generator], duty if generator == PILOT_PWM else None)
    if kind == b"O":
        name, on = _flag(*_fields(payload, "<BB"), names=OUTPUTS)
        return ("output", name, on)
    raise ValueError("unknown message type %r" % kind)
