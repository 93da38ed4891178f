"""Properties of the Modbus RTU framing: good replies round-trip, damaged replies never yield data."""

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import modbus

units = st.integers(modbus.UNIT_MIN, modbus.UNIT_MAX)
functions = st.sampled_from((modbus.FC_READ_HOLDING, modbus.FC_READ_INPUT))
registers = st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=modbus.MAX_READ_COUNT)


def build_reply(unit, function, regs):
    """A normal reply as a slave builds it (independent of the code under test, except the CRC)."""
    body = struct.pack(">BBB%dH" % len(regs), unit, function, 2 * len(regs), *regs)
    return body + struct.pack("<H", modbus.crc16(body))


def parse_fails(unit, function, count, frame):
    try:
        modbus.parse_read_reply(unit, function, count, frame)
    except modbus.ModbusError:
        return True
    return False


@given(units, functions, registers)
def test_reply_round_trips(unit, function, regs):
    frame = build_reply(unit, function, regs)
    assert len(frame) == modbus.reply_length(function, len(regs))
    assert modbus.expected_length(function, len(regs), frame[:2]) == len(frame)
    assert modbus.parse_read_reply(unit, function, len(regs), frame) == regs


@given(units, functions, st.integers(0, 0xFFFF), st.integers(1, modbus.MAX_READ_COUNT))
def test_request_carries_its_fields_and_a_valid_crc(unit, function, address, count):
    if address + count > 0x10000:
        return
    frame = modbus.read_request(unit, function, address, count)
    assert struct.unpack(">BBHH", frame[:6]) == (unit, function, address, count)
    assert modbus.crc16(frame) == 0  # a frame followed by its own CRC checks to zero


@given(units, functions, registers, st.data())
def test_every_single_byte_corruption_is_rejected(unit, function, regs, data):
    frame = build_reply(unit, function, regs)
    pos = data.draw(st.integers(0, len(frame) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda b: b != frame[pos]))
    damaged = frame[:pos] + bytes((value,)) + frame[pos + 1 :]
    assert parse_fails(unit, function, len(regs), damaged)


@settings(max_examples=25)  # each example tries all 255 wrong values at every position
@given(units, functions, st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=8))
def test_every_corruption_of_a_short_reply_is_rejected(unit, function, regs):
    frame = build_reply(unit, function, regs)
    for pos in range(len(frame)):
        for value in range(256):
            if value != frame[pos]:
                damaged = frame[:pos] + bytes((value,)) + frame[pos + 1 :]
                assert parse_fails(unit, function, len(regs), damaged)


@given(units, functions, registers)
def test_every_truncation_is_rejected(unit, function, regs):
    frame = build_reply(unit, function, regs)
    for n in range(len(frame)):
        assert parse_fails(unit, function, len(regs), frame[:n])


@given(units, functions, registers, st.binary(min_size=1, max_size=8))
def test_every_extension_is_rejected(unit, function, regs, tail):
    frame = build_reply(unit, function, regs)
    assert parse_fails(unit, function, len(regs), frame + tail)
    assert parse_fails(unit, function, len(regs), tail + frame)


@given(units, functions, registers, units)
def test_reply_of_another_unit_or_count_is_rejected(unit, function, regs, asked_unit):
    frame = build_reply(unit, function, regs)
    if asked_unit != unit:
        assert parse_fails(asked_unit, function, len(regs), frame)
    if len(regs) > 1:
        assert parse_fails(unit, function, len(regs) - 1, frame)
    assert parse_fails(unit, function, len(regs) + 1, frame)


@given(units, functions, st.integers(1, 255), st.integers(1, modbus.MAX_READ_COUNT))
def test_exception_reply_raises_its_code(unit, function, code, count):
    body = bytes((unit, function | 0x80, code))
    frame = body + struct.pack("<H", modbus.crc16(body))
    assert modbus.expected_length(function, count, frame[:2]) == 5
    try:
        modbus.parse_read_reply(unit, function, count, frame)
    except modbus.ExceptionReply as exc:
        assert exc.code == code
        assert exc.function == function
    else:
        raise AssertionError("no ExceptionReply")


@given(st.floats(width=32, allow_nan=False))
def test_float32_round_trips_high_word_first(value):
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    assert modbus.float32([hi, lo], 0) == value
