# The connection to the CSMS: connect, reconnect with back-off, one outstanding CALL at a time,
# incoming CALLs handed to a handler. Knows nothing of OCPP versions beyond the RPC dialect.
import asyncio

from firmware.ocpp import rpc as _rpc
from hal.interfaces import ConnectionClosed

BACKOFF_MIN_MS = 1000  # first reconnect wait; doubled per failure (OCPP 2.0.1 RetryBackOff* practice)
BACKOFF_MAX_MS = 60000
STABLE_MS = 60000  # a connection that lasted this long resets the back-off when it drops


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
        self._stopping = False
        self._stopped = asyncio.Event()  # set by stop(): cuts a back-off wait short

    async def run(self):
        backoff_ms = BACKOFF_MIN_MS
        while not self._stopping:
            try:
                self._conn = await self.network.connect(self.url, self.subprotocol, self.headers)
            except (OSError, ConnectionClosed):
                await self._pause(backoff_ms)
                backoff_ms = min(backoff_ms * 2, BACKOFF_MAX_MS)
                continue
            up_ms = self.clock.ms()
            self.connects += 1
            self.rpc.reset()
            self.online.set()
            if self.on_connect is not None:
                asyncio.create_task(self.on_connect())
            conn = self._conn
            try:
                await self._receive_loop(conn)
            except ConnectionClosed:
                pass
            except Exception as exc:  # a transport error or a bug: drop this connection, not the link
                if self.trace is not None:
                    self.trace("error", "%s: %s" % (type(exc).__name__, exc))
                try:
                    await conn.close()
                except Exception:
                    pass
            self._went_down()
            if self._stopping:
                break
            # Wait before connecting again, also after a drop: a CSMS that accepts and at once closes
            # must not get a reconnect storm. Back to the shortest wait once a connection held.
            if self.clock.ms() - up_ms >= STABLE_MS:
                backoff_ms = BACKOFF_MIN_MS
            await self._pause(backoff_ms)
            backoff_ms = min(backoff_ms * 2, BACKOFF_MAX_MS)

    async def _pause(self, ms):
        try:
            await asyncio.wait_for(self._stopped.wait(), ms / 1000)
        except asyncio.TimeoutError:
            pass

    async def stop(self):
        self._stopping = True
        self._stopped.set()
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
            unique_id = self.rpc.outstanding[0]
            timeout_s = self.rpc.call_timeout_ms / 1000
            try:
                await asyncio.wait_for(self._answered.wait(), timeout_s)
            except asyncio.TimeoutError:
                self.rpc.poll(self.clock.ms() + self.rpc.call_timeout_ms)
                raise CallFailed(action, "timeout")
            finally:
                # Cancelled while waiting: forget the CALL, or every later call() raises RpcBusy.
                out = self.rpc.outstanding
                if out is not None and out[0] == unique_id:
                    self.rpc.reset()
            answer = self._answer
            if isinstance(answer, CallFailed):
                raise answer
            if isinstance(answer, _rpc.CallError):
                raise CallFailed(action, answer.description, answer.code)
            return answer.payload
