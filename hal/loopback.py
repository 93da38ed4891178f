# An in-memory serial line between two nodes on one MCU (portable subset).
#
# A dev board with a single MCU runs the main controller and the safety node side by side; their link
# still goes through the same framed, CRC-checked protocol (firmware/safety/link.py), only the wire is
# this pipe instead of a UART. Each end is a hal Uart: write() delivers to the other end at once.
import asyncio

from firmware.waiting import event_or_timeout

MAX_BUFFERED = 4096  # a reader that stopped reading does not grow the heap without bound


class LoopbackEnd:  # hal.interfaces.Uart
    def __init__(self):
        self.peer = None
        self._rx = bytearray()
        self._arrived = asyncio.Event()
        self.dropped = 0  # bytes lost because the receive buffer was full, like a UART overrun

    def write(self, data):
        self.peer._put(data)

    def _put(self, data):
        room = MAX_BUFFERED - len(self._rx)
        if len(data) > room:
            self.dropped += len(data) - room
            data = data[:room]
        self._rx += data
        self._arrived.set()

    async def read(self, timeout_ms):
        if not self._rx:
            self._arrived.clear()
            if not await event_or_timeout(self._arrived, timeout_ms):
                return b""
        data = bytes(self._rx)
        self._rx = bytearray()
        return data

    def reset_input(self):
        self._rx = bytearray()


def pipe():
    """Two joined ends (a, b): what a writes, b reads, and back."""
    a = LoopbackEnd()
    b = LoopbackEnd()
    a.peer = b
    b.peer = a
    return a, b
