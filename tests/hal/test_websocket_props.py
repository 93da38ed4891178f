"""Properties of the sans-I/O WebSocket core (hal/websocket.py) for every input Hypothesis finds."""

import struct

from hypothesis import given
from hypothesis import strategies as st

from hal import websocket as ws
from tests.hal.test_websocket import counting_bytes, open_client, response

CONTROL = (ws.OP_CLOSE, ws.OP_PING, ws.OP_PONG)


@st.composite
def frames(draw):
    opcode = draw(st.sampled_from(ws.OPCODES))
    if opcode in CONTROL:
        return True, opcode, draw(st.binary(max_size=ws.MAX_CONTROL_PAYLOAD))
    size = draw(st.sampled_from((10, 125, 126, 300, 65535, 65536, 70000)))
    return draw(st.booleans()), opcode, draw(st.binary(max_size=size))


def chunks(draw, data):
    """data cut at arbitrary points (no empty piece: receive_data(b"") means the end of the stream)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)]) if b > a]


@given(st.lists(frames(), max_size=6), st.booleans(), st.data())
def test_any_frame_sequence_round_trips_at_any_chunking(sequence, masked, data):
    key = b"\x12\x34\x56\x78" if masked else None
    stream = b"".join(ws.encode_frame(opcode, payload, key, fin) for fin, opcode, payload in sequence)
    buf, pos, decoded = bytearray(), 0, []
    for chunk in chunks(data.draw, stream):
        buf += chunk
        while True:
            frame = ws.parse_frame(buf, pos, max_payload=1 << 20, masked=masked)
            if frame is None:
                break
            fin, opcode, payload, pos = frame
            decoded.append((fin, opcode, payload))
    assert decoded == sequence and pos == len(stream)


@st.composite
def messages(draw):
    """A message, the server frames that carry it (split anywhere, with pings between fragments)."""
    if draw(st.booleans()):
        text = draw(st.text(max_size=300))
        payload, expected = text.encode(), ("text", text)
    else:
        payload = draw(st.binary(max_size=300))
        expected = ("binary", payload)
    cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=4)))
    parts = [payload[a:b] for a, b in zip([0] + cuts, cuts + [len(payload)])]
    stream, pings = b"", []
    for i, part in enumerate(parts):
        opcode = (ws.OP_TEXT if expected[0] == "text" else ws.OP_BINARY) if i == 0 else ws.OP_CONT
        stream += ws.encode_frame(opcode, part, fin=i == len(parts) - 1)
        if i < len(parts) - 1 and draw(st.booleans()):
            ping = draw(st.binary(max_size=20))
            stream += ws.encode_frame(ws.OP_PING, ping)
            pings.append(("ping", ping))
    return stream, pings + [expected]


def describe(event):
    if isinstance(event, ws.TextMessage):
        return "text", event.text
    if isinstance(event, ws.BinaryMessage):
        return "binary", event.data
    if isinstance(event, ws.Ping):
        return "ping", event.payload
    return type(event).__name__, None


@given(st.lists(messages(), max_size=5), st.data())
def test_fragmented_messages_reassemble_and_every_ping_gets_its_pong(sequence, data):
    client = open_client(max_message_bytes=1000)
    stream = b"".join(s for s, _ in sequence)
    events = []
    for chunk in chunks(data.draw, stream):
        client.receive_data(chunk)
        while True:
            event = client.next_event()
            if event is None:
                break
            events.append(describe(event))
    assert events == [e for _, expected in sequence for e in expected]
    out, pos, pongs = client.data_to_send(), 0, []
    while pos < len(out):
        fin, opcode, payload, pos = ws.parse_frame(out, pos, masked=True)
        pongs.append(("ping", payload))
        assert opcode == ws.OP_PONG
    assert pongs == [e for e in events if e[0] == "ping"]


@given(st.binary(max_size=400), st.data())
def test_random_bytes_after_the_handshake_raise_only_websocket_error(garbage, data):
    client = open_client(max_message_bytes=200)
    try:
        for chunk in chunks(data.draw, garbage) + [b""]:  # then the end of the stream
            client.receive_data(chunk)
            while client.next_event() is not None:
                pass
    except ws.WebSocketError as exc:
        assert exc.code in (1002, 1006, 1007, 1009)
        assert client.state == ws.CLOSED
        out = client.data_to_send()
        assert out == b"" or ws.parse_frame(out, masked=True)[1:3] == (ws.OP_CLOSE, struct.pack("!H", exc.code))
    else:
        assert client.state == ws.CLOSED  # only a close frame ends a stream without an error


@given(st.binary(max_size=300))
def test_random_response_heads_raise_only_handshake_error(head):
    client = ws.Client("h", 80, "/", "ocpp1.6", counting_bytes())
    client.receive_data(head + b"\r\n\r\n")
    try:
        event = client.next_event()
    except ws.HandshakeError:
        return
    assert isinstance(event, ws.Accepted)


@given(st.sampled_from(["Upgrade", "Connection", "Sec-WebSocket-Accept", "Sec-WebSocket-Protocol"]))
def test_a_missing_required_header_is_a_handshake_error(name):
    client = ws.Client("h", 80, "/", "ocpp1.6", counting_bytes())
    head = b"\r\n".join(line for line in response(client.key).split(b"\r\n") if not line.startswith(name.encode()))
    client.receive_data(head)
    try:
        client.next_event()
    except ws.HandshakeError:
        return
    raise AssertionError("accepted without " + name)


@given(st.binary(max_size=40))
def test_utf8_check_agrees_with_cpythons_strict_decoder(data):
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError:
        expected = None
    try:
        got = ws.utf8_text(data)
    except ws.WebSocketError:
        got = None
    assert got == expected


@given(st.text())
def test_utf8_check_accepts_every_encoded_text(text):
    assert ws.utf8_text(text.encode()) == text


@given(st.binary(max_size=1100), st.binary(min_size=4, max_size=4))
def test_mask_is_bytewise_xor_and_its_own_inverse(data, key):
    masked = ws.mask(data, key)
    assert masked == bytes(b ^ key[i % 4] for i, b in enumerate(data))
    assert ws.mask(masked, key) == data
