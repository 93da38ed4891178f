# portable
# COBS + CRC-32 framing (firmware/frames.py): known vectors, round trips, and a stream with faults in it.
from firmware import frames
from firmware.frames import Decoder, cobs_decode, cobs_encode, encode
from tests.portable import raises


def test_cobs_matches_the_published_examples():
    # Cheshire & Baker's scheme; the examples are the usual ones (e.g. Wikipedia's COBS article)
    assert cobs_encode(b"") == b"\x01"
    assert cobs_encode(b"\x00") == b"\x01\x01"
    assert cobs_encode(b"\x00\x00") == b"\x01\x01\x01"
    assert cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert cobs_encode(b"\x11\x22\x33\x44") == b"\x05\x11\x22\x33\x44"
    assert cobs_encode(b"\x11\x00\x00\x00") == b"\x02\x11\x01\x01\x01"
    run_254 = bytes(range(1, 255))
    assert cobs_encode(run_254) == b"\xff" + run_254
    run_255 = bytes(range(1, 256))
    assert cobs_encode(run_255) == b"\xff" + run_255[:254] + b"\x02\xff"
    tail = bytes(range(3, 256)) + b"\x00\x01"
    assert cobs_encode(tail) == b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"


def test_cobs_decode_inverts_encode_and_rejects_broken_blocks():
    for data in (b"", b"\x00", b"\x00" * 300, bytes(range(256)) * 3, b"\x01" * 254 + b"\x00"):
        assert cobs_decode(cobs_encode(data)) == data
    assert cobs_decode(b"\x05\x11\x22") is None  # block runs past the end
    assert cobs_decode(b"\x02\x11\x00\x01") is None  # a zero inside a frame


def test_crc_is_the_zlib_crc32():
    assert frames.crc32(b"123456789") == 0xCBF43926  # the CRC-32 check value


def test_empty_payload_frame_is_cobs_of_a_zero_crc():
    assert encode(b"") == b"\x01\x01\x01\x01\x01\x00"


def test_payloads_with_any_bytes_round_trip():
    decoder = Decoder(max_payload=1000)
    payloads = [b"", b"\x00", b"\x00\x00\x00", bytes(range(256)), b"\xff" * 254, b"x" * 255, b"\x00" * 600]
    got = []
    for payload in payloads:
        frame = encode(payload)
        assert frame[-1] == 0 and 0 not in frame[:-1]
        got += decoder.feed(frame)
    assert got == payloads
    assert decoder.frames == len(payloads)
    assert decoder.bad_crc == decoder.bad_framing == decoder.oversize == 0


def test_frames_split_anywhere_still_decode():
    stream = encode(b"first\x00") + encode(b"second") + encode(b"")
    decoder = Decoder()
    got = []
    for i in range(len(stream)):
        got += decoder.feed(stream[i:i + 1])
    assert got == [b"first\x00", b"second", b""]
    assert Decoder().feed(bytearray(stream)) == got  # a bytearray from a driver is fine too


def test_a_flipped_bit_is_a_bad_crc_and_the_next_frame_survives():
    frame = bytearray(encode(b"contactor on"))
    frame[4] ^= 0x01
    decoder = Decoder()
    assert decoder.feed(bytes(frame) + encode(b"contactor off")) == [b"contactor off"]
    assert decoder.bad_crc == 1 and decoder.frames == 1


def test_garbage_before_a_delimiter_costs_nothing_after_it():
    decoder = Decoder()
    got = decoder.feed(b"\x07\x99\x13\x00" + b"\x05\x01\x00" + b"\x02\x01\x00" + encode(b"ok"))
    assert got == [b"ok"]
    assert decoder.bad_framing == 3  # broken block, then two runts too short for a CRC
    assert decoder.bad_crc == 0


def test_empty_frames_are_silence():
    decoder = Decoder()
    assert decoder.feed(b"\x00\x00\x00" + encode(b"a") + b"\x00") == [b"a"]
    assert decoder.bad_framing == decoder.bad_crc == 0


def test_oversize_frame_is_dropped_and_the_next_one_decodes():
    decoder = Decoder(max_payload=8)
    assert decoder.feed(encode(b"12345678")) == [b"12345678"]  # exactly the limit
    assert decoder.feed(encode(b"123456789") + encode(b"ok")) == [b"ok"]
    assert decoder.oversize == 1


def test_oversize_is_caught_even_when_zeros_keep_the_encoding_short():
    # COBS adds one byte per 254 only for runs without zeros: 506 zeros encode in 511 bytes, which
    # fits the buffer of a 504-byte limit, so the payload's own length must be checked after decoding
    decoder = Decoder(max_payload=504)
    frame = encode(b"\x00" * 506)
    assert len(frame) - 1 <= frames.max_encoded_size(504)
    assert decoder.feed(frame) == []
    assert decoder.oversize == 1 and decoder.bad_crc == 0


def test_endless_bytes_without_a_delimiter_are_not_buffered():
    decoder = Decoder(max_payload=16)
    for _ in range(100):
        assert decoder.feed(b"\x55" * 100) == []
        assert decoder.buffered <= frames.max_encoded_size(16)
    assert decoder.oversize == 1  # one overlong frame, counted once
    assert decoder.feed(b"\x00" + encode(b"back")) == [b"back"]


def test_reset_forgets_a_partial_frame():
    decoder = Decoder()
    frame = encode(b"stale")
    decoder.feed(frame[:4])
    decoder.reset()
    assert decoder.feed(encode(b"fresh")) == [b"fresh"]
    assert decoder.bad_crc == decoder.bad_framing == 0


def test_encode_refuses_text():
    raises(TypeError, encode, "text")
