# hal.interfaces.Network on the `websockets` client (CPython only; boards use their own WebSocket).
#
# connect() opens ws:// or wss:// with exactly one OCPP subprotocol and optional extra headers (e.g.
# Authorization for OCPP security profile 1/2 Basic auth). Anything that stops the connection from
# opening (refused, handshake rejected, timeout, the server not choosing the subprotocol) raises OSError,
# as a socket does on a board. Once open, recv() and send() raise hal.interfaces.ConnectionClosed when
# the connection is gone.
import asyncio

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed as WsClosed
from websockets.exceptions import InvalidHandshake, InvalidURI

from hal.interfaces import Connection, ConnectionClosed, Network


class WebSocketConnection(Connection):
    def __init__(self, ws):
        self._ws = ws
        self.subprotocol = ws.subprotocol

    async def send(self, text):
        try:
            await self._ws.send(text)
        except WsClosed as exc:
            raise ConnectionClosed(str(exc)) from exc

    async def recv(self):
        try:
            message = await self._ws.recv()
        except WsClosed as exc:
            raise ConnectionClosed(str(exc)) from exc
        if isinstance(message, bytes):  # OCPP-J uses text frames; pass binary ones on as text
            message = message.decode("utf-8", "replace")
        return message

    async def ping(self, timeout_ms):
        """A WebSocket ping: True when its pong came back within timeout_ms."""
        try:
            pong = await self._ws.ping()
        except WsClosed as exc:
            raise ConnectionClosed(str(exc)) from exc
        try:
            await asyncio.wait_for(pong, timeout_ms / 1000)
            return True
        except asyncio.TimeoutError:
            return False

    async def close(self):
        await self._ws.close()


class WebSocketNetwork(Network):
    """open_timeout_s bounds the TCP + TLS + HTTP upgrade; ping_interval_s is the client's WebSocket
    ping (None: no pings, as WebSocketPingInterval = 0); ssl is an ssl.SSLContext for wss:// URLs."""

    def __init__(self, open_timeout_s=10, ping_interval_s=None, ssl=None):
        self.open_timeout_s = open_timeout_s
        self.ping_interval_s = ping_interval_s
        self.ssl = ssl

    async def connect(self, url, subprotocol, headers=None):
        options = {}
        if self.ssl is not None:
            options["ssl"] = self.ssl
        try:
            ws = await ws_connect(url, subprotocols=[subprotocol], additional_headers=headers,
                                  open_timeout=self.open_timeout_s, ping_interval=self.ping_interval_s,
                                  **options)
        except (InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise OSError("cannot open %s: %s" % (url, exc)) from exc
        if ws.subprotocol != subprotocol:
            await ws.close(1002, "subprotocol %s required" % subprotocol)
            raise OSError("%s did not accept subprotocol %s (chose %r)" % (url, subprotocol, ws.subprotocol))
        return WebSocketConnection(ws)
