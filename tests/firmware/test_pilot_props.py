"""Properties of the control pilot that must hold for every input (CPython + Hypothesis)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.pilot import (
    DEBOUNCE_MS,
    MAX_CURRENT_A,
    MIN_CURRENT_A,
    PilotReader,
    classify,
    current_for_duty,
    duty_for_current,
)

PREVIOUS = ("A", "B", "C", "D", "E", "F", "INVALID", None)
ORDER = "ABCDEF"  # top (most positive) to bottom
MA = 0.0005  # currents are resolved to the milliamp (half a milliamp either way)


# --- duty <-> current ---


@given(st.integers(min_value=100, max_value=960))
def test_duty_to_current_to_duty_round_trips(duty):
    assert duty_for_current(current_for_duty(duty)) == duty


@given(st.floats(min_value=MIN_CURRENT_A, max_value=MAX_CURRENT_A))
def test_offered_current_never_exceeds_the_asked_current_and_is_one_step_below_at_most(asked_a):
    offered_a = current_for_duty(duty_for_current(asked_a))
    assert offered_a <= asked_a + MA
    if asked_a <= 51:
        assert asked_a - offered_a < 0.06 + MA  # one permille is 0.06 A in the 10..85 % band
    elif asked_a < 52.75:
        # The gap in the table: 51..52.5 A is clamped to 51 A, and 85 % itself reads as 51 A, so the
        # first offer above 51 A is 85.1 % = 52.75 A.
        assert offered_a == 51.0
    else:
        assert asked_a - offered_a < 0.25 + MA  # one permille is 0.25 A in the 85..96 % band


@given(st.floats(allow_nan=False, max_value=MIN_CURRENT_A, exclude_max=True))
def test_below_minimum_current_offers_nothing(asked_a):
    assert current_for_duty(duty_for_current(asked_a)) == 0.0


@given(st.floats(allow_nan=False, min_value=MAX_CURRENT_A))
def test_above_maximum_current_offers_80a(asked_a):
    assert current_for_duty(duty_for_current(asked_a)) == 80.0


# --- classification ---


@given(st.sampled_from(PREVIOUS), st.integers(-20000, 20000), st.integers(-20000, 20000))
def test_classification_is_monotonic_in_voltage(prev, v1, v2):
    low, high = min(v1, v2), max(v1, v2)
    s_low, s_high = classify(low, prev), classify(high, prev)
    if s_low != "INVALID" and s_high != "INVALID":
        assert ORDER.index(s_high) <= ORDER.index(s_low)


def test_classification_bands_come_in_order_for_every_previous_state():
    # Scan every millivolt: the runs of equal states must be exactly the bands in order.
    for prev in PREVIOUS:
        runs = []
        for mv in range(-20000, 20001):
            s = classify(mv, prev)
            if not runs or runs[-1] != s:
                runs.append(s)
        assert runs == ["INVALID", "F", "INVALID", "E", "D", "C", "B", "A", "INVALID"], (prev, runs)


# --- debounce ---

# Levels well inside each band (more than hysteresis away from any edge), so a sample's state is known
# whatever the reader's present state.
LEVEL_MV = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0, "F": -12000, "INVALID": -6000}

samples = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2 * DEBOUNCE_MS),  # time since the previous sample
        st.sampled_from(sorted(LEVEL_MV)),
        st.integers(min_value=-1000, max_value=1000),  # noise, less than the distance to a shifted edge
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300)
@given(samples)
def test_reader_reports_only_states_held_for_the_debounce(seq):
    r = PilotReader()
    t = 0
    history = []  # (time, state) of every sample fed
    for dt, state, noise in seq:
        t += dt
        mv = LEVEL_MV[state] + noise
        assert classify(mv, r.state) == state
        before = r.state
        changed = r.feed(mv, -12000, t, True)
        history.append((t, state))
        if r.state != before:
            assert changed
            assert r.state == state
            # The run of samples in this state that ends now must span the debounce.
            start = t
            for ts, s in reversed(history):
                if s != state:
                    break
                start = ts
            assert t - start >= DEBOUNCE_MS
        else:
            assert not changed
        # Liveness: a run that already spans the debounce has been confirmed.
        run_start = t
        for ts, s in reversed(history):
            if s != state:
                break
            run_start = ts
        if t - run_start >= DEBOUNCE_MS:
            assert r.state == state
        deadline = r.next_deadline()
        if r.state != state:
            assert deadline == run_start + DEBOUNCE_MS
