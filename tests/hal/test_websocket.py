# portable
import struct

from hal import websocket as ws
from tests.portable import raises

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the sample nonce of RFC 6455 §1.3
MASK = bytes((0x37, 0xFA, 0x21, 0x3D))  # the mask of RFC 6455 §5.7


def counting_bytes():
    state = [0]

    def random_bytes(n):
        out = bytes([(state[0] + i) & 0xFF for i in range(n)])
        state[0] += n
        return out

    return random_bytes


def response(key, subprotocol="ocpp1.6", status="101 Switching Protocols", extra=""):
    lines = ["HTTP/1.1 " + status, "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Accept: " + ws.accept_key(key)]
    if subprotocol is not None:
        lines.append("Sec-WebSocket-Protocol: " + subprotocol)
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def open_client(max_message_bytes=ws.DEFAULT_MAX_MESSAGE_BYTES):
    client = ws.Client("127.0.0.1", 9000, "/ocpp/CP1", "ocpp1.6", counting_bytes(),
                       max_message_bytes=max_message_bytes)
    client.receive_data(response(client.key))
    event = client.next_event()
    assert isinstance(event, ws.Accepted) and client.state == ws.OPEN
    return client


def events_of(client, data):
    client.receive_data(data)
    out = []
    while True:
        event = client.next_event()
        if event is None:
            return out
        out.append(event)


def sent_frames(client):
    """(fin, opcode, payload) of what the client queued, unmasked as a server would."""
    data, pos, frames = client.data_to_send(), 0, []
    while pos < len(data):
        fin, opcode, payload, pos = ws.parse_frame(data, pos, masked=True)
        frames.append((fin, opcode, payload))
    return frames


def error_of(client, data):
    exc = raises(ws.WebSocketError, events_of, client, data)
    return exc.code, exc.reason


def test_accept_key_matches_rfc_6455_example():
    assert ws.accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_parse_url_splits_scheme_host_port_and_resource():
    assert ws.parse_url("ws://csms.example/ocpp/CP1") == (False, "csms.example", 80, "/ocpp/CP1")
    assert ws.parse_url("wss://csms.example/ocpp/CP1") == (True, "csms.example", 443, "/ocpp/CP1")
    assert ws.parse_url("ws://127.0.0.1:9000") == (False, "127.0.0.1", 9000, "/")
    assert ws.parse_url("ws://h:1?x=1") == (False, "h", 1, "/?x=1")
    assert ws.parse_url("wss://[::1]:8443/CP1") == (True, "::1", 8443, "/CP1")
    assert ws.parse_url("ws://[::1]/CP1") == (False, "::1", 80, "/CP1")


def test_parse_url_rejects_what_it_cannot_open():
    for url in ("http://h/", "ws://h/#frag", "ws://user:pw@h/", "ws://h:0/", "ws://h:99999/", "ws://h:x/",
                "ws:///CP1", "ws://:80/"):
        raises(ValueError, ws.parse_url, url)


def test_request_has_the_rfc_6455_headers_the_subprotocol_and_extra_headers():
    request = ws.handshake_request("h", 9000, "/CP1", KEY, "ocpp1.6", {"Authorization": "Basic eA=="})
    lines = request.decode().split("\r\n")
    assert lines[0] == "GET /CP1 HTTP/1.1" and request.endswith(b"\r\n\r\n")
    for line in ("Host: h:9000", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: " + KEY,
                 "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: ocpp1.6", "Authorization: Basic eA=="):
        assert line in lines
    assert b"Host: h\r\n" in ws.handshake_request("h", 443, "/", KEY, "p", secure=True)
    assert b"Host: [::1]:81\r\n" in ws.handshake_request("::1", 81, "/", KEY, "p", [("X-A", "1")])


def test_request_refuses_header_injection():
    raises(ValueError, ws.handshake_request, "h", 80, "/", KEY, "p", {"X": "a\r\nEvil: 1"})


def test_basic_auth_is_base64_of_id_colon_password():
    assert ws.basic_auth("CP1", "secret") == "Basic Q1AxOnNlY3JldA=="
    assert ws.basic_auth("CP1", b"secret") == "Basic Q1AxOnNlY3JldA=="


def test_check_response_accepts_a_good_101_with_any_header_case():
    head = response(KEY).replace(b"Upgrade: websocket", b"UPGRADE: WebSocket")
    head = head.replace(b"Connection: Upgrade", b"connection: keep-alive, upgrade")
    headers = ws.check_response(head[:-4], KEY, "ocpp1.6")
    assert headers["sec-websocket-protocol"] == "ocpp1.6"


def test_check_response_names_each_fault():
    cases = (
        (response(KEY, status="401 Unauthorized"), "server answered 401 Unauthorized", 401),
        (response(KEY, status="404 Not Found"), "server answered 404 Not Found", 404),
        (response(KEY, subprotocol=None), "server chose subprotocol None, not 'ocpp1.6'", 101),
        (response(KEY, subprotocol="ocpp2.0.1"), "server chose subprotocol 'ocpp2.0.1', not 'ocpp1.6'", 101),
        (response("x" + KEY), "wrong Sec-WebSocket-Accept", 101),
        (response(KEY, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"),
         "server chose an extension the client did not offer", 101),
        (response(KEY).replace(b"Upgrade: websocket", b"Upgrade: h2c"), "no Upgrade: websocket in the response", 101),
        (response(KEY).replace(b"Connection: Upgrade", b"Connection: close"),
         "no Connection: upgrade in the response", 101),
        (response(KEY).replace(b"HTTP/1.1", b"HTTP/1.0"),
         "not an HTTP/1.1 response: 'HTTP/1.0 101 Switching Protocols'", None),
        (b"garbage\r\n\r\n", "not an HTTP/1.1 response: 'garbage'", None),
        (response(KEY, extra=" folded\r\n"), "bad header line ' folded'", 101),
        (b"HTTP/1.1 101 OK\r\n\xff: x\r\n\r\n", "response head is not text", None),
    )
    for head, message, status in cases:
        exc = raises(ws.HandshakeError, ws.check_response, head[:-4], KEY, "ocpp1.6")
        assert str(exc) == message, str(exc)
        assert exc.status == status


def test_client_handshake_in_pieces_then_frames_in_the_same_read():
    client = ws.Client("h", 80, "/CP1", "ocpp1.6", counting_bytes())
    assert client.request().startswith(b"GET /CP1 HTTP/1.1\r\n")
    head = response(client.key)
    for i in range(len(head) - 1):
        client.receive_data(head[i:i + 1])
        assert client.next_event() is None
    client.receive_data(head[-1:] + ws.encode_frame(ws.OP_TEXT, b"[2]"))
    assert isinstance(client.next_event(), ws.Accepted)
    assert client.next_event().text == "[2]" and client.next_event() is None


def test_client_handshake_errors():
    client = ws.Client("h", 80, "/", "ocpp1.6", counting_bytes())
    client.receive_data(b"HTTP/1.1 101 OK\r\n")
    client.receive_data(b"")
    assert str(raises(ws.HandshakeError, client.next_event)) == "connection closed during the handshake"
    client = ws.Client("h", 80, "/", "ocpp1.6", counting_bytes())
    client.receive_data(b"HTTP/1.1 101 OK\r\nX: " + b"a" * ws.MAX_HEAD_BYTES)
    assert "response head over" in str(raises(ws.HandshakeError, client.next_event))


def test_mask_and_frames_match_rfc_6455_examples():
    assert ws.mask(b"Hello", MASK) == bytes((0x7F, 0x9F, 0x4D, 0x51, 0x58))  # §5.7
    assert ws.encode_frame(ws.OP_TEXT, b"Hello") == bytes((0x81, 0x05)) + b"Hello"
    assert ws.encode_frame(ws.OP_TEXT, b"Hello", MASK) == bytes((0x81, 0x85)) + MASK + ws.mask(b"Hello", MASK)
    assert ws.encode_frame(ws.OP_TEXT, b"Hel", fin=False) == bytes((0x01, 0x03)) + b"Hel"
    assert ws.encode_frame(ws.OP_PING, b"Hello")[:2] == bytes((0x89, 0x05))
    assert ws.encode_frame(ws.OP_BINARY, bytes(256))[:4] == bytes((0x82, 0x7E, 0x01, 0x00))
    assert ws.encode_frame(ws.OP_BINARY, bytes(65536))[:10] == bytes((0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0))


def test_mask_of_long_payload_matches_bytewise_xor():
    data = bytes([i * 7 & 0xFF for i in range(1000)])  # not a multiple of the 256-byte slice
    expected = bytes([b ^ MASK[i % 4] for i, b in enumerate(data)])
    assert ws.mask(data, MASK) == expected and ws.mask(expected, MASK) == data


def test_parse_frame_waits_for_the_whole_frame():
    data = ws.encode_frame(ws.OP_BINARY, bytes(300), MASK)
    for n in (0, 1, 2, 3, 4, 7, len(data) - 1):
        assert ws.parse_frame(data[:n], masked=True) is None
    assert ws.parse_frame(data, masked=True) == (True, ws.OP_BINARY, bytes(300), len(data))
    assert ws.parse_frame(b"xx" + data + b"yy", 2, masked=True)[3] == 2 + len(data)


def test_parse_frame_rejects_each_malformed_header():
    cases = (
        (bytes((0x83, 0x00)), 1002, "unknown opcode 3"),
        (bytes((0x8B, 0x00)), 1002, "unknown opcode 11"),
        (bytes((0xC1, 0x00)), 1002, "reserved bits set, but no extension was negotiated"),
        (bytes((0x91, 0x00)), 1002, "reserved bits set, but no extension was negotiated"),
        (bytes((0x81, 0x80)) + MASK, 1002, "masked frame from the server"),
        (bytes((0x09, 0x00)), 1002, "control frame fragmented or over 125 bytes"),
        (bytes((0x89, 0x7E, 0x00, 0x7E)), 1002, "control frame fragmented or over 125 bytes"),
        (bytes((0x81, 0x7E, 0x00, 0x05)), 1002, "length 5 not in its shortest form (RFC 6455 5.2)"),
        (bytes((0x81, 0x7F)) + struct.pack("!Q", 65535), 1002, "length 65535 not in its shortest form (RFC 6455 5.2)"),
        (bytes((0x81, 0x7F)) + struct.pack("!Q", 1 << 63), 1002, "64-bit length with its top bit set (RFC 6455 5.2)"),
        (bytes((0x81, 0x7F)) + struct.pack("!Q", 1 << 40), 1009,
         "frame of 1099511627776 bytes over the 32768-byte limit"),
        (bytes((0x82, 0x7E, 0x80, 0x01)), 1009, "frame of 32769 bytes over the 32768-byte limit"),
    )
    for data, code, reason in cases:
        exc = raises(ws.WebSocketError, ws.parse_frame, data)
        assert (exc.code, exc.reason) == (code, reason), exc.reason
    exc = raises(ws.WebSocketError, ws.parse_frame, bytes((0x81, 0x00)), 0, 100, True)
    assert exc.reason == "unmasked frame from the client"


def test_client_delivers_text_binary_and_fragmented_messages():
    client = open_client()
    data = (ws.encode_frame(ws.OP_TEXT, "héllo".encode()) + ws.encode_frame(ws.OP_BINARY, b"\x00\x01")
            + ws.encode_frame(ws.OP_TEXT, b"ab", fin=False) + ws.encode_frame(ws.OP_PING, b"p")
            + ws.encode_frame(ws.OP_CONT, b"c", fin=False) + ws.encode_frame(ws.OP_CONT, b""))
    events = events_of(client, data)
    assert events[0].text == "héllo" and events[1].data == b"\x00\x01"
    assert isinstance(events[2], ws.Ping) and events[2].payload == b"p"  # a ping between fragments (§5.4)
    assert events[3].text == "abc" and len(events) == 4
    assert sent_frames(client) == [(True, ws.OP_PONG, b"p")]


def test_utf8_split_across_fragments_is_one_character():
    client = open_client()
    euro = "€".encode()
    data = (ws.encode_frame(ws.OP_TEXT, euro[:1], fin=False) + ws.encode_frame(ws.OP_CONT, euro[1:2], fin=False)
            + ws.encode_frame(ws.OP_CONT, euro[2:]))
    assert [e.text for e in events_of(client, data)] == ["€"]


def test_pong_is_reported_and_not_answered():
    client = open_client()
    events = events_of(client, ws.encode_frame(ws.OP_PONG, b"\x00\x00\x00\x01"))
    assert events[0].payload == b"\x00\x00\x00\x01" and client.data_to_send() == b""


def test_server_close_is_echoed_with_its_code_and_ends_the_connection():
    client = open_client()
    events = events_of(client, ws.encode_frame(ws.OP_CLOSE, struct.pack("!H", 4001) + b"bye")
                       + ws.encode_frame(ws.OP_TEXT, b"ignored after close"))
    assert len(events) == 1 and (events[0].code, events[0].reason) == (4001, "bye")
    assert sent_frames(client) == [(True, ws.OP_CLOSE, struct.pack("!H", 4001))]
    assert client.state == ws.CLOSED and client.close_code == 4001
    raises(ws.WebSocketError, client.send_text, "late")


def test_close_without_code_is_1005_and_echoed_empty():
    client = open_client()
    assert events_of(client, ws.encode_frame(ws.OP_CLOSE, b""))[0].code == ws.CLOSE_NO_STATUS
    assert sent_frames(client) == [(True, ws.OP_CLOSE, b"")]


def test_client_close_then_server_reply():
    client = open_client()
    fin, opcode, payload, _ = ws.parse_frame(client.close(1001, "going"), masked=True)
    assert (opcode, payload) == (ws.OP_CLOSE, struct.pack("!H", 1001) + b"going") and client.state == ws.CLOSING
    raises(ws.WebSocketError, client.send_text, "after close")
    events = events_of(client, ws.encode_frame(ws.OP_TEXT, b"late") + ws.encode_frame(ws.OP_PING, b"x")
                       + ws.encode_frame(ws.OP_CLOSE, struct.pack("!H", 1001)))
    assert events[0].text == "late" and events[2].code == 1001 and client.state == ws.CLOSED
    assert client.data_to_send() == b""  # no pong and no second close after ours (§5.5.1)


def test_close_arguments_are_checked():
    client = open_client()
    raises(ValueError, client.close, 1005)
    raises(ValueError, client.close, 999)
    raises(ValueError, client.close, 1000, "x" * 124)
    raises(ValueError, client.ping, bytes(126))


def test_protocol_errors_queue_a_close_frame_with_the_code():
    cases = (
        (ws.encode_frame(ws.OP_CONT, b"x"), 1002, "continuation frame with no message to continue"),
        (ws.encode_frame(ws.OP_TEXT, b"a", fin=False) + ws.encode_frame(ws.OP_BINARY, b"b"), 1002,
         "new message before the fragmented one ended"),
        (ws.encode_frame(ws.OP_TEXT, b"\xc3\x28"), 1007, "text is not valid UTF-8"),
        (ws.encode_frame(ws.OP_CLOSE, b"\x03"), 1002, "close frame with a 1-byte payload"),
        (ws.encode_frame(ws.OP_CLOSE, struct.pack("!H", 1006)), 1002, "invalid close code 1006"),
        (ws.encode_frame(ws.OP_CLOSE, struct.pack("!H", 1000) + b"\xff"), 1007, "text is not valid UTF-8"),
        (bytes((0x81, 0x81)) + MASK + b"x", 1002, "masked frame from the server"),
    )
    for data, code, reason in cases:
        client = open_client()
        assert error_of(client, data) == (code, reason)
        assert sent_frames(client) == [(True, ws.OP_CLOSE, struct.pack("!H", code))]
        assert client.state == ws.CLOSED and client.close_code == code
        assert client.next_event() is None


def test_message_size_limit_counts_all_fragments():
    client = open_client(max_message_bytes=100)
    assert events_of(client, ws.encode_frame(ws.OP_TEXT, b"a" * 100))[0].text == "a" * 100
    data = ws.encode_frame(ws.OP_TEXT, b"a" * 60, fin=False) + ws.encode_frame(ws.OP_CONT, b"b" * 41)
    assert error_of(client, data) == (1009, "message over the 100-byte limit")


def test_end_of_stream_is_abnormal_closure_without_a_close_frame():
    client = open_client()
    client.receive_data(ws.encode_frame(ws.OP_TEXT, b"hello")[:4])
    client.receive_data(b"")
    assert error_of(client, b"") == (1006, "connection closed in the middle of a frame")
    assert client.data_to_send() == b""  # 1006 is never sent (§7.4.1)
    client = open_client()
    assert error_of(client, b"") == (1006, "connection closed without a close frame")


def test_sent_frames_are_masked_with_fresh_keys():
    client = open_client()
    first, second = client.send_text("[2,\"1\"]"), client.send_text("[2,\"1\"]")
    assert first[1] & 0x80 and first[2:6] != second[2:6]
    assert ws.parse_frame(first, masked=True)[1:3] == (ws.OP_TEXT, b"[2,\"1\"]")
    assert ws.parse_frame(client.send_binary(b"\x01"), masked=True)[1:3] == (ws.OP_BINARY, b"\x01")
    assert ws.parse_frame(client.ping(b"p"), masked=True)[1:3] == (ws.OP_PING, b"p")


def test_text_frames_carry_the_utf8_bytes_of_any_text_at_every_length_class():
    # On MicroPython the frame is built from the str's own UTF-8 bytes (utf8_bytes), not a copy of them.
    assert bytes(ws.utf8_bytes("a\u00e9\u20ac\U0001f50c")) == b"a\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x8c"
    client = open_client()
    for text in ("", "\u00e9" * 62 + "x", "\u20ac" * 42, "k\u00e9" * 1000):  # the length in 7 and 16 bits, in bytes
        frame = client.send_text(text)
        assert ws.parse_frame(frame, masked=True, max_payload=1 << 20)[1:3] == (ws.OP_TEXT, text.encode())


def test_utf8_accepts_valid_text_at_every_length_and_boundary():
    for data in (b"", b"ascii", "é".encode(), "€".encode(), "𝄞".encode(), b"\xed\x9f\xbf", b"\xee\x80\x80",
                 b"\xf4\x8f\xbf\xbf", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80", b"a\xc2\x80z"):
        assert ws.utf8_text(data).encode() == data


def test_utf8_rejects_what_rfc_3629_forbids_even_where_micropython_decodes_it():
    for data in (b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
                 b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
                 b"\xf7\xbf\xbf\xbf", b"\xf8\x88\x80\x80\x80", b"\xff", b"\x80", b"a\xe2\x82", b"\xe2\x82\xac\x80",
                 b"ok \xed\xa0\x80 ok"):
        exc = raises(ws.WebSocketError, ws.utf8_text, data)
        assert exc.code == ws.CLOSE_INVALID_DATA, data


def test_close_codes_allowed_in_a_close_frame():
    for code in (1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999):
        assert ws.parse_close(struct.pack("!H", code) + b"why") == (code, "why")
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535):
        assert raises(ws.WebSocketError, ws.parse_close, struct.pack("!H", code)).code == 1002
