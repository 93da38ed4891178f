"""Safety properties of the session table, for every sequence of CP states, commands and faults."""

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware import session as s
from firmware.session import Session

EVENTS = st.sampled_from(
    ["cp_A", "cp_B", "cp_C", "cp_D", "cp_E", "cp_F", "cp_invalid",
     "auth", "stop", "limit_low", "limit_ok", "fault", "clear"]
)
STEPS = st.lists(st.tuples(EVENTS, st.integers(0, 8000)), max_size=60)


def drive(ses, steps):
    """Feed the steps to the session, firing timers exactly at their deadlines (the firmware's timer
    task does that). Yields (now, contactor closed before the step) after each step."""
    now = 0
    for event, dt in steps:
        while ses.deadline is not None and ses.deadline <= now + dt:
            now = ses.deadline
            ses.poll(now)
        now += dt
        was_closed = ses.contactor
        if event == "fault":
            ses.fault("x", now)
        elif event == "clear":
            ses.clear_fault("x", now)
        else:
            ses.handle(event, now, "Remote" if event == "stop" else None)
        yield now, was_closed


def cp_allows_power(ses):
    return ses.cp == "C" or (ses.cp == "D" and ses.ventilation)


@settings(max_examples=400)
@given(steps=STEPS, ventilation=st.booleans())
def test_contactor_is_never_closed_when_it_must_be_open(steps, ventilation):
    ses = Session(ventilation=ventilation)
    pwm_off_since = None  # when the pilot last left PWM while the contactor stayed closed
    for now, was_closed in drive(ses, steps):
        if ses.contactor and not was_closed:
            # A close command only in C2 / D2 with ventilation, with no fault and a valid limit.
            assert ses.pilot == "pwm" and cp_allows_power(ses)
            assert not ses.faults and ses.limit_ok
        if ses.contactor:
            # Closed only while the EV asks for power and nothing is wrong; opened on the very
            # event that changed that (0 ms here; the pilot debounce adds < 50 ms: < 100 ms total).
            assert cp_allows_power(ses), (ses.state, ses.cp)
            assert not ses.faults
            assert ses.state in (s.CHARGING, s.STOPPING, s.PAUSING)
            if ses.pilot != "pwm":
                pwm_off_since = now if pwm_off_since is None else pwm_off_since
                assert now - pwm_off_since <= s.PWM_OFF_TO_OPEN_MS
            else:
                pwm_off_since = None
        else:
            pwm_off_since = None
        if ses.state == s.FAULT:
            assert ses.pilot == "f"


@given(steps=STEPS)
def test_a_transaction_that_ends_always_has_an_ocpp_stop_reason(steps):
    reasons = {"EVDisconnected", "Other", "Local", "Remote"}
    ses = Session()
    was_tx = False
    for _now, _was_closed in drive(ses, steps):
        if was_tx and not ses.tx_active:
            assert ses.stop_reason in reasons
        was_tx = ses.tx_active


def test_table_rows_name_known_states_and_actions():
    actions = {"close", "open", "x1", "pwm", "f", "timer_6s", "timer_fault", "timer_plug", "keep_timer"}
    for (state, _event), (nxt, acts) in s.table().items():
        assert state in s.STATUS and nxt in s.STATUS
        assert set(acts) <= actions
