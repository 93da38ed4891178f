"""The firmware's SDM630 driver against the pymodbus-served simulated meter, in virtual time."""

import asyncio
import struct

from firmware import meter, modbus
from sim import vloop
from sim.meter import REG_POWER_TOTAL, MeterModel, MeterUart, SimSdm630


def _crc(body):
    return body + struct.pack("<H", modbus.crc16(body))


def _rig(clock, **kwargs):
    model = MeterModel(clock.ms)
    device = SimSdm630(model)
    uart = MeterUart(device)
    return model, device, uart, meter.Sdm630Meter(uart, clock, **kwargs)


def test_reading_matches_the_model():
    async def main(clock):
        model, _, _, m = _rig(clock)
        model.set_currents(16.0, 10.0, 6.0)
        reading = await m.read()
        return model, reading

    model, reading = vloop.run(main)
    assert reading.voltage_v == (230.0, 230.0, 230.0)
    assert reading.current_a == (16.0, 10.0, 6.0)
    assert reading.phase_power_w == (3680.0, 2300.0, 1380.0)
    assert reading.power_w == 7360.0
    assert abs(reading.energy_wh - model.energy_wh) < 0.2  # float32 step of 1234 kWh is 0.12 Wh


def test_read_takes_wire_time_in_virtual_time():
    async def main(clock):
        _, device, uart, m = _rig(clock)
        t0 = clock.ms()
        reading = await m.read()
        return reading.taken_ms - t0, uart.frames_written, device.requests

    elapsed_ms, frames, requests = vloop.run(main)
    assert (frames, requests) == (3, 3)
    # 3 requests of 8 bytes, replies of 41 + 9 + 9 bytes at 9600 baud, 3 turnarounds of 5 ms and
    # 2 gaps of t3.5 (4.01 ms, waited as 5 whole ms)
    wire_ms = modbus.frame_us(3 * 8 + 41 + 9 + 9, 9600) / 1000.0
    assert abs(elapsed_ms - (wire_ms + 3 * 5 + 2 * 5)) <= 1


def test_energy_integrates_11_kw_for_one_hour():
    async def main(clock):
        model, _, _, m = _rig(clock)
        start = await m.read()
        model.set_currents(11000 / 690.0, 11000 / 690.0, 11000 / 690.0)
        await asyncio.sleep(3600)
        model.set_currents(0, 0, 0)
        end = await m.read()
        return model, start, end

    model, start, end = vloop.run(main)
    assert abs((end.energy_wh - start.energy_wh) - 11000.0) <= 1.0
    assert abs(model.energy_wh - start.energy_wh - 11000.0) <= 1.0


def test_energy_piecewise_constant_currents_integrate_exactly():
    async def main(clock):
        model = MeterModel(clock.ms, voltage_v=230.0, start_energy_wh=0.0)
        model.set_currents(10, 0, 0)  # 2300 W
        await asyncio.sleep(1800)
        model.set_currents(10, 10, 10)  # 6900 W
        await asyncio.sleep(900)
        return model.energy_wh

    assert vloop.run(main) == 2300 * 0.5 + 6900 * 0.25


def test_silent_meter_times_out_after_retries():
    async def main(clock):
        _, device, uart, m = _rig(clock, retries=2, timeout_ms=150)
        device.silent = True
        t0 = clock.ms()
        try:
            await m.read()
        except meter.MeterTimeout:
            return m, uart.frames_written, clock.ms() - t0
        raise AssertionError("no MeterTimeout")

    m, frames, elapsed_ms = vloop.run(main)
    assert frames == 3
    assert m.timeouts == 3
    assert m.last_ok_ms is None
    assert elapsed_ms >= 3 * 150


def test_corrupt_crc_is_retried_then_raised():
    async def main(clock):
        _, device, uart, m = _rig(clock, retries=2)
        device.corrupt_crc = True
        try:
            await m.read()
        except modbus.CrcError:
            return m, uart.frames_written
        raise AssertionError("no CrcError")

    m, frames = vloop.run(main)
    assert frames == 3
    assert m.errors == 3


def test_meter_recovers_after_a_fault_clears():
    async def main(clock):
        _, device, _, m = _rig(clock)
        device.silent = True
        try:
            await m.read()
        except meter.MeterTimeout:
            pass
        device.silent = False
        reading = await m.read()
        return m, reading

    m, reading = vloop.run(main)
    assert m.timeouts == 3
    assert m.last_ok_ms == reading.taken_ms


def test_illegal_address_is_an_exception_reply_code_2():
    async def main(clock):
        model, device, uart, _ = _rig(clock)
        for address, count in ((0x0012, 2), (0x1000, 2), (0x0048, 6)):
            uart.write(modbus.read_request(1, 4, address, count))
            await asyncio.sleep(0.1)
            reply = await uart.read(10)
            try:
                modbus.parse_read_reply(1, 4, count, reply)
            except modbus.ExceptionReply as exc:
                assert exc.code == modbus.ILLEGAL_ADDRESS
            else:
                raise AssertionError("no ExceptionReply for 0x%04x" % address)

    vloop.run(main)


def test_driver_raises_exception_reply_without_retry():
    async def main(clock):
        device = SimSdm630(MeterModel(clock.ms), missing=(REG_POWER_TOTAL,))
        uart = MeterUart(device)
        m = meter.Sdm630Meter(uart, clock)
        try:
            await m.read()
        except modbus.ExceptionReply as exc:
            return m, exc.code, uart.frames_written
        raise AssertionError("no ExceptionReply")

    m, code, frames = vloop.run(main)
    assert code == modbus.ILLEGAL_ADDRESS
    assert frames == 2  # the V/I/P request, then the refused one, not retried
    assert m.errors == 1
    assert m.last_ok_ms is None


def test_holding_registers_are_refused_with_illegal_function():
    async def main(clock):
        _, device, _, _ = _rig(clock)
        return await device.handle(modbus.read_request(1, 3, 0, 2))

    reply = vloop.run(main)
    assert reply == _crc(bytes((1, 0x83, modbus.ILLEGAL_FUNCTION)))


def test_frozen_meter_keeps_answering_old_values():
    async def main(clock):
        model, device, _, m = _rig(clock)
        model.set_currents(16, 16, 16)
        first = await m.read()
        device.frozen = True
        await asyncio.sleep(600)
        second = await m.read()
        return first, second, model.energy_wh

    first, second, truth = vloop.run(main)
    assert second.energy_wh == first.energy_wh
    assert truth - first.energy_wh > 1800  # 11 kW for 10 min the meter does not show
    assert second.taken_ms - first.taken_ms >= 600000  # the driver cannot tell; a watchdog on values can


def test_other_units_and_garbage_get_no_reply():
    async def main(clock):
        _, device, _, _ = _rig(clock)
        return [
            await device.handle(modbus.read_request(2, 4, 0, 2)),
            await device.handle(_crc(bytes((0, 4, 0, 0, 0, 2)))),  # broadcast read
            await device.handle(b"\x01\x04\x00\x00"),
            await device.handle(modbus.read_request(1, 4, 0, 2)[:-1] + b"\x00"),  # bad CRC
        ]

    assert vloop.run(main) == [b"", b"", b"", b""]


def test_serve_pty_answers_on_a_pseudo_terminal():
    """The same device behind pymodbus's ModbusSerialServer, on a normal loop with real I/O."""
    import os
    import time
    import tty

    from sim.meter import serve_pty

    async def main():
        model = MeterModel(lambda: int(time.monotonic() * 1000))
        model.set_currents(16, 16, 16)
        server, fd = await serve_pty(model)
        try:
            tty.setraw(fd)
            os.set_blocking(fd, False)
            os.write(fd, modbus.read_request(1, 4, 0x0034, 2))
            reply = b""
            for _ in range(250):  # up to ~5 s on a slow CI machine
                await asyncio.sleep(0.02)
                try:
                    reply += os.read(fd, 64)
                except BlockingIOError:
                    pass
                if len(reply) >= 9:
                    break
            return modbus.float32(modbus.parse_read_reply(1, 4, 2, reply), 0)
        finally:
            await server.shutdown()
            os.close(fd)

    assert asyncio.run(main()) == 3 * 230 * 16


def test_count_out_of_range_is_refused_with_illegal_value():
    async def main(clock):
        _, device, _, _ = _rig(clock)
        return await device.handle(_crc(bytes((1, 4, 0, 0, 0, 0))))

    assert vloop.run(main) == _crc(bytes((1, 0x84, modbus.ILLEGAL_VALUE)))
