"""The fault injector (sim/injector.py, sim/fault_table.py) and the plant knobs it uses: every fault goes in
and comes out again, at the time asked, with parameters that repeat for a seed, and `present` says when
the firmware could first know."""

import asyncio
import random

import pytest

from firmware.temperature import THRESHOLDS_C
from sim import vloop
from sim.ev import Ev
from sim.injector import FAULTS, Injector
from sim.rig import Rig
from sim.sensors import AC_TRIP_MS, trip_ms

CATALOGUE_FAULTS = ("rcd_ac", "rcd_dc", "rcd_selftest", "pe_loss", "estop", "contactor_welded", "over_temperature",
                    "temp_sensor", "link_lost", "contactor_stuck_open", "temp_derate", "overcurrent", "pilot_diode",
                    "pilot_short", "pilot_invalid", "grid_undervoltage", "grid_overvoltage", "meter_silent",
                    "meter_stale", "safety_lost")


def on_rig(story, seed=1):
    """Run story(rig, injector, clock) on a booted Rig in virtual time."""

    async def main(clock):
        rig = Rig(clock)
        injector = Injector(rig, random.Random(seed))
        rig.start()
        try:
            await asyncio.sleep(1)
            return await story(rig, injector, clock)
        finally:
            await rig.stop()

    return vloop.run(main)


def test_every_fault_of_the_catalogue_has_an_injector():
    from firmware.faults import CODES as CATALOGUE

    assert set(CATALOGUE) == set(CATALOGUE_FAULTS)
    assert set(CATALOGUE_FAULTS) <= set(FAULTS)
    assert "task_stall" in FAULTS  # and the watchdog's business


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_each_fault_goes_in_and_comes_out_and_the_plant_is_as_before(name):
    async def story(rig, injector, clock):
        before = snapshot(rig)
        injection = injector.inject(name, duration_ms=500)
        assert injection.injected_ms == clock.ms()
        assert snapshot(rig) != before or name in ("link_noise", "contactor_welded", "contactor_stuck_open")
        await asyncio.sleep(0.6)
        assert injection.cleared_ms == injection.injected_ms + 500 or FAULTS[name].lasting
        injector.clear_all()
        assert not injection.active
        after = snapshot(rig)
        if name == "task_stall":  # only the watchdog's reset restarts the hung driver
            assert after[:-2] == before[:-2] and rig.board.pilot_in.stalled
        elif name != "link_noise":  # its knob counts down as frames pass
            assert after == before

    on_rig(story)


def snapshot(rig):
    plant, ev, pipe = rig.plant, rig.ev, rig.safety_pipe
    return (plant.rcd.ac_ma, plant.rcd.dc_ma, plant.rcd.blind, plant.estop.value(), plant.pe_fault.value(),
            plant.contactor.welded, plant.contactor.stuck_open,
            tuple((t.temp_c, t.broken) for t in plant.temperatures.values()), pipe.a_to_b._cut, pipe.b_to_a._cut,
            dict(pipe.a_to_b._knobs), dict(pipe.b_to_a._knobs), ev.overdraw_a, ev.diode_ok, ev.cp_shorted,
            ev.cp_stuck_mv, plant.voltage_v, rig.meter.silent, rig.meter.frozen, rig.board.pilot_in.stalled,
            rig.network.online)


def test_a_fault_is_injected_and_cleared_at_the_virtual_times_asked():
    async def story(rig, injector, clock):
        start_ms = clock.ms()
        injection = injector.inject("estop", at_ms=start_ms + 5000, duration_ms=1234)
        assert injection.injected_ms is None and not rig.plant.estop.value()
        await asyncio.sleep(4.5)
        assert not rig.plant.estop.value()
        await asyncio.sleep(1)
        assert rig.plant.estop.value() and injection.injected_ms == start_ms + 5000
        await asyncio.sleep(2)
        assert not rig.plant.estop.value() and injection.cleared_ms == start_ms + 6234

    on_rig(story)


def test_parameters_repeat_for_a_seed_and_differ_between_seeds():
    async def story(rig, injector, clock):
        params = []
        for name in ("rcd_ac", "over_temperature", "grid_undervoltage", "overcurrent", "link_noise"):
            params.append(injector.inject(name).params)
        return params

    assert on_rig(story, seed=7) == on_rig(story, seed=7)
    assert on_rig(story, seed=7) != on_rig(story, seed=8)


def test_unknown_fault_and_two_of_one_group_are_refused_clearly():
    async def story(rig, injector, clock):
        with pytest.raises(ValueError, match="unknown fault 'smoke'"):
            injector.inject("smoke")
        injector.inject("over_temperature")
        with pytest.raises(ValueError, match="same group"):
            injector.inject("temp_sensor")  # both act on the temperature sensors
        with pytest.raises(ValueError, match="duration_ms"):
            injector.inject("estop", duration_ms=-1)
        late = injector.inject("temp_derate", at_ms=clock.ms() + 100)
        await asyncio.sleep(0.2)
        assert late.injected_ms is None and late.skipped == "over_temperature was active"

    on_rig(story)


def test_an_ac_residual_current_is_knowable_when_the_monitor_trips_not_before():
    async def story(rig, injector, clock):
        injection = injector.inject("rcd_ac")
        fault = injection.fault
        ma = injection.params["residual_ma"]
        assert not fault.present(injector, injection)
        await asyncio.sleep((trip_ms(AC_TRIP_MS, ma) - 1) / 1000)
        assert not fault.present(injector, injection)
        await asyncio.sleep(0.002)
        assert fault.present(injector, injection)

    on_rig(story)


def test_temperature_faults_put_the_sensor_in_the_band_they_name():
    async def story(rig, injector, clock):
        for name in ("over_temperature", "temp_derate"):
            injection = injector.inject(name)
            half_c, _, stop_c = THRESHOLDS_C[injection.params["place"]]
            temp_c = rig.plant.temperatures[injection.params["place"]].temp_c
            assert (temp_c >= stop_c) if name == "over_temperature" else (half_c <= temp_c < stop_c)
            assert injection.fault.present(injector, injection)
            injector.clear(injection)

    on_rig(story)


def test_an_overdrawing_ev_takes_more_than_offered_and_a_stuck_cp_reads_invalid():
    ev = Ev(max_current_a=10.0)
    ev.plugged = ev.s2_closed = True
    assert ev.demand_a(16.0) == 10.0
    ev.overdraw_a = 5.0
    assert ev.demand_a(16.0) == 21.0
    assert ev.demand_a(0.0) == 0.0  # nothing offered, nothing drawn: the contactor is open then anyway
    ev.cp_stuck_mv = -5000
    assert ev.cp_levels("pwm", 533) == (-5000, -5000)
    from firmware.pilot import INVALID, classify

    assert classify(-5000) == INVALID and classify(14000) == INVALID


def test_a_frozen_meter_keeps_showing_what_it_showed_last():
    async def story(rig, injector, clock):
        rig.meter_model.set_currents(16.0, 16.0, 16.0)
        await rig.fw.charger.read_meter()
        shown_w = rig.meter.shown[0x0034]
        injection = injector.inject("meter_stale")
        rig.meter_model.set_currents(0.0, 0.0, 0.0)
        await rig.fw.charger.read_meter()
        assert rig.meter.shown[0x0034] == shown_w > 10000
        assert injection.fault.present(injector, injection)

    on_rig(story)


def test_a_blind_rcd_monitor_is_knowable_only_once_a_self_test_ran_out():
    async def story(rig, injector, clock):
        injection = injector.inject("rcd_selftest")
        assert not injection.fault.present(injector, injection)
        rig.plant.plug()  # A -> B starts a self-test on the safety node
        await asyncio.sleep(1)
        assert injector.test_pulses_ms and not injection.fault.present(injector, injection)
        await asyncio.sleep(3)
        assert injection.fault.present(injector, injection)
        assert "rcd_selftest" in rig.safety_node.latches.codes()

    on_rig(story)


def test_a_fault_at_a_random_moment_lands_in_the_window_asked():
    async def story(rig, injector, clock):
        start_ms = clock.ms() + 1000
        injection = injector.inject_random(["estop", "pe_loss"], start_ms, start_ms + 2000, duration_ms=100)
        assert injection.name in ("estop", "pe_loss") and start_ms <= injection.at_ms <= start_ms + 2000
        await asyncio.sleep(3.5)
        assert injection.injected_ms == injection.at_ms and injection.cleared_ms == injection.at_ms + 100
        with pytest.raises(ValueError, match="before"):
            injector.inject_random(["estop"], 10, 5)

    on_rig(story)
