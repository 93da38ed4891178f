# The bridge, firmware side: hal parts whose other end is a simulated plant on a PC (portable subset).
#
# The firmware runs where it runs (the micropython binary in CI, a dev board on a desk) and its pilot,
# contactor and safety sensors are served by sim/ on CPython over any byte stream: a TCP socket, a pty, a
# board's USB serial. hal/bridge_wire.py holds the messages; this module turns them into hal parts.
#
# What crosses: everything the firmware does to the plant (pilot generator and duty, the two switches
# in the coil circuit, the RCD monitor's TEST input) and everything it senses (CP plateaus, contactor
# feedback, RCD trips, emergency stop, PE, temperatures, RFID tags), plus the plant's wall clock at
# hello. Not the meter: the firmware's own Modbus driver talks RTU to it over a serial line.
#
# Going safe: when no valid frame came from the plant for PEER_TIMEOUT_MS, every CP sampler reads 0 V
# (state E: the charger stops and opens on its own rules) and `lost` counts it. The plant does the
# same from its side (sim/bridge_server.py opens both switches when the firmware goes silent).
import asyncio

from hal import bridge_wire as wire
from firmware.frames import Decoder
from firmware.waiting import event_or_timeout

MEMORY_PAUSE_S = 0.1  # after a MemoryError reading: well within the plant's PEER_TIMEOUT_MS

LOST_LEVELS = (0, 0)  # what the CP reads with the plant gone: state E, a pilot fault


class _Levels:  # hal.interfaces.PilotIn
    def __init__(self, client):
        self.client = client
        self._given = None

    def read(self):
        self._given = self.client.cp_levels()
        return self._given

    async def wait(self, timeout_ms):
        levels = self.client.cp_levels()
        if levels == self._given:  # a change since the last read is news at once
            changed = self.client.cp_changed
            changed.clear()
            await event_or_timeout(changed, timeout_ms)
            levels = self.client.cp_levels()
        self._given = levels
        return levels


class _Generator:  # hal.interfaces.PilotOut
    def __init__(self, client):
        self.client = client

    def x1(self):
        self.client.send(wire.pilot(wire.PILOT_X1, 0))

    def pwm(self, duty_permille):
        self.client.send(wire.pilot(wire.PILOT_PWM, duty_permille))

    def f(self):
        self.client.send(wire.pilot(wire.PILOT_F, 0))


class _Output:  # hal.interfaces.DigitalOut
    def __init__(self, client, name):
        self.client = client
        self.code = wire.OUTPUTS.index(name)

    def set(self, on):
        self.client.send(wire.output(self.code, on))


class _Input:  # hal.interfaces.DigitalIn
    def __init__(self, client, name):
        self.client = client
        self.name = name
        self.callback = None
        client.inputs.setdefault(name, [])
        client.watchers.append(self)

    def value(self):
        return self.client.inputs.get(self.name, False) is True

    def on_change(self, callback):
        self.callback = callback


class _Temperature:  # hal.interfaces.TemperatureIn
    def __init__(self, client, name):
        self.client = client
        self.name = name

    def read_ohms(self):
        return self.client.temperatures_ohms.get(self.name, wire.OPEN_SENSOR_OHMS)


class BridgeClient:
    """One bridge connection. reader/writer: asyncio streams (read(n) -> bytes; write(b) + drain())."""

    def __init__(self, reader, writer, clock, keepalive_ms=wire.KEEPALIVE_MS,
                 peer_timeout_ms=wire.PEER_TIMEOUT_MS, log=None):
        self.reader = reader
        self.writer = writer
        self.clock = clock
        self.keepalive_ms = keepalive_ms
        self.peer_timeout_ms = peer_timeout_ms
        self.log = log or (lambda text: None)
        self.decoder = Decoder(wire.MAX_PAYLOAD)
        self.bad_messages = 0  # frames with a good CRC whose content made no sense
        self.lost = 0  # times the plant went silent
        self.alive = False
        self.plant_epoch_s = None  # the plant's wall clock at hello (a board without RTC can use it)
        self.hello_at_ms = None
        self.cp = LOST_LEVELS
        self.cp_changed = asyncio.Event()
        self.inputs = {}
        self.watchers = []
        self.temperatures_ohms = {}
        self.on_tag = None  # fn(id_tag): an RFID card held to the reader
        # A lone delimiter first: whatever the plant held of an older frame is dropped, not joined.
        self._out = bytearray(b"\x00" + wire.frame(wire.hello()))
        self._pending = asyncio.Event()
        self._pending.set()
        self._last_rx_ms = None
        self._hello = asyncio.Event()

    @property
    def bad_frames(self):
        d = self.decoder
        return d.bad_crc + d.bad_framing + d.oversize

    # The parts a Board is built from ---------------------------------------------------------

    def main_parts(self):
        return {"pilot_out": _Generator(self), "pilot_in": _Levels(self),
                "contactor": _Output(self, "contactor"), "contactor_feedback": _Input(self, "feedback")}

    def safety_parts(self):
        names = sorted(self.temperatures_ohms)
        return {"pilot_in": _Levels(self), "relay": _Output(self, "relay"),
                "contactor_feedback": _Input(self, "feedback"), "rcd_ac": _Input(self, "rcd_ac"),
                "rcd_dc": _Input(self, "rcd_dc"), "rcd_test": _Output(self, "rcd_test"),
                "estop": _Input(self, "estop"), "pe_fault": _Input(self, "pe_fault"),
                "temperatures": dict((name, _Temperature(self, name)) for name in names)}

    def cp_levels(self):
        return self.cp if self.alive else LOST_LEVELS

    # The stream ------------------------------------------------------------------------------

    def send(self, payload):
        self._out += wire.frame(payload)
        self._pending.set()

    async def wait_hello(self, timeout_ms):
        """True once the plant said hello (its state follows at once): call before main_parts()."""
        return await event_or_timeout(self._hello, timeout_ms)

    def tasks(self):
        return [self._receive(), self._transmit()]

    async def _receive(self):
        while True:
            try:
                data = await self.reader.read(256)
            except MemoryError:  # no room for the read's buffer for a moment: nothing was taken, read again
                self.log("bridge: MemoryError reading the stream; reading again")
                await asyncio.sleep(MEMORY_PAUSE_S)
                continue
            if not data:
                self._peer_gone("the plant closed the stream")
                return
            for payload in self.decoder.feed(data):
                self._handle(payload)

    async def _transmit(self):
        while True:
            await event_or_timeout(self._pending, self.keepalive_ms)
            self._pending.clear()
            if not self._out:
                self._out = bytearray(wire.frame(wire.keepalive()))
            data = bytes(self._out)
            self._out = bytearray()
            try:
                self.writer.write(data)
                await self.writer.drain()
            except OSError as exc:  # EPIPE, ECONNRESET: the plant's end is gone
                self._peer_gone("cannot write to the plant (%s)" % exc)
                return
            self._check_peer()

    def _check_peer(self):
        if self.alive and self.clock.ms() - self._last_rx_ms > self.peer_timeout_ms:
            self._peer_gone("no frame from the plant for %d ms" % self.peer_timeout_ms)

    def _peer_gone(self, why):
        if not self.alive:
            return
        self.alive = False
        self.lost += 1
        self.log("bridge: " + why + ": reading the pilot as lost")
        self.cp_changed.set()

    def _handle(self, payload):
        try:
            message = wire.decode_from_plant(payload)
        except ValueError as exc:
            self.bad_messages += 1
            self.log("bridge: bad message: %s" % exc)
            return
        self._last_rx_ms = self.clock.ms()
        kind = message[0]
        if kind == "hello":
            self.plant_epoch_s = message[1]
            self.hello_at_ms = self._last_rx_ms
            self._hello.set()
        if not self.alive and self._hello.is_set():
            self.alive = True
            self.cp_changed.set()
        if kind == "cp":
            if message[1:] != self.cp:
                self.cp = message[1:]
                self.cp_changed.set()
        elif kind == "input":
            self._input(message[1], message[2])
        elif kind == "temperature":
            self.temperatures_ohms[message[1]] = message[2]
        elif kind == "tag" and self.on_tag is not None:
            self.on_tag(message[1])

    def _input(self, name, value):
        if self.inputs.get(name) == value:
            return
        self.inputs[name] = value
        for watcher in self.watchers:
            if watcher.name == name and watcher.callback is not None:
                watcher.callback(value)
