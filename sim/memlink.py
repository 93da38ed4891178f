# In-memory text channels (CPython only): a WebSocket stand-in between the firmware and the embedded CSMS.
#
# pipe() gives two connected endpoints. Each is a hal.interfaces.Connection (send, recv, close) and also
# what the `ocpp` package's ChargePoint needs from its connection (send(str), recv() -> str). Messages
# arrive in order, after an optional per-message latency in loop time (virtual in sim.vloop), so the
# channel behaves the same on the virtual and on a normal event loop.
#
# Closing follows WebSocket manners: close() lets the messages already sent arrive first, then the peer's
# recv() raises hal.interfaces.ConnectionClosed. drop() is a cut cable: in-flight messages are lost and
# both ends fail at once. MemoryNetwork is a hal.interfaces.Network over such pipes with an online switch.
import asyncio
import collections
import random
from urllib.parse import unquote, urlsplit

from hal.interfaces import ConnectionClosed, Network

_CLOSED = object()  # end-of-stream marker in an inbox


class Endpoint:
    """One end of a pipe. Attributes for the accepting side: subprotocol, path, headers."""

    def __init__(self, name, latency):
        self.name = name
        self.subprotocol = None
        self.path = ""
        self.headers = {}
        self._latency = latency  # callable -> seconds
        self._peer = None
        self._inbox = collections.deque()
        self._waiter = None
        self._closed = False  # no more sending or receiving at this end
        self._closed_here = False  # close() was called on this end
        self._last_arrival = 0.0  # arrivals at the peer never overtake each other
        self._in_flight = set()
        self.close_reason = None
        self.silent = False  # a half-open link: nothing sent from here arrives, pings go unanswered
        self.pings = 0  # pings sent from this end

    @property
    def closed(self):
        return self._closed

    async def send(self, text):
        if not isinstance(text, str):
            raise TypeError("a text channel carries str, not %s" % type(text).__name__)
        if self._closed or (self._inbox and self._inbox[-1] is _CLOSED):
            raise ConnectionClosed("%s: send on a closed connection (%s)"
                                   % (self.name, self.close_reason or "closed by the peer"))
        self._deliver_later(text)

    async def recv(self):
        if self._closed_here:
            raise ConnectionClosed("%s: %s" % (self.name, self.close_reason))
        while not self._inbox:
            if self._closed:
                raise ConnectionClosed("%s: %s" % (self.name, self.close_reason))
            loop = asyncio.get_running_loop()
            self._waiter = loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._inbox.popleft()
        if item is _CLOSED:
            self._inbox.appendleft(item)  # every later recv() fails too
            self._closed = True
            raise ConnectionClosed("%s: %s" % (self.name, self.close_reason))
        return item

    async def close(self):
        """Close cleanly: what was sent still arrives, then the peer sees ConnectionClosed."""
        if self._closed:
            return
        self._closed = self._closed_here = True
        self.close_reason = self.close_reason or "closed by this end"
        self._wake()
        self._deliver_later(_CLOSED, reason="closed by the peer")

    async def ping(self, timeout_ms):
        """A WebSocket ping (RFC 6455 section 5.5.2): True when the pong came back within timeout_ms.
        The peer answers unless the link is silent (either end); a closed link raises ConnectionClosed."""
        if self._closed:
            raise ConnectionClosed("%s: %s" % (self.name, self.close_reason))
        self.pings += 1
        round_trip_s = self._latency() + self._latency()
        if self.silent or self._peer.silent or round_trip_s * 1000 > timeout_ms:
            await asyncio.sleep(timeout_ms / 1000)
            return False
        await asyncio.sleep(round_trip_s)
        return not self._closed

    def drop(self, reason="link dropped"):
        """Cut the link now, both ways: in-flight messages are lost."""
        for end in (self, self._peer):
            if end is None:
                continue
            for handle in end._in_flight:
                handle.cancel()
            end._in_flight.clear()
            if not end._closed:
                end._closed = True
                end.close_reason = reason
                end._inbox.clear()
                end._inbox.append(_CLOSED)
            end._wake()

    def _deliver_later(self, item, reason=None):
        if self.silent and item is not _CLOSED:
            return  # lost on the way, as on a half-open TCP connection
        loop = asyncio.get_running_loop()
        arrival = max(loop.time() + self._latency(), self._last_arrival)
        self._last_arrival = arrival
        handle = None

        def arrive():
            self._in_flight.discard(handle)
            peer = self._peer
            if peer._inbox and peer._inbox[-1] is _CLOSED:
                return  # the peer's end already failed
            if item is _CLOSED and peer.close_reason is None:
                peer.close_reason = reason
            peer._inbox.append(item)
            peer._wake()

        handle = loop.call_at(arrival, arrive)
        self._in_flight.add(handle)

    def _wake(self):
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def __repr__(self):
        return "<memlink.Endpoint %s%s>" % (self.name, " closed" if self._closed else "")


def _latency_fn(latency_s, rng):
    if isinstance(latency_s, (tuple, list)):
        low, high = latency_s
        return lambda: rng.uniform(low, high)
    return lambda: latency_s


def pipe(latency_s=0.0, seed=0, names=("a", "b")):
    """Two connected Endpoints. latency_s: seconds per message, or a (low, high) range drawn from a
    random.Random(seed), so a run repeats exactly."""
    rng = random.Random(seed)
    a = Endpoint(names[0], _latency_fn(latency_s, rng))
    b = Endpoint(names[1], _latency_fn(latency_s, rng))
    a._peer, b._peer = b, a
    return a, b


def charge_point_id(url):
    """The charge point id: the last non-empty path segment of url, percent-decoded."""
    segments = [s for s in urlsplit(url).path.split("/") if s]
    if not segments:
        raise ValueError("no charge point id in %r" % url)
    return unquote(segments[-1])


class MemoryNetwork(Network):
    """hal.interfaces.Network over in-memory pipes to a registered acceptor.

    acceptor(cp_id, server_end) is called for every connection (Csms.accept fits); it may return a
    coroutine, which runs as a task. The server end carries .subprotocol, .path and .headers.
    Connection failures (offline, no acceptor, subprotocol refused) raise ConnectionRefusedError,
    an OSError, as a socket would."""

    def __init__(self, acceptor=None, subprotocols=("ocpp1.6",), latency_s=(0.0, 0.005), seed=0):
        self.acceptor = acceptor
        self.subprotocols = tuple(subprotocols)
        self.latency_s = latency_s
        self._rng = random.Random(seed)
        self._online = True
        self._links = []  # open (client_end, server_end) pairs
        self._tasks = set()
        self.connects = 0  # successful connects, for tests

    @property
    def online(self):
        return self._online

    def set_online(self, online):
        """Going offline drops every open link and refuses new connects until back online."""
        self._online = bool(online)
        if not self._online:
            for client_end, _ in self._links:
                client_end.drop("network offline")
            self._links = []

    def set_silent(self, silent):
        """Make every open link half-open (True): no error, no close, nothing arrives either way; only
        a ping timeout (or a CALL timeout) can tell. New connections are not affected."""
        for client_end, server_end in self._links:
            client_end.silent = server_end.silent = bool(silent)

    async def connect(self, url, subprotocol, headers=None):
        if not self._online:
            raise ConnectionRefusedError("network offline")
        if self.acceptor is None:
            raise ConnectionRefusedError("no server at %s" % url)
        if subprotocol not in self.subprotocols:
            raise ConnectionRefusedError("server refused subprotocol %r" % (subprotocol,))
        cp_id = charge_point_id(url)
        client_end, server_end = pipe(self.latency_s, seed=self._rng.getrandbits(32),
                                      names=(cp_id + "/client", cp_id + "/server"))
        for end in (client_end, server_end):
            end.subprotocol = subprotocol
            end.path = urlsplit(url).path
            end.headers = dict(headers or {})
        self._links = [link for link in self._links if not link[0].closed]
        self._links.append((client_end, server_end))
        started = self.acceptor(cp_id, server_end)
        if asyncio.iscoroutine(started):
            task = asyncio.get_running_loop().create_task(started)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.connects += 1
        return client_end
