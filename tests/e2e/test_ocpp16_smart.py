"""OCPP 1.6 Smart Charging end to end (section 3.13; SetChargingProfile 5.16, ClearChargingProfile 5.5,
GetCompositeSchedule 5.7): the firmware on the simulated plant against the embedded CSMS (every frame
validated by the `ocpp` package), in virtual time. Each test checks what the EV really draws (the plant's
current, per phase) and that the CSMS saw no error."""

import asyncio
import datetime

from tests.e2e.test_stories import Timeline, booted, charging, run, statuses, stopped, until

NOMINAL_V = 230


def iso(epoch_s):
    return datetime.datetime.fromtimestamp(epoch_s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_s(clock):
    return clock.start_epoch + clock.ms() // 1000


def profile(profile_id, purpose, periods, kind="Relative", stack=0, unit="A", start_s=None, recurrency=None,
            tx_id=None, duration_s=None):
    """A ChargingProfile as on the wire; periods: [(startPeriod_s, limit)] or with numberPhases."""
    schedule = {"chargingRateUnit": unit, "chargingSchedulePeriod": [
        dict({"startPeriod": p[0], "limit": p[1]}, **({"numberPhases": p[2]} if len(p) > 2 else {}))
        for p in periods]}
    if start_s is not None:
        schedule["startSchedule"] = iso(start_s)
    if duration_s is not None:
        schedule["duration"] = duration_s
    p = {"chargingProfileId": profile_id, "stackLevel": stack, "chargingProfilePurpose": purpose,
         "chargingProfileKind": kind, "chargingSchedule": schedule}
    if recurrency:
        p["recurrencyKind"] = recurrency
    if tx_id is not None:
        p["transactionId"] = tx_id
    return p


def drawing(rig, low_a, high_a):
    return lambda: low_a <= rig.plant.current_a <= high_a


async def set_ok(station, connector_id, p):
    assert await station.set_charging_profile(connector_id, p) == {"status": "Accepted"}


# Purposes ---------------------------------------------------------------------------------------


def test_tx_default_profile_limits_what_the_ev_draws():
    async def story(rig, clock):
        await booted(rig, clock)
        await set_ok(rig.station, 1, profile(1, "TxDefaultProfile", [(0, 10)]))
        await charging(rig, clock)
        await until(drawing(rig, 9.5, 10.0), clock, 10, "the EV draws 10 A")
        assert rig.plant.offered_a() <= 10.0

    run(story)


def test_charge_point_max_profile_caps_the_tx_default_profile():
    async def story(rig, clock):
        await booted(rig, clock)
        await set_ok(rig.station, 0, profile(1, "ChargePointMaxProfile", [(0, 8)], kind="Absolute",
                                             start_s=now_s(clock)))
        await set_ok(rig.station, 1, profile(2, "TxDefaultProfile", [(0, 16)]))
        await charging(rig, clock)
        await until(drawing(rig, 7.5, 8.0), clock, 10, "capped at 8 A")

    run(story)


def test_tx_profile_needs_its_running_transaction_and_ends_with_it():
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station
        tx_profile = profile(3, "TxProfile", [(0, 12)])
        assert await station.set_charging_profile(1, tx_profile) == {"status": "Rejected"}  # no transaction
        tx = await charging(rig, clock)
        wrong = profile(3, "TxProfile", [(0, 12)], tx_id=tx["transaction_id"] + 7)
        assert await station.set_charging_profile(1, wrong) == {"status": "Rejected"}
        assert await station.set_charging_profile(0, tx_profile) == {"status": "Rejected"}  # not on connector 0
        await set_ok(station, 1, profile(3, "TxProfile", [(0, 12)], tx_id=tx["transaction_id"]))
        await until(drawing(rig, 11.5, 12.0), clock, 10, "the TxProfile's 12 A")
        assert await station.remote_stop(tx["transaction_id"]) == {"status": "Accepted"}
        await stopped(rig, clock)
        # Gone with its transaction: nothing left to clear, the composite is the charger's own 32 A.
        assert await station.clear_charging_profile(id=3) == {"status": "Unknown"}
        got = await station.get_composite_schedule(1, 60)
        assert got["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 32}]

    run(story)


def test_tx_profile_overrides_tx_default_profile():
    async def story(rig, clock):
        await booted(rig, clock)
        await set_ok(rig.station, 1, profile(1, "TxDefaultProfile", [(0, 10)]))
        tx = await charging(rig, clock)
        await until(drawing(rig, 9.5, 10.0), clock, 10, "10 A")
        await set_ok(rig.station, 1, profile(2, "TxProfile", [(0, 20)], tx_id=tx["transaction_id"]))
        await until(drawing(rig, 19.5, 20.0), clock, 10, "the TxProfile's 20 A wins")

    run(story)


def test_remote_start_with_a_charging_profile_applies_it_as_the_tx_profile():
    async def story(rig, clock):
        await booted(rig, clock)
        rig.plant.plug()
        await asyncio.sleep(1)
        not_tx = profile(5, "TxDefaultProfile", [(0, 12)])
        assert await rig.station.remote_start("TAG1", 1, not_tx) == {"status": "Rejected"}  # 5.11: TxProfile
        assert await rig.station.remote_start("TAG1", 1, profile(5, "TxProfile", [(0, 12)])) \
            == {"status": "Accepted"}
        await until(lambda: rig.station.transactions, clock, 10, "StartTransaction")
        await until(drawing(rig, 11.5, 12.0), clock, 10, "the remote start's 12 A")
        assert rig.fw.cp.smart.profiles.entries[0].purpose == "TxProfile"

    run(story)


# Schedules -----------------------------------------------------------------------------------------


def test_absolute_schedule_steps_at_its_boundaries_with_no_polling():
    async def story(rig, clock):
        await booted(rig, clock)
        tx = await charging(rig, clock)
        start = now_s(clock) + 1
        await set_ok(rig.station, 1, profile(4, "TxProfile", [(0, 16), (60, 8), (120, 20)], kind="Absolute",
                                             start_s=start, tx_id=tx["transaction_id"]))
        timeline = Timeline(rig)
        await asyncio.sleep(200)
        down_ms = timeline.first(lambda s: 7.5 <= s["current_a"] <= 8.0)
        up_ms = timeline.first(lambda s: 19.5 <= s["current_a"] <= 20.0)
        start_ms = (start - clock.start_epoch) * 1000
        assert start_ms + 60000 <= down_ms <= start_ms + 61000  # lowering: at the boundary
        assert start_ms + 120000 <= up_ms <= start_ms + 121000
        assert 19.5 <= rig.plant.current_a <= 20.0

    run(story)


def test_relative_schedule_runs_from_the_transaction_start():
    async def story(rig, clock):
        await booted(rig, clock)
        await set_ok(rig.station, 1, profile(1, "TxDefaultProfile", [(0, 16), (30, 10)]))
        await asyncio.sleep(100)  # nothing counts before the transaction
        tx = await charging(rig, clock)
        started_ms = clock.ms()
        await until(drawing(rig, 15.5, 16.0), clock, 10, "16 A first")
        await until(drawing(rig, 9.5, 10.0), clock, 40, "10 A after 30 s of transaction")
        assert 25000 <= clock.ms() - started_ms <= 32000
        assert tx["transaction_id"] == 1

    run(story)


def test_recurring_daily_profile_repeats_and_composite_schedule_shows_it():
    async def story(rig, clock):
        await booted(rig, clock)
        midnight = clock.start_epoch  # 2025-01-01T00:00:00Z
        # 00:00-06:00 16 A, then 10 A, every day.
        await set_ok(rig.station, 1, profile(7, "TxDefaultProfile", [(0, 16), (6 * 3600, 10)], kind="Recurring",
                                             start_s=midnight, recurrency="Daily"))
        got = await rig.station.get_composite_schedule(1, 2 * 86400)
        assert got["status"] == "Accepted" and got["connectorId"] == 1
        offset = now_s(clock) - midnight
        periods = got["chargingSchedule"]["chargingSchedulePeriod"]
        expected = [{"startPeriod": 0, "limit": 16}, {"startPeriod": 6 * 3600 - offset, "limit": 10},
                    {"startPeriod": 86400 - offset, "limit": 16},
                    {"startPeriod": 86400 + 6 * 3600 - offset, "limit": 10},
                    {"startPeriod": 2 * 86400 - offset, "limit": 16}]
        assert periods == [p for p in expected if p["startPeriod"] < 2 * 86400]
        await charging(rig, clock)
        await until(drawing(rig, 15.5, 16.0), clock, 10, "16 A at night")

    run(story)


def test_stack_levels_the_highest_giving_a_limit_wins():
    async def story(rig, clock):
        await booted(rig, clock)
        await set_ok(rig.station, 1, profile(1, "TxDefaultProfile", [(0, 10)], stack=0))
        await set_ok(rig.station, 1, profile(2, "TxDefaultProfile", [(0, 20)], stack=3, duration_s=60))
        await charging(rig, clock)
        await until(drawing(rig, 19.5, 20.0), clock, 10, "level 3's 20 A")
        await until(drawing(rig, 9.5, 10.0), clock, 70, "level 0's 10 A once level 3 has ended")

    run(story)


# Units, the PWM and suspending ------------------------------------------------------------------------


def test_power_limits_become_amps_over_phases_and_nominal_voltage():
    async def story(rig, clock):
        await booted(rig, clock)
        await set_ok(rig.station, 1, profile(1, "TxDefaultProfile", [(0, 3 * NOMINAL_V * 10)], unit="W"))
        await charging(rig, clock)
        await until(drawing(rig, 9.5, 10.0), clock, 10, "6900 W = 10 A on 3 phases")
        in_a = await rig.station.get_composite_schedule(1, 60, "A")
        assert in_a["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 10}]
        in_w = await rig.station.get_composite_schedule(1, 60, "W")
        assert in_w["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 6900}]
        assert in_w["chargingSchedule"]["chargingRateUnit"] == "W"

    run(story)


def test_a_limit_under_6_amps_suspends_charging_and_a_higher_one_resumes_it():
    async def story(rig, clock):
        await booted(rig, clock)
        tx = await charging(rig, clock)
        await set_ok(rig.station, 1, profile(2, "TxProfile", [(0, 4)], tx_id=tx["transaction_id"]))
        await until(lambda: statuses(rig.station)[-1:] == ["SuspendedEVSE"], clock, 10, "SuspendedEVSE")
        await until(lambda: rig.plant.current_a == 0 and not rig.plant.contactor.closed, clock, 10, "off")
        assert rig.plant.generator == "x1"  # no PWM: no duty is legal under 6 A (X1, not a 0 A duty)
        await set_ok(rig.station, 1, profile(2, "TxProfile", [(0, 7)], tx_id=tx["transaction_id"]))
        await until(drawing(rig, 6.5, 7.0), clock, 20, "charging again at 7 A")
        assert statuses(rig.station)[-1] == "Charging"

    run(story)


def test_pwm_duty_changes_are_spaced_5_s_apart_but_a_decrease_applies_at_once():
    async def story(rig, clock):
        await booted(rig, clock)
        tx = await charging(rig, clock)
        tx_id = tx["transaction_id"]
        await asyncio.sleep(10)
        changes = []
        rig.plant.listeners.append(lambda: changes.append((clock.ms(), rig.plant.duty_permille)))
        t0 = clock.ms()
        await set_ok(rig.station, 1, profile(2, "TxProfile", [(0, 10)], tx_id=tx_id))  # down: at once
        await asyncio.sleep(1)
        await set_ok(rig.station, 1, profile(2, "TxProfile", [(0, 20)], tx_id=tx_id))  # up: waits
        await asyncio.sleep(10)
        first = {}
        for ms, duty in changes:
            first.setdefault(duty, ms)
        down_ms, up_ms = first[166], first[333]  # 10 A and 20 A: duty = A / 0.6 (IEC 61851-1 Table A.8)
        assert down_ms - t0 < 500
        assert 5000 <= up_ms - down_ms <= 5100

    run(story)


# Install, clear, persist, validate ---------------------------------------------------------------------


def test_clear_charging_profile_by_id_connector_purpose_and_stack_level():
    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        await set_ok(st, 1, profile(1, "TxDefaultProfile", [(0, 10)], stack=0))
        await set_ok(st, 1, profile(2, "TxDefaultProfile", [(0, 11)], stack=1))
        await set_ok(st, 0, profile(3, "TxDefaultProfile", [(0, 12)], stack=2))
        await set_ok(st, 0, profile(4, "ChargePointMaxProfile", [(0, 30)], kind="Absolute", start_s=now_s(clock)))
        assert await st.clear_charging_profile(id=99) == {"status": "Unknown"}
        assert await st.clear_charging_profile(id=1) == {"status": "Accepted"}
        assert await st.clear_charging_profile(connector_id=1, purpose="TxDefaultProfile", stack_level=0) \
            == {"status": "Unknown"}
        assert await st.clear_charging_profile(purpose="TxDefaultProfile", stack_level=2) == {"status": "Accepted"}
        assert [e.id for e in rig.fw.cp.smart.profiles.entries] == [2, 4]
        assert await st.clear_charging_profile(connector_id=0) == {"status": "Accepted"}
        assert await st.clear_charging_profile() == {"status": "Accepted"}  # everything
        assert rig.fw.cp.smart.profiles.entries == []
        await charging(rig, clock)
        await until(drawing(rig, 31.5, 32.0), clock, 10, "the charger's own 32 A")

    run(story)


def test_profiles_survive_a_reboot():
    async def story(rig, clock):
        await booted(rig, clock)
        await set_ok(rig.station, 1, profile(1, "TxDefaultProfile", [(0, 9)]))
        await rig.reboot("power")
        await until(lambda: rig.fw.cp.booted, clock, 60, "booted again")
        got = await rig.station.get_composite_schedule(1, 60)
        assert got["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 9}]
        rig.plant.plug()
        await asyncio.sleep(1)
        assert await rig.fw.present_token("TAG1")
        await until(drawing(rig, 8.5, 9.0), clock, 10, "9 A after the reboot")

    run(story)


def test_set_charging_profile_rejects_what_the_keys_do_not_allow():
    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        keys = {e["key"]: e["value"] for e in (await st.get_configuration())["configurationKey"]}
        assert keys["ChargeProfileMaxStackLevel"] == "8" and keys["ChargingScheduleMaxPeriods"] == "24"
        assert "SmartCharging" in keys["SupportedFeatureProfiles"].split(",")
        bad = [
            (1, profile(1, "TxDefaultProfile", [(0, 10)], stack=9)),  # above ChargeProfileMaxStackLevel
            (1, profile(1, "TxDefaultProfile", [(i * 60, 10) for i in range(25)])),  # > 24 periods
            (2, profile(1, "TxDefaultProfile", [(0, 10)])),  # no connector 2
            (1, profile(1, "ChargePointMaxProfile", [(0, 10)], kind="Absolute", start_s=now_s(clock))),  # not 0
            (1, profile(1, "TxDefaultProfile", [(5, 10)])),  # first period must start at 0
            (1, profile(1, "TxDefaultProfile", [(0, 10)], kind="Recurring")),  # no recurrencyKind/start
        ]
        for connector_id, p in bad:
            assert await st.set_charging_profile(connector_id, p) == {"status": "Rejected"}, p
        for i in range(16):  # MaxChargingProfilesInstalled: 9 levels on connector 1, 7 on connector 0
            connector_id, stack = (1, i) if i < 9 else (0, i - 9)
            await set_ok(st, connector_id, profile(100 + i, "TxDefaultProfile", [(0, 10)], stack=stack))
        seventeenth = profile(200, "ChargePointMaxProfile", [(0, 10)], kind="Absolute", start_s=now_s(clock))
        assert await st.set_charging_profile(0, seventeenth) == {"status": "Rejected"}
        assert len(rig.fw.cp.smart.profiles.entries) == 16

    run(story)


def test_get_composite_schedule_for_connector_0_and_an_unknown_connector():
    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        start = now_s(clock)
        await set_ok(st, 0, profile(1, "ChargePointMaxProfile", [(0, 20), (600, 12)], kind="Absolute",
                                    start_s=start))
        await set_ok(st, 1, profile(2, "TxDefaultProfile", [(0, 16)]))
        got = await st.get_composite_schedule(0, 1200)
        assert got["connectorId"] == 0
        assert got["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 20},
                                                                     {"startPeriod": 600, "limit": 12}]
        one = await st.get_composite_schedule(1, 1200)
        assert one["chargingSchedule"]["chargingSchedulePeriod"] == [{"startPeriod": 0, "limit": 16},
                                                                     {"startPeriod": 600, "limit": 12}]
        assert await st.get_composite_schedule(2, 60) == {"status": "Rejected"}

    run(story)
