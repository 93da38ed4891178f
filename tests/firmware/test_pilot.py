# portable
# Control pilot examples. Runs under pytest and under the micropython binary (tests/mpy/run.py).
from firmware.pilot import (
    DEBOUNCE_MS,
    DIGITAL_COMM_PERMILLE,
    HYSTERESIS_MV,
    NO_CHARGING_PERMILLE,
    PilotReader,
    classify,
    current_for_duty,
    duty_for_current,
)
from tests.portable import raises

NOMINAL_MV = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0, "F": -12000}


def close(a, b):
    return abs(a - b) < 1e-9


# --- duty <-> current ---


def test_16a_is_266_permille():
    assert duty_for_current(16) == 266


def test_32a_is_533_permille():
    assert duty_for_current(32) == 533
    assert duty_for_current(32.0) == 533


def test_6a_is_10_percent():
    assert duty_for_current(6) == 100


def test_below_6a_means_no_charging():
    assert duty_for_current(5.99) == NO_CHARGING_PERMILLE
    assert duty_for_current(0) == NO_CHARGING_PERMILLE
    assert duty_for_current(-3) == NO_CHARGING_PERMILLE


def test_51a_is_85_percent():
    assert duty_for_current(51) == 850


def test_gap_between_51_and_52_5a_is_clamped_to_51a():
    assert duty_for_current(52) == 850
    assert duty_for_current(51.5) == 850
    assert current_for_duty(duty_for_current(52)) <= 52


def test_upper_band_formula():
    assert duty_for_current(52.5) == 850
    assert duty_for_current(60) == 880  # 60 / 2.5 + 64 = 88 %
    assert duty_for_current(63) == 892  # 89.2 %


def test_80a_is_96_percent_and_more_is_clamped():
    assert duty_for_current(80) == 960
    assert duty_for_current(100) == 960


def test_float_noise_does_not_lose_a_permille():
    assert duty_for_current(10.2) == 170  # 10.2 * 1000 is 10199.99... in binary floating point


def test_duty_is_rounded_down():
    assert duty_for_current(10) == 166  # 16.67 %
    assert current_for_duty(166) <= 10


def test_nan_current_is_rejected():
    raises(ValueError, duty_for_current, float("nan"))


def test_read_side_table():
    assert current_for_duty(DIGITAL_COMM_PERMILLE) == 0.0
    assert current_for_duty(0) == 0.0
    assert current_for_duty(75) == 0.0  # 7.5 %: no charging
    assert current_for_duty(80) == 6.0
    assert current_for_duty(95) == 6.0
    assert close(current_for_duty(100), 6.0)
    assert close(current_for_duty(266), 15.96)
    assert close(current_for_duty(850), 51.0)
    assert close(current_for_duty(880), 60.0)
    assert close(current_for_duty(960), 80.0)
    assert current_for_duty(965) == 80.0
    assert current_for_duty(970) == 80.0
    assert current_for_duty(975) == 0.0
    assert current_for_duty(NO_CHARGING_PERMILLE) == 0.0


def test_read_side_rejects_impossible_duty():
    raises(ValueError, current_for_duty, -1)
    raises(ValueError, current_for_duty, 1001)


# --- classification ---


def test_nominal_levels_classify_to_their_state():
    for state in NOMINAL_MV:
        assert classify(NOMINAL_MV[state]) == state
        for prev in ("A", "B", "C", "D", "E", "F", "INVALID", None):
            assert classify(NOMINAL_MV[state], prev) == state


def test_band_edges_without_history():
    assert classify(13500) == "A"
    assert classify(13501) == "INVALID"
    assert classify(10501) == "A"
    assert classify(10500) == "B"
    assert classify(7501) == "B"
    assert classify(7500) == "C"
    assert classify(4501) == "C"
    assert classify(4500) == "D"
    assert classify(1501) == "D"
    assert classify(1500) == "E"
    assert classify(-1500) == "INVALID"
    assert classify(-1499) == "E"
    assert classify(-10500) == "F"
    assert classify(-10499) == "INVALID"
    assert classify(-11400, "E") == "F"  # generator at -12 V - 5 %, with hysteresis against F
    assert classify(-13499) == "F"
    assert classify(-13500) == "INVALID"


def test_hysteresis_keeps_the_present_state_on_an_edge():
    # A reading sitting on the B/C edge stays with whichever state was confirmed.
    assert classify(7500, "B") == "B"
    assert classify(7500, "C") == "C"
    assert classify(7500 - HYSTERESIS_MV + 1, "B") == "B"
    assert classify(7500 - HYSTERESIS_MV, "B") == "C"
    assert classify(7500 + HYSTERESIS_MV, "C") == "C"
    assert classify(7500 + HYSTERESIS_MV + 1, "C") == "B"


def test_hysteresis_on_the_a_b_edge():
    assert classify(10400, "A") == "A"
    assert classify(10400, "B") == "B"
    assert classify(10700, "B") == "B"
    assert classify(10801, "B") == "A"


def test_invalid_levels():
    assert classify(15000) == "INVALID"
    assert classify(-6000) == "INVALID"  # between E and F
    assert classify(-15000) == "INVALID"
    assert classify(-6000, "E") == "INVALID"
    assert classify(-6000, "F") == "INVALID"


# --- PilotReader ---


def feed_until(reader, high_mv, low_mv, start_ms, end_ms, pwm_on, step_ms=10):
    changes = []
    t = start_ms
    while t <= end_ms:
        if reader.feed(high_mv, low_mv, t, pwm_on):
            changes.append((t, reader.state, reader.diode_ok))
        t += step_ms
    return changes


def test_first_reading_is_confirmed_after_the_debounce():
    r = PilotReader()
    assert r.state is None
    assert r.feed(12000, 12000, 1000, False) is False
    assert r.next_deadline() == 1000 + DEBOUNCE_MS
    assert r.feed(12000, 12000, 1000 + DEBOUNCE_MS - 1, False) is False
    assert r.state is None
    assert r.feed(12000, 12000, 1000 + DEBOUNCE_MS, False) is True
    assert r.state == "A"
    assert r.next_deadline() is None


def test_change_is_confirmed_exactly_at_the_debounce():
    r = PilotReader()
    feed_until(r, 9000, -12000, 0, 100, True)
    assert r.state == "B"
    assert r.feed(6000, -12000, 200, True) is False
    assert r.next_deadline() == 200 + DEBOUNCE_MS
    assert r.feed(6000, -12000, 200 + DEBOUNCE_MS - 1, True) is False
    assert r.state == "B"
    assert r.feed(6000, -12000, 200 + DEBOUNCE_MS, True) is True
    assert r.state == "C"


def test_glitch_shorter_than_the_debounce_is_ignored():
    r = PilotReader()
    feed_until(r, 6000, -12000, 0, 100, True)
    assert r.state == "C"
    assert r.feed(9000, -12000, 200, True) is False  # one reading of B ...
    assert r.feed(6000, -12000, 200 + DEBOUNCE_MS - 1, True) is False  # ... then back to C
    assert r.next_deadline() is None
    assert r.feed(9000, -12000, 200 + DEBOUNCE_MS, True) is False  # a new glitch starts its own count
    assert r.feed(9000, -12000, 200 + 2 * DEBOUNCE_MS - 1, True) is False
    assert r.state == "C"


def test_a_changing_candidate_restarts_the_debounce():
    r = PilotReader()
    feed_until(r, 12000, 12000, 0, 100, False)
    r.feed(9000, 9000, 200, False)  # B ...
    r.feed(6000, 6000, 210, False)  # ... then C: the count starts again at 210
    assert r.next_deadline() == 210 + DEBOUNCE_MS
    assert r.feed(6000, 6000, 200 + DEBOUNCE_MS, False) is False
    assert r.feed(6000, 6000, 210 + DEBOUNCE_MS, False) is True
    assert r.state == "C"


def test_detection_of_c_to_b_fits_in_50ms_at_10ms_polling():
    r = PilotReader()
    feed_until(r, 6000, -12000, 0, 100, True)
    changes = feed_until(r, 9000, -12000, 110, 300, True)
    assert changes[0][1] == "B"
    assert changes[0][0] - 100 <= 50  # EV opened S2 just after the reading at 100 ms


def test_missing_diode_is_reported_during_pwm():
    r = PilotReader()
    feed_until(r, 9000, -12000, 0, 100, True)
    assert r.diode_ok is True
    changes = feed_until(r, 8790, -8790, 110, 200, True)  # shorted diode: the low half is divided too
    assert changes == [(110 + DEBOUNCE_MS, "B", False)]


def test_diode_is_not_judged_without_pwm_and_clears_on_unplug():
    r = PilotReader()
    feed_until(r, 9000, -8790, 0, 100, True)
    assert r.diode_ok is False
    feed_until(r, 9000, 9000, 110, 200, False)  # X1: no negative phase, nothing to measure
    assert r.diode_ok is False
    feed_until(r, 12000, 12000, 210, 300, False)  # unplugged
    assert r.state == "A"
    assert r.diode_ok is True


def test_diode_check_ignores_states_without_ev_resistors():
    r = PilotReader()
    feed_until(r, 12000, -12000, 0, 100, True)  # A with PWM: open circuit, no diode in the loop
    assert r.diode_ok is True
    feed_until(r, 0, 0, 110, 200, True)  # E: CP shorted
    assert r.state == "E"
    assert r.diode_ok is True


def test_diode_glitch_is_debounced():
    r = PilotReader()
    feed_until(r, 6000, -12000, 0, 100, True)
    assert r.feed(6000, -9000, 110, True) is False
    assert r.next_deadline() == 110 + DEBOUNCE_MS
    assert r.feed(6000, -12000, 120, True) is False
    assert r.diode_ok is True
    assert r.next_deadline() is None


def test_invalid_is_a_state_too():
    r = PilotReader()
    feed_until(r, 12000, 12000, 0, 100, False)
    feed_until(r, -6000, -6000, 110, 200, False)
    assert r.state == "INVALID"


def test_zero_debounce_confirms_at_once():
    r = PilotReader(debounce_ms=0)
    assert r.feed(6000, -12000, 5, True) is True
    assert r.state == "C"


def test_negative_debounce_is_rejected():
    raises(ValueError, PilotReader, -1)
