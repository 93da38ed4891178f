# portable
# OCPP 1.6 Smart Charging core: SetChargingProfile rules, ClearChargingProfile, the composite limit,
# GetCompositeSchedule, persistence and the spacing of PWM changes.
from firmware.ocpp.smart import PWM_MIN_INTERVAL_MS, Profiles, PwmLimiter
from firmware.timefmt import parse, weekday
from tests.portable import raises

T0 = parse("2024-03-10T23:55:00Z")  # a Sunday, five minutes before midnight and before a new week
MIDNIGHT = T0 + 300


def prof(pid, purpose="TxDefaultProfile", kind="Absolute", periods=((0, 16),), stack=0, unit="A", start=None,
         **extra):
    """A csChargingProfiles dict; periods are (startPeriod, limit) or (startPeriod, limit, numberPhases)."""
    sched = {"chargingRateUnit": unit, "chargingSchedulePeriod": []}
    for p in periods:
        period = {"startPeriod": p[0], "limit": p[1]}
        if len(p) > 2:
            period["numberPhases"] = p[2]
        sched["chargingSchedulePeriod"].append(period)
    if start is None and kind != "Relative":
        start = "2024-03-10T23:00:00Z"
    if start:
        sched["startSchedule"] = start
    for key in ("duration", "minChargingRate"):
        if key in extra:
            sched[key] = extra.pop(key)
    out = {"chargingProfileId": pid, "stackLevel": stack, "chargingProfilePurpose": purpose,
           "chargingProfileKind": kind, "chargingSchedule": sched}
    out.update(extra)
    return out


def accepted(store, connector_id, profile, tx_id=None):
    status, reason = store.set(connector_id, profile, tx_id)
    assert status == "Accepted", reason
    return store


def rejected(store, connector_id, profile, tx_id=None):
    status, reason = store.set(connector_id, profile, tx_id)
    assert status == "Rejected"
    assert reason
    return reason


def limit(store, t, connector_id=1, **kw):
    return store.limit_at(connector_id, t, **kw)[0]


# --- SetChargingProfile rules ---


def test_tx_profile_needs_a_transaction_on_the_connector():
    store = Profiles()
    assert "transaction" in rejected(store, 1, prof(1, "TxProfile"))
    assert "transaction" in rejected(store, 0, prof(1, "TxProfile"), tx_id=7)
    accepted(store, 1, prof(1, "TxProfile"), tx_id=7)
    assert limit(store, T0) == 16


def test_tx_profile_transaction_id_must_be_the_running_one():
    store = Profiles()
    assert "transactionId" in rejected(store, 1, prof(1, "TxProfile", transactionId=8), tx_id=7)
    accepted(store, 1, prof(1, "TxProfile", transactionId=7), tx_id=7)


def test_transaction_id_only_in_a_tx_profile():
    assert "only valid" in rejected(Profiles(), 1, prof(1, transactionId=7), tx_id=7)


def test_charge_point_max_profile_only_on_connector_0_with_its_own_start():
    store = Profiles()
    assert "connector 0" in rejected(store, 1, prof(1, "ChargePointMaxProfile"))
    rejected(store, 0, prof(1, "ChargePointMaxProfile", kind="Relative"))
    rejected(store, 0, prof(1, "ChargePointMaxProfile", start=""))
    accepted(store, 0, prof(1, "ChargePointMaxProfile", periods=((0, 10),)))
    assert limit(store, T0) == 10
    assert store.limit_at(0, T0) == (10, None)


def test_same_purpose_and_stack_level_on_the_same_connector_replaces():
    store = Profiles(connector_count=2)
    accepted(store, 1, prof(1, periods=((0, 16),)))
    accepted(store, 2, prof(2, periods=((0, 20),)))
    accepted(store, 1, prof(3, periods=((0, 12),)))  # replaces id 1, not id 2 on connector 2
    assert limit(store, T0, 1) == 12
    assert limit(store, T0, 2) == 20
    assert store.clear(id=1) == "Unknown"


def test_same_profile_id_replaces_even_on_another_connector():
    store = Profiles(connector_count=2)
    accepted(store, 1, prof(5, stack=1, periods=((0, 16),)))
    accepted(store, 2, prof(5, stack=3, periods=((0, 8),)))
    assert limit(store, T0, 1) is None
    assert limit(store, T0, 2) == 8


def test_periods_must_increase_and_the_first_start_at_0():
    store = Profiles()
    assert "increase" in rejected(store, 1, prof(1, periods=((0, 16), (600, 8), (300, 10))))
    assert "increase" in rejected(store, 1, prof(1, periods=((0, 16), (0, 8))))
    assert "first startPeriod" in rejected(store, 1, prof(1, periods=((60, 16),)))
    rejected(store, 1, prof(1, periods=()))


def test_relative_has_no_start_schedule_and_recurring_needs_one_and_a_kind():
    store = Profiles()
    assert "Relative" in rejected(store, 1, prof(1, kind="Relative", start="2024-03-10T23:00:00Z"))
    assert "Recurring" in rejected(store, 1, prof(1, kind="Recurring", recurrencyKind="Daily", start=""))
    assert "Recurring" in rejected(store, 1, prof(1, kind="Recurring"))
    assert "Recurring" in rejected(store, 1, prof(1, kind="Recurring", recurrencyKind="Monthly"))


def test_limits_must_be_numbers_not_below_zero():
    store = Profiles()
    assert "limit" in rejected(store, 1, prof(1, periods=((0, -1),)))
    assert "limit" in rejected(store, 1, prof(1, periods=((0, "16"),)))
    assert "limit" in rejected(store, 1, prof(1, periods=((0, True),)))
    assert "minChargingRate" in rejected(store, 1, prof(1, minChargingRate=-2))
    accepted(store, 1, prof(1, periods=((0, 0),)))
    assert limit(store, T0) == 0


def test_malformed_profiles_are_rejected_with_a_reason():
    store = Profiles(max_stack_level=3, max_periods=2)
    cases = (
        (1, "not a dict", "object"),
        (1, prof("1"), "chargingProfileId"),
        (1, prof(1, stack=-1), "stackLevel"),
        (1, prof(1, stack=True), "stackLevel"),
        (1, prof(1, stack=4), "ChargeProfileMaxStackLevel"),
        (1, prof(1, periods=((0, 6), (60, 7), (120, 8))), "ChargingScheduleMaxPeriods"),
        (1, prof(1, purpose="Other"), "chargingProfilePurpose"),
        (1, prof(1, kind="Sometimes"), "chargingProfileKind"),
        (1, prof(1, unit="kW"), "chargingRateUnit"),
        (1, prof(1, periods=((0, 16, 4),)), "numberPhases"),
        (1, prof(1, periods=((0, 16, 0),)), "numberPhases"),
        (1, prof(1, duration=0), "duration"),
        (1, prof(1, start="yesterday"), "dateTime"),
        (1, prof(1, validFrom="2024-03-11T00:00:00Z", validTo="2024-03-10T00:00:00Z"), "validTo"),
        (2, prof(1), "connector"),
        (-1, prof(1), "connector"),
    )
    for connector_id, profile, word in cases:
        reason = rejected(store, connector_id, profile)
        assert word in reason, (word, reason)
    no_schedule = prof(1)
    del no_schedule["chargingSchedule"]
    assert "chargingSchedule" in rejected(store, 1, no_schedule)
    assert store.limit_at(1, T0) == (None, None)  # nothing was installed


def test_no_more_profiles_than_max_installed():
    store = Profiles(max_installed=2)
    accepted(store, 1, prof(1, stack=0))
    accepted(store, 1, prof(2, stack=1))
    assert "MaxChargingProfilesInstalled" in rejected(store, 1, prof(3, stack=2))
    accepted(store, 1, prof(3, stack=1, periods=((0, 9),)))  # a replacement is not one more
    assert limit(store, T0) == 9


# --- ClearChargingProfile ---


def three_profiles():
    store = Profiles(connector_count=2)
    accepted(store, 0, prof(1, "ChargePointMaxProfile", stack=0, periods=((0, 30),)))
    accepted(store, 0, prof(2, stack=1, periods=((0, 20),)))
    accepted(store, 1, prof(3, stack=2, periods=((0, 10),)))
    return store


def test_clear_by_id_ignores_the_other_criteria():
    store = three_profiles()
    assert store.clear(id=3, connector_id=2, purpose="TxProfile") == "Accepted"
    assert limit(store, T0) == 20
    assert store.clear(id=3) == "Unknown"


def test_clear_by_connector_purpose_and_stack_level():
    store = three_profiles()
    assert store.clear(connector_id=2) == "Unknown"
    assert store.clear(connector_id=0, purpose="TxDefaultProfile", stack_level=2) == "Unknown"
    assert store.clear(connector_id=0, purpose="TxDefaultProfile") == "Accepted"
    assert limit(store, T0, 2) == 30  # connector 0's default is gone, the cap remains
    assert store.clear(stack_level=2) == "Accepted"
    assert limit(store, T0, 1) == 30
    assert store.clear(purpose="ChargePointMaxProfile") == "Accepted"
    assert limit(store, T0) is None


def test_clear_without_criteria_clears_all_and_unknown_when_none():
    store = three_profiles()
    assert store.clear() == "Accepted"
    assert limit(store, T0) is None
    assert store.clear() == "Unknown"


def test_tx_profiles_end_with_their_transaction():
    store = Profiles()
    accepted(store, 1, prof(1, stack=0, periods=((0, 16),)))
    accepted(store, 1, prof(2, "TxProfile", stack=0, periods=((0, 8),)), tx_id=7)
    assert limit(store, T0) == 8
    assert store.tx_ended(1) == 1
    assert limit(store, T0) == 16


def test_expired_profiles_are_dropped():
    store = Profiles()
    accepted(store, 1, prof(1, stack=0, validTo="2024-03-11T00:00:00Z"))
    accepted(store, 1, prof(2, stack=1, duration=600))  # Absolute, 23:00 .. 23:10
    accepted(store, 1, prof(3, stack=2, kind="Relative", duration=60))  # restarts with each transaction
    assert store.drop_expired(T0) == 1
    assert store.drop_expired(MIDNIGHT) == 1
    assert store.clear(id=3) == "Accepted"


# --- the composite limit ---


def test_absolute_schedule_periods_and_their_next_change():
    store = accepted(Profiles(), 1, prof(1, periods=((0, 16), (3600, 10), (4200, 32)), duration=7200))
    start = parse("2024-03-10T23:00:00Z")
    assert store.limit_at(1, start - 1) == (None, start)
    assert store.limit_at(1, start) == (16, start + 3600)
    assert store.limit_at(1, start + 3599) == (16, start + 3600)
    assert store.limit_at(1, start + 4000) == (10, start + 4200)
    assert store.limit_at(1, start + 4200) == (32, start + 7200)
    assert store.limit_at(1, start + 7200) == (None, None)


def test_daily_recurrence_crosses_midnight():
    # 22:00..02:00 at 8 A, the rest of the day 32 A, repeated daily from a startSchedule long ago
    store = accepted(Profiles(), 1, prof(1, kind="Recurring", recurrencyKind="Daily",
                                         start="2024-01-01T22:00:00Z", periods=((0, 8), (4 * 3600, 32))))
    assert store.limit_at(1, T0) == (8, MIDNIGHT + 2 * 3600)
    assert store.limit_at(1, MIDNIGHT + 60) == (8, MIDNIGHT + 2 * 3600)
    assert store.limit_at(1, MIDNIGHT + 2 * 3600) == (32, MIDNIGHT + 22 * 3600)


def test_weekly_recurrence_crosses_the_week_boundary_and_keeps_its_weekday():
    # Sundays 23:00 to Mondays 01:00 at 6 A, otherwise 20 A; startSchedule a Sunday in January
    first = parse("2024-01-07T23:00:00Z")
    assert weekday(first) == 6
    store = accepted(Profiles(), 1, prof(1, kind="Recurring", recurrencyKind="Weekly",
                                         start="2024-01-07T23:00:00Z", periods=((0, 6), (7200, 20))))
    lim, change = store.limit_at(1, T0)
    assert (lim, change) == (6, MIDNIGHT + 3600)
    assert weekday(change) == 0
    assert store.limit_at(1, MIDNIGHT + 3600) == (20, T0 - 55 * 60 + 7 * 86400)
    assert weekday(store.limit_at(1, MIDNIGHT + 3600)[1]) == 6


def test_recurrence_before_its_start_schedule_uses_the_previous_occurrence():
    # libocpp: at 07:00 a daily schedule starting at 08:00 is 23 h into yesterday's occurrence
    store = accepted(Profiles(), 1, prof(1, kind="Recurring", recurrencyKind="Daily",
                                         start="2024-03-11T08:00:00Z", periods=((0, 32), (3600, 6))))
    assert store.limit_at(1, parse("2024-03-11T07:00:00Z")) == (6, parse("2024-03-11T08:00:00Z"))


def test_recurring_duration_leaves_a_gap_filled_by_a_lower_stack_level():
    store = Profiles()
    accepted(store, 1, prof(1, stack=0, kind="Relative", periods=((0, 13),)))
    accepted(store, 1, prof(2, stack=5, kind="Recurring", recurrencyKind="Daily", start="2024-01-01T00:00:00Z",
                            periods=((0, 7),), duration=3600))
    assert store.limit_at(1, T0, tx_start_s=T0 - 600) == (13, MIDNIGHT)
    assert store.limit_at(1, MIDNIGHT, tx_start_s=T0 - 600) == (7, MIDNIGHT + 3600)
    assert store.limit_at(1, MIDNIGHT + 3600, tx_start_s=T0 - 600) == (13, MIDNIGHT + 86400)


def test_relative_schedule_runs_from_the_transaction_start():
    store = accepted(Profiles(), 1, prof(1, kind="Relative", periods=((0, 32), (1800, 16)), duration=3600))
    tx_start = T0 - 1000
    assert store.limit_at(1, T0, tx_start_s=tx_start) == (32, tx_start + 1800)
    assert store.limit_at(1, tx_start + 1800, tx_start_s=tx_start) == (16, tx_start + 3600)
    assert store.limit_at(1, tx_start + 3600, tx_start_s=tx_start) == (None, None)
    # without a transaction: as if one started at the queried instant (libocpp)
    assert store.limit_at(1, T0) == (32, T0 + 1800)


def test_absolute_without_start_schedule_runs_from_the_start_of_charging():
    store = accepted(Profiles(), 1, prof(1, start="", periods=((0, 20), (60, 10))))
    assert store.limit_at(1, T0, tx_start_s=T0 - 30) == (20, T0 + 30)


def test_valid_from_and_valid_to_bound_a_profile():
    store = accepted(Profiles(), 1, prof(1, kind="Relative", periods=((0, 32), (3600, 6)),
                                         validFrom="2024-03-11T00:00:00Z", validTo="2024-03-11T00:30:00Z"))
    tx_start = T0 - 2700  # the 32 A period ends 600 s after midnight
    assert store.limit_at(1, T0, tx_start_s=tx_start) == (None, MIDNIGHT)
    assert store.limit_at(1, MIDNIGHT, tx_start_s=tx_start) == (32, MIDNIGHT + 600)
    assert store.limit_at(1, MIDNIGHT + 600, tx_start_s=tx_start) == (6, MIDNIGHT + 1800)
    assert store.limit_at(1, MIDNIGHT + 1800, tx_start_s=tx_start) == (None, None)


def test_the_highest_stack_level_wins_and_its_gaps_fall_to_lower_levels():
    store = Profiles()
    accepted(store, 1, prof(1, stack=1, periods=((0, 16),)))
    accepted(store, 1, prof(2, stack=3, periods=((0, 20),), validFrom="2024-03-11T00:00:00Z",
                            validTo="2024-03-11T01:00:00Z"))
    accepted(store, 1, prof(3, stack=2, periods=((0, 10),), start="2024-03-11T00:30:00Z", duration=3600))
    assert store.limit_at(1, T0) == (16, MIDNIGHT)
    assert store.limit_at(1, MIDNIGHT + 1800) == (20, MIDNIGHT + 3600)  # level 3 over level 2
    assert store.limit_at(1, MIDNIGHT + 3600) == (10, MIDNIGHT + 5400)  # level 3 ended: level 2
    assert store.limit_at(1, MIDNIGHT + 5400) == (16, None)


def test_tx_profile_overrides_tx_default_and_charge_point_max_caps_both():
    store = Profiles()
    accepted(store, 1, prof(1, stack=8, periods=((0, 10),)))
    accepted(store, 1, prof(2, "TxProfile", stack=0, periods=((0, 24),), start="2024-03-11T00:00:00Z"), tx_id=3)
    assert limit(store, T0) == 10  # the TxProfile has not started: the default applies
    assert limit(store, MIDNIGHT) == 24  # a TxProfile of any level replaces the default
    accepted(store, 0, prof(3, "ChargePointMaxProfile", periods=((0, 20),)))
    assert limit(store, MIDNIGHT) == 20
    assert limit(store, T0) == 10


def test_tx_default_on_connector_0_applies_to_every_connector_unless_one_has_its_own():
    store = Profiles(connector_count=2)
    accepted(store, 0, prof(1, stack=1, periods=((0, 16),)))
    accepted(store, 2, prof(2, stack=1, periods=((0, 25),)))
    assert limit(store, T0, 1) == 16
    assert limit(store, T0, 2) == 25
    assert limit(store, T0, 0) is None  # connector 0 answers the charge point cap only


def test_watts_become_amps_over_voltage_and_phases():
    store = accepted(Profiles(), 1, prof(1, unit="W", periods=((0, 11040), (60, 3680, 1))))
    start = parse("2024-03-10T23:00:00Z")
    assert limit(store, start) == 16.0  # 11040 W / (230 V * 3)
    assert limit(store, start, phases=1) == 48.0
    assert limit(store, start, voltage_v=240) == 11040 / 720
    assert limit(store, start + 60) == 16.0  # numberPhases 1 given: 3680 W / 230 V
    raises(ValueError, store.limit_at, 1, T0, None, 0)
    raises(ValueError, store.limit_at, 1, T0, None, 230, 4)
    raises(ValueError, store.limit_at, 3, T0)


def test_a_limit_that_never_changes_has_no_next_change():
    store = Profiles()
    assert store.limit_at(1, T0) == (None, None)
    accepted(store, 1, prof(1, kind="Recurring", recurrencyKind="Daily", start="2024-01-01T00:00:00Z",
                            periods=((0, 16), (3600, 16))))
    assert store.limit_at(1, T0) == (16, None)


# --- GetCompositeSchedule ---


def test_composite_periods_are_relative_to_the_start_and_merged_when_equal():
    store = Profiles()
    accepted(store, 1, prof(1, periods=((0, 16), (600, 16), (1200, 10)), start="2024-03-10T23:50:00Z"))
    accepted(store, 0, prof(2, "ChargePointMaxProfile", periods=((0, 12),), start="2024-03-11T00:00:00Z"))
    sched = store.composite(1, T0, 3600, "A", default_limit_a=32)
    assert sched["startSchedule"] == "2024-03-10T23:55:00Z"
    assert sched["duration"] == 3600
    assert sched["chargingRateUnit"] == "A"
    assert sched["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 16.0}, {"startPeriod": 300, "limit": 12.0}, {"startPeriod": 900, "limit": 10.0}]


def test_composite_in_watts_fills_gaps_with_the_default_and_keeps_phases():
    store = accepted(Profiles(), 1, prof(1, kind="Relative", periods=((0, 16), (60, 10, 1)), duration=120))
    sched = store.composite(1, T0, 600, "W", tx_start_s=T0 + 60, default_limit_a=32)
    assert sched["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 22080.0}, {"startPeriod": 60, "limit": 11040.0},
        {"startPeriod": 120, "limit": 2300.0, "numberPhases": 1}, {"startPeriod": 180, "limit": 22080.0}]


def test_composite_of_nothing_is_one_default_period_and_bad_requests_raise():
    store = Profiles()
    assert store.composite(1, T0, 0, "A", default_limit_a=20)["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 20.0}]
    raises(ValueError, store.composite, 1, T0, 60, "kW")
    raises(ValueError, store.composite, 1, T0, -1, "A")
    raises(ValueError, store.composite, 2, T0, 60, "A")


# --- persistence ---


def test_profiles_survive_a_record_round_trip():
    store = three_profiles()
    accepted(store, 2, prof(4, "TxProfile", stack=3, periods=((0, 7),)), tx_id=11)
    again = Profiles(connector_count=2)
    again.from_record(store.to_record())
    for connector_id in (0, 1, 2):
        assert again.composite(connector_id, T0, 7200) == store.composite(connector_id, T0, 7200)
    assert again.tx_ended(2) == 1


def test_bad_records_raise_and_leave_the_profiles_alone():
    store = three_profiles()
    good = store.to_record()
    bad = (b"", b"\xff\xfe", b"[]", b"{}", b'{"version": 2, "profiles": []}', b'{"version": 1}',
           b'{"version": 1, "profiles": [{"connector_id": 1}]}',
           good.replace(b'"limit": 30', b'"limit": -30'), good.replace(b'"connector_id": 1', b'"connector_id": 5'))
    for raw in bad:
        err = raises(ValueError, store.from_record, raw)
        assert "record" in str(err)
        assert limit(store, T0) == 10
    Profiles().from_record(b'{"version": 1, "profiles": []}')


# --- PWM changes ---


def test_pwm_first_limit_applies_at_once_and_increases_wait_5_s():
    pwm = PwmLimiter()
    assert pwm.update(10, 1000) == (10, False, None)
    assert pwm.update(16, 2000) == (10, False, 1000 + PWM_MIN_INTERVAL_MS)
    assert pwm.update(16, 5999) == (10, False, 6000)
    assert pwm.update(16, 6000) == (16, False, None)


def test_pwm_decreases_apply_at_once_never_offering_more_than_allowed():
    pwm = PwmLimiter()
    pwm.update(32, 0)
    assert pwm.update(20, 100) == (20, False, None)
    assert pwm.update(13, 200) == (13, False, None)
    assert pwm.update(20, 300) == (13, False, 5200)  # the spacing runs from the last change


def test_pwm_under_6_a_suspends_at_once_and_resumes_after_the_interval():
    pwm = PwmLimiter()
    pwm.update(16, 0)
    assert pwm.update(5.9, 10000) == (None, True, None)
    assert pwm.update(0, 10500) == (None, True, None)
    assert pwm.update(6, 12000) == (None, True, 15000)
    assert pwm.update(6, 15000) == (6, False, None)
    assert PwmLimiter().update(2, 0) == (None, True, None)


def test_pwm_changes_the_ev_cannot_see_are_not_changes():
    pwm = PwmLimiter()
    pwm.update(16, 0)
    assert pwm.update(16.01, 100) == (16.01, False, None)  # same duty: nothing to wait for
    assert pwm.update(15.9, 200) == (15.9, False, None)
    pwm.update(72.125, 10000)
    assert pwm.update(72.0, 10100) == (72.0, False, None)  # same duty, but never report more than allowed
    raises(ValueError, pwm.update, None, 300)
    raises(ValueError, pwm.update, float("nan"), 300)
