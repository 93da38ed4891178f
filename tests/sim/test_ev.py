"""The simulated EV: its resistor network seen through the firmware's classifier, and its battery."""

import pytest

from firmware.pilot import DIODE_FAULT_ABOVE_MV, PilotReader, classify, duty_for_current
from sim.ev import Ev, offered_current_a


def plugged(**kw):
    ev = Ev(**kw)
    ev.plugged = True
    return ev


# --- control pilot ---


def test_unplugged_ev_leaves_the_open_circuit_levels():
    ev = Ev()
    assert ev.cp_levels("x1") == (12000, 12000)
    assert ev.cp_levels("pwm", 266) == (12000, -12000)
    assert ev.cp_levels("f") == (-12000, -12000)
    assert ev.cp_levels("off") == (0, 0)
    assert classify(ev.cp_levels("x1")[0]) == "A"


def test_plugged_ev_reads_9v_b():
    ev = plugged()
    high, low = ev.cp_levels("pwm", 266)
    assert high == pytest.approx(8979, abs=2)  # 0.7 V + 11.3 V * 2740 / 3740
    assert low == -12000  # the diode blocks the negative half
    assert classify(high) == "B"
    assert ev.cp_levels("x1") == (high, high)


def test_s2_closed_reads_6v_c():
    ev = plugged()
    ev.s2_closed = True
    high, low = ev.cp_levels("pwm", 266)
    assert high == pytest.approx(5995, abs=2)
    assert low == -12000
    assert classify(high) == "C"


def test_ventilation_request_reads_3v_d():
    ev = plugged(needs_ventilation=True)
    assert classify(ev.cp_levels("pwm", 266)[0]) == "B"
    ev.s2_closed = True
    high, low = ev.cp_levels("pwm", 266)
    assert high == pytest.approx(2929, abs=2)
    assert classify(high) == "D"


def test_cp_short_to_pe_reads_e():
    ev = plugged()
    ev.cp_shorted = True
    assert ev.cp_levels("pwm", 266) == (0, 0)
    assert classify(0) == "E"


def test_state_f_generator_reads_f_through_a_good_diode():
    ev = plugged()
    high, low = ev.cp_levels("f")
    assert (high, low) == (-12000, -12000)
    assert classify(high) == "F"


def test_full_and_zero_duty_have_one_level_only():
    ev = plugged()
    assert ev.cp_levels("pwm", 1000) == ev.cp_levels("x1")
    assert ev.cp_levels("pwm", 0) == ev.cp_levels("f")


def test_shorted_diode_divides_the_negative_half_and_the_firmware_sees_it():
    ev = plugged(diode_ok=False)
    high, low = ev.cp_levels("pwm", 266)
    assert low == pytest.approx(-8791, abs=2)  # -12 V * 2740 / 3740
    assert low > DIODE_FAULT_ABOVE_MV
    assert classify(high) == "B"
    reader = PilotReader()
    for t in range(0, 100, 10):
        reader.feed(high, low, t, True)
    assert reader.state == "B"
    assert reader.diode_ok is False


def test_good_diode_passes_the_firmware_check_in_b_c_and_d():
    for ventilation in (False, True):
        ev = plugged(needs_ventilation=ventilation)
        for s2 in (False, True):
            ev.s2_closed = s2
            reader = PilotReader()
            for t in range(0, 100, 10):
                reader.feed(*ev.cp_levels("pwm", 533), t, True)
            assert reader.state == ("B" if not s2 else "D" if ventilation else "C")
            assert reader.diode_ok is True


def test_unknown_generator_is_rejected():
    with pytest.raises(ValueError):
        Ev().cp_levels("dc")
    with pytest.raises(ValueError):
        offered_current_a("dc", 266)


# --- reading the duty ---


def test_ev_reads_the_duty_with_the_standard_table():
    assert offered_current_a("pwm", duty_for_current(16)) == pytest.approx(15.96)
    assert offered_current_a("pwm", 50) == 0.0  # 5 %: digital communication, no basic charging
    assert offered_current_a("x1", None) == 0.0
    assert offered_current_a("f", None) == 0.0
    assert offered_current_a("off", None) == 0.0


# --- demand ---


def test_demand_is_the_lowest_of_offer_and_ev_limit():
    ev = plugged(max_current_a=16.0)
    ev.s2_closed = True
    assert ev.demand_a(32.0) == 16.0
    assert ev.demand_a(10.0) == 10.0
    assert ev.demand_a(0.0) == 0.0


def test_no_demand_unplugged_without_s2_or_at_target():
    ev = Ev()
    ev.s2_closed = True
    assert ev.demand_a(32.0) == 0.0  # not plugged
    ev.plugged = True
    ev.s2_closed = False
    assert ev.demand_a(32.0) == 0.0
    ev.s2_closed = True
    ev.soc_pct = 80.0
    assert not ev.wants_charge
    assert ev.demand_a(32.0) == 0.0


def test_taper_above_the_knee_never_drops_below_6a():
    ev = plugged(soc_target_pct=100.0, max_current_a=32.0)
    ev.s2_closed = True
    ev.soc_pct = 85.0
    assert ev.demand_a(32.0) == 32.0
    ev.soc_pct = 92.5
    assert ev.demand_a(32.0) == pytest.approx(19.0)  # halfway from 32 A down to 6 A
    ev.soc_pct = 99.99
    assert ev.demand_a(32.0) >= 6.0


@pytest.mark.parametrize("target", [80.0, 100.0])
def test_charging_reaches_the_target_without_stalling(target):
    ev = plugged(capacity_kwh=10.0, soc_target_pct=target)
    ev.s2_closed = True
    offered = offered_current_a("pwm", duty_for_current(32))
    for _ in range(100_000):
        current = ev.demand_a(offered)
        if current == 0.0:
            break
        ev.charge(current, 230.0, 1000)
    assert ev.soc_pct >= target
    assert not ev.wants_charge


# --- battery ---


def test_11kw_for_an_hour_adds_18_percent_to_60kwh():
    ev = plugged(soc_start_pct=20.0)
    current_a = 11000.0 / (3 * 230.0)
    for _ in range(60):
        ev.charge(current_a, 230.0, 60_000)
    assert ev.energy_in_wh == pytest.approx(11000.0)
    assert ev.soc_pct == pytest.approx(20.0 + 100.0 * 11.0 / 60.0)  # +18.33 %


def test_single_phase_charges_a_third_as_fast():
    ev = plugged(phases=1)
    ev.charge(16.0, 230.0, 3_600_000)
    assert ev.energy_in_wh == pytest.approx(3680.0)


def test_soc_stops_at_100_percent():
    ev = plugged(capacity_kwh=1.0, soc_start_pct=99.0)
    ev.charge(32.0, 230.0, 3_600_000)
    assert ev.soc_pct == 100.0


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError):
        Ev(capacity_kwh=0)
    with pytest.raises(ValueError):
        Ev(phases=4)
    with pytest.raises(ValueError):
        Ev().charge(10.0, 230.0, -1)
