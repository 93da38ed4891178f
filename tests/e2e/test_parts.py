"""The charge point's optional parts (firmware/ocpp/parts.py) are built on first use: a charge session
whose CSMS never asks for them does not carry them, the first command that needs one builds it (and
its task runs), and what a part left in storage brings it back at the next boot. Issue #4: on
MicroPython's unix port the bytecode of a part takes heap from its import on."""

import asyncio

from firmware.ocpp import fwmgmt, parts, reservation, smart_charging
from sim.csms import Csms
from tests.e2e.test_ocpp16_smart import iso, now_s
from tests.e2e.test_stories import booted, charging, run, until

OPTIONAL = ("_smart", "_reservations", "_fwmgmt", "_security")


def built(rig):
    return [name for name in OPTIONAL if getattr(rig.fw.cp, name) is not None]


def test_the_storage_keys_parts_reads_are_the_ones_the_parts_write():
    assert parts.SMART_KEY == smart_charging.KEY
    assert parts.RESERVATION_KEY == reservation.KEY
    assert parts.FW_KEYS == fwmgmt.FW_KEYS


def test_a_plain_session_builds_no_optional_part_but_keeps_the_logbook_and_the_security_events():
    async def story(rig, clock):
        await charging(rig, clock)
        assert built(rig) == []
        cp = rig.fw.cp
        assert any("running firmware" in line for line in cp.logbook.lines(None, None))
        await until(lambda: rig.station.security_events, clock, 10, "a security event")
        assert [e["type"] for e in rig.station.security_events] == ["StartupOfTheDevice"]
        assert cp.security_events().pending() == [] and built(rig) == []

    run(story, csms=Csms(accepted_tokens=("TAG1",)))


def test_a_command_builds_its_part_which_runs_and_comes_back_after_a_reboot_from_what_it_stored():
    async def story(rig, clock):
        await booted(rig, clock)
        expiry = iso(now_s(clock) + 3600)
        assert (await rig.station.reserve_now(1, expiry, "TAG1", 5))["status"] == "Accepted"
        assert built(rig) == ["_reservations"]
        assert rig.fw.cp.late_tasks and not rig.fw.cp.late_tasks[-1].done()  # its expiry timer runs
        await rig.reboot("power")
        await booted(rig, clock)
        assert built(rig) == ["_reservations"]  # from its stored record
        assert rig.fw.cp.reservations.current["id"] == 5
        assert (await rig.station.cancel_reservation(5)) == {"status": "Accepted"}

    run(story, csms=Csms(accepted_tokens=("TAG1",)))


def test_security_profile_1_builds_the_security_part_at_boot_and_raising_the_profile_builds_it_later():
    key = "0123456789abcdef0123456789abcdef"

    async def at_boot(rig, clock):
        assert built(rig) == ["_security"]  # the connection needs it (tests/e2e/test_ocpp16_security.py)

    run(at_boot, csms=Csms(accepted_tokens=("TAG1",)), config={"SecurityProfile": 1, "AuthorizationKey": key})

    async def later(rig, clock):
        await booted(rig, clock)
        assert built(rig) == []
        assert await rig.station.change_configuration("AuthorizationKey", key) == {"status": "Accepted"}
        assert await rig.station.change_configuration("SecurityProfile", "1") == {"status": "Accepted"}
        assert built(rig) == ["_security"]

    run(later, csms=Csms(accepted_tokens=("TAG1",)))


def test_short_tasks_of_the_charge_point_are_cancelled_by_a_reset_and_never_outlive_it():
    async def story(rig, clock):
        await booted(rig, clock)
        old = rig.fw.cp
        assert await rig.station.trigger_message("Heartbeat") == {"status": "Accepted"}  # one via spawn()
        waiting = old.spawn(asyncio.sleep(3600))  # as a follow-up still waiting at the reset would be
        await rig.reboot("power")
        await asyncio.sleep(0)
        assert waiting.cancelled()
        assert all(task.done() for task in old.spawned + (old.late_tasks or []))

    run(story, csms=Csms(accepted_tokens=("TAG1",)))
