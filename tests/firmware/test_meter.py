# portable
import struct

from firmware import meter, modbus
from tests.portable import raises, run_async


class FakeClock:
    def __init__(self):
        self.now = 1000

    def ms(self):
        return self.now


class ScriptedUart:
    """Answers each written request with the next scripted reply; None means stay silent.

    A silent read() lets timeout_ms pass on the fake clock and returns b"". A reply may be a list of
    chunks, delivered one per read()."""

    def __init__(self, clock, script):
        self.clock = clock
        self.script = list(script)
        self.written = []
        self.pending = []

    def write(self, data):
        self.written.append(bytes(data))
        reply = self.script.pop(0)
        if reply is None:
            self.pending = []
        elif isinstance(reply, list):
            self.pending = list(reply)
        else:
            self.pending = [reply]

    async def read(self, timeout_ms):
        if self.pending:
            self.clock.now += 1
            return self.pending.pop(0)
        self.clock.now += timeout_ms
        return b""

    def reset_input(self):
        self.pending = []


def _floats(*values):
    return struct.unpack(">%dH" % (2 * len(values)), struct.pack(">%df" % len(values), *values))


def _reply(registers, unit=1, function=4):
    body = bytes((unit, function, 2 * len(registers))) + struct.pack(">%dH" % len(registers), *registers)
    crc = modbus.crc16(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def _exception(code, unit=1, function=4):
    body = bytes((unit, function | 0x80, code))
    crc = modbus.crc16(body)
    return body + bytes((crc & 0xFF, crc >> 8))


PHASES = _reply(_floats(230.0, 231.0, 229.0, 16.0, 15.5, 0.0, 3680.0, 3580.5, 0.0))
POWER = _reply(_floats(7260.5))
ENERGY = _reply(_floats(1234.5))


def _corrupted(frame):
    frame = bytearray(frame)
    frame[-1] ^= 0xFF
    return bytes(frame)


def test_read_sends_three_requests_and_decodes_values():
    clock = FakeClock()
    uart = ScriptedUart(clock, [PHASES, POWER, ENERGY])
    m = meter.Sdm630Meter(uart, clock)
    reading = run_async(m.read())
    assert uart.written == [
        modbus.read_request(1, 4, 0x0000, 18),
        modbus.read_request(1, 4, 0x0034, 2),
        modbus.read_request(1, 4, 0x0048, 2),
    ]
    assert reading.voltage_v == (230.0, 231.0, 229.0)
    assert reading.current_a == (16.0, 15.5, 0.0)
    assert reading.phase_power_w == (3680.0, 3580.5, 0.0)
    assert reading.power_w == 7260.5
    assert reading.energy_wh == 1234500.0
    assert reading.taken_ms == clock.now
    assert m.last_ok_ms == clock.now
    assert (m.errors, m.timeouts) == (0, 0)


def test_reply_arriving_in_chunks_is_collected():
    clock = FakeClock()
    uart = ScriptedUart(clock, [[PHASES[:7], PHASES[7:30], PHASES[30:]], [POWER[:1], POWER[1:]], ENERGY])
    reading = run_async(meter.Sdm630Meter(uart, clock).read())
    assert reading.energy_wh == 1234500.0


def test_crc_error_then_success_is_retried():
    clock = FakeClock()
    uart = ScriptedUart(clock, [_corrupted(PHASES), PHASES, POWER, ENERGY])
    m = meter.Sdm630Meter(uart, clock)
    reading = run_async(m.read())
    assert reading.current_a[0] == 16.0
    assert len(uart.written) == 4
    assert (m.errors, m.timeouts) == (1, 0)


def test_silent_meter_times_out_after_all_retries():
    clock = FakeClock()
    uart = ScriptedUart(clock, [None, None, None])
    m = meter.Sdm630Meter(uart, clock, timeout_ms=200, retries=2)
    start = clock.now
    raises(meter.MeterTimeout, run_async, m.read())
    assert len(uart.written) == 3
    assert m.timeouts == 3
    assert m.last_ok_ms is None
    assert clock.now - start >= 3 * 200


def test_timeout_then_reply_succeeds():
    clock = FakeClock()
    uart = ScriptedUart(clock, [None, PHASES, POWER, ENERGY])
    m = meter.Sdm630Meter(uart, clock)
    run_async(m.read())
    assert (m.errors, m.timeouts) == (0, 1)
    assert m.last_ok_ms == clock.now


def test_persistent_crc_errors_raise_the_crc_error():
    clock = FakeClock()
    bad = _corrupted(PHASES)
    uart = ScriptedUart(clock, [bad, bad, bad])
    m = meter.Sdm630Meter(uart, clock, retries=2)
    raises(modbus.CrcError, run_async, m.read())
    assert m.errors == 3


def test_truncated_reply_is_a_frame_error_and_retried():
    clock = FakeClock()
    uart = ScriptedUart(clock, [PHASES[:20], PHASES, POWER, ENERGY])
    m = meter.Sdm630Meter(uart, clock)
    run_async(m.read())
    assert (m.errors, m.timeouts) == (1, 0)


def test_reply_from_wrong_unit_is_rejected():
    clock = FakeClock()
    other = _reply(_floats(1.0), unit=2)
    uart = ScriptedUart(clock, [other, other])
    m = meter.Sdm630Meter(uart, clock, retries=1)
    raises(modbus.FrameError, run_async, m.read())


def test_exception_reply_is_raised_without_retry():
    clock = FakeClock()
    uart = ScriptedUart(clock, [_exception(modbus.ILLEGAL_ADDRESS), PHASES])
    m = meter.Sdm630Meter(uart, clock)
    exc = raises(modbus.ExceptionReply, run_async, m.read())
    assert exc.code == 2
    assert len(uart.written) == 1
    assert m.errors == 1


def test_next_request_waits_for_inter_frame_silence():
    clock = FakeClock()
    uart = ScriptedUart(clock, [PHASES, POWER, ENERGY])
    m = meter.Sdm630Meter(uart, clock, baud=9600)
    t0 = clock.now
    run_async(m.read())
    # each read of a reply costs 1 ms on the fake clock; t3.5 at 9600 baud rounds up to 5 ms
    assert clock.now - t0 >= 3 + 2 * 5


def test_unit_out_of_range_is_refused():
    clock = FakeClock()
    raises(ValueError, meter.Sdm630Meter, ScriptedUart(clock, []), clock, unit=0)
