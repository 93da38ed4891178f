# portable
import struct

from firmware import modbus
from tests.portable import raises


def _reply(unit, function, registers):
    body = bytes((unit, function, 2 * len(registers))) + struct.pack(">%dH" % len(registers), *registers)
    crc = modbus.crc16(body)
    return body + bytes((crc & 0xFF, crc >> 8))


def test_crc_of_known_request_is_25_ca():
    crc = modbus.crc16(bytes((0x01, 0x03, 0x00, 0x02, 0x00, 0x01)))
    assert (crc & 0xFF, crc >> 8) == (0x25, 0xCA)


def test_read_request_appends_crc_low_byte_first():
    assert modbus.read_request(1, 3, 2, 1) == bytes((0x01, 0x03, 0x00, 0x02, 0x00, 0x01, 0x25, 0xCA))
    assert modbus.read_request(1, 4, 0, 6) == bytes((0x01, 0x04, 0x00, 0x00, 0x00, 0x06, 0x70, 0x08))


def test_crc_of_a_frame_with_its_crc_is_zero():
    assert modbus.crc16(modbus.read_request(17, 4, 0x48, 2)) == 0


def test_read_request_rejects_bad_arguments():
    raises(ValueError, modbus.read_request, 0, 4, 0, 1)  # broadcast
    raises(ValueError, modbus.read_request, 248, 4, 0, 1)
    raises(ValueError, modbus.read_request, 1, 4, 0, 0)
    raises(ValueError, modbus.read_request, 1, 4, 0, 126)
    raises(ValueError, modbus.read_request, 1, 6, 0, 1)
    raises(ValueError, modbus.read_request, 1, 4, -1, 1)
    raises(ValueError, modbus.read_request, 1, 4, 0xFFFF, 2)
    assert len(modbus.read_request(247, 3, 0xFFFF - 124, 125)) == 8


def test_expected_length_of_normal_and_exception_replies():
    assert modbus.reply_length(4, 18) == 41
    assert modbus.expected_length(4, 18, b"") == 41
    assert modbus.expected_length(4, 18, b"\x01") == 41
    assert modbus.expected_length(4, 18, b"\x01\x04") == 41
    assert modbus.expected_length(4, 18, b"\x01\x84") == 5


def test_parse_returns_registers():
    frame = _reply(1, 4, [0x4366, 0x1999, 0, 0xFFFF])
    assert modbus.parse_read_reply(1, 4, 4, frame) == [0x4366, 0x1999, 0, 0xFFFF]


def test_parse_known_exception_reply_illegal_address():
    frame = bytes((0x01, 0x84, 0x02, 0xC2, 0xC1))
    exc = raises(modbus.ExceptionReply, modbus.parse_read_reply, 1, 4, 2, frame)
    assert exc.code == modbus.ILLEGAL_ADDRESS
    assert exc.function == 4
    assert "illegal data address" in str(exc)
    assert isinstance(exc, modbus.ModbusError)


def test_parse_rejects_bad_crc():
    frame = bytearray(_reply(1, 4, [1, 2]))
    frame[-1] ^= 0x01
    raises(modbus.CrcError, modbus.parse_read_reply, 1, 4, 2, bytes(frame))


def test_parse_rejects_wrong_unit_function_and_byte_count():
    raises(modbus.FrameError, modbus.parse_read_reply, 1, 4, 2, _reply(2, 4, [1, 2]))
    raises(modbus.FrameError, modbus.parse_read_reply, 1, 4, 2, _reply(1, 3, [1, 2]))
    # byte count says 2 registers but 2 bytes more follow: same total length as a 3-register reply
    body = bytes((1, 4, 4, 0, 1, 0, 2, 0, 3))
    crc = modbus.crc16(body)
    raises(modbus.FrameError, modbus.parse_read_reply, 1, 4, 3, body + bytes((crc & 0xFF, crc >> 8)))


def test_parse_rejects_short_and_long_frames():
    frame = _reply(1, 4, [1, 2])
    exc = raises(modbus.FrameError, modbus.parse_read_reply, 1, 4, 2, frame[:-1])
    assert "short" in str(exc)
    exc = raises(modbus.FrameError, modbus.parse_read_reply, 1, 4, 2, frame + b"\x00")
    assert "long" in str(exc)
    raises(modbus.FrameError, modbus.parse_read_reply, 1, 4, 2, b"")
    raises(modbus.FrameError, modbus.parse_read_reply, 1, 4, 2, bytes((0x01, 0x84, 0x02, 0xC2, 0xC1, 0)))


def test_exception_reply_from_another_unit_is_a_frame_error():
    body = bytes((2, 0x84, 2))
    crc = modbus.crc16(body)
    raises(modbus.FrameError, modbus.parse_read_reply, 1, 4, 2, body + bytes((crc & 0xFF, crc >> 8)))


def test_float32_is_big_endian_high_word_first():
    hi, lo = struct.unpack(">HH", struct.pack(">f", 230.5))
    assert modbus.float32([0, hi, lo], 1) == 230.5
    assert modbus.float32([0x4280, 0x0000], 0) == 64.0


def test_t35_is_three_and_a_half_11_bit_characters_up_to_19200_baud():
    assert modbus.t35_us(9600) == 4011  # 3.5 * 11 / 9600 s, rounded up
    assert modbus.t35_us(19200) == 2006
    assert modbus.t35_us(38400) == 1750
    assert modbus.t35_us(115200) == 1750
    assert modbus.t15_us(9600) == 1719
    assert modbus.t15_us(115200) == 750


def test_wire_time_of_a_frame():
    assert modbus.char_us(9600) == 1146
    assert modbus.frame_us(8, 9600) == 9167
