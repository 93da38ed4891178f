# A small HTTP/1.1 client over asyncio streams and the sans-I/O hal/http_wire.py parser: firmware images
# in (GET, streamed to a sink in pieces, never the whole body in RAM) and diagnostics out (PUT or POST
# from a source of chunks). It runs unchanged under MicroPython (boards, unix port) and CPython.
#
# http:// and https:// only (TLS from hal/tls.py, with the same certificate options as hal/ws_micro.py).
# OCPP 1.6 lets a CSMS name ftp:// locations for UpdateFirmware and GetDiagnostics; those fail here with
# a clear error. One request per connection; redirects are followed at most max_redirects times.
# timeout_ms bounds each step (connect + TLS, every read, every write), not the whole transfer, so a big
# image on a slow link still completes while a server that goes silent is given up on.
# Every failure raises HttpError; its status is the HTTP status for a non-2xx answer, else None.
import asyncio

from hal import http_wire as wire
from hal.http_wire import HttpError

READ_BYTES = 1024  # one stream read: the largest piece a sink is handed
MAX_REDIRECTS = 3


class Result:
    def __init__(self, status, reason, headers, body_bytes, url):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body_bytes = body_bytes  # body bytes handed to the sink (or read and dropped)
        self.url = url  # where the answer finally came from, after redirects


class _Conn:
    """One stream with a per-step timeout."""

    def __init__(self, timeout_ms):
        self.timeout_ms = timeout_ms
        self.timeout_s = timeout_ms / 1000
        self.reader = self.writer = None
        self.peer = "?"

    def _failed(self, what, exc):
        # MicroPython's TLS raises ValueError, with a multi-line text, for a certificate it rejects
        return HttpError("%s %s failed: %s: %s" % (self.peer, what, type(exc).__name__, " ".join(str(exc).split())))

    async def _step(self, coro, what):
        try:
            return await asyncio.wait_for(coro, self.timeout_s)
        except asyncio.TimeoutError:
            raise HttpError("no answer within %d ms (%s)" % (self.timeout_ms, what))
        except (OSError, EOFError, ValueError) as exc:
            raise self._failed(what, exc)

    async def open(self, host, port, ssl_context):
        self.peer = "%s:%d" % (host, port)
        if ssl_context is None:
            coro = asyncio.open_connection(host, port)
        else:  # both runtimes take ssl= and server_hostname= (MicroPython shakes hands on first I/O)
            coro = asyncio.open_connection(host, port, ssl=ssl_context, server_hostname=host)
        self.reader, self.writer = await self._step(coro, "connect")

    async def write(self, data):
        try:
            self.writer.write(data)  # MicroPython writes at once, and may fail here (a refused connect)
        except (OSError, ValueError) as exc:
            raise self._failed("send", exc)
        await self._step(self.writer.drain(), "send")

    async def read(self, n):
        return await self._step(self.reader.read(n), "receive")

    async def close(self):
        if self.writer is None:
            return
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1)
        except Exception:  # already gone, or a TLS peer that never answers our close_notify
            pass


def _source_chunks(body):
    if isinstance(body, (bytes, bytearray)):
        return (bytes(body),)
    if not callable(body):
        raise TypeError("upload body must be bytes or a function returning chunks, not %s" % type(body).__name__)
    return body()


class HttpClient:
    """ca_file verifies https servers (required on MicroPython, which has no system CA store, unless
    verify_server=False); cert_file/key_file are a client certificate; or ssl_context_factory() returns
    a ready SSLContext. headers: (name, value) pairs sent with every request (User-Agent, ...)."""

    def __init__(self, ca_file=None, cert_file=None, key_file=None, ssl_context_factory=None,
                 verify_server=True, timeout_ms=10000, max_redirects=MAX_REDIRECTS, read_bytes=READ_BYTES,
                 max_head_bytes=wire.MAX_HEAD_BYTES, headers=None):
        self.ca_file = ca_file
        self.cert_file = cert_file
        self.key_file = key_file
        self.ssl_context_factory = ssl_context_factory
        self.verify_server = verify_server
        self.timeout_ms = timeout_ms
        self.max_redirects = max_redirects
        self.read_bytes = read_bytes
        self.max_head_bytes = max_head_bytes
        self.headers = list(headers or ())

    def ssl_context(self):
        if self.ssl_context_factory is not None:
            return self.ssl_context_factory()
        import ssl

        if not self.ca_file and self.verify_server and not hasattr(ssl.SSLContext, "load_default_certs"):
            raise HttpError("https:// needs ca_file here (no system CA store), or verify_server=False")
        from hal import tls

        return tls.client_context(self.ca_file, self.cert_file, self.key_file, self.verify_server)

    def _tls(self, secure):
        if not secure:
            return None
        try:
            return self.ssl_context()
        except (OSError, ValueError) as exc:  # a missing or unreadable certificate file
            raise HttpError("TLS setup failed: %s: %s" % (type(exc).__name__, exc))

    async def get(self, url, sink, headers=None):
        """Download url: sink(bytes) is called with each piece of the body, in order. Returns a Result
        once the whole body arrived; an exception from sink stops the transfer and propagates."""
        return await self.request("GET", url, sink=sink, headers=headers)

    async def put(self, url, body, length=None, content_type="application/octet-stream", headers=None):
        """Upload body: bytes, or a function returning an iterable of bytes chunks (called again for a
        307/308 redirect). With length (the total) it goes as Content-Length, else chunked."""
        return await self.request("PUT", url, body=body, length=length, content_type=content_type,
                                  headers=headers)

    async def post(self, url, body, length=None, content_type="application/octet-stream", headers=None):
        return await self.request("POST", url, body=body, length=length, content_type=content_type,
                                  headers=headers)

    async def request(self, method, url, sink=None, body=None, length=None, content_type=None, headers=None):
        if body is not None and length is None and isinstance(body, (bytes, bytearray)):
            length = len(body)
        for _ in range(self.max_redirects + 1):
            result = await self._exchange(method, url, sink, body, length, content_type, headers)
            if result.status not in wire.REDIRECTS:
                return result
            location = result.headers.get("location")
            if not location:
                raise HttpError("%s %s answered %d without a Location" % (method, url, result.status),
                                result.status)
            if body is not None and result.status not in (307, 308):
                # 301/302/303 turn a request into a GET (RFC 9110 15.4): an upload would be lost.
                raise HttpError("%s %s redirected with %d, which drops the body" % (method, url, result.status),
                                result.status)
            url = wire.resolve(url, location)
        raise HttpError("more than %d redirects, the last to %s" % (self.max_redirects, url), result.status)

    async def _exchange(self, method, url, sink, body, length, content_type, headers):
        try:
            secure, host, port, target, userinfo = wire.parse_url(url)
        except ValueError as exc:
            raise HttpError(str(exc))
        fields = list(self.headers)
        if userinfo:
            fields.append(("Authorization", wire.basic_auth(userinfo)))
        if body is not None:
            fields.append(("Content-Type", content_type or "application/octet-stream"))
            fields.append(("Content-Length", str(length)) if length is not None
                          else ("Transfer-Encoding", "chunked"))
        fields.extend(headers.items() if hasattr(headers, "items") else headers or ())
        head = wire.request_head(method, host, port, target, secure, fields)
        conn = _Conn(self.timeout_ms)
        try:
            await conn.open(host, port, self._tls(secure))
            await conn.write(head)
            if body is not None:
                await self._send_body(conn, body, length)
            parser = wire.ResponseParser(method, self.max_head_bytes)
            response = await self._next(conn, parser)
            status = response.status
            if status not in wire.REDIRECTS:  # a redirect's body is never read: the caller follows it
                if not 200 <= status < 300:
                    raise HttpError("%s %s answered %d %s" % (method, url, status, response.reason), status)
                await self._stream(conn, parser, sink)  # no sink (an upload's answer): read and drop
            return Result(status, response.reason, response.headers, parser.body_bytes, url)
        finally:
            await conn.close()

    async def _send_body(self, conn, body, length):
        sent = 0
        for piece in _source_chunks(body):
            if not piece:
                continue
            sent += len(piece)
            if length is not None and sent > length:
                raise HttpError("upload source gave more than the %d bytes announced" % length)
            await conn.write(piece if length is not None else wire.chunk(piece))
        if length is None:
            await conn.write(wire.chunk(b""))
        elif sent != length:
            raise HttpError("upload source gave %d bytes, not the %d announced" % (sent, length))

    async def _next(self, conn, parser):
        while True:
            event = parser.next_event()
            if event is not None:
                return event
            parser.receive_data(await conn.read(self.read_bytes))

    async def _stream(self, conn, parser, sink):
        while True:
            event = await self._next(conn, parser)
            if event == wire.END:
                return
            if sink is not None:
                sink(event.data)
