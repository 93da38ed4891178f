"""Properties of the COBS + CRC-32 framing (firmware/frames.py) for every payload and every fault."""

from hypothesis import assume, given
from hypothesis import strategies as st

from firmware.frames import Decoder, cobs_decode, cobs_encode, encode, max_encoded_size

payloads = st.binary(max_size=600)
LIMIT = 600


def feed_in_pieces(decoder, stream, cuts):
    """Feed stream split at the given cut points; return all payloads."""
    out = []
    start = 0
    for cut in sorted(set(c % (len(stream) + 1) for c in cuts)) + [len(stream)]:
        out += decoder.feed(stream[start:cut])
        start = cut
    return out


def garbage_alone_decodes_to_nothing(garbage):
    # Random bytes with a valid CRC-32 are a 1 in 2**32 event; rule it out rather than hope.
    return Decoder(LIMIT).feed(garbage + b"\x00") == []


@given(st.lists(payloads, max_size=8), st.lists(st.integers(min_value=0), max_size=20))
def test_payloads_round_trip_in_any_chunking(sent, cuts):
    stream = b"".join(encode(p) for p in sent)
    decoder = Decoder(LIMIT)
    assert feed_in_pieces(decoder, stream, cuts) == sent
    assert decoder.frames == len(sent)


@given(payloads)
def test_cobs_output_has_no_zero_and_bounded_overhead(data):
    encoded = cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + 1 + len(data) // 254
    assert cobs_decode(encoded) == data
    assert len(encode(data)) <= max_encoded_size(len(data)) + 1


@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0), max_size=10))
def test_garbage_never_crashes_and_yields_nothing(garbage, cuts):
    assume(garbage_alone_decodes_to_nothing(garbage))
    decoder = Decoder(64)
    assert feed_in_pieces(decoder, garbage, cuts) == []
    assert decoder.buffered <= max_encoded_size(64)


@given(st.lists(st.tuples(st.binary(max_size=300), payloads), min_size=1, max_size=5))
def test_frames_after_garbage_and_a_delimiter_still_decode(pairs):
    stream = b""
    for garbage, payload in pairs:
        assume(garbage_alone_decodes_to_nothing(garbage))
        stream += garbage + b"\x00" + encode(payload)
    assert Decoder(LIMIT).feed(stream) == [payload for _, payload in pairs]


@given(payloads, payloads, st.data())
def test_truncated_frame_yields_nothing_and_the_next_delimited_frame_survives(first, second, data):
    frame = encode(first)
    keep = data.draw(st.integers(min_value=0, max_value=len(frame) - 2), label="keep")
    decoder = Decoder(LIMIT)
    assert decoder.feed(frame[:keep] + b"\x00" + encode(second)) == [second]


@given(payloads, payloads, payloads, st.data())
def test_truncated_frame_may_take_the_next_one_with_it_but_no_more(first, second, third, data):
    frame = encode(first)
    keep = data.draw(st.integers(min_value=1, max_value=len(frame) - 2), label="keep")
    got = Decoder(LIMIT).feed(frame[:keep] + encode(second) + encode(third))
    assert got == [third]  # the cut frame and the one glued to it fail their CRC together


@given(payloads, payloads, st.data())
def test_a_flipped_bit_anywhere_never_yields_a_wrong_payload(first, second, data):
    frame = bytearray(encode(first))
    index = data.draw(st.integers(min_value=0, max_value=len(frame) - 1), label="index")
    frame[index] ^= 1 << data.draw(st.integers(min_value=0, max_value=7), label="bit")
    decoder = Decoder(LIMIT)
    got = decoder.feed(bytes(frame) + b"\x00" + encode(second))
    assert got == [second]
    assert decoder.bad_crc + decoder.bad_framing + decoder.oversize >= 1
