# HTTP/1.1, client side, sans-I/O (RFC 9112): URLs, request heads, and a response parser fed with bytes.
#
# Bytes in (receive_data; b"" means the server closed TCP), events out (next_event: a Response head, then
# Data pieces of the body, then END; None while more bytes are needed). The parser never holds more of
# the body than the caller gave it in one receive_data, so a download streams through a board's small
# heap. Anything the server gets wrong raises HttpError (status None: no usable answer). No sockets here;
# hal/http_client.py does the I/O. Portable subset (MicroPython 1.2x): binascii only.
import binascii

from hal.urls import host_port, split_authority

MAX_HEAD_BYTES = 8192  # our bound on a response head (status line + headers)
MAX_CHUNK_LINE_BYTES = 1024  # a chunk-size line with its extensions (RFC 9112 section 7.1.1)
REDIRECTS = (301, 302, 303, 307, 308)  # RFC 9110 section 15.4
NO_BODY_STATUSES = (204, 304)  # RFC 9112 section 6.3 item 1


class HttpError(Exception):
    """A request failed. status is the server's HTTP status for a non-2xx answer; None when there was no
    usable answer (no connection, timeout, bad status line, head too long, truncated body)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def parse_url(url):
    """(secure, host, port, target, userinfo) of an http:// or https:// URL. Raises ValueError.

    userinfo ("user:password" before an @, or None) becomes HTTP Basic auth in the client: diagnostics and
    firmware locations often carry credentials that way."""
    if url.startswith("http://"):
        secure, rest, port = False, url[7:], 80
    elif url.startswith("https://"):
        secure, rest, port = True, url[8:], 443
    else:
        raise ValueError("not an http:// or https:// URL: %r" % (url[:80],))
    rest = rest.split("#")[0]  # the fragment stays with the client (RFC 9110 section 4.2.4)
    authority, target = split_authority(rest)
    userinfo = None
    if "@" in authority:
        userinfo, authority = authority.rsplit("@", 1)
    host, port = host_port(authority, port, url)
    for c in target:
        if c <= " " or c == "\x7f":  # a request target may not carry spaces or control characters
            raise ValueError("space or control character in the URL path %r" % target[:80])
    if not target.startswith("/"):
        target = "/" + target
    return secure, host, port, target, userinfo


def resolve(base, location):
    """The absolute URL a Location header points to, relative to the request URL base (RFC 3986 5.2,
    without dot-segment removal)."""
    if location.startswith("http://") or location.startswith("https://"):
        return location
    scheme_end = base.find("://") + 3
    if location.startswith("//"):
        return base[:scheme_end - 2] + location
    path_at = base.find("/", scheme_end)
    origin = base if path_at < 0 else base[:path_at]
    if location.startswith("/"):
        return origin + location
    path = "/" if path_at < 0 else base[path_at:].split("?")[0]
    return origin + path[:path.rfind("/") + 1] + location


def basic_auth(userinfo):
    """The Authorization header value for "user:password" (RFC 7617)."""
    return "Basic " + binascii.b2a_base64(userinfo.encode(), newline=False).decode()


def request_head(method, host, port, target, secure=False, headers=None):
    """The request line and headers (RFC 9112 section 3), ending with the blank line. headers: (name,
    value) pairs. One request per connection (Connection: close) keeps the client simple and small."""
    if ":" in host:
        host = "[" + host + "]"
    if port != (443 if secure else 80):
        host = "%s:%d" % (host, port)
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: " + host, "Connection: close"]
    for name, value in headers or ():
        line = "%s: %s" % (name, value)
        if "\r" in line or "\n" in line:  # a header may not smuggle in another one
            raise ValueError("line break in header %r" % name)
        lines.append(line)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data):
    """One chunk of a chunked request body (RFC 9112 section 7.1); chunk(b"") is the last chunk."""
    if not data:
        return b"0\r\n\r\n"
    return ("%x\r\n" % len(data)).encode() + data + b"\r\n"


class Response:
    def __init__(self, status, reason, headers):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (repeated headers joined with ", ")


class Data:
    def __init__(self, data):
        self.data = data


END = "END"  # the body is complete
_HEX = b"0123456789abcdefABCDEF"

_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE, _DONE = range(8)


def _head(raw):
    """Response from a head without its blank line."""
    try:
        lines = bytes(raw).decode().split("\r\n")
    except UnicodeError:
        raise HttpError("response head is not text")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0") or len(parts[1]) != 3 \
            or not all("0" <= c <= "9" for c in parts[1]):
        raise HttpError("bad status line %r" % lines[0][:80])
    headers = {}
    for line in lines[1:]:
        colon = line.find(":")
        if colon <= 0 or line[0] in " \t":  # obsolete line folding is refused (RFC 9112 section 5.2)
            raise HttpError("bad header line %r" % line[:80])
        name, value = line[:colon].strip().lower(), line[colon + 1:].strip()
        headers[name] = headers[name] + ", " + value if name in headers else value
    return Response(int(parts[1]), parts[2] if len(parts) > 2 else "", headers)


class ResponseParser:
    """One response to one request; method is the request's (a HEAD answer has no body)."""

    def __init__(self, method="GET", max_head_bytes=MAX_HEAD_BYTES):
        self.method = method
        self.max_head_bytes = max_head_bytes
        self.response = None
        self.body_bytes = 0  # body bytes handed out so far
        self.expected_bytes = None  # Content-Length, when the server gave one
        self._buf = b""
        self._eof = False
        self._state = _HEAD
        self._left = 0  # bytes left in the body or the current chunk

    def receive_data(self, data):
        if not data:
            self._eof = True
        elif self._buf:
            self._buf = self._buf + data
        else:
            self._buf = bytes(data)

    def _line(self, limit, what):
        """The next CRLF-terminated line without its CRLF, or None until it is complete."""
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > limit:
                raise HttpError("%s over %d bytes" % (what, limit))
            if self._eof:
                raise HttpError("body truncated: connection closed in the %s" % what)
            return None
        line, self._buf = self._buf[:end], self._buf[end + 2:]
        return line

    def _take(self):
        """Data with up to _left buffered bytes, or None until some arrive."""
        if not self._buf:
            if self._eof:
                if self.expected_bytes is not None:
                    raise HttpError("body truncated: %d of %d bytes" % (self.body_bytes, self.expected_bytes))
                raise HttpError("body truncated after %d bytes, in the middle of a chunk" % self.body_bytes)
            return None
        n = min(self._left, len(self._buf))
        piece = self._buf if n == len(self._buf) else self._buf[:n]
        self._buf = self._buf[n:] if n < len(self._buf) else b""
        self._left -= n
        self.body_bytes += n
        return Data(piece)

    def next_event(self):
        state = self._state
        if state == _HEAD:
            return self._next_head()
        if state == _LENGTH:
            if self._left == 0:
                self._state = _DONE
                return END
            return self._take()
        if state == _CHUNK_SIZE:
            line = self._line(MAX_CHUNK_LINE_BYTES, "chunk size line")
            if line is None:
                return None
            size = line.split(b";")[0].strip()
            if not size or len(size) > 15 or not all(c in _HEX for c in size):
                raise HttpError("bad chunk size %r" % line[:40])
            self._left = int(size.decode(), 16)
            self._state = _CHUNK_DATA if self._left else _TRAILERS
            return self.next_event()
        if state == _CHUNK_DATA:
            event = self._take()
            if self._left == 0:
                self._state = _CHUNK_END
            return event
        if state == _CHUNK_END:
            line = self._line(2, "end of a chunk")
            if line is None:
                return None
            if line:
                raise HttpError("chunk longer than its size line says")
            self._state = _CHUNK_SIZE
            return self.next_event()
        if state == _TRAILERS:  # trailer fields are read and dropped (RFC 9112 section 7.1.2)
            line = self._line(self.max_head_bytes, "trailer section")
            if line is None:
                return None
            if not line:
                self._state = _DONE
                return END
            return self.next_event()
        if state == _UNTIL_CLOSE:
            if self._buf:
                piece, self._buf = self._buf, b""
                self.body_bytes += len(piece)
                return Data(piece)
            if self._eof:
                self._state = _DONE
                return END
        return None

    def _next_head(self):
        end = self._buf.find(b"\r\n\r\n")
        if end < 0 or end > self.max_head_bytes:
            if len(self._buf) > self.max_head_bytes:
                raise HttpError("response head over %d bytes" % self.max_head_bytes)
            if self._eof:
                raise HttpError("connection closed before a response" if not self._buf
                                else "connection closed in the response head")
            return None
        response = _head(self._buf[:end])
        self._buf = self._buf[end + 4:]
        if 100 <= response.status < 200:
            if response.status == 101:
                raise HttpError("server switched protocols, which we never asked for", 101)
            return self._next_head()  # an interim answer (100 Continue, 103): the real one follows
        self.response = response
        headers = response.headers
        coding = headers.get("transfer-encoding")
        if self.method == "HEAD" or response.status in NO_BODY_STATUSES:
            self._left, self._state = 0, _LENGTH
        elif coding is not None:  # Transfer-Encoding overrides Content-Length (RFC 9112 section 6.3)
            if coding.lower() != "chunked":
                raise HttpError("transfer coding %r not supported" % coding[:40])
            self._state = _CHUNK_SIZE
        elif "content-length" in headers:
            values = [v.strip() for v in headers["content-length"].split(",")]
            if not all(v and all("0" <= c <= "9" for c in v) for v in values) or len(set(values)) != 1:
                raise HttpError("bad Content-Length %r" % headers["content-length"][:40])
            self._left = self.expected_bytes = int(values[0])
            self._state = _LENGTH
        else:
            self._state = _UNTIL_CLOSE  # the body ends when the server closes (RFC 9112 section 6.3 item 8)
        return response
