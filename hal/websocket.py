# RFC 6455 WebSocket, client side, sans-I/O: the opening handshake, frames, messages and the close.
#
# Bytes in (receive_data; b"" means the peer closed TCP), events out (next_event, None when more bytes
# are needed), bytes out: the send methods return a frame to write, and automatic replies (a pong for
# each ping, the echo of the server's close, the close after a protocol error) wait in data_to_send().
# No sockets, clock or randomness here: the caller passes random_bytes(n) for the key and mask keys.
# Any violation by the server raises WebSocketError(code, reason), code being the close code to send.
# Portable subset (MicroPython 1.2x): binascii, hashlib, struct only.
import binascii
import hashlib
import struct

from hal.urls import host_port, split_authority

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3, hashed into Sec-WebSocket-Accept

OP_CONT = 0x0  # opcodes: RFC 6455 §5.2
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
OPCODES = (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG)

CLOSE_NORMAL = 1000  # close codes: RFC 6455 §7.4.1
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_NO_STATUS = 1005  # reported for a close frame without a code; never sent
CLOSE_ABNORMAL = 1006  # reported when TCP ended without a close frame; never sent
CLOSE_INVALID_DATA = 1007  # text that is not UTF-8
CLOSE_TOO_BIG = 1009

MAX_CONTROL_PAYLOAD = 125  # RFC 6455 §5.5
MAX_HEAD_BYTES = 8192  # our bound on the server's HTTP response head
DEFAULT_MAX_MESSAGE_BYTES = 32768  # a board's heap holds a few of these (buffer, text, JSON)
MASK_CHUNK = 256  # bytes XORed per integer operation (see mask())

CONNECTING, OPEN, CLOSING, CLOSED = "CONNECTING", "OPEN", "CLOSING", "CLOSED"


class WebSocketError(Exception):
    """The peer broke RFC 6455 (or the connection dropped): code is the close code for it."""

    def __init__(self, code, reason):
        super().__init__("%d %s" % (code, reason))
        self.code = code
        self.reason = reason


class HandshakeError(Exception):
    """The server did not open a WebSocket; status is its HTTP status (None if it sent no response)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class Accepted:
    def __init__(self, subprotocol, headers):
        self.subprotocol = subprotocol
        self.headers = headers  # lower-case name -> value


class TextMessage:
    def __init__(self, text):
        self.text = text


class BinaryMessage:
    def __init__(self, data):
        self.data = data


class Ping:
    def __init__(self, payload):
        self.payload = payload


class Pong:
    def __init__(self, payload):
        self.payload = payload


class CloseReceived:
    def __init__(self, code, reason):
        self.code = code
        self.reason = reason


def parse_url(url):
    """(secure, host, port, resource) of a ws:// or wss:// URL (RFC 6455 §3). Raises ValueError."""
    if url.startswith("ws://"):
        secure, rest, port = False, url[5:], 80
    elif url.startswith("wss://"):
        secure, rest, port = True, url[6:], 443
    else:
        raise ValueError("not a ws:// or wss:// URL: %r" % url)
    if "#" in rest:
        raise ValueError("a WebSocket URL has no fragment (RFC 6455 §3)")
    authority, resource = split_authority(rest)
    if "@" in authority:
        raise ValueError("user info in the URL is not supported; pass an Authorization header")
    host, port = host_port(authority, port, url)
    if not resource.startswith("/"):
        resource = "/" + resource
    return secure, host, port, resource


def basic_auth(user, password):
    """The Authorization header value for HTTP Basic auth (OCPP security profiles 1 and 2)."""
    if isinstance(password, str):
        password = password.encode()
    token = binascii.b2a_base64(user.encode() + b":" + password, newline=False)
    return "Basic " + token.decode()


def accept_key(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2 item 5.4)."""
    digest = hashlib.sha1(key.encode() + GUID).digest()
    return binascii.b2a_base64(digest, newline=False).decode()


def handshake_request(host, port, resource, key, subprotocol, headers=None, secure=False):
    """The client's opening handshake (RFC 6455 §4.1). headers: a dict or (name, value) pairs."""
    if ":" in host:
        host = "[" + host + "]"
    if port != (443 if secure else 80):
        host = "%s:%d" % (host, port)
    lines = ["GET %s HTTP/1.1" % resource, "Host: " + host, "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: " + subprotocol]
    if headers:
        for name, value in (headers.items() if hasattr(headers, "items") else headers):
            line = "%s: %s" % (name, value)
            if "\r" in line or "\n" in line:  # a header may not smuggle in another one
                raise ValueError("line break in header %r" % name)
            lines.append(line)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def check_response(head, key, subprotocol):
    """Validate the server's response head (up to the blank line); return its headers.

    RFC 6455 §4.1, client requirements 1-6: status 101, Upgrade: websocket, Connection: upgrade, the
    right Sec-WebSocket-Accept, no extension (we offer none) and exactly our subprotocol (OCPP needs it)."""
    try:
        lines = bytes(head).decode().split("\r\n")
    except UnicodeError:
        raise HandshakeError("response head is not text")
    status_line = lines[0].split(" ", 2)
    try:
        if status_line[0] != "HTTP/1.1":
            raise ValueError
        status = int(status_line[1])
    except (ValueError, IndexError):
        raise HandshakeError("not an HTTP/1.1 response: %r" % lines[0][:80])
    headers = {}
    for line in lines[1:]:
        colon = line.find(":")
        if colon <= 0 or line[0] in " \t":
            raise HandshakeError("bad header line %r" % line[:80], status)
        name, value = line[:colon].strip().lower(), line[colon + 1:].strip()
        headers[name] = headers[name] + ", " + value if name in headers else value
    if status != 101:
        raise HandshakeError("server answered %s" % " ".join(status_line[1:]), status)
    if headers.get("upgrade", "").lower() != "websocket":
        raise HandshakeError("no Upgrade: websocket in the response", status)
    if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
        raise HandshakeError("no Connection: upgrade in the response", status)
    if headers.get("sec-websocket-accept") != accept_key(key):
        raise HandshakeError("wrong Sec-WebSocket-Accept", status)
    if "sec-websocket-extensions" in headers:
        raise HandshakeError("server chose an extension the client did not offer", status)
    chosen = headers.get("sec-websocket-protocol")
    if chosen != subprotocol:
        raise HandshakeError("server chose subprotocol %r, not %r" % (chosen, subprotocol), status)
    return headers


def mask_into(out, at, data, key):
    """Write data XOR the 4-byte key repeated (RFC 6455 §5.3) into out[at:]. Slices of MASK_CHUNK
    bytes are XORed as integers: a Python loop per byte is ten times slower on MicroPython, and one
    integer for the whole message would hold three copies of it on the heap at once."""
    n = len(data)
    keys = key * (MASK_CHUNK // 4)
    whole = int.from_bytes(keys, "big")
    view = memoryview(data)
    for i in range(0, n, MASK_CHUNK):
        m = min(MASK_CHUNK, n - i)
        k = whole if m == MASK_CHUNK else int.from_bytes(keys[:m], "big")
        out[at + i:at + i + m] = (int.from_bytes(view[i:i + m], "big") ^ k).to_bytes(m, "big")


def mask(data, key):
    """data XOR the 4-byte key repeated, as new bytes."""
    out = bytearray(len(data))
    mask_into(out, 0, data, key)
    return bytes(out)


def encode_frame(opcode, payload, mask_key=None, fin=True):
    """One frame (RFC 6455 §5.2) as a bytearray; a client passes a fresh 4-byte mask_key for every
    frame (§5.3). Built in one buffer: the payload is copied (and masked) once, the heap of a board
    holds no other copy of it."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    bit = 0x80 if mask_key is not None else 0
    if n < 126:
        head = struct.pack("!BB", b0, bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, bit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, bit | 127, n)
    at = len(head) + (0 if mask_key is None else 4)
    frame = bytearray(at + n)
    frame[:len(head)] = head
    if mask_key is None:
        frame[at:] = payload
    else:
        frame[len(head):at] = mask_key
        mask_into(frame, at, payload, mask_key)
    return frame


def parse_frame(buf, pos=0, max_payload=DEFAULT_MAX_MESSAGE_BYTES, masked=False):
    """(fin, opcode, payload, end) of the frame at buf[pos:], or None until it is complete.

    masked says what the peer must send: False from a server (§5.1), True from a client. The length is
    checked against max_payload as soon as the header is in, before the payload is buffered."""
    avail = len(buf) - pos
    if avail < 2:
        return None
    b0, b1 = buf[pos], buf[pos + 1]
    opcode, fin, length = b0 & 0x0F, bool(b0 & 0x80), b1 & 0x7F
    if b0 & 0x70:
        raise WebSocketError(CLOSE_PROTOCOL_ERROR, "reserved bits set, but no extension was negotiated")
    if opcode not in OPCODES:
        raise WebSocketError(CLOSE_PROTOCOL_ERROR, "unknown opcode %d" % opcode)
    if bool(b1 & 0x80) != masked:
        raise WebSocketError(CLOSE_PROTOCOL_ERROR, "masked frame from the server" if not masked
                             else "unmasked frame from the client")
    if opcode >= OP_CLOSE and (not fin or length > MAX_CONTROL_PAYLOAD):  # §5.5
        raise WebSocketError(CLOSE_PROTOCOL_ERROR, "control frame fragmented or over 125 bytes")
    head = 2
    if length == 126:
        if avail < 4:
            return None
        length, head, minimum = struct.unpack_from("!H", buf, pos + 2)[0], 4, 126
    elif length == 127:
        if avail < 10:
            return None
        length, head, minimum = struct.unpack_from("!Q", buf, pos + 2)[0], 10, 65536
        if length >> 63:
            raise WebSocketError(CLOSE_PROTOCOL_ERROR, "64-bit length with its top bit set (RFC 6455 5.2)")
    else:
        minimum = 0
    if length < minimum:
        raise WebSocketError(CLOSE_PROTOCOL_ERROR, "length %d not in its shortest form (RFC 6455 5.2)" % length)
    if length > max_payload:
        raise WebSocketError(CLOSE_TOO_BIG, "frame of %d bytes over the %d-byte limit" % (length, max_payload))
    key_at = pos + head
    if masked:
        head += 4
    end = pos + head + length
    if len(buf) < end:
        return None
    payload = bytes(memoryview(buf)[pos + head:end])  # one copy, not a slice and then bytes of it
    if masked:
        payload = mask(payload, bytes(buf[key_at:key_at + 4]))
    return fin, opcode, payload, end


# (lead byte, lowest, highest second byte) that Unicode Table 3-7 allows after it; other second bytes
# mean an overlong form, a surrogate or a code point over U+10FFFF.
_SECOND_BYTE = ((0xE0, 0xA0, 0xBF), (0xED, 0x80, 0x9F), (0xF0, 0x90, 0xBF), (0xF4, 0x80, 0x8F))
_NEVER = bytes((0xC0, 0xC1)) + bytes(range(0xF5, 0x100))  # bytes that never occur in UTF-8 (RFC 3629)


def utf8_text(data):
    """data decoded as RFC 3629 UTF-8 (RFC 6455 §8.1), or WebSocketError 1007. MicroPython's decoder
    checks only the structure, so the forms RFC 3629 also forbids are searched for here."""
    try:
        text = bytes(data).decode()
    except UnicodeError:
        text = None
    if text is not None and len(text) == len(data):
        return text  # ASCII
    ok = text is not None
    for b in _NEVER:
        ok = ok and data.find(bytes((b,))) < 0
    for lead, low, high in _SECOND_BYTE:
        i = data.find(bytes((lead,))) if ok else -1
        while i >= 0:  # the decoder has checked a continuation byte follows
            ok = low <= data[i + 1] <= high
            i = data.find(bytes((lead,)), i + 1) if ok else -1
    if not ok:
        raise WebSocketError(CLOSE_INVALID_DATA, "text is not valid UTF-8")
    return text


def _close_code_ok(code):
    # Defined in RFC 6455 §7.4.1 or registered with IANA (1012-1014), or private/registered (3000-4999)
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def utf8_bytes(text):
    """The UTF-8 bytes of text. MicroPython keeps a str as UTF-8 and lends those bytes (a memoryview), so
    a frame is built from them without first copying the whole message (a 4 KB GetConfiguration answer
    needed one more 4 KB block of the heap in one piece, issue #4); CPython encodes."""
    try:
        return memoryview(text)
    except TypeError:
        return text.encode()


def parse_close(payload):
    """(code, reason) of a close frame's payload (RFC 6455 §5.5.1)."""
    if not payload:
        return CLOSE_NO_STATUS, ""
    if len(payload) == 1:
        raise WebSocketError(CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload")
    code = struct.unpack("!H", payload[:2])[0]
    if not _close_code_ok(code):
        raise WebSocketError(CLOSE_PROTOCOL_ERROR, "invalid close code %d" % code)
    return code, utf8_text(payload[2:])


class Client:
    """One client connection, from the handshake to the close (states CONNECTING, OPEN, CLOSING, CLOSED)."""

    def __init__(self, host, port, resource, subprotocol, random_bytes, headers=None, secure=False,
                 max_message_bytes=DEFAULT_MAX_MESSAGE_BYTES):
        self.random_bytes = random_bytes
        self.key = binascii.b2a_base64(random_bytes(16), newline=False).decode()  # §4.1 item 7
        self.subprotocol = subprotocol
        self.max_message_bytes = max_message_bytes
        self.state = CONNECTING
        self.close_code = None  # the peer's close code, or ours after a protocol error
        self.close_reason = ""
        self._request = handshake_request(host, port, resource, self.key, subprotocol, headers, secure)
        self._buf = bytearray()
        self._pos = 0
        self._eof = False
        self._out = []
        self._parts = None  # payloads of a fragmented message (§5.4), None between messages
        self._parts_opcode = OP_TEXT
        self._parts_bytes = 0

    def request(self):
        return self._request

    def receive_data(self, data):
        if not data:
            self._eof = True
            return
        if self._pos:
            self._buf = self._buf[self._pos:]
            self._pos = 0
        self._buf += data

    def data_to_send(self):
        out = b"".join(self._out)
        self._out = []
        return out

    def next_event(self):
        try:
            return self._next_event()
        except WebSocketError as exc:
            if self.state == OPEN and exc.code != CLOSE_ABNORMAL:  # §7.1.7: fail with a close frame
                self._out.append(self._frame(OP_CLOSE, struct.pack("!H", exc.code)))
            self.state, self.close_code, self.close_reason = CLOSED, exc.code, exc.reason
            raise

    def _next_event(self):
        if self.state == CONNECTING:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_HEAD_BYTES or self._eof:
                    raise HandshakeError("connection closed during the handshake" if self._eof else
                                         "response head over %d bytes" % MAX_HEAD_BYTES)
                return None
            headers = check_response(self._buf[:end], self.key, self.subprotocol)
            self._pos = end + 4
            self.state = OPEN
            return Accepted(self.subprotocol, headers)
        while self.state != CLOSED:
            frame = parse_frame(self._buf, self._pos, self.max_message_bytes)
            if frame is None:
                if self._eof:
                    raise WebSocketError(CLOSE_ABNORMAL, "connection closed in the middle of a frame"
                                         if self._pos < len(self._buf) else "connection closed without a close frame")
                return None
            fin, opcode, payload, self._pos = frame
            if opcode == OP_PING:
                if self.state == OPEN:
                    self._out.append(self._frame(OP_PONG, payload))  # §5.5.2
                return Ping(payload)
            if opcode == OP_PONG:
                return Pong(payload)
            if opcode == OP_CLOSE:
                code, reason = parse_close(payload)
                if self.state == OPEN:  # echo the code (§5.5.1); 1005 means the frame had none
                    self._out.append(self._frame(OP_CLOSE, b"" if code == CLOSE_NO_STATUS else payload[:2]))
                self.state, self.close_code, self.close_reason = CLOSED, code, reason
                return CloseReceived(code, reason)
            message = self._reassemble(fin, opcode, payload)
            if message is not None:
                return message
        return None

    def _reassemble(self, fin, opcode, payload):
        if opcode == OP_CONT:
            if self._parts is None:
                raise WebSocketError(CLOSE_PROTOCOL_ERROR, "continuation frame with no message to continue")
        elif self._parts is not None:
            raise WebSocketError(CLOSE_PROTOCOL_ERROR, "new message before the fragmented one ended")
        else:
            self._parts, self._parts_opcode, self._parts_bytes = [], opcode, 0
        self._parts_bytes += len(payload)
        if self._parts_bytes > self.max_message_bytes:
            raise WebSocketError(CLOSE_TOO_BIG, "message over the %d-byte limit" % self.max_message_bytes)
        self._parts.append(payload)
        if not fin:
            return None
        data = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts = None
        if self._parts_opcode == OP_TEXT:
            return TextMessage(utf8_text(data))
        return BinaryMessage(data)

    def _frame(self, opcode, payload):
        return encode_frame(opcode, payload, self.random_bytes(4))

    def _check_open(self):
        if self.state != OPEN:
            raise WebSocketError(self.close_code or CLOSE_ABNORMAL, "cannot send: connection %s" % self.state)

    def send_text(self, text):
        self._check_open()
        return self._frame(OP_TEXT, utf8_bytes(text))

    def send_binary(self, data):
        self._check_open()
        return self._frame(OP_BINARY, data)

    def ping(self, payload=b""):
        self._check_open()
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError("ping payload over 125 bytes")
        return self._frame(OP_PING, payload)

    def close(self, code=CLOSE_NORMAL, reason=""):
        """The close frame to send; afterwards only the server's close is awaited (state CLOSING)."""
        self._check_open()
        payload = struct.pack("!H", code) + reason.encode()
        if not _close_code_ok(code) or len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError("close code %d not sendable or reason over 123 bytes" % code)
        self.state = CLOSING
        return self._frame(OP_CLOSE, payload)
