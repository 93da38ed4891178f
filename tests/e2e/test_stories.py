"""End-to-end stories: the firmware on the simulated board, its plant and the embedded CSMS, in virtual time.

Each test tells one story a user tells ("the car keeps drawing after the PWM stops") and checks what can
be observed from outside: what the CSMS recorded (statuses, transactions, frames, errors), what the
contactor and the pilot did and when (virtual milliseconds, exact). Timings are IEC 61851-1:2017
Annex A as collected in shared/reference/standards.md section 1.4.
"""

import asyncio
import datetime
import json

import pytest

from firmware.config import KEYS
from firmware.faults import GFI_RETRY_CAP, GFI_RETRY_MS
from sim import vloop
from sim.csms import Csms
from sim.ev import Ev
from sim.plant import CONTACTOR_RELEASE_MS
from sim.rig import Rig
from sim.scenario import Options, run_session

OFF_WITHIN_MS = 100  # IEC 61851-1 Table A.6 seq. 8.1 / 2.2: open within 100 ms of C->B, A or pilot loss
POWER_ON_WITHIN_MS = 3000  # Table A.6 seq. 4: power on within 3 s of C2
PWM_OFF_TO_OPEN_MS = 6000  # Table A.6 seq. 10.2: PWM off, EV stays in C -> open under load after 6 s
FAULT_HOLD_MS = 300  # Table A.5: state F at least 300 ms after a fault
RCD_TRIP_MS = 300  # a 30 mA RCD at 1 x I_delta_n trips within 300 ms (IEC 61008; standards.md section 2)


# Helpers ------------------------------------------------------------------------------------------


async def until(pred, clock, timeout_s, what=None):
    """Poll pred every 10 ms of virtual time; fail the test after timeout_s."""
    end_ms = clock.ms() + int(timeout_s * 1000)
    while not pred():
        if clock.ms() >= end_ms:
            raise AssertionError("after %.1f s still not: %s" % (timeout_s, what or pred))
        await asyncio.sleep(0.01)


class Timeline:
    """What the plant looked like after every change, with the virtual time: a plant listener."""

    def __init__(self, rig):
        self.rig = rig
        self.clock = rig.clock
        self.points = []  # (ms, {closed, generator, s2, current_a, plugged})
        rig.plant.listeners.append(self.poke)
        self.poke()

    def poke(self):
        plant = self.rig.plant
        state = {"closed": plant.contactor.closed, "generator": plant.generator, "s2": plant.ev.s2_closed,
                 "current_a": plant.current_a, "plugged": plant.ev.plugged}
        if not self.points or self.points[-1][1] != state:
            self.points.append((self.clock.ms(), state))

    def first(self, pred, after_ms=0):
        """The first time at or after after_ms when pred(state) held, or None."""
        for ms, state in self.points:
            if ms >= after_ms and pred(state):
                return ms
        return None

    def at(self, ms):
        """The state in force at ms (the last change at or before it)."""
        current = self.points[0][1]
        for when, state in self.points:
            if when > ms:
                break
            current = state
        return current


def statuses(station):
    return [s["status"] for s in station.statuses if s["connector_id"] == 1]


def calls_in(station):
    """The CALLs the charge point sent, in order."""
    return [f["action"] for f in station.frames if f["direction"] == "in" and f["type"] == "CALL"]


def utc_ms(text):
    return int(datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


def only_transaction(station):
    assert len(station.transactions) == 1, station.transactions
    return next(iter(station.transactions.values()))


def run(story, csms=None, ev=None, config=None, expect_errors=False, **rig_options):
    """Build a Rig in virtual time, run story(rig, clock), stop the rig; check the CSMS saw no error."""

    async def main(clock):
        rig = Rig(clock, ev=ev, csms=csms, config=config, **rig_options)
        rig.start()
        try:
            result = await story(rig, clock)
            if not expect_errors:
                assert rig.csms.errors == []
            return result
        finally:
            await rig.stop()

    return vloop.run(main)


async def booted(rig, clock):
    await until(lambda: rig.fw.cp.booted, clock, 60, "BootNotification accepted")
    await until(lambda: "Available" in statuses(rig.station), clock, 10, "Available reported")


async def charging(rig, clock, token="TAG1"):
    """Boot, plug, present the tag, and wait until current flows and the CSMS knows the transaction."""
    await booted(rig, clock)
    rig.plant.plug()
    await asyncio.sleep(1)
    assert await rig.fw.present_token(token)
    await until(lambda: rig.plant.current_a > 0, clock, 10, "current flowing")
    await until(lambda: statuses(rig.station)[-1:] == ["Charging"] and len(rig.station.transactions) == 1,
                clock, 10, "Charging and StartTransaction at the CSMS")
    return only_transaction(rig.station)


async def stopped(rig, clock, timeout_s=30):
    await until(lambda: any(t["meter_stop_wh"] is not None for t in rig.station.transactions.values()),
                clock, timeout_s, "StopTransaction at the CSMS")
    return only_transaction(rig.station)


def ev_wants_no_more(ev):
    ev.soc_target_pct = ev.soc_pct  # full as far as the EV cares: it will not close S2 again


# 1. Contactor off within 100 ms ------------------------------------------------------------------


def test_contactor_opens_within_100ms_when_ev_opens_s2_while_charging():
    async def story(rig, clock):
        await charging(rig, clock)
        timeline = Timeline(rig)
        ev_wants_no_more(rig.ev)
        rig.ev.s2_closed = False
        rig.plant.recompute()
        s2_open_ms = clock.ms()
        await until(lambda: not rig.plant.contactor.closed, clock, 1, "contactor open")
        opened_ms = timeline.first(lambda s: not s["closed"])
        assert opened_ms - s2_open_ms <= OFF_WITHIN_MS
        await until(lambda: statuses(rig.station)[-1] == "SuspendedEV", clock, 5)
        assert rig.station.transactions[1]["meter_stop_wh"] is None  # C -> B pauses, it does not stop

    run(story)


def test_contactor_opens_within_100ms_when_ev_unplugs_while_charging():
    async def story(rig, clock):
        await charging(rig, clock)
        timeline = Timeline(rig)
        rig.plant.unplug()
        unplug_ms = clock.ms()
        await until(lambda: not rig.plant.contactor.closed, clock, 1, "contactor open")
        assert timeline.first(lambda s: not s["closed"]) - unplug_ms <= OFF_WITHIN_MS
        tx = await stopped(rig, clock)
        assert tx["reason"] == "EVDisconnected"
        await until(lambda: statuses(rig.station)[-1] == "Available", clock, 5)

    run(story)


# 2. Power on within 3 s of C2 --------------------------------------------------------------------


def test_power_on_within_3s_of_ev_closing_s2_in_b2():
    async def story(rig, clock):
        timeline = Timeline(rig)
        await charging(rig, clock)
        s2_ms = timeline.first(lambda s: s["s2"])
        closed_ms = timeline.first(lambda s: s["closed"])
        assert timeline.at(s2_ms)["generator"] == "pwm"  # the EV went B2 -> C2
        assert timeline.first(lambda s: s["closed"] and not s["s2"]) is None  # never closed in B
        assert 0 < closed_ms - s2_ms <= POWER_ON_WITHIN_MS

    run(story)


# 3. The stubborn EV ------------------------------------------------------------------------------


def test_contactor_forced_open_6s_after_pwm_stops_when_ev_keeps_drawing():
    async def story(rig, clock):
        tx = await charging(rig, clock)
        timeline = Timeline(rig)
        rig.plant.ev_ignores_pilot = True
        reply = await rig.station.remote_stop(tx["transaction_id"])
        assert reply == {"status": "Accepted"}
        await until(lambda: not rig.plant.contactor.closed, clock, 10, "contactor open")
        pwm_off_ms = timeline.first(lambda s: s["generator"] != "pwm")
        opened_ms = timeline.first(lambda s: not s["closed"])
        coil_off_ms = opened_ms - CONTACTOR_RELEASE_MS
        assert PWM_OFF_TO_OPEN_MS <= coil_off_ms - pwm_off_ms <= PWM_OFF_TO_OPEN_MS + 5
        before = timeline.at(opened_ms - 1)
        assert before["s2"] and before["current_a"] > 0  # opened under load, as the standard allows
        tx = await stopped(rig, clock)
        assert tx["reason"] == "Remote"
        assert statuses(rig.station)[-1] == "Finishing"

    run(story)


# 4. RCD trip -------------------------------------------------------------------------------------


@pytest.mark.parametrize("unplug_during_fault, back_to, after_s", [
    (False, "Preparing", GFI_RETRY_MS / 1000),  # the EV stays: the charger retries after 5 min
    (True, "Available", 0),  # the EV leaves: the latch clears at once
])
def test_rcd_trip_while_charging_faults_stops_the_transaction_and_recovers(unplug_during_fault, back_to, after_s):
    async def story(rig, clock):
        await charging(rig, clock)
        await asyncio.sleep(30)
        timeline = Timeline(rig)
        rig.plant.trip_rcd(True)
        trip_ms = clock.ms()
        await until(lambda: not rig.plant.contactor.closed, clock, 1, "contactor open")
        assert timeline.first(lambda s: not s["closed"]) - trip_ms <= RCD_TRIP_MS
        await until(lambda: statuses(rig.station)[-1] == "Faulted", clock, 5)
        assert rig.station.statuses[-1]["error_code"] == "GroundFailure"
        tx = await stopped(rig, clock)
        assert tx["reason"] == "Other"
        assert abs(tx["meter_stop_wh"] - rig.meter_model.energy_wh) <= 1
        if unplug_during_fault:
            rig.plant.unplug()
        await asyncio.sleep(0.05)
        rig.plant.trip_rcd(False)
        cleared_ms = clock.ms()
        await asyncio.sleep(5)
        assert statuses(rig.station)[-1] == ("Faulted" if after_s else back_to)
        await until(lambda: statuses(rig.station)[-1] == back_to, clock, after_s + 5)
        assert clock.ms() - trip_ms >= after_s * 1000
        f_ms = timeline.first(lambda s: s["generator"] == "f")
        assert f_ms - timeline.first(lambda s: not s["closed"]) <= 25
        assert timeline.first(lambda s: s["generator"] != "f", after_ms=f_ms + 1) - f_ms >= FAULT_HOLD_MS
        assert rig.station.statuses[-1]["error_code"] == "NoError"
        assert rig.plant.generator == "x1"  # the transaction is over: no new offer without a new tag
        assert len(rig.station.transactions) == 1
        assert cleared_ms > trip_ms

    run(story)


def test_rcd_trips_seven_times_in_a_row_needs_a_reset():
    async def story(rig, clock):
        await charging(rig, clock)
        for _ in range(GFI_RETRY_CAP + 1):
            rig.plant.trip_rcd(True)
            await asyncio.sleep(1)
            rig.plant.trip_rcd(False)
            await asyncio.sleep(GFI_RETRY_MS / 1000 + 5)
        assert statuses(rig.station)[-1] == "Faulted"  # the cap is reached: only a reset clears it
        rig.fw.charger.reset_faults()
        await until(lambda: statuses(rig.station)[-1] == "Preparing", clock, 5)

    run(story)


# 5. Welded contactor -----------------------------------------------------------------------------


def test_welded_contactor_is_reported_as_power_switch_failure_when_the_ev_finishes():
    async def story(rig, clock):
        await charging(rig, clock)
        rig.plant.contactor.welded = True
        await until(lambda: not rig.ev.s2_closed, clock, 600, "the EV finished")  # 20 -> 21 % SoC
        await until(lambda: statuses(rig.station)[-1] == "Faulted", clock, 5)
        assert rig.station.statuses[-1]["error_code"] == "PowerSwitchFailure"
        assert rig.plant.contactor.closed  # still welded: the firmware can only say so
        assert rig.plant.generator == "f"
        tx = await stopped(rig, clock)
        assert tx["reason"] == "Other"

    run(story, ev=Ev(soc_start_pct=20, soc_target_pct=21))


# 6. Remote start and stop ------------------------------------------------------------------------


def test_remote_start_charges_and_remote_stop_ends_with_reason_remote():
    async def story(rig, clock):
        await booted(rig, clock)
        rig.plant.plug()
        await until(lambda: statuses(rig.station)[-1] == "Preparing", clock, 5)
        assert await rig.station.remote_start("TAG1") == {"status": "Accepted"}
        await until(lambda: rig.plant.current_a > 0, clock, 10, "current flowing")
        await until(lambda: statuses(rig.station)[-1] == "Charging", clock, 5)
        tx = only_transaction(rig.station)
        assert tx["id_tag"] == "TAG1"
        assert await rig.station.remote_start("TAG1") == {"status": "Rejected"}  # one is running
        assert await rig.station.remote_stop(tx["transaction_id"] + 1) == {"status": "Rejected"}
        assert await rig.station.remote_stop(tx["transaction_id"]) == {"status": "Accepted"}
        tx = await stopped(rig, clock)
        assert tx["reason"] == "Remote"
        await until(lambda: statuses(rig.station)[-1] == "Finishing", clock, 5)
        assert not rig.plant.contactor.closed and rig.plant.generator == "x1"
        rig.plant.unplug()
        await until(lambda: statuses(rig.station)[-1] == "Available", clock, 5)
        assert statuses(rig.station) == ["Available", "Preparing", "SuspendedEV", "Charging", "Finishing",
                                         "Available"]
        assert len(rig.station.transactions) == 1

    run(story)


# 7. Boot: Pending / Rejected before Accepted -----------------------------------------------------


@pytest.mark.parametrize("boot_statuses", [("Pending", "Pending", "Accepted"), ("Rejected", "Accepted")])
def test_nothing_but_boot_notification_goes_out_before_boot_is_accepted(boot_statuses):
    retry_s = 30

    async def story(rig, clock):
        await asyncio.sleep(1)
        rig.plant.plug()  # the driver does not wait for the charger's back office
        await asyncio.sleep(1)
        assert not await rig.fw.present_token("TAG1")
        await until(lambda: rig.fw.cp.booted, clock, 300, "boot accepted")
        await until(lambda: statuses(rig.station)[-1:] == ["Preparing"], clock, 5)
        station = rig.station
        assert [b["status"] for b in station.boot_notifications] == list(boot_statuses)
        boots = [utc_ms(b["utc"]) for b in station.boot_notifications]
        assert all(later - earlier >= retry_s * 1000 for earlier, later in zip(boots, boots[1:]))
        accepted_at = max(i for i, f in enumerate(station.frames)
                          if f["action"] == "BootNotification" and f["type"] == "CALLRESULT")
        before = [f["action"] for f in station.frames[:accepted_at] if f["direction"] == "in"]
        assert set(before) == {"BootNotification"}
        assert statuses(station) == ["Preparing"]  # the status as it is now, not the stale Available
        assert station.transactions == {} and station.authorizations == []
        assert rig.plant.generator == "x1"

    run(story, csms=Csms(boot_statuses=boot_statuses, heartbeat_interval_s=retry_s))


# 8. Invalid token --------------------------------------------------------------------------------


def test_invalid_token_starts_nothing_and_the_pilot_stays_x1():
    async def story(rig, clock):
        await booted(rig, clock)
        timeline = Timeline(rig)
        rig.plant.plug()
        await asyncio.sleep(1)
        assert not await rig.fw.present_token("NOTKNOWN")
        await asyncio.sleep(120)
        assert rig.station.authorizations[-1]["id_tag"] == "NOTKNOWN"
        assert rig.station.authorizations[-1]["status"] == "Invalid"
        assert rig.station.transactions == {}
        assert "StartTransaction" not in calls_in(rig.station)
        assert timeline.first(lambda s: s["generator"] != "x1") is None
        assert timeline.first(lambda s: s["closed"]) is None
        assert statuses(rig.station) == ["Available", "Preparing"]

    run(story)


# 9. Configuration --------------------------------------------------------------------------------


def test_get_configuration_lists_all_keys_specific_keys_and_unknown_keys():
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station
        everything = await station.get_configuration()
        assert sorted(e["key"] for e in everything["configurationKey"]) == sorted(KEYS)
        assert "unknownKey" not in everything
        some = await station.get_configuration(["HeartbeatInterval", "NumberOfConnectors"])
        assert some["configurationKey"] == [
            {"key": "HeartbeatInterval", "readonly": False, "value": "300"},  # as BootNotification set it
            {"key": "NumberOfConnectors", "readonly": True, "value": "1"},
        ]
        mixed = await station.get_configuration(["MeterValueSampleInterval", "NoSuchKey"])
        assert [e["key"] for e in mixed["configurationKey"]] == ["MeterValueSampleInterval"]
        assert mixed["unknownKey"] == ["NoSuchKey"]

    run(story)


@pytest.mark.parametrize("key, value, expected", [
    ("MeterValueSampleInterval", "-5", "Rejected"),
    ("MeterValueSampleInterval", "often", "Rejected"),
    ("StopTransactionOnInvalidId", "maybe", "Rejected"),
    ("NumberOfConnectors", "2", "Rejected"),  # read-only
    ("GetConfigurationMaxKeys", "10", "Rejected"),  # read-only
    ("NoSuchKey", "1", "NotSupported"),
])
def test_change_configuration_refuses_bad_values_read_only_and_unknown_keys(key, value, expected):
    async def story(rig, clock):
        await booted(rig, clock)
        before = await rig.station.get_configuration()
        assert await rig.station.change_configuration(key, value) == {"status": expected}
        assert await rig.station.get_configuration() == before

    run(story)


def test_meter_values_follow_a_changed_sample_interval():
    async def story(rig, clock):
        tx = await charging(rig, clock)
        assert await rig.station.change_configuration("MeterValueSampleInterval", "15") == {"status": "Accepted"}
        got = await rig.station.get_configuration(["MeterValueSampleInterval"])
        assert got["configurationKey"][0]["value"] == "15"
        changed_ms = utc_ms(rig.csms.utc())
        await asyncio.sleep(100)
        stamps = [utc_ms(mv["meter_value"][0]["timestamp"]) for mv in rig.station.meter_values
                  if mv["transaction_id"] == tx["transaction_id"]]
        assert stamps, "no MeterValues at all"
        assert stamps[0] - changed_ms <= 15000  # the old 60 s interval no longer holds it back
        gaps = [b - a for a, b in zip(stamps, stamps[1:])]
        assert len(gaps) >= 5
        assert all(abs(gap - 15000) <= 100 for gap in gaps), gaps

    run(story)


# 10. Reset ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, reason", [("Soft", "SoftReset"), ("Hard", "HardReset")])
def test_reset_during_a_transaction_stops_it_then_boots_again(kind, reason):
    async def story(rig, clock):
        await charging(rig, clock)
        assert await rig.station.reset(kind) == {"status": "Accepted"}
        tx = await stopped(rig, clock)
        assert tx["reason"] == reason
        await until(lambda: len(rig.station.boot_notifications) == 2 and rig.fw.cp.booted, clock, 60,
                    "a second BootNotification")
        actions = calls_in(rig.station)
        assert actions.index("StopTransaction") < len(actions) - 1 - actions[::-1].index("BootNotification")
        assert not rig.plant.contactor.closed
        await until(lambda: rig.station.statuses[-1]["utc"] > rig.station.boot_notifications[-1]["utc"], clock, 5)
        # The board really restarted (the rig's restart hook): the EV is still plugged, the transaction is
        # over, so the fresh boot reports Preparing, and never a moment of Available first.
        after_boot = [s["status"] for s in rig.station.statuses if s["utc"] >= rig.station.boot_notifications[-1]["utc"]]
        assert after_boot == ["Preparing"] and rig.resets[-1][1] == kind.lower()

    run(story)


# 11. The whole default session -------------------------------------------------------------------


def test_default_session_passes_with_one_transaction_billed_as_metered(tmp_path):
    trace_path = tmp_path / "trace.jsonl"
    result = vloop.run(lambda clock: run_session(Options(trace_path=str(trace_path)), clock))
    assert result.passed, result.reason
    assert abs(result.billed_wh - result.energy_wh) <= 1
    assert len(result.transactions) == 1
    tx = result.transactions[0]
    assert tx["reason"] == "EVDisconnected"
    records = [json.loads(line) for line in trace_path.read_text().splitlines()]
    sent = [json.loads(r["frame"]) for r in records if r["kind"] == "ocpp" and r["direction"] == "out"]
    reported = [f[3]["status"] for f in sent if f[0] == 2 and f[2] == "StatusNotification"]
    # OCPP 1.6 section 4.9: A2 plug, B3 start, C4 EV suspends (full), E1 EV side unplugged -> Available
    assert reported == ["Available", "Preparing", "SuspendedEV", "Charging", "SuspendedEV", "Available"]


def test_every_frame_of_a_session_is_valid_and_the_story_is_in_order():
    async def story(rig, clock):
        await charging(rig, clock)
        await until(lambda: not rig.ev.wants_charge and not rig.plant.contactor.closed, clock, 600)
        await asyncio.sleep(10)
        rig.plant.unplug()
        await stopped(rig, clock)
        await until(lambda: statuses(rig.station)[-1] == "Available", clock, 5)
        actions = [a for a in calls_in(rig.station)
                   if a not in ("MeterValues", "Heartbeat", "SecurityEventNotification")]
        assert calls_in(rig.station).count("SecurityEventNotification") == 1  # StartupOfTheDevice, at profile 0 too
        assert actions == ["BootNotification", "StatusNotification", "StatusNotification", "Authorize",
                           "StartTransaction", "StatusNotification", "StatusNotification", "StatusNotification",
                           "StopTransaction", "StatusNotification"]
        assert all(f["type"] != "CALLERROR" for f in rig.station.frames)

    run(story, ev=Ev(soc_start_pct=20, soc_target_pct=22))


# 12. MeterValues content -------------------------------------------------------------------------


def test_meter_values_carry_energy_power_current_and_voltage_per_phase():
    interval_s = 10

    async def story(rig, clock):
        tx = await charging(rig, clock)
        await asyncio.sleep(65)
        values = [mv for mv in rig.station.meter_values if mv["transaction_id"] == tx["transaction_id"]]
        assert len(values) == 6
        stamps = [utc_ms(mv["meter_value"][0]["timestamp"]) for mv in values]
        start_ms = utc_ms(tx["timestamp_start"])
        # on a grid from the start of the transaction (OCPP 1.6 MeterValueSampleInterval), each stamped
        # when the meter has answered (a Modbus read of the SDM630 takes about 120 ms at 9600 Bd)
        offsets = [stamp - start_ms for stamp in stamps]
        assert all(0 <= offset - (i + 1) * interval_s * 1000 <= 200 for i, offset in enumerate(offsets)), offsets
        # A sample may share the meter poll that is on the bus at that moment (firmware/charger.py
        # read_meter): its stamp is then up to one Modbus read early, never drifting.
        assert all(abs(b - a - interval_s * 1000) <= 200 for a, b in zip(stamps, stamps[1:])), offsets
        energies = []
        for mv in values:
            samples = mv["meter_value"][0]["sampledValue"]
            by = {(s["measurand"], s.get("phase")): s for s in samples}
            energy = by[("Energy.Active.Import.Register", None)]
            assert energy["unit"] == "Wh" and energy["context"] == "Sample.Periodic"
            energies.append(int(energy["value"]))
            power = by[("Power.Active.Import", None)]
            assert power["unit"] == "W"
            assert float(power["value"]) == pytest.approx(3 * 230 * 31.98, rel=0.01)  # 32 A offered at 53.3 %
            for phase in ("L1", "L2", "L3"):
                current = by[("Current.Import", phase)]
                assert current["unit"] == "A" and float(current["value"]) == pytest.approx(31.98, abs=0.01)
                voltage = by[("Voltage", phase + "-N")]
                assert voltage["unit"] == "V" and float(voltage["value"]) == pytest.approx(230.0)
        assert energies[0] >= tx["meter_start_wh"]
        steps = [b - a for a, b in zip(energies, energies[1:])]
        assert all(step == pytest.approx(3 * 230 * 31.98 * interval_s / 3600, abs=1) for step in steps)

    run(story, config={"MeterValueSampleInterval": interval_s})
