"""Smart charging and timefmt properties (CPython + Hypothesis): random profile sets against a
brute-force oracle that applies the OCPP 1.6 rules to the raw dicts one second at a time."""

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import pilot, timefmt
from firmware.ocpp.smart import PWM_MIN_INTERVAL_MS, RECURRENCE_S, Profiles, PwmLimiter

T0 = timefmt.parse("2024-03-10T23:55:00Z")  # Sunday: the window crosses midnight and the week boundary
WINDOW_S = 600
TX_ID = 5


# --- the oracle: the rules, written plainly and independently of firmware/ocpp/smart.py ---


def oracle_profile(p, t, tx_start_s, voltage_v, phases):
    """(limit_a, numberPhases) of one raw profile at t, or None."""
    if "validFrom" in p and t < timefmt.parse(p["validFrom"]):
        return None
    if "validTo" in p and t >= timefmt.parse(p["validTo"]):
        return None
    sched = p["chargingSchedule"]
    if p["chargingProfileKind"] == "Recurring":
        every = RECURRENCE_S[p["recurrencyKind"]]
        origin = timefmt.parse(sched["startSchedule"])
        while origin > t:
            origin -= every
        while origin + every <= t:
            origin += every
    elif "startSchedule" in sched:
        origin = timefmt.parse(sched["startSchedule"])
    else:
        origin = tx_start_s
    offset = t - origin
    if offset < 0 or ("duration" in sched and offset >= sched["duration"]):
        return None
    current = [q for q in sched["chargingSchedulePeriod"] if q["startPeriod"] <= offset][-1]
    n = current.get("numberPhases")
    if sched["chargingRateUnit"] == "A":
        return current["limit"], n
    return current["limit"] / (voltage_v * (n or phases)), n


def oracle(installed, connector_id, t, tx_start_s, voltage_v=230, phases=3):
    """The composite (limit_a, numberPhases) at t, or None; installed: [(connector_id, profile)]."""
    best = {}
    for on, p in installed:
        purpose = p["chargingProfilePurpose"]
        if purpose == "TxProfile" and on != connector_id:
            continue
        if purpose == "TxDefaultProfile" and on not in (0, connector_id):
            continue
        if connector_id == 0 and purpose != "ChargePointMaxProfile":
            continue
        got = oracle_profile(p, t, tx_start_s, voltage_v, phases)
        rank = (p["stackLevel"], on != 0)
        if got is not None and (purpose not in best or rank > best[purpose][0]):
            best[purpose] = (rank, got)
    base = best.get("TxProfile", best.get("TxDefaultProfile"))
    cap = best.get("ChargePointMaxProfile")
    if base is None or (cap is not None and cap[1][0] < base[1][0]):
        base = cap
    return None if base is None else base[1]


# --- random profile sets ---

PURPOSE_CONNECTORS = {"ChargePointMaxProfile": (0,), "TxDefaultProfile": (0, 1), "TxProfile": (1,)}


@st.composite
def profiles(draw, pid):
    purpose = draw(st.sampled_from(sorted(PURPOSE_CONNECTORS)))
    connector_id = draw(st.sampled_from(PURPOSE_CONNECTORS[purpose]))
    kinds = ("Absolute", "Recurring") if purpose == "ChargePointMaxProfile" else ("Absolute", "Recurring", "Relative")
    kind = draw(st.sampled_from(kinds))
    unit = draw(st.sampled_from("AW"))
    near = T0 + draw(st.integers(-1200, WINDOW_S))
    sched = {"chargingRateUnit": unit}
    p = {"chargingProfileId": pid, "stackLevel": draw(st.integers(0, 3)), "chargingProfilePurpose": purpose,
         "chargingProfileKind": kind, "chargingSchedule": sched}
    every = 0
    if kind == "Recurring":
        p["recurrencyKind"] = draw(st.sampled_from(sorted(RECURRENCE_S)))
        every = RECURRENCE_S[p["recurrencyKind"]]
        near += every * draw(st.integers(-3, 1))
    if kind == "Recurring" or (kind == "Absolute" and (purpose == "ChargePointMaxProfile" or draw(st.booleans()))):
        sched["startSchedule"] = timefmt.format_utc(near)
    late = st.integers(every - 1300, every - 1) if every else st.integers(1, 2400)
    starts = draw(st.lists(st.one_of(st.integers(1, 2100), late), max_size=3, unique=True))
    top = 40 if unit == "A" else 25000
    sched["chargingSchedulePeriod"] = []
    for start in [0] + sorted(starts):
        period = {"startPeriod": start, "limit": draw(st.integers(0, top))}
        if draw(st.booleans()):
            period["numberPhases"] = draw(st.integers(1, 3))
        sched["chargingSchedulePeriod"].append(period)
    if draw(st.booleans()):
        sched["duration"] = draw(st.integers(1, every or 2400))
    if draw(st.booleans()):
        p["validFrom"] = timefmt.format_utc(T0 + draw(st.integers(-300, WINDOW_S)))
    if draw(st.booleans()):
        p["validTo"] = timefmt.format_utc(T0 + draw(st.integers(-300, WINDOW_S + 300)) + 1201 * ("validFrom" in p))
    return connector_id, p


@st.composite
def installations(draw):
    drawn = [draw(profiles(pid)) for pid in range(draw(st.integers(0, 6)))]
    seen, installed = set(), []
    for connector_id, p in drawn:  # one profile per (connector, purpose, stackLevel): none replaces another
        key = (connector_id, p["chargingProfilePurpose"], p["stackLevel"])
        if key not in seen:
            seen.add(key)
            installed.append((connector_id, p))
    tx_start_s = T0 + draw(st.integers(-1200, 600))
    return installed, tx_start_s, draw(st.sampled_from((1, 3)))


def install(installed):
    store = Profiles(connector_count=1)
    for connector_id, p in installed:
        status, reason = store.set(connector_id, p, TX_ID)
        assert status == "Accepted", (reason, p)
    return store


def limit_of(value):
    return None if value is None else value[0]


# --- properties ---


@settings(max_examples=40)
@given(installations())
def test_limit_at_matches_the_oracle_second_by_second_and_names_the_next_change(case):
    installed, tx_start_s, phases = case
    store = install(installed)
    for connector_id in (1, 0):
        ts = range(T0 - 60, T0 + WINDOW_S)
        expected = [limit_of(oracle(installed, connector_id, t, tx_start_s, phases=phases)) for t in ts]
        next_diff = [None] * len(ts)  # index of the next second whose expected limit differs
        for i in range(len(ts) - 2, -1, -1):
            next_diff[i] = i + 1 if expected[i + 1] != expected[i] else next_diff[i + 1]
        for i, t in enumerate(ts):
            got, change = store.limit_at(connector_id, t, tx_start_s=tx_start_s, phases=phases)
            assert got == expected[i], (t - T0, got, expected[i])
            if next_diff[i] is not None:
                assert change == ts[next_diff[i]], (t - T0, change, ts[next_diff[i]])
                continue
            assert change is None or change >= ts[-1] + 1
            if change is not None:
                assert limit_of(oracle(installed, connector_id, change, tx_start_s, phases=phases)) != got
            else:  # never changes again: sample the coming fortnight
                for k in range(1, 15):
                    far = t + k * 86400 + k * 3607
                    assert limit_of(oracle(installed, connector_id, far, tx_start_s, phases=phases)) == got


def floor_tenth(x):
    return int(x * 10 + 1e-6) / 10


@settings(max_examples=60)
@given(installations(), st.sampled_from("AW"))
def test_composite_agrees_with_limit_at_at_every_period_boundary_and_between(case, unit):
    installed, tx_start_s, phases = case
    store = install(installed)
    default_a = 32
    for connector_id in (1, 0):
        sched = store.composite(connector_id, T0, WINDOW_S, unit, tx_start_s=tx_start_s, phases=phases,
                                default_limit_a=default_a)
        periods = sched["chargingSchedulePeriod"]
        assert periods[0]["startPeriod"] == 0
        for a, b in zip(periods, periods[1:]):
            assert a["startPeriod"] < b["startPeriod"] < WINDOW_S
            assert (a["limit"], a.get("numberPhases")) != (b["limit"], b.get("numberPhases"))  # merged
        starts = [q["startPeriod"] for q in periods]
        for offset in range(WINDOW_S):
            period = periods[max(i for i, s in enumerate(starts) if s <= offset)]
            value = oracle(installed, connector_id, T0 + offset, tx_start_s, phases=phases)
            limit_a, n = value if value is not None else (default_a, None)
            if offset in starts:  # at each boundary the composite says what limit_at says
                got = store.limit_at(connector_id, T0 + offset, tx_start_s, phases=phases)[0]
                assert got == (None if value is None else limit_a)
            assert period.get("numberPhases") == n
            if unit == "A":
                assert period["limit"] == floor_tenth(limit_a), offset
            else:
                assert abs(period["limit"] - limit_a * 230 * (n or phases)) < 0.11, offset


@settings(max_examples=40)
@given(installations())
def test_profiles_survive_a_record_round_trip(case):
    installed, tx_start_s, _ = case
    store = install(installed)
    again = Profiles(connector_count=1)
    again.from_record(store.to_record())
    for connector_id in (0, 1):
        for unit in "AW":
            assert again.composite(connector_id, T0, WINDOW_S, unit, tx_start_s) == store.composite(
                connector_id, T0, WINDOW_S, unit, tx_start_s)


# --- timefmt ---

UTC = datetime.timezone.utc
LAST_S = timefmt.parse("2100-12-31T23:59:59Z")


def test_every_day_from_1970_to_2100_formats_and_parses_like_cpython():
    day = datetime.date(1970, 1, 1)
    for n in range(timefmt.days_from_civil(2101, 1, 1)):
        epoch_s = n * 86400 + (n * 7919) % 86400  # a different time of day each day
        text = timefmt.format_utc(epoch_s)
        assert text == datetime.datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert timefmt.parse(text) == epoch_s
        assert timefmt.weekday(epoch_s) == day.weekday()
        day += datetime.timedelta(days=1)


@given(st.integers(0, LAST_S), st.integers(-23 * 60 - 59, 23 * 60 + 59), st.integers(0, 999999))
def test_any_instant_with_any_offset_and_fraction_parses_back(epoch_s, offset_min, micros):
    local = datetime.datetime.fromtimestamp(epoch_s, UTC) + datetime.timedelta(minutes=offset_min)
    sign = "+" if offset_min >= 0 else "-"
    text = "%s.%06d%s%02d:%02d" % (local.strftime("%Y-%m-%dT%H:%M:%S"), micros, sign,
                                    abs(offset_min) // 60, abs(offset_min) % 60)
    assert timefmt.parse(text) == epoch_s


# --- PWM spacing ---


@given(st.lists(st.tuples(st.integers(0, 8000), st.one_of(st.integers(-5, 80), st.floats(0, 80))), max_size=40))
def test_pwm_never_offers_more_than_the_limit_and_raises_only_after_the_interval(steps):
    def duty(current_a):  # what the EV sees
        return pilot.NO_CHARGING_PERMILLE if current_a is None else pilot.duty_for_current(current_a)

    pwm = PwmLimiter()
    now_ms, last_change_ms, offered = 0, None, None
    for dt_ms, limit_a in steps:
        now_ms += dt_ms
        got, suspend, recheck_ms = pwm.update(limit_a, now_ms)
        assert suspend == (got is None)
        assert got is None or 6 <= got <= limit_a  # never more than allowed, never an illegal duty
        if limit_a < 6:
            assert suspend
        if last_change_ms is None or duty(got) != duty(offered):
            rising = offered is None or (got is not None and got > offered)
            if rising and last_change_ms is not None:
                assert now_ms - last_change_ms >= PWM_MIN_INTERVAL_MS
            last_change_ms = now_ms
        offered = got
        if recheck_ms is not None:
            assert recheck_ms == last_change_ms + PWM_MIN_INTERVAL_MS > now_ms
            got, _, _ = pwm.update(limit_a, recheck_ms)  # asked again when told: the increase lands
            assert got == (limit_a if limit_a >= 6 else None)
            now_ms, last_change_ms, offered = recheck_ms, recheck_ms, got
