# portable
# The CSMS link on both runtimes (real time, short timeouts): the parts that differ between CPython's and
# MicroPython's asyncio and exception classes. The thorough tests are test_link.py (virtual time).
import asyncio
import json
import time

from firmware.ocpp.link import CallFailed, Link
from firmware.ocpp.rpc import Rpc
from hal.interfaces import ConnectionClosed
from tests.portable import run_async

try:
    _ticks = time.ticks_ms  # MicroPython
except AttributeError:
    def _ticks():
        return int(time.monotonic() * 1000)


class Clock:
    def ms(self):
        return _ticks()


class Conn:
    """hal.interfaces.Connection in memory: the test pushes what the CSMS says and reads `out`."""

    def __init__(self):
        self.inbox = []
        self.out = []
        self.closed = False
        self._event = asyncio.Event()

    async def send(self, text):
        if self.closed:
            raise ConnectionClosed()
        self.out.append(text)

    async def recv(self):
        while not self.inbox:
            if self.closed:
                raise ConnectionClosed()
            self._event.clear()
            await self._event.wait()
        return self.inbox.pop(0)

    async def close(self):
        self.closed = True
        self._event.set()

    def push(self, text):
        self.inbox.append(text)
        self._event.set()


class Net:
    def __init__(self):
        self.conns = []

    async def connect(self, url, subprotocol, headers=None):
        conn = Conn()
        self.conns.append(conn)
        return conn


async def _handler(call):
    if call.action == "Boom":
        raise ValueError("boom")
    return {"status": "Accepted"}


async def _until(predicate):
    for _ in range(200):
        if predicate():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


def test_call_failed_carries_action_reason_and_code():
    exc = CallFailed("Authorize", "NotSupported here", "NotSupported")
    assert exc.action == "Authorize" and exc.why == "NotSupported here" and exc.code == "NotSupported"
    assert "Authorize failed" in str(exc)
    assert CallFailed("Heartbeat", "timeout").code is None


def test_link_answers_times_out_and_recovers_on_this_runtime():
    async def main():
        net = Net()
        link = Link(net, "ws://csms/CP1", "ocpp1.6", Rpc(call_timeout_ms=100), Clock(), _handler)
        task = asyncio.create_task(link.run())
        await link.online.wait()
        conn = net.conns[0]
        # a call nobody answers times out
        try:
            await link.call("Heartbeat", {})
            raise AssertionError("no timeout")
        except CallFailed as exc:
            assert exc.why == "timeout"
        # the next one gets its answer
        call = asyncio.create_task(link.call("Heartbeat", {}))
        await _until(lambda: len(conn.out) == 2)
        uid = json.loads(conn.out[1])[1]
        conn.push(json.dumps([3, uid, {"currentTime": "t"}]))
        assert await call == {"currentTime": "t"}
        # their CALLs: a handler crash, malformed JSON, then a normal call
        conn.push('[2,"c1","Boom",{}]')
        conn.push("{bad")
        conn.push('[2,"c2","Reset",{"type":"Soft"}]')
        await _until(lambda: len(conn.out) == 5)
        replies = [json.loads(text) for text in conn.out[2:]]
        assert replies[0][:3] == [4, "c1", "InternalError"]
        assert replies[1][:3] == [4, "-1", "FormationViolation"]
        assert replies[2] == [3, "c2", {"status": "Accepted"}]
        await link.stop()
        await task
        assert link.connects == 1 and not link.online.is_set()

    run_async(main())
