# hal.interfaces.Network over the sans-I/O hal/websocket.py core and asyncio streams: the WebSocket
# client for MicroPython boards and the unix port. It runs unchanged under CPython's asyncio too.
#
# connect() opens ws:// or wss:// with exactly one OCPP subprotocol and optional extra headers (e.g.
# Authorization from websocket.basic_auth for OCPP security profiles 1 and 2; a client certificate is
# profile 3). Anything that stops the connection from opening raises OSError, as hal/ws_cpython.py does.
# Once open, recv() and send() raise hal.interfaces.ConnectionClosed when the connection is gone; after
# that, close_code and close_reason say why (the server's close, or the error we closed with).
import asyncio
import os
import struct

from firmware.waiting import event_or_timeout
from hal import websocket as ws
from hal.parts import ConnectionClosed

READ_BYTES = 256  # one stream read (a bigger frame collects in the core's buffer): each read allocates
# its buffer whole, and in a heap fragmented by the imports 1 KB in one piece was not there (issue #4)

if hasattr(os, "urandom"):
    random_bytes = os.urandom
else:  # ports without os.urandom; mask keys need to be unpredictable, not secret (RFC 6455 §10.3)
    import random

    def random_bytes(n):
        return bytes([random.getrandbits(8) for _ in range(n)])


async def _open_stream(host, port, ssl_context):
    # Both runtimes' asyncio.open_connection take ssl= and server_hostname= and return (reader, writer)
    # with the calls used here: read(n) (b"" at the end), write, drain, close, wait_closed. MicroPython
    # gives the same Stream object twice and does the TLS handshake in the first write and read.
    if ssl_context is None:
        return await asyncio.open_connection(host, port)
    return await asyncio.open_connection(host, port, ssl=ssl_context, server_hostname=host)


async def _close_stream(writer, timeout_ms):
    try:
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), timeout_ms / 1000)
    except Exception:  # already gone, or a TLS peer that never answers our close_notify
        pass


class WsConnection:  # hal.interfaces.Connection
    def __init__(self, client, close_timeout_ms):
        self.client = client
        self.subprotocol = client.subprotocol
        self.close_timeout_ms = close_timeout_ms
        self.close_code = None
        self.close_reason = ""
        self._reader = None
        self._writer = None
        self._write_lock = asyncio.Lock()  # one frame at a time: MicroPython's drain() is not reentrant
        self._read_lock = asyncio.Lock()  # one reader: recv(), or close() waiting for the server's close
        self._closed = asyncio.Event()  # set once the transport is closed
        self._ping_payload = None
        self._pong = asyncio.Event()
        self._pings = 0

    async def _open(self, host, port, ssl_context):
        self._reader, self._writer = await _open_stream(host, port, ssl_context)
        await self._write(self.client.request())
        while True:
            event = self.client.next_event()
            if event is not None:
                return event
            self.client.receive_data(await self._reader.read(READ_BYTES))

    async def _write(self, data):
        async with self._write_lock:
            self._writer.write(data)
            await self._writer.drain()

    async def _shutdown(self, code, reason):
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        if not self._closed.is_set():
            self._closed.set()
            await _close_stream(self._writer, self.close_timeout_ms)

    def _gone(self):
        return ConnectionClosed("connection closed: %s %s" % (self.close_code, self.close_reason))

    async def send(self, text):
        if self.client.state != ws.OPEN:
            raise self._gone()
        try:
            await self._write(self.client.send_text(text))
        except OSError as exc:
            await self._shutdown(ws.CLOSE_ABNORMAL, "send failed: %s" % exc)
            raise self._gone()

    async def recv(self):
        async with self._read_lock:
            return await self._recv()

    async def _recv(self):
        while True:
            if self._closed.is_set():
                raise self._gone()
            try:
                event = self.client.next_event()
            except ws.WebSocketError as exc:
                await self._flush()  # our close frame for a protocol error, if the core made one
                await self._shutdown(exc.code, exc.reason)
                raise self._gone()
            await self._flush()  # the pong for a ping, the echo of a close
            if event is None:
                try:
                    data = await self._reader.read(READ_BYTES)
                except (OSError, EOFError):  # reset, or the transport closed under us
                    data = b""
                self.client.receive_data(data)
            elif isinstance(event, ws.TextMessage):
                return event.text
            elif isinstance(event, ws.BinaryMessage):  # OCPP-J is text; pass UTF-8 binary on as text
                try:
                    return ws.utf8_text(event.data)
                except ws.WebSocketError:
                    await self._fail(ws.CLOSE_UNSUPPORTED_DATA, "binary message is not UTF-8 text")
            elif isinstance(event, ws.Pong):
                if event.payload == self._ping_payload:
                    self._pong.set()
            elif isinstance(event, ws.CloseReceived):
                await self._shutdown(event.code, event.reason)

    async def _flush(self):
        data = self.client.data_to_send()
        if data and not self._closed.is_set():
            try:
                await self._write(data)
            except OSError:
                pass  # the peer is gone; the read that follows finds out

    async def _fail(self, code, reason):
        if self.client.state == ws.OPEN:
            try:
                await self._write(self.client.close(code))
            except OSError:
                pass
        await self._shutdown(code, reason)

    async def ping(self, timeout_ms):
        """Send a ping; True when its pong came back within timeout_ms. Needs another task in recv()
        (as firmware.ocpp.link's receive loop) to read the pong."""
        if self.client.state != ws.OPEN:
            raise self._gone()
        self._pings += 1
        self._ping_payload = struct.pack("!I", self._pings)
        self._pong.clear()
        try:
            await self._write(self.client.ping(self._ping_payload))
        except OSError as exc:
            await self._shutdown(ws.CLOSE_ABNORMAL, "ping failed: %s" % exc)
            raise self._gone()
        return await event_or_timeout(self._pong, timeout_ms)

    async def close(self, code=ws.CLOSE_NORMAL, reason=""):
        """Close handshake (RFC 6455 §7.1.2): send our close, wait up to close_timeout_ms for the
        server's, then close the transport."""
        if self.client.state == ws.OPEN:
            try:
                await self._write(self.client.close(code, reason))
            except OSError:
                pass
            if self._read_lock.locked():  # the task in recv() sees the server's close and shuts down
                await event_or_timeout(self._closed, self.close_timeout_ms)
            else:
                try:
                    await asyncio.wait_for(self._drain_until_closed(), self.close_timeout_ms / 1000)
                except asyncio.TimeoutError:
                    pass
        await self._shutdown(code, reason)

    async def _drain_until_closed(self):
        async with self._read_lock:
            try:
                while True:
                    await self._recv()  # messages after our close are dropped (RFC 6455 §7.1.2)
            except ConnectionClosed:
                pass


class WsNetwork:  # hal.interfaces.Network
    """The WebSocket client for boards. For wss://: ca_file verifies the server (required on
    MicroPython, which has no system CA store, unless verify_server=False); cert_file and key_file
    are the client certificate for mutual TLS (OCPP security profile 3); or ssl_context_factory()
    returns a ready SSLContext for each connection. timeout_ms bounds TCP + TLS + HTTP upgrade."""

    def __init__(self, ca_file=None, cert_file=None, key_file=None, ssl_context_factory=None,
                 verify_server=True, timeout_ms=10000, close_timeout_ms=2000,
                 max_message_bytes=ws.DEFAULT_MAX_MESSAGE_BYTES):
        self.ca_file = ca_file
        self.cert_file = cert_file
        self.key_file = key_file
        self.ssl_context_factory = ssl_context_factory
        self.verify_server = verify_server
        self.timeout_ms = timeout_ms
        self.close_timeout_ms = close_timeout_ms
        self.max_message_bytes = max_message_bytes

    def ssl_context(self):
        """A fresh context per connection, so certificates replaced on disk take effect."""
        if self.ssl_context_factory is not None:
            return self.ssl_context_factory()
        from hal import tls  # loaded with the first wss:// connection

        return tls.client_context(self.ca_file, self.cert_file, self.key_file, self.verify_server)

    async def connect(self, url, subprotocol, headers=None):
        conn = None
        try:
            secure, host, port, resource = ws.parse_url(url)
            client = ws.Client(host, port, resource, subprotocol, random_bytes, headers, secure,
                               self.max_message_bytes)
            conn = WsConnection(client, self.close_timeout_ms)
            context = self.ssl_context() if secure else None
            await asyncio.wait_for(conn._open(host, port, context), self.timeout_ms / 1000)
            return conn
        except asyncio.TimeoutError:
            why = "no answer within %d ms" % self.timeout_ms
        except (OSError, ValueError, EOFError, ws.HandshakeError) as exc:
            # MicroPython's TLS raises ValueError, with a multi-line text, for a certificate it rejects
            why = "%s: %s" % (type(exc).__name__, " ".join(str(exc).split()))
        if conn is not None and conn._writer is not None:
            await conn._shutdown(ws.CLOSE_ABNORMAL, why)
        raise OSError("cannot open %s: %s" % (url, why))
