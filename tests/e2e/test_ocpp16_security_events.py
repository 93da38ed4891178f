"""Security events kept in flash (firmware/ocpp/secevents.py) end to end: SecurityEventNotification at
SecurityProfile 0 too, an event raised offline delivered after the reconnect, one raised before a reboot
delivered after it, each exactly once, and the SecurityLog of GetLog read from the store (not from the
64-line logbook). Virtual time (sim/memlink.py) except the GetLog upload (a real HTTP server on 127.0.0.1)."""

import asyncio

import pytest

from sim.file_server import FileServer
from tests.e2e.test_ocpp16_log import run_real, until_log_status
from tests.e2e.test_stories import booted, run, until


def delivered(rig, kind):
    return [e for e in rig.station.security_events if e["type"] == kind]


def test_startup_is_notified_at_security_profile_0():
    async def story(rig, clock):
        await booted(rig, clock)
        assert rig.fw.config["SecurityProfile"] == 0
        await until(lambda: delivered(rig, "StartupOfTheDevice"), clock, 10, "StartupOfTheDevice")
        assert rig.fw.cp.security.events().pending() == []

    run(story)


def test_an_event_raised_offline_is_delivered_after_the_reconnect_exactly_once():
    async def story(rig, clock):
        await booted(rig, clock)
        await until(lambda: delivered(rig, "StartupOfTheDevice"), clock, 10, "StartupOfTheDevice")
        rig.network.set_online(False)
        await until(lambda: not rig.fw.cp.link.online.is_set(), clock, 60, "offline")
        rig.fw.cp.security.event("SettingSystemTime", "set while offline")
        await asyncio.sleep(30)  # virtual time: the charge point tries to reconnect meanwhile
        assert delivered(rig, "SettingSystemTime") == []
        assert [p["type"] for p in rig.fw.cp.security.events().pending()] == ["SettingSystemTime"]
        rig.network.set_online(True)
        await until(lambda: delivered(rig, "SettingSystemTime"), clock, 120, "delivered after the reconnect")
        await until(lambda: rig.fw.cp.security.events().pending() == [], clock, 10, "marked delivered")
        assert len(delivered(rig, "SettingSystemTime")) == 1
        assert delivered(rig, "SettingSystemTime")[0]["tech_info"] == "set while offline"

    run(story)


def test_an_event_raised_before_a_reboot_is_delivered_after_it_exactly_once():
    async def story(rig, clock):
        await booted(rig, clock)
        await until(lambda: delivered(rig, "StartupOfTheDevice"), clock, 10, "the first StartupOfTheDevice")
        rig.network.set_online(False)
        await until(lambda: not rig.fw.cp.link.online.is_set(), clock, 60, "offline")
        rig.fw.cp.security.event("TamperDetectionActivated", "lid opened")
        await rig.reboot("test")  # RAM is gone; the event is in flash
        rig.network.set_online(True)
        await until(lambda: delivered(rig, "TamperDetectionActivated"), clock, 120, "delivered after the reboot")
        await until(lambda: len(delivered(rig, "StartupOfTheDevice")) == 2, clock, 30, "the second startup")
        await until(lambda: rig.fw.cp.security.events().pending() == [], clock, 10, "all delivered")
        types = [e["type"] for e in rig.station.security_events]
        assert types.count("TamperDetectionActivated") == 1
        assert types.index("TamperDetectionActivated") < len(types) - 1  # in order: before the new startup
        await rig.reboot("again")
        await booted(rig, clock)
        await until(lambda: len(delivered(rig, "StartupOfTheDevice")) == 3, clock, 30, "the third startup")
        assert len(delivered(rig, "TamperDetectionActivated")) == 1  # not sent again

    run(story)


@pytest.fixture
def server():
    with FileServer(files={}) as srv:
        yield srv


def test_the_security_log_comes_from_the_store_not_the_logbook(server):
    async def story(rig, clock):
        await booted(rig, clock)
        rig.fw.cp.security.event("SettingSystemTime", "an early event")
        for i in range(100):  # more than the 64-line logbook keeps
            rig.fw.cp.log("test", "filler line %d" % i)
        answer = await rig.station.get_log("SecurityLog", 31, server.url("/logs"))
        assert answer["status"] == "Accepted"
        await until_log_status(rig, clock, "Uploaded")
        text = server.uploads["/logs/" + answer["filename"]].decode()
        assert "security: SettingSystemTime an early event" in text
        assert "security: StartupOfTheDevice" in text
        assert "filler" not in text

    run_real(story)
