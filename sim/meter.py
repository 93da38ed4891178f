# The simulated energy meter (CPython only): an Eastron SDM630 whose Modbus side is pymodbus itself.
#
# MeterModel is the physics: voltages and currents set by the plant, and import energy integrated
# exactly over (virtual) time. SimSdm630 puts a pymodbus device in front of it: pymodbus's RTU framer
# decodes the request, pymodbus's SimDevice/SimData register model answers it, pymodbus encodes the
# reply. No transport is involved: handle() takes request bytes and returns reply bytes, so it runs in
# the virtual-time loop (sim/vloop.py) with no sockets and no threads. MeterUart is the firmware's
# hal.interfaces.Uart onto it, with RS-485 wire timing in loop time.
#
# What is pymodbus and what is ours in SimSdm630.handle(), step by step (the same calls pymodbus's
# ServerRequestHandler makes, minus the transport):
#   FramerRTU(DecodePDU(is_server=True)).handleFrame(bytes)  -> request PDU or None (garbage, bad CRC)
#   await pdu.datastore_update(SimCore(SimDevice), unit)     -> response PDU or ExceptionResponse
#   framer.buildFrame(response)                               -> reply bytes with CRC
# Ours: staying silent for other units (a multidrop slave answers only its own address), the fault
# switches, and refreshing the registers from the model in the SimDevice action hook.
import asyncio
import os
import struct

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse
from pymodbus.simulator import DataType, SimData, SimDevice

# SimCore is the object pymodbus's own servers wrap a SimDevice in (server/base.py); it is not exported
# from pymodbus.simulator, so this import may move in a later pymodbus (pinned <3.17 in pyproject).
from pymodbus.simulator.simcore import SimCore

from firmware import modbus
from sim.rxbuffer import RxBuffer

MS_PER_HOUR = 3600000

# SDM630 input registers (FC 04), float32 high word first (standards.md 6.2). Only these are defined;
# reading anywhere else gets exception 02, as pymodbus marks the gaps invalid.
REG_VOLTAGE = 0x0000  # L1/L2/L3 V
REG_CURRENT = 0x0006  # L1/L2/L3 A
REG_POWER = 0x000C  # L1/L2/L3 W
REG_POWER_TOTAL = 0x0034  # W
REG_FREQUENCY = 0x0046  # Hz
REG_IMPORT_KWH = 0x0048  # kWh
REG_EXPORT_KWH = 0x004A  # kWh

TURNAROUND_MS = 5  # request end to reply start; an assumption for the sim, not a datasheet figure
RX_CHUNK = 16  # bytes per delivery to read(), like a UART receive FIFO threshold

# Default start reading: 1234.5 kWh. Below 2048 kWh the float32 step of the kWh register is 2^-13 kWh
# (0.12 Wh), so a start/stop pair of readings is off by at most 0.12 Wh. Above 16384 kWh the step
# reaches 2 Wh; billing tests should start well below that.
DEFAULT_START_ENERGY_WH = 1234500.0


class MeterModel:
    """Three-phase meter physics on a clock: clock_ms() -> int milliseconds (e.g. VirtualClock.ms).

    Currents are piecewise constant between set_currents() calls; energy is integrated exactly over
    each piece (power factor 1, import only). energy_wh is the truth billing is checked against."""

    def __init__(self, clock_ms, voltage_v=230.0, start_energy_wh=DEFAULT_START_ENERGY_WH, frequency_hz=50.0):
        self._clock_ms = clock_ms
        self.voltage_v = (float(voltage_v),) * 3
        self.current_a = (0.0, 0.0, 0.0)
        self.frequency_hz = float(frequency_hz)
        # W*ms: with whole watts and integer ms every step is an exact integer in a float (< 2**53)
        self._energy_wms = float(start_energy_wh) * MS_PER_HOUR
        self._since_ms = clock_ms()

    def _integrate(self):
        now = self._clock_ms()
        self._energy_wms += self.power_w * (now - self._since_ms)
        self._since_ms = now

    def set_currents(self, l1, l2, l3):
        self._integrate()
        self.current_a = (float(l1), float(l2), float(l3))

    def set_voltages(self, l1, l2, l3):
        self._integrate()
        self.voltage_v = (float(l1), float(l2), float(l3))

    @property
    def phase_power_w(self):
        v, i = self.voltage_v, self.current_a
        return (v[0] * i[0], v[1] * i[1], v[2] * i[2])

    @property
    def power_w(self):
        return sum(self.phase_power_w)

    @property
    def energy_wh(self):
        self._integrate()
        return self._energy_wms / MS_PER_HOUR

    def registers(self):
        """{address: value} of every SDM630 quantity this model provides, values in the meter's units."""
        p = self.phase_power_w
        values = {REG_POWER_TOTAL: p[0] + p[1] + p[2], REG_FREQUENCY: self.frequency_hz,
                  REG_IMPORT_KWH: self.energy_wh / 1000.0, REG_EXPORT_KWH: 0.0}
        for phase in range(3):
            values[REG_VOLTAGE + 2 * phase] = self.voltage_v[phase]
            values[REG_CURRENT + 2 * phase] = self.current_a[phase]
            values[REG_POWER + 2 * phase] = p[phase]
        return values


class SimSdm630:
    """An SDM630 on the bus, served by pymodbus without a transport: await handle(request) -> reply.

    Faults: silent (never answers), corrupt_crc (flips the last CRC byte of every reply), frozen (the
    registers stop following the model: a stale meter that still answers)."""

    def __init__(self, model, unit=1, missing=()):
        """missing: addresses of quantities this meter variant lacks (e.g. an SDM72 v1 has no voltage
        registers, standards.md 6.2); pymodbus answers exception 02 for them."""
        self.model = model
        self.unit = unit
        self.silent = False
        self.corrupt_crc = False
        self.frozen = False
        self.shown = model.registers()  # what the registers hold: frozen, they keep the last refresh
        self.requests = 0  # frames addressed to this unit that pymodbus decoded
        self._framer = FramerRTU(DecodePDU(True))
        # One shared block (SimDevice list form) holding only the input registers; the action hook
        # refuses every function but 04. The 4-block tuple form would need dummy coil/holding blocks
        # (an empty block raises IndexError in pymodbus 3.16).
        values = model.registers()
        self._addresses = sorted(a for a in values if a not in missing)
        simdata = [SimData(address, values=float(values[address]), datatype=DataType.FLOAT32)
                   for address in self._addresses]
        self.device = SimDevice(self.unit, simdata, action=self._action)
        self._context = SimCore(self.device)

    async def _action(self, function_code, start_address, address, count, registers, set_values):
        """pymodbus SimDevice hook, called on every access after its address check."""
        if function_code != modbus.FC_READ_INPUT:
            return ExcCodes.ILLEGAL_FUNCTION
        if not self.frozen:
            values = self.shown = self.model.registers()
            for reg in self._addresses:
                hi, lo = struct.unpack(">HH", struct.pack(">f", values[reg]))
                registers[reg - start_address] = hi
                registers[reg - start_address + 1] = lo
        return None

    async def handle(self, request):
        """The reply bytes to one request frame, or b"" when a real slave would stay silent."""
        if self.silent:
            return b""
        try:
            _, pdu = self._framer.handleFrame(bytes(request), 0, 0)
        except ModbusIOException as exc:
            # a frame with a good CRC whose body pymodbus cannot decode (e.g. count 0 or > 125).
            # pymodbus's own handler answers 01 to function 0 here; we answer 03 (illegal data value)
            # to the request's function, the code a slave gives for a quantity out of range.
            if exc.dev_id != self.unit:
                return b""
            response = ExceptionResponse(request[1] & 0x7F, ExcCodes.ILLEGAL_VALUE)
        else:
            if pdu is None or pdu.dev_id != self.unit:
                return b""  # garbage, bad CRC, or another unit (0 = broadcast: reads get no reply)
            self.requests += 1
            try:
                response = await pdu.datastore_update(self._context, self.unit)
            except Exception:  # noqa: BLE001 - what pymodbus's ServerRequestHandler answers, too
                response = ExceptionResponse(pdu.function_code, ExcCodes.DEVICE_FAILURE)
        response.dev_id = self.unit
        response.transaction_id = 0
        reply = self._framer.buildFrame(response)
        if self.corrupt_crc:
            reply = reply[:-1] + bytes((reply[-1] ^ 0xFF,))
        return reply


class MeterUart:
    """hal.interfaces.Uart of the firmware's RS-485 port, wired to a SimSdm630 in loop time.

    write() starts the exchange: the meter samples and answers when the request has been sent, and the
    reply arrives TURNAROUND_MS later at the wire rate of 11-bit characters, RX_CHUNK bytes at a time.
    A reply still on its way when reset_input() is called arrives anyway, as on a real bus."""

    def __init__(self, meter, baud=9600):
        self.meter = meter
        self.baud = baud
        self.frames_written = 0
        self._rx = RxBuffer()
        self._tasks = set()

    def _wire_s(self, nbytes):
        return modbus.frame_us(nbytes, self.baud) / 1e6

    def write(self, data):
        data = bytes(data)
        self.frames_written += 1
        loop = asyncio.get_running_loop()
        loop.call_later(self._wire_s(len(data)), self._request_received, data)

    def _request_received(self, data):
        task = asyncio.get_running_loop().create_task(self._answer(data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, data):
        reply = await self.meter.handle(data)
        loop = asyncio.get_running_loop()
        start_s = TURNAROUND_MS / 1000.0
        for i in range(0, len(reply), RX_CHUNK):
            chunk = reply[i : i + RX_CHUNK]
            loop.call_later(start_s + self._wire_s(i + len(chunk)), self._deliver, chunk)

    def _deliver(self, chunk):
        self._rx.put(chunk)

    async def read(self, timeout_ms):
        return await self._rx.read(timeout_ms)

    def reset_input(self):
        self._rx.clear()


async def serve_pty(model, unit=1, baud=9600):
    """The same meter behind pymodbus's ModbusSerialServer on a pseudo-terminal (real time, real I/O).

    For hardware-in-the-loop work: returns (server, master_fd); the firmware side talks on master_fd.
    Stop with `await server.shutdown()` and os.close(master_fd). The frozen fault works here; silent and
    corrupt_crc act in handle() only."""
    from pymodbus.framer import FramerType
    from pymodbus.server import ModbusSerialServer

    master_fd, slave_fd = os.openpty()
    meter = SimSdm630(model, unit)
    server = ModbusSerialServer(meter.device, framer=FramerType.RTU, port=os.ttyname(slave_fd),
                                baudrate=baud)
    await server.serve_forever(background=True)
    server.sim_meter = meter
    os.close(slave_fd)  # the server opened the tty by name; keep only its descriptor
    return server, master_fd

