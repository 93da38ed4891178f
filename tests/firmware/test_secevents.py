# portable
# The persistent security event store (firmware/ocpp/secevents.py) on MemoryStorage with a fake charge
# point; a new SecurityEvents on the same storage stands for a reboot.
import asyncio

from firmware.ocpp import secevents
from firmware.ocpp.link import CallFailed
from firmware.ocpp.secevents import EVENTS_MAX, SecurityEvents
from hal.memory import MemoryStorage
from tests.portable import run_async



class Link:
    def __init__(self):
        self.online = asyncio.Event()
        self.sent = []
        self.fail_with = None  # a CallFailed code to answer with while online

    async def call(self, action, payload):
        await asyncio.sleep(0)
        if not self.online.is_set():
            raise CallFailed(action, "offline")
        if self.fail_with:
            raise CallFailed(action, "CALLERROR", self.fail_with)
        self.sent.append((action, payload["type"]))
        return {}


class Cp:
    def __init__(self, storage):
        self.storage = storage
        self.booted = True
        self.link = Link()
        self.lines = []
        self.log = lambda topic, text: self.lines.append(text)


def event(kind, ts="2025-01-01T00:00:00Z"):
    return {"type": kind, "timestamp": ts, "techInfo": "why " + kind}


def drive(cp, events, steps=50):
    async def main():
        task = asyncio.create_task(events.run())
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    saved = secevents.POLL_S, secevents.RETRY_S
    secevents.POLL_S = secevents.RETRY_S = 0  # no real waiting here; restored for the other tests
    try:
        run_async(main())
    finally:
        secevents.POLL_S, secevents.RETRY_S = saved


def test_events_survive_a_reboot_and_are_delivered_in_order_exactly_once():
    storage = MemoryStorage()
    cp = Cp(storage)
    first = SecurityEvents(cp)
    first.add(event("StartupOfTheDevice"))
    first.add(event("FirmwareUpdated"))
    again = SecurityEvents(cp)  # a reboot before any delivery
    assert [p["type"] for p in again.pending()] == ["StartupOfTheDevice", "FirmwareUpdated"]
    cp.link.online.set()
    drive(cp, again)
    assert cp.link.sent == [("SecurityEventNotification", "StartupOfTheDevice"),
                            ("SecurityEventNotification", "FirmwareUpdated")]
    assert again.pending() == []
    third = SecurityEvents(cp)  # another reboot: nothing is sent twice
    drive(cp, third)
    assert len(cp.link.sent) == 2 and third.pending() == []
    assert len(list(third.lines())) == 2  # delivered events stay in the SecurityLog


def test_nothing_is_sent_or_lost_while_offline_or_before_the_boot():
    cp = Cp(MemoryStorage())
    events = SecurityEvents(cp)
    events.add(event("SettingSystemTime"))
    drive(cp, events)
    assert cp.link.sent == [] and len(events.pending()) == 1
    cp.link.online.set()
    cp.booted = False
    drive(cp, events)
    assert cp.link.sent == []
    cp.booted = True
    drive(cp, events)
    assert cp.link.sent == [("SecurityEventNotification", "SettingSystemTime")]


def test_a_csms_error_is_tried_again_then_the_event_stays_in_the_log_only():
    cp = Cp(MemoryStorage())
    cp.link.online.set()
    cp.link.fail_with = "NotImplemented"
    events = SecurityEvents(cp)
    events.add(event("InvalidFirmwareSignature"))
    drive(cp, events)
    assert events.pending() == [] and cp.link.sent == []  # given up after ATTEMPTS
    assert len([line for line in cp.lines if "not delivered" in line]) == secevents.ATTEMPTS
    assert "InvalidFirmwareSignature" in "\n".join(events.lines())
    cp.link.fail_with = None
    events.add(event("StartupOfTheDevice"))  # the queue is not stalled by the one given up
    drive(cp, events)
    assert cp.link.sent == [("SecurityEventNotification", "StartupOfTheDevice")]


def test_the_store_is_bounded_and_says_what_it_dropped():
    cp = Cp(MemoryStorage())
    events = SecurityEvents(cp)
    for i in range(EVENTS_MAX + 2):
        events.add(event("E%d" % i))
    assert len(events.journal) == EVENTS_MAX
    pending = [p["type"] for p in events.pending()]
    assert pending[0] == "E2" and pending[-1] == "E%d" % (EVENTS_MAX + 1)
    assert len([line for line in cp.lines if "oldest event dropped, never delivered" in line]) == 2


def test_lines_are_the_security_log_filtered_by_time():
    cp = Cp(MemoryStorage())
    events = SecurityEvents(cp)
    events.add(event("A", "2025-01-01T00:00:00Z"))
    events.add(event("B", "2025-01-02T00:00:00Z"))
    assert list(events.lines()) == ["2025-01-01T00:00:00Z security: A why A",
                                    "2025-01-02T00:00:00Z security: B why B"]
    start_s = 1735776000  # 2025-01-02T00:00:00Z
    assert list(events.lines(start_s, None)) == ["2025-01-02T00:00:00Z security: B why B"]
    assert list(events.lines(None, start_s - 1)) == ["2025-01-01T00:00:00Z security: A why A"]
