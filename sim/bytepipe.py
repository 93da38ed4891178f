# An in-memory duplex byte stream with fault injection (CPython only), e.g. the UART between the main
# controller and the safety node, or the plant bridge's stream, in simulation.
#
# BytePipe(baud, latency_ms) has two ends, .a and .b, each a hal.interfaces.Uart (write, async read,
# reset_input). Bytes written at one end arrive at the other after latency_ms plus their time on the
# wire at the baud rate (10 bits a byte: 8N1); writes queue behind each other like a real line. Only
# loop timers and asyncio primitives are used, so the pipe runs the same on a normal loop and on
# sim.vloop's virtual-time loop.
#
# Fault knobs, per direction (pipe.a_to_b, pipe.b_to_a), each acting on whole writes ("frames"):
#   drop(n)       the next n writes vanish
#   corrupt(n)    the next n writes arrive with one bit flipped in their middle byte (never making a
#                 0x00 there, so a COBS frame stays one frame and fails its CRC)
#   duplicate(n)  the next n writes arrive twice
#   reorder(n)    each of the next n writes is held back and arrives just after the write that follows it
#   cut(True)     nothing arrives, including bytes already on the wire, until cut(False)
# Each knob sets the count (0 cancels); .counts tells what the direction did.
import asyncio

from hal.interfaces import Uart
from sim.rxbuffer import RxBuffer

BITS_PER_BYTE = 10  # start + 8 data + stop (8N1)
_COUNT_OF = {"drop": "dropped", "corrupt": "corrupted", "duplicate": "duplicated", "reorder": "reordered"}


class Direction:
    """One direction of the pipe: its fault knobs, its line timing and the receiving end's buffer."""

    def __init__(self, name, baud, latency_ms):
        self.name = name
        self._byte_s = BITS_PER_BYTE / baud
        self._latency_s = latency_ms / 1000.0
        self._line_free_s = 0.0  # loop time at which the last queued byte has left
        self._rx = RxBuffer()
        self._knobs = {"drop": 0, "corrupt": 0, "duplicate": 0, "reorder": 0}
        self._cut = False
        self._held = None  # writes held back by reorder
        self.counts = {"writes": 0, "dropped": 0, "corrupted": 0, "duplicated": 0, "reordered": 0,
                       "lost_to_cut": 0, "bytes_delivered": 0}

    def _set(self, knob, n):
        if not isinstance(n, int) or n < 0:
            raise ValueError("%s.%s(n) needs an int n >= 0, got %r" % (self.name, knob, n))
        self._knobs[knob] = n

    def drop(self, n=1):
        self._set("drop", n)

    def corrupt(self, n=1):
        self._set("corrupt", n)

    def duplicate(self, n=1):
        self._set("duplicate", n)

    def reorder(self, n=1):
        self._set("reorder", n)

    def cut(self, on=True):
        self._cut = bool(on)

    def _take(self, knob):
        if self._knobs[knob]:
            self._knobs[knob] -= 1
            self.counts[_COUNT_OF[knob]] += 1
            return True
        return False

    def write(self, data):
        self.counts["writes"] += 1
        if self._cut:
            self.counts["lost_to_cut"] += 1
            return
        if self._take("drop"):
            return
        if self._take("corrupt"):
            data = _flip_middle_bit(data)
        chunks = [data, data] if self._take("duplicate") else [data]
        if self._held is not None:
            chunks += self._held
            self._held = None
        elif self._take("reorder"):
            self._held = chunks
            return
        for chunk in chunks:
            self._transmit(chunk)

    def _transmit(self, chunk):
        loop = asyncio.get_running_loop()
        start_s = max(loop.time(), self._line_free_s)
        self._line_free_s = start_s + len(chunk) * self._byte_s
        loop.call_at(self._line_free_s + self._latency_s, self._arrive, chunk)

    def _arrive(self, chunk):
        if self._cut:
            self.counts["lost_to_cut"] += 1
            return
        self.counts["bytes_delivered"] += len(chunk)
        self._rx.put(chunk)

    async def _read(self, timeout_ms):
        return await self._rx.read(timeout_ms)

    def _reset_input(self):
        self._rx.clear()


def _flip_middle_bit(data):
    if not data:
        return data
    i = len(data) // 2
    mask = 0x10 if data[i] != 0x10 else 0x20  # never turn a byte into 0x00 (a frame delimiter)
    return data[:i] + bytes((data[i] ^ mask,)) + data[i + 1:]


class End(Uart):
    """One end of the pipe, a hal.interfaces.Uart."""

    def __init__(self, name, tx, rx):
        self.name = name
        self._tx = tx
        self._rx = rx

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("%s.write() takes bytes, not %s" % (self.name, type(data).__name__))
        if data:
            self._tx.write(bytes(data))

    async def read(self, timeout_ms):
        return await self._rx._read(timeout_ms)

    def reset_input(self):
        self._rx._reset_input()


class BytePipe:
    """Two connected Uart ends, .a and .b; fault knobs on .a_to_b and .b_to_a."""

    def __init__(self, baud=115200, latency_ms=1):
        if baud <= 0 or latency_ms < 0:
            raise ValueError("need baud > 0 and latency_ms >= 0, got %r and %r" % (baud, latency_ms))
        self.a_to_b = Direction("a_to_b", baud, latency_ms)
        self.b_to_a = Direction("b_to_a", baud, latency_ms)
        self.a = End("a", self.a_to_b, self.b_to_a)
        self.b = End("b", self.b_to_a, self.a_to_b)
