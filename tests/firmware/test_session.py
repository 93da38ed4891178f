# portable
from firmware import session as s
from firmware.session import Session


def charging_session(ventilation=False):
    ses = Session(ventilation=ventilation)
    ses.handle("cp_B", 0)
    ses.handle("auth", 100)
    ses.handle("cp_C", 200)
    return ses


def test_plug_authorize_and_ready_offers_pwm_then_closes_on_c():
    ses = Session()
    assert ses.handle("cp_B", 0) == []
    assert ses.status == "Preparing"
    assert ses.handle("auth", 10) == [("pilot", "pwm")]
    assert ses.tx_active
    assert ses.handle("cp_C", 20) == [("contactor", True)]
    assert ses.status == "Charging"


def test_contactor_opens_at_once_when_ev_returns_to_b():
    ses = charging_session()
    assert ses.handle("cp_B", 1000) == [("contactor", False)]
    assert ses.status == "SuspendedEV"
    assert ses.tx_active


def test_unplug_while_charging_opens_and_ends_transaction_as_ev_disconnected():
    ses = charging_session()
    assert ses.handle("cp_A", 1000) == [("contactor", False), ("pilot", "x1")]
    assert ses.status == "Available"
    assert not ses.tx_active
    assert ses.stop_reason == "EVDisconnected"


def test_stop_switches_pwm_off_and_waits_for_the_ev_to_go_to_b():
    ses = charging_session()
    assert ses.handle("stop", 1000, "Remote") == [("pilot", "x1")]
    assert ses.contactor  # under load until the EV reacts
    assert ses.handle("cp_B", 1500) == [("contactor", False)]
    assert ses.status == "Finishing"
    assert ses.stop_reason == "Remote"


def test_contactor_forced_open_6s_after_pwm_stops_while_ev_stays_in_c():
    ses = charging_session()
    ses.handle("stop", 1000, "Local")
    assert ses.poll(1000 + s.PWM_OFF_TO_OPEN_MS - 1) == []
    assert ses.poll(1000 + s.PWM_OFF_TO_OPEN_MS) == [("contactor", False)]
    assert ses.stop_reason == "Local"


def test_a_stop_while_pausing_still_opens_6s_after_the_pwm_went_off():
    # Found by test_session_props: PAUSING -> STOPPING used to disarm the 6 s timer, so an EV that
    # stayed in C after the limit fell below 6 A kept the contactor closed for ever once stopped.
    ses = charging_session()
    ses.handle("limit_low", 1000)
    assert (ses.state, ses.pilot, ses.contactor) == (s.PAUSING, "x1", True)
    ses.handle("stop", 4000, "Remote")
    assert ses.state == s.STOPPING and ses.contactor
    assert ses.poll(1000 + s.PWM_OFF_TO_OPEN_MS - 1) == []
    assert ses.poll(1000 + s.PWM_OFF_TO_OPEN_MS) == [("contactor", False)]
    assert ses.state == s.FINISHING and ses.stop_reason == "Remote"


def test_state_d_without_ventilation_is_refused():
    ses = Session(ventilation=False)
    ses.handle("cp_B", 0)
    ses.handle("auth", 10)
    assert ses.handle("cp_D", 20) == [("pilot", "x1")]
    assert not ses.contactor
    assert ses.status == "SuspendedEVSE"


def test_state_d_with_ventilation_charges():
    ses = Session(ventilation=True)
    ses.handle("cp_B", 0)
    ses.handle("auth", 10)
    assert ses.handle("cp_D", 20) == [("contactor", True)]


def test_fault_opens_holds_f_300ms_and_clears_only_when_source_is_gone():
    ses = charging_session()
    assert ses.fault("rcd", 1000) == [("contactor", False), ("pilot", "f")]
    assert ses.status == "Faulted"
    assert not ses.tx_active and ses.stop_reason == "Other"
    assert ses.poll(1000 + s.FAULT_HOLD_MS) == [("pilot", "x1")]  # still tripped: X1, so CP reads the EV
    assert ses.status == "Faulted" and ses.state == s.INOPERATIVE
    assert ses.handle("cp_E", 1500) == [] and ses.handle("fault", 1600) == []  # already open: stays
    assert ses.handle("cp_C", 1700) == []
    assert ses.clear_fault("rcd", 2000) == []
    assert ses.status == "Preparing"  # the EV still presents C: plugged, not authorized


def test_fault_reason_becomes_the_stop_reason():
    ses = charging_session()
    ses.fault("estop", 1000, "EmergencyStop")
    assert ses.stop_reason == "EmergencyStop"


def test_fault_cleared_early_still_holds_f_for_300ms():
    ses = charging_session()
    ses.fault("rcd", 1000)
    assert ses.clear_fault("rcd", 1100) == []
    assert ses.poll(1299) == []
    assert ses.poll(1300) == [("pilot", "x1")]


def test_states_e_and_f_and_invalid_are_faults():
    for event in ("cp_E", "cp_F", "cp_invalid"):
        ses = charging_session()
        assert ses.handle(event, 1000)[0] == ("contactor", False)
        assert ses.status == "Faulted"


def test_authorized_before_plug_in_offers_pwm_when_the_ev_arrives():
    ses = Session()
    ses.handle("auth", 0)
    assert ses.status == "Preparing"
    assert ses.handle("cp_B", 100) == [("pilot", "pwm")]


def test_authorization_expires_when_no_ev_arrives():
    ses = Session(connection_timeout_ms=5000)
    ses.handle("auth", 0)
    ses.poll(5000)
    assert ses.status == "Available"


def test_ev_waiting_in_c1_starts_charging_as_soon_as_authorized():
    ses = Session()
    ses.handle("cp_C", 0)
    assert not ses.contactor
    assert ses.handle("auth", 100) == [("pilot", "pwm"), ("contactor", True)]


def test_limit_below_6a_suspends_and_resumes():
    ses = charging_session()
    assert ses.handle("limit_low", 1000) == [("pilot", "x1")]
    assert ses.handle("cp_B", 2000) == [("contactor", False)]
    assert ses.status == "SuspendedEVSE"
    assert ses.handle("limit_ok", 3000) == [("pilot", "pwm")]
    assert ses.handle("cp_C", 3500) == [("contactor", True)]


def test_authorization_while_limit_low_offers_nothing():
    ses = Session()
    ses.handle("limit_low", 0)
    ses.handle("cp_C", 10)
    assert ses.handle("auth", 20) == []
    assert ses.status == "SuspendedEVSE"
    assert ses.handle("limit_ok", 30) == [("pilot", "pwm"), ("contactor", True)]


def test_every_state_has_a_status_and_a_way_out_on_unplug_or_fault():
    for state in s.STATUS:
        assert (state, "fault") in s.table() or state in (s.FAULT, s.INOPERATIVE)
        if state not in (s.IDLE, s.FAULT, s.INOPERATIVE, s.WAIT_PLUG):
            assert (state, "cp_A") in s.table(), state


def test_ev_asking_for_ventilation_while_pwm_is_off_is_cut_at_once():
    # Found by tests/e2e/test_safety_props.py: stop, then C -> D on a board without ventilation.
    ses = charging_session()
    ses.handle("stop", 1000, "Remote")
    assert ses.handle("cp_D", 1150) == [("contactor", False)]
    assert ses.stop_reason == "Remote"
    ses = charging_session()
    ses.handle("limit_low", 1000)
    assert ses.handle("cp_D", 1150) == [("contactor", False)]
    assert ses.status == "SuspendedEVSE"
