# The energy meter driver: an Eastron SDM630 read over Modbus RTU through a HAL Uart.
#
# Portable subset. Time comes only from the injected clock (clock.ms()); the only awaiting is
# uart.read(), so a simulated plant on a virtual clock answers without real delay.
from firmware import modbus

# Eastron SDM630 input registers, FC 04, float32 big-endian high word first (standards.md 6.2)
SDM630_FUNCTION = modbus.FC_READ_INPUT
SDM630_MAX_COUNT = 80  # registers per request the SDM630 accepts (standards.md 6.2, SE)
REG_VOLTAGE_L1 = 0x0000  # V L1/L2/L3 at 0x0000/02/04
REG_CURRENT_L1 = 0x0006  # A L1/L2/L3 at 0x0006/08/0A
REG_POWER_L1 = 0x000C  # W L1/L2/L3 at 0x000C/0E/10
REG_POWER_TOTAL = 0x0034  # W total
REG_IMPORT_KWH = 0x0048  # import active energy, kWh

# Three requests that touch only documented addresses. One request 0x0000..0x0049 (74 registers) would
# also fit under SDM630_MAX_COUNT, but it spans undocumented gaps and takes twice the wire time.
REQUEST_PHASES = (REG_VOLTAGE_L1, 18)  # V, I, P of L1..L3: 9 floats
REQUEST_POWER = (REG_POWER_TOTAL, 2)
REQUEST_ENERGY = (REG_IMPORT_KWH, 2)

TURNAROUND_ALLOWANCE_MS = 100  # time granted to the meter to start answering; not from a datasheet
DEFAULT_RETRIES = 2


class MeterTimeout(modbus.ModbusError):
    """The meter sent nothing within the reply timeout, on the last of all tries."""


class MeterReading:
    """One set of values from the meter. taken_ms is clock.ms() when the last reply arrived."""

    def __init__(self, voltage_v, current_a, phase_power_w, power_w, energy_wh, taken_ms):
        self.voltage_v = voltage_v  # (L1, L2, L3)
        self.current_a = current_a  # (L1, L2, L3)
        self.phase_power_w = phase_power_w  # (L1, L2, L3)
        self.power_w = power_w  # total active power
        self.energy_wh = energy_wh  # import active energy
        self.taken_ms = taken_ms

    def __repr__(self):
        return "MeterReading(V=%r, A=%r, W=%r, Wh=%r, at %d ms)" % (
            self.voltage_v, self.current_a, self.power_w, self.energy_wh, self.taken_ms)


class Sdm630Meter:
    """Reads an SDM630 on a Uart. Counters for the health monitor:

    errors: attempts whose reply was rejected (CRC, frame, exception reply);
    timeouts: attempts that got no reply at all;
    last_ok_ms: clock.ms() of the last complete read(), None before the first (stale-meter detection)."""

    def __init__(self, uart, clock, unit=1, baud=9600, timeout_ms=None, retries=DEFAULT_RETRIES):
        if not modbus.UNIT_MIN <= unit <= modbus.UNIT_MAX:
            raise ValueError("unit must be %d..%d, not %r" % (modbus.UNIT_MIN, modbus.UNIT_MAX, unit))
        self._uart = uart
        self._clock = clock
        self.unit = unit
        self.baud = baud
        self.timeout_ms = timeout_ms  # whole reply, from the write; None: wire time + allowance
        self.retries = retries
        self.errors = 0
        self.timeouts = 0
        self.last_ok_ms = None
        self._silence_ms = (modbus.t35_us(baud) + 999) // 1000
        self._bus_free_ms = 0  # the next request may start at this time (t3.5 after the last reply)

    async def read(self):
        regs = await self._request(REQUEST_PHASES[0], REQUEST_PHASES[1])
        f = modbus.float32
        voltage_v = (f(regs, 0), f(regs, 2), f(regs, 4))
        current_a = (f(regs, 6), f(regs, 8), f(regs, 10))
        phase_power_w = (f(regs, 12), f(regs, 14), f(regs, 16))
        power_w = f(await self._request(REQUEST_POWER[0], REQUEST_POWER[1]), 0)
        import_kwh = f(await self._request(REQUEST_ENERGY[0], REQUEST_ENERGY[1]), 0)
        energy_wh = import_kwh * 1000.0  # the one place where the meter's kWh becomes Wh
        now = self._clock.ms()
        self.last_ok_ms = now
        return MeterReading(voltage_v, current_a, phase_power_w, power_w, energy_wh, now)

    def _timeout_for(self, count):
        if self.timeout_ms is not None:
            return self.timeout_ms
        wire_us = modbus.frame_us(8 + modbus.reply_length(SDM630_FUNCTION, count), self.baud)
        return (wire_us + 999) // 1000 + TURNAROUND_ALLOWANCE_MS

    async def _request(self, address, count):
        """One read request with retries: returns the registers or raises the last failure."""
        uart = self._uart
        clock = self._clock
        frame = modbus.read_request(self.unit, SDM630_FUNCTION, address, count)
        timeout_ms = self._timeout_for(count)
        failure = None
        for _ in range(self.retries + 1):
            wait_ms = self._bus_free_ms - clock.ms()
            if wait_ms > 0:
                await uart.read(wait_ms)  # keep t3.5 of silence; whatever came in is dropped below
            uart.reset_input()
            uart.write(frame)
            deadline = clock.ms() + timeout_ms
            reply = b""
            while len(reply) < modbus.expected_length(SDM630_FUNCTION, count, reply):
                left = deadline - clock.ms()
                if left <= 0:
                    break
                chunk = await uart.read(left)
                if not chunk:  # read() waited the rest of the time and nothing came
                    break
                reply += chunk
            self._bus_free_ms = clock.ms() + self._silence_ms
            if not reply:
                self.timeouts += 1
                failure = MeterTimeout("no reply from unit %d within %d ms" % (self.unit, timeout_ms))
                continue
            try:
                return modbus.parse_read_reply(self.unit, SDM630_FUNCTION, count, reply)
            except modbus.ExceptionReply:
                self.errors += 1
                raise  # the meter understood and refused: asking again gives the same answer
            except modbus.ModbusError as exc:
                self.errors += 1
                failure = exc
        raise failure
