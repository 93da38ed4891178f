"""An asyncio stream pair over a serial port with pyserial (CPython): a board's USB serial, a pty, or
any pyserial URL (socket://host:port, loop://). What sim/bridge_server.py serves the plant over in
desk mode. A reader thread hands bytes to the loop; writes go out from a worker thread, so a slow
port never blocks the plant's event loop."""

import asyncio
import threading

import serial


class SerialWriter:
    """The StreamWriter calls BridgeServer uses: write(), drain(), is_closing(), close()."""

    def __init__(self, port, loop):
        self.port = port
        self.loop = loop
        self._closing = False
        self._pending = []

    def write(self, data):
        if not self._closing:
            self._pending.append(self.loop.run_in_executor(None, self.port.write, bytes(data)))

    async def drain(self):
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)

    def is_closing(self):
        return self._closing

    def close(self):
        self._closing = True


async def open_serial_stream(url, baud=115200):
    """(reader, writer, close) for a serial port or pyserial URL."""
    loop = asyncio.get_running_loop()
    port = serial.serial_for_url(url, baudrate=baud, timeout=0.1)
    reader = asyncio.StreamReader()
    stop = threading.Event()

    def pump():
        while not stop.is_set():
            try:
                data = port.read(256)
            except (serial.SerialException, OSError, TypeError):
                break  # the port went away (board unplugged) or was closed under us
            if data:
                loop.call_soon_threadsafe(reader.feed_data, data)
        loop.call_soon_threadsafe(reader.feed_eof)

    thread = threading.Thread(target=pump, name="serial-" + url, daemon=True)
    thread.start()
    writer = SerialWriter(port, loop)

    def close():
        stop.set()
        writer.close()
        thread.join(timeout=1)
        port.close()

    return reader, writer, close
