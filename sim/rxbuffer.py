"""The receive side of a simulated serial line (CPython): bytes arrive from loop callbacks, the firmware's
Uart.read() takes what has arrived, waiting up to its timeout for the first byte."""

import asyncio


class RxBuffer:
    def __init__(self):
        self._rx = bytearray()
        self._arrived = asyncio.Event()

    def put(self, chunk):
        self._rx += chunk
        self._arrived.set()

    async def read(self, timeout_ms):
        """Everything received so far; b"" if nothing arrives within timeout_ms."""
        if not self._rx:
            if timeout_ms <= 0:
                return b""
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout_ms / 1000.0)
            except asyncio.TimeoutError:
                return b""
        data = bytes(self._rx)
        self._rx.clear()
        return data

    def clear(self):
        self._rx.clear()
