# Fakes for the firmware-management tests (portable): a wall clock moved by the sleeps the code under
# test asks for, an HTTP client that serves from a dict and fails on cue, and a driver for run() tasks.
import asyncio

from firmware import timefmt

START_S = timefmt.parse("2024-03-10T12:00:00Z")


class PowerCut(Exception):
    """Raised by a fake at the instant the power goes; drive() ends the run there."""


class Clock:
    """hal.interfaces.Clock in virtual time; sleep_ms() is what the code under test is given to wait."""

    def __init__(self, epoch_s=START_S):
        self.now_ms = 0
        self.epoch_s = epoch_s
        self.slept_ms = 0

    def ms(self):
        return self.now_ms

    def utc(self):
        return timefmt.format_utc(self.epoch_s + self.now_ms // 1000)

    def now_s(self):
        return self.epoch_s + self.now_ms // 1000

    async def sleep_ms(self, ms):
        self.now_ms += int(ms)
        self.slept_ms += int(ms)
        await asyncio.sleep(0)


class Http:
    """files: url -> bytes. plan: one entry per call, None serves the file, an Exception instance is
    raised, ("cut", n) serves n bytes and then fails, ("power", n) serves n bytes, then hangs with
    power_cut set (drive() then stops the task, as a reset would)."""

    def __init__(self, clock, files=None, piece_bytes=700):
        self.clock = clock
        self.files = dict(files or {})
        self.plan = []
        self.piece_bytes = piece_bytes
        self.calls = []  # (method, url, clock s) of every call
        self.uploads = {}  # url -> bytes
        self.on_piece = None  # called after each piece handed to a sink
        self.power_cut = False

    async def get(self, url, sink):
        self.calls.append(("GET", url, self.clock.now_s()))
        outcome = self.plan.pop(0) if self.plan else None
        if isinstance(outcome, BaseException):
            raise outcome
        if url not in self.files:
            raise OSError("404 for %s" % url)
        data = self.files[url]
        end = len(data) if outcome is None else outcome[1]
        for at in range(0, end, self.piece_bytes):
            sink(data[at:min(at + self.piece_bytes, end)])
            if self.on_piece is not None:
                self.on_piece()
            await asyncio.sleep(0)
        if outcome is not None and outcome[0] == "power":
            self.power_cut = True
            await asyncio.Event().wait()
        if outcome is not None:
            raise OSError("connection lost")

    async def _upload(self, method, url, body, length, content_type):
        self.calls.append((method, url, self.clock.now_s()))
        outcome = self.plan.pop(0) if self.plan else None
        if isinstance(outcome, BaseException):
            raise outcome
        data = b"".join(body())
        assert len(data) == length and content_type.startswith("text/plain")
        if self.on_piece is not None:
            self.on_piece()
        self.uploads[url] = data

    async def put(self, url, body, length=None, content_type=None):
        await self._upload("PUT", url, body, length, content_type)

    async def post(self, url, body, length=None, content_type=None):
        await self._upload("POST", url, body, length, content_type)


async def drive(runner, until, steps=20000):
    """Run runner.run() until until() holds (or steps loop turns), then stop it as a reset would.
    Returns the PowerCut that ended it, or None."""
    ended = []

    async def guarded():
        try:
            await runner.run()
        except PowerCut as exc:
            ended.append(exc)

    task = asyncio.create_task(guarded())
    for _ in range(steps):
        await asyncio.sleep(0)
        if until() or ended:
            break
    if not ended:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    return ended[0] if ended else None


class CutStorage:
    """A Storage whose power goes at one operation: ("delete", key) or ("write", key)."""

    def __init__(self, storage, cut_at):
        self.storage = storage
        self.cut_at = cut_at

    def read(self, key):
        return self.storage.read(key)

    def keys(self, prefix=""):
        return self.storage.keys(prefix)

    def write(self, key, data):
        if self.cut_at == ("write", key):
            raise PowerCut()
        self.storage.write(key, data)

    def delete(self, key):
        if self.cut_at == ("delete", key):
            raise PowerCut()
        self.storage.delete(key)
