# Modbus RTU master framing, sans-I/O: build read requests, tell how long the reply is, check and parse it.
#
# No I/O and no clock here: the caller writes the request bytes, collects the reply bytes and hands them
# back. Portable subset (MicroPython 1.2x): builtins and struct only.
#
# Frame layout (standards.md 6.1): unit (1) + function (1) + data (N) + CRC-16 (2, low byte first).
import struct

# Function codes (standards.md 6.1)
FC_READ_HOLDING = 0x03
FC_READ_INPUT = 0x04
EXCEPTION_BIT = 0x80  # exception reply: function | 0x80, then one code byte (standards.md 6.1)

# Exception codes and their names (standards.md 6.1)
ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
ILLEGAL_VALUE = 0x03
DEVICE_FAILURE = 0x04
EXCEPTION_NAMES = {
    ILLEGAL_FUNCTION: "illegal function",
    ILLEGAL_ADDRESS: "illegal data address",
    ILLEGAL_VALUE: "illegal data value",
    DEVICE_FAILURE: "server device failure",
}

UNIT_MIN = 1  # address 0 is broadcast, which read requests must not use (Modbus serial line spec)
UNIT_MAX = 247  # 248..255 are reserved (Modbus serial line spec)
MAX_READ_COUNT = 125  # FC 03/04 quantity 1..125: 250 data bytes fit the 256-byte ADU (standards.md 6.1)
EXCEPTION_REPLY_LENGTH = 5  # unit + function|0x80 + code + CRC

BITS_PER_CHAR = 11  # start + 8 data + parity (or 2nd stop) + stop (standards.md 6.1)
FIXED_TIMING_ABOVE_BAUD = 19200  # above this, t1.5 and t3.5 are fixed (standards.md 6.1)
T35_FIXED_US = 1750  # t3.5 above 19200 baud (standards.md 6.1)
T15_FIXED_US = 750  # t1.5 above 19200 baud (standards.md 6.1)


class ModbusError(Exception):
    """A reply that cannot be used: bad CRC, malformed frame, or the slave's exception reply."""


class CrcError(ModbusError):
    pass


class FrameError(ModbusError):
    """Wrong unit, wrong function, wrong byte count, or a frame too short or too long."""


class ExceptionReply(ModbusError):
    """The slave answered with an exception reply; .code is the Modbus exception code."""

    def __init__(self, function, code):
        super().__init__(
            "exception %d (%s) to function %d" % (code, EXCEPTION_NAMES.get(code, "unknown"), function)
        )
        self.function = function
        self.code = code


def crc16(data):
    """CRC-16/MODBUS of data: reflected polynomial 0xA001, init 0xFFFF, no final XOR (standards.md 6.1).

    Bitwise, not table-driven: a 256-entry table costs 512 bytes of RAM (1 KB as a list of ints) on a
    board, while the bitwise loop costs nothing to keep and, for a frame of at most 256 bytes, runs in
    a small fraction of the time the same bytes take on the wire at 9600 baud (1.15 ms each)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
    return crc


def _append_crc(frame):
    crc = crc16(frame)
    return bytes(frame) + bytes((crc & 0xFF, crc >> 8))  # low byte first (standards.md 6.1)


def read_request(unit, function, address, count):
    """The request frame to read count registers from address with FC 03 (holding) or 04 (input)."""
    if function != FC_READ_HOLDING and function != FC_READ_INPUT:
        raise ValueError("function must be 3 or 4, not %r" % (function,))
    if not UNIT_MIN <= unit <= UNIT_MAX:
        raise ValueError("unit must be %d..%d, not %r" % (UNIT_MIN, UNIT_MAX, unit))
    if not 0 <= address <= 0xFFFF:
        raise ValueError("address must be 0..65535, not %r" % (address,))
    if not 1 <= count <= MAX_READ_COUNT or address + count > 0x10000:
        raise ValueError("count must be 1..%d within the address space, not %r" % (MAX_READ_COUNT, count))
    return _append_crc(struct.pack(">BBHH", unit, function, address, count))


def reply_length(function, count):
    """Length of a normal reply to a read of count registers: unit + function + byte count + data + CRC."""
    return 5 + 2 * count


def expected_length(function, count, received):
    """How many bytes the complete reply has, judged from the bytes received so far.

    An exception reply is recognised by its function byte (function | 0x80) and is 5 bytes long;
    anything else is taken as a normal reply. Collect until len(received) >= this number."""
    if len(received) >= 2 and received[1] == function | EXCEPTION_BIT:
        return EXCEPTION_REPLY_LENGTH
    return reply_length(function, count)


def parse_read_reply(unit, function, count, frame):
    """The register values (ints) of a reply to read_request(unit, function, address, count).

    Raises FrameError, CrcError or ExceptionReply; never returns data from a frame that is not exactly
    the reply asked for. Length is checked first, so a reply cut short says so instead of failing CRC."""
    n = len(frame)
    want = expected_length(function, count, frame)
    if n < want:
        raise FrameError("short frame: %d of %d bytes" % (n, want))
    if n > want:
        raise FrameError("long frame: %d bytes, expected %d" % (n, want))
    crc = crc16(frame[:-2])
    if frame[-2] != crc & 0xFF or frame[-1] != crc >> 8:
        raise CrcError("CRC %02x%02x, computed %02x%02x" % (frame[-2], frame[-1], crc & 0xFF, crc >> 8))
    if frame[0] != unit:
        raise FrameError("reply from unit %d, asked unit %d" % (frame[0], unit))
    if frame[1] == function | EXCEPTION_BIT:
        raise ExceptionReply(function, frame[2])
    if frame[1] != function:
        raise FrameError("reply function %d, asked %d" % (frame[1], function))
    if frame[2] != 2 * count:
        raise FrameError("byte count %d, expected %d" % (frame[2], 2 * count))
    return list(struct.unpack(">%dH" % count, frame[3 : 3 + 2 * count]))


def float32(registers, index):
    """IEEE-754 float32 from registers[index] (high word) and registers[index + 1] (low word).

    Big-endian, high word first: the Eastron layout (standards.md 6.2)."""
    return struct.unpack(">f", struct.pack(">HH", registers[index], registers[index + 1]))[0]


def char_us(baud):
    """Time of one 11-bit character on the wire, in microseconds (rounded up)."""
    return (BITS_PER_CHAR * 1000000 + baud - 1) // baud


def frame_us(nbytes, baud):
    """Time nbytes take on the wire, in microseconds (rounded up)."""
    return (nbytes * BITS_PER_CHAR * 1000000 + baud - 1) // baud


def t35_us(baud):
    """Inter-frame silence t3.5: 3.5 character times up to 19200 baud, fixed 1.75 ms above (standards.md 6.1)."""
    if baud > FIXED_TIMING_ABOVE_BAUD:
        return T35_FIXED_US
    return (35 * BITS_PER_CHAR * 1000000 + 10 * baud - 1) // (10 * baud)


def t15_us(baud):
    """Inter-character timeout t1.5: 1.5 character times up to 19200 baud, fixed 750 us above (standards.md 6.1)."""
    if baud > FIXED_TIMING_ABOVE_BAUD:
        return T15_FIXED_US
    return (15 * BITS_PER_CHAR * 1000000 + 10 * baud - 1) // (10 * baud)
