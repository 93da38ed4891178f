"""Hypothesis over the bridge's messages and stream: any bytes give a message or a ValueError, never
anything else; any chunking of a valid stream gives the same messages; noise between frames costs only
the frames it touches."""

from hypothesis import given
from hypothesis import strategies as st

from firmware.frames import Decoder
from hal import bridge_wire as wire

to_firmware = st.one_of(
    st.integers(0, 2**32 - 1).map(wire.hello),
    st.just(wire.keepalive()),
    st.tuples(st.integers(-32768, 32767), st.integers(-32768, 32767)).map(lambda p: wire.cp(*p)),
    st.tuples(st.integers(0, len(wire.INPUTS) - 1), st.booleans()).map(lambda p: wire.input_(*p)),
    # At most 16 / 20 bytes of UTF-8: five characters of up to 4 bytes could be 20.
    st.tuples(st.text(min_size=1, max_size=4), st.floats(0, 1e6)).map(lambda p: wire.temperature(*p)),
    st.text(min_size=1, max_size=5).map(wire.tag),
)


@given(st.binary(max_size=80))
def test_any_payload_decodes_or_is_refused_with_a_value_error(payload):
    for decode in (wire.decode_from_plant, wire.decode_from_firmware):
        try:
            message = decode(payload)
        except ValueError:
            continue
        assert isinstance(message, tuple) and isinstance(message[0], str)


@given(st.lists(to_firmware, min_size=1, max_size=20), st.data())
def test_a_stream_cut_anywhere_gives_the_same_messages(payloads, data):
    stream = b"".join(wire.frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = Decoder(wire.MAX_PAYLOAD)
    got = []
    start = 0
    for cut in cuts + [len(stream)]:
        got += decoder.feed(stream[start:cut])
        start = cut
    assert [wire.decode_from_plant(p) for p in got] == [wire.decode_from_plant(p) for p in payloads]


@given(st.lists(to_firmware, min_size=2, max_size=10), st.binary(min_size=1, max_size=30))
def test_noise_between_frames_costs_no_good_frame(payloads, noise):
    stream = wire.frame(payloads[0]) + noise + b"\x00" + b"".join(wire.frame(p) for p in payloads[1:])
    decoder = Decoder(wire.MAX_PAYLOAD)
    got = decoder.feed(stream)
    assert got[0] == payloads[0] and got[-(len(payloads) - 1):] == payloads[1:]
