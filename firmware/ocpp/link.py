# The connection to the CSMS: connect, reconnect with back-off and jitter, WebSocket pings, one
# outstanding CALL at a time, incoming CALLs handed to a handler. Knows nothing of OCPP versions beyond
# the RPC dialect.
import asyncio

from firmware.ocpp import rpc as _rpc
from firmware.waiting import event_or_timeout
from hal.parts import ConnectionClosed

BACKOFF_MIN_MS = 1000  # first reconnect wait; doubled per failure (OCPP 2.0.1 RetryBackOff* practice)
BACKOFF_MAX_MS = 60000
STABLE_MS = 60000  # a connection that lasted this long resets the back-off when it drops
JITTER_SHARE = 0.5  # each wait is drawn from [1 - this, 1] x the back-off: chargers that lost the
# CSMS together (its restart, a network outage) do not all come back in the same second
PING_TIMEOUT_MS = 10000  # no pong within this: the connection is dead (a half-open TCP link)


class CallFailed(Exception):
    """An outgoing CALL got a CALLERROR, timed out, or the link went down under it."""

    def __init__(self, action, why, code=None):
        super().__init__("%s failed: %s" % (action, why))
        self.action = action
        self.why = why
        self.code = code


class Link:
    def __init__(self, network, url, subprotocol, rpc, clock, handler, headers=None, trace=None):
        self.network = network
        self.url = url
        self.subprotocol = subprotocol
        self.rpc = rpc
        self.clock = clock
        self.handler = handler  # async fn(Call) -> payload dict; raises rpc.RpcError
        self.headers = headers
        self.trace = trace  # fn(direction, text) or None
        self.on_connect = None  # async fn() run after each (re)connect, before queued calls go out
        self.online = asyncio.Event()
        self.connects = 0
        self._conn = None
        self._lock = asyncio.Lock()
        self._answer = None
        self._answered = asyncio.Event()
        self._booting = None  # the task running on_connect for the current connection
        self._stopping = False
        self._stopped = asyncio.Event()  # set by stop(): cuts a back-off wait short
        self.random_bytes = None  # fn(n) -> n random bytes for the jitter (the board's, os.urandom)
        self.ping_interval_s = lambda: 0  # WebSocketPingInterval (0: no pings); the app binds the key
        self.ping_changed = asyncio.Event()  # set when WebSocketPingInterval changed: applies at once
        self.pings_failed = 0  # connections closed because a ping got no pong

    async def run(self):
        backoff_ms = BACKOFF_MIN_MS
        while not self._stopping:
            try:
                self._conn = await self.network.connect(self.url, self.subprotocol, self.headers)
            except Exception as exc:  # noqa: BLE001
                # Refused or unreachable (OSError, ConnectionClosed), and also what a connect should not
                # raise but can on a board: a MemoryError in a fragmented heap, a TLS library's own
                # error. Each is one failed attempt; the link never gives up.
                if self.trace is not None and not isinstance(exc, (OSError, ConnectionClosed)):
                    self.trace("error", "connect: %s: %s" % (type(exc).__name__, exc))
                await self._pause(self._jittered(backoff_ms))
                backoff_ms = min(backoff_ms * 2, BACKOFF_MAX_MS)
                continue
            up_ms = self.clock.ms()
            self.connects += 1
            self.rpc.reset()
            self.online.set()
            conn = self._conn
            if self.on_connect is not None:
                self._booting = asyncio.create_task(self._connected(conn))
            keepalive = asyncio.create_task(self._keepalive(conn))
            try:
                await self._receive_loop(conn)
            except ConnectionClosed:
                pass
            except Exception as exc:  # a transport error or a bug: drop this connection, not the link
                if self.trace is not None:
                    self.trace("error", "%s: %s" % (type(exc).__name__, exc))
                await _close_quietly(conn)
            finally:
                keepalive.cancel()  # also when run() itself is cancelled
            self._went_down()
            if self._stopping:
                break
            # Wait before connecting again, also after a drop: a CSMS that accepts and at once closes
            # must not get a reconnect storm. Back to the shortest wait once a connection held.
            if self.clock.ms() - up_ms >= STABLE_MS:
                backoff_ms = BACKOFF_MIN_MS
            await self._pause(self._jittered(backoff_ms))
            backoff_ms = min(backoff_ms * 2, BACKOFF_MAX_MS)

    async def _connected(self, conn):
        try:
            await self.on_connect()
        except Exception as exc:  # noqa: BLE001
            # A bug, or a MemoryError in a small heap (seen at boot): this connection never booted and
            # is no use; close it so that the next one boots again, instead of staying up for nothing.
            if self.trace is not None:
                self.trace("error", "after connect: %s: %s" % (type(exc).__name__, exc))
            if conn is self._conn:
                self._went_down()
                await _close_quietly(conn)

    def _jittered(self, backoff_ms):
        source = self.random_bytes
        if source is None:
            return backoff_ms
        fraction = (source(1)[0] & 0xFF) / 255  # 0..1
        return int(backoff_ms * (1 - JITTER_SHARE * fraction))

    async def _keepalive(self, conn):
        # WebSocketPingInterval: a ping every so often; no pong means the peer is gone although TCP
        # has not noticed, so close and reconnect.
        while True:
            self.ping_changed.clear()
            interval_ms = self.ping_interval_s() * 1000
            if interval_ms <= 0 or not hasattr(conn, "ping"):
                await self.ping_changed.wait()
                continue
            if await event_or_timeout(self.ping_changed, interval_ms):
                continue  # a new interval: counted from now
            try:
                alive = await conn.ping(PING_TIMEOUT_MS)
            except ConnectionClosed:
                return
            if not alive:
                self.pings_failed += 1
                if self.trace is not None:
                    self.trace("error", "no pong within %d ms: closing" % PING_TIMEOUT_MS)
                await conn.close()
                return

    async def _pause(self, ms):
        await event_or_timeout(self._stopped, ms)

    async def stop(self):
        self._stopping = True
        self._stopped.set()
        if self._booting is not None:
            self._booting.cancel()  # a boot loop of this connection must not outlive the firmware
        conn = self._conn
        self._went_down()
        if conn is not None:
            await conn.close()

    async def stop_connection(self):
        """Drop the current connection; run() connects again (as after a reboot)."""
        conn = self._conn
        self._went_down()
        if conn is not None:
            await conn.close()

    def _went_down(self):
        self._conn = None
        self.online.clear()
        if self.rpc.outstanding is not None:
            self._answer = CallFailed(self.rpc.outstanding[1], "connection lost")
            self._answered.set()

    async def _send(self, text):
        if self._conn is None:
            raise ConnectionClosed()
        if self.trace is not None:
            self.trace("out", text)
        await self._conn.send(text)

    async def _receive_loop(self, conn):
        while True:
            text = await conn.recv()
            if self.trace is not None:
                self.trace("in", text)
            event, reply = self.rpc.receive(text, self.clock.ms())
            if reply is not None:
                await self._send(reply)
            if isinstance(event, _rpc.Call):
                await self._answer_call(event)
            elif isinstance(event, (_rpc.CallResult, _rpc.CallError)):
                self._answer = event
                self._answered.set()

    async def _answer_call(self, call):
        try:
            reply = self.rpc.result(call.unique_id, await self.handler(call))
        except Exception as exc:  # RpcError keeps its code; a bug in a handler is an InternalError
            try:
                reply = self.rpc.error_for(call.unique_id, exc)
            except Exception:  # e.g. RpcError details that are not JSON
                reply = self.rpc.error(call.unique_id, _rpc.INTERNAL_ERROR, "%s: %s" % (type(exc).__name__, exc))
        await self._send(reply)

    async def call(self, action, payload):
        """Send one CALL and return the CALLRESULT payload. Raises CallFailed."""
        async with self._lock:
            if not self.online.is_set():
                raise CallFailed(action, "offline")
            self._answer = None
            self._answered.clear()
            text = self.rpc.call(action, payload, self.clock.ms())
            try:
                await self._send(text)
            except (OSError, ConnectionClosed):
                self.rpc.reset()
                raise CallFailed(action, "connection lost")
            except Exception:  # a MemoryError building the frame: the CALL never left, no RpcBusy after
                self.rpc.reset()
                raise
            unique_id = self.rpc.outstanding[0]
            try:
                answered = await event_or_timeout(self._answered, self.rpc.call_timeout_ms)
            finally:
                # Timed out or cancelled while waiting: forget the CALL, or every later call() raises
                # RpcBusy (an answer that comes later is an orphan).
                out = self.rpc.outstanding
                if out is not None and out[0] == unique_id:
                    self.rpc.reset()
            if not answered:
                raise CallFailed(action, "timeout")
            answer = self._answer
            if isinstance(answer, CallFailed):
                raise answer
            if isinstance(answer, _rpc.CallError):
                raise CallFailed(action, answer.description, answer.code)
            return answer.payload


async def _close_quietly(conn):
    try:
        await conn.close()
    except Exception:  # noqa: BLE001 - the connection is being dropped anyway
        pass
