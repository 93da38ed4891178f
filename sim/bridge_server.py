"""The bridge, plant side (CPython): serves the simulated plant to a firmware running elsewhere.

The firmware (the micropython binary, a dev board on USB serial) connects with hal/bridge.py; this end
applies what it does to the plant (pilot generator, the two coil switches, the RCD TEST input) and
reports what the plant does (CP plateaus, contactor feedback, RCD trips, emergency stop, PE,
temperatures, RFID cards). Messages: hal/bridge_wire.py. One firmware at a time; a new connection
replaces the old one and gets the whole state again.

A firmware that goes silent for PEER_TIMEOUT_MS (crashed, hung, unplugged) is treated as a dead
controller: both coil switches open and the pilot returns to X1, as a board's outputs do in reset."""

import asyncio

from firmware.frames import Decoder
from hal import bridge_wire as wire

TEMPERATURE_POLL_S = 1.0
TEMPERATURE_STEP_OHMS = 0.5  # about 0.13 K on a PT1000: smaller moves are not worth a frame


class BridgeServer:
    def __init__(self, plant, clock, keepalive_ms=wire.KEEPALIVE_MS, peer_timeout_ms=wire.PEER_TIMEOUT_MS,
                 log=None):
        self.plant = plant
        self.clock = clock
        self.keepalive_ms = keepalive_ms
        self.peer_timeout_ms = peer_timeout_ms
        self.log = log or (lambda text: None)
        self.connections = 0
        self.lost = 0  # times the firmware went silent or dropped the stream
        self.bad_frames = 0
        self.bad_messages = 0
        self.received = []  # decoded messages from the firmware, keepalives left out (tests read it)
        self.firmware_alive = False
        self._writer = None
        self._server = None
        self._session = None
        self._sent_cp = None
        self._sent_ohms = {}
        self._inputs = {}
        for name, signal in self._signals().items():
            view = signal.view()
            view.on_change(lambda value, name=name: self._send(wire.input_(wire.INPUTS.index(name), value)))
            self._inputs[name] = view
        plant.listeners.append(self._plant_changed)

    def _signals(self):
        plant = self.plant
        return {"feedback": plant.contactor.feedback, "rcd_ac": plant.rcd.ac, "rcd_dc": plant.rcd.dc,
                "estop": plant.estop, "pe_fault": plant.pe_fault}

    # Serving ---------------------------------------------------------------------------------

    async def serve_tcp(self, host="127.0.0.1", port=0):
        """Listen on host:port (loopback by default); returns the port."""
        self._server = await asyncio.start_server(self.serve_stream, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def serve_stream(self, reader, writer):
        """Serve one firmware on a stream pair until it goes away (or another one connects)."""
        if self._session is not None:
            self._session.cancel()
        self._session = asyncio.current_task()
        self.connections += 1
        self._writer = writer
        decoder = Decoder(wire.MAX_PAYLOAD)
        self._greet()
        keepalive = asyncio.create_task(self._keepalive())
        try:
            last_rx_ms = self.clock.ms()
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(256), self.peer_timeout_ms / 1000)
                except asyncio.TimeoutError:
                    data = None
                except OSError:  # reset by the peer: as good as closed
                    data = b""
                if not data:
                    self._firmware_gone("silent for %d ms" % self.peer_timeout_ms if data is None
                                        else "closed the stream")
                    if data is not None:
                        return
                    continue
                before = decoder.bad_crc + decoder.bad_framing + decoder.oversize
                for payload in decoder.feed(data):
                    if self._handle(payload):
                        last_rx_ms = self.clock.ms()
                self.bad_frames += decoder.bad_crc + decoder.bad_framing + decoder.oversize - before
                if self.clock.ms() - last_rx_ms > self.peer_timeout_ms:
                    self._firmware_gone("no valid frame for %d ms" % self.peer_timeout_ms)
        except asyncio.CancelledError:
            pass  # stopped, or replaced by a newer connection: this handler's task simply ends
        finally:  # also when stopped or replaced: the plant no longer hears this controller
            self._firmware_gone("is disconnected")
            keepalive.cancel()
            if self._writer is writer:
                self._writer = None
            if self._session is asyncio.current_task():
                self._session = None
            writer.close()

    async def stop(self):
        session = self._session
        # Cancelled until it is done: Python 3.11's wait_for swallows a cancellation that meets a
        # finished read (gh-86296), and the session reads under wait_for.
        while session is not None and not session.done():
            session.cancel()
            await asyncio.wait([session], timeout=0.1)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._plant_changed in self.plant.listeners:
            self.plant.listeners.remove(self._plant_changed)

    def present_tag(self, id_tag):
        """Hold an RFID card to the charger's reader."""
        self._send(wire.tag(id_tag))

    # What the firmware does to the plant ----------------------------------------------------

    def _handle(self, payload):
        try:
            message = wire.decode_from_firmware(payload)
        except ValueError as exc:
            self.bad_messages += 1
            self.log("bridge: bad message from the firmware: %s" % exc)
            return False
        if not self.firmware_alive:
            self.firmware_alive = True
            self.log("bridge: firmware connected")
        kind = message[0]
        if kind == "keepalive":
            return True
        self.received.append(message)
        if kind == "pilot":
            self.plant.set_pilot(message[1], message[2])
        elif kind == "output":
            name, on = message[1], message[2]
            if name == "rcd_test":
                self.plant.rcd.set(on)
            else:
                self.plant.contactor.switch("main" if name == "contactor" else "safety", on)
        return True

    def _firmware_gone(self, why):
        if not self.firmware_alive:
            return
        self.firmware_alive = False
        self.lost += 1
        self.log("bridge: firmware %s: its outputs drop" % why)
        self.plant.contactor.switch("main", False)
        self.plant.contactor.switch("safety", False)
        self.plant.rcd.set(False)
        self.plant.set_pilot("x1")

    # What the plant tells the firmware ------------------------------------------------------

    def _send(self, payload):
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(wire.frame(payload))

    def _greet(self):
        self._writer.write(b"\x00")
        self._send(wire.hello(int(self.clock.epoch_s())))
        for name, view in self._inputs.items():
            self._send(wire.input_(wire.INPUTS.index(name), view.value()))
        self._sent_ohms = {}
        self._send_temperatures()
        self._sent_cp = None
        self._plant_changed()

    def _plant_changed(self):
        levels = self.plant.cp_levels()
        if levels != self._sent_cp:
            self._sent_cp = levels
            self._send(wire.cp(int(levels[0]), int(levels[1])))

    def _send_temperatures(self):
        for name, sensor in self.plant.temperatures.items():
            ohms = sensor.read_ohms()
            if abs(ohms - self._sent_ohms.get(name, -1e9)) >= TEMPERATURE_STEP_OHMS:
                self._sent_ohms[name] = ohms
                self._send(wire.temperature(name, ohms))

    async def _keepalive(self):
        ticks = 0
        while True:
            await asyncio.sleep(self.keepalive_ms / 1000)
            self._send(wire.keepalive())
            ticks += 1
            if ticks * self.keepalive_ms >= TEMPERATURE_POLL_S * 1000:
                ticks = 0
                self._send_temperatures()

