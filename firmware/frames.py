# Framing for any byte stream (UART, pty, TCP socket), sans-I/O: COBS with 0x00 as the delimiter and a
# CRC-32 over the payload.
#
# On the wire one frame is COBS(payload + CRC-32(payload) as 4 bytes, little-endian) followed by 0x00.
# COBS (Cheshire & Baker, "Consistent Overhead Byte Stuffing", 1999) removes every 0x00 from the data at
# a cost of one byte per 254, so a 0x00 on the stream always ends a frame: a receiver that joins late
# or sees line noise is back in step at the next delimiter. The same scheme (COBS + CRC-32) serves
# EVerest's Yeti MCU link (reference/anchor-everest.md, "The MCU link").
#
# binascii.crc32 is the zlib CRC-32 and exists on CPython and on MicroPython's unix, esp32 and stm32
# ports. Portable subset (MicroPython 1.2x): builtins, struct and binascii only.
import binascii
import struct

DELIMITER = b"\x00"
CRC_SIZE = 4
MAX_PAYLOAD = 256  # default limit of a Decoder: bounds its buffer (a safety-link message is ~20 bytes)
_BLOCK = 254  # most non-zero bytes one COBS code byte (0xFF) can carry


def crc32(data):
    return binascii.crc32(data) & 0xFFFFFFFF  # masked: some ports return a signed int


def cobs_encode(data):
    """COBS-encode bytes: the result holds no 0x00 and is at most len(data) + 1 + len(data) // 254."""
    out = bytearray()
    n = len(data)
    pos = 0
    while True:
        stop = min(pos + _BLOCK, n)
        zero = data.find(DELIMITER, pos, stop)
        if zero >= 0:  # a block ending in a zero: the code byte stands for the zero
            out.append(zero - pos + 1)
            out += data[pos:zero]
            pos = zero + 1
            continue
        out.append(stop - pos + 1)
        out += data[pos:stop]
        if stop == n:
            return bytes(out)
        pos = stop  # a full block of 254 non-zero bytes (code 0xFF) implies no zero


def cobs_decode(data):
    """Decode one COBS block sequence (without its delimiter); None when it breaks the COBS rules."""
    out = bytearray()
    n = len(data)
    i = 0
    while i < n:
        code = data[i]
        end = i + code
        if code == 0 or end > n:  # a zero inside a frame, or a block running past the frame's end
            return None
        out += data[i + 1:end]
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode(payload):
    """One complete frame for payload (any bytes, 0x00 included), ending with the delimiter."""
    if not isinstance(payload, (bytes, bytearray)):
        raise TypeError("a frame carries bytes, not %s" % type(payload).__name__)
    payload = bytes(payload)
    return cobs_encode(payload + struct.pack("<I", crc32(payload))) + DELIMITER


def max_encoded_size(max_payload):
    """The longest frame (without delimiter) a payload of max_payload bytes can encode to."""
    n = max_payload + CRC_SIZE
    return n + 1 + n // _BLOCK


class Decoder:
    """Bytes in, checked payloads out. Feed it whatever the stream delivers, in any chunk sizes.

    Counters: frames (good payloads returned), bad_crc, bad_framing (COBS violation, or too short to
    hold a CRC), oversize (longer than max_payload: dropped, and its bytes are not kept). An empty frame
    (two delimiters in a row) is silence, not an error: a sender that starts or restarts writes a lone
    delimiter first, so what a receiver held of a frame cut short does not spoil the first new one."""

    def __init__(self, max_payload=MAX_PAYLOAD):
        if max_payload < 0:
            raise ValueError("max_payload must be >= 0, got %r" % (max_payload,))
        self.max_payload = max_payload
        self._max_encoded = max_encoded_size(max_payload)
        self._buf = bytearray()
        self._discarding = False  # inside an oversize frame: skip to the next delimiter
        self.frames = 0
        self.bad_crc = 0
        self.bad_framing = 0
        self.oversize = 0

    @property
    def buffered(self):
        """Bytes of a partly received frame held now (never more than one maximal frame)."""
        return len(self._buf)

    def reset(self):
        """Forget a partly received frame (e.g. after the stream was reopened)."""
        self._buf = bytearray()
        self._discarding = False

    def feed(self, data):
        """Take the next bytes of the stream; return the payloads of the frames they completed."""
        if not isinstance(data, bytes):
            data = bytes(data)
        out = []
        start = 0
        while True:
            end = data.find(DELIMITER, start)
            if end < 0:
                self._take(data, start, len(data))
                return out
            self._take(data, start, end)
            if self._discarding:
                self._discarding = False
            elif self._buf:
                payload = self._frame(bytes(self._buf))
                if payload is not None:
                    out.append(payload)
                self._buf = bytearray()
            start = end + 1

    def _take(self, data, start, end):
        if self._discarding or start == end:
            return
        if len(self._buf) + end - start > self._max_encoded:
            self.oversize += 1
            self._discarding = True
            self._buf = bytearray()  # free it now: nothing of this frame is kept
            return
        self._buf += data[start:end]

    def _frame(self, encoded):
        body = cobs_decode(encoded)
        if body is None or len(body) < CRC_SIZE:
            self.bad_framing += 1
            return None
        payload = body[:-CRC_SIZE]
        if len(payload) > self.max_payload:
            self.oversize += 1
            return None
        if struct.unpack("<I", body[-CRC_SIZE:])[0] != crc32(payload):
            self.bad_crc += 1
            return None
        self.frames += 1
        return payload
