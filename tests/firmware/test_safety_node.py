# portable
# The safety node's verdict on a fake board (tests/firmware/safety_fakes.py), one rule per test.
from firmware.safety import messages
from firmware.safety.node import LINK_TIMEOUT_MS
from tests.firmware.safety_fakes import Bench


def test_the_relay_closes_only_when_everything_allows_it():
    bench = Bench()
    bench.command(allow=True)
    bench.cp("C")
    assert not bench.pins["relay"].on  # no self-test passed yet
    bench.pass_selftest()
    assert bench.pins["relay"].on
    bench.command(allow=False)
    assert not bench.pins["relay"].on  # the main controller withdrew
    bench.command(allow=True)
    assert bench.pins["relay"].on


def test_cp_leaving_c_opens_and_d_needs_ventilation():
    bench = Bench()
    assert bench.ready()
    bench.cp("B")
    assert not bench.pins["relay"].on
    bench.cp("D")
    assert not bench.pins["relay"].on
    vented = Bench(ventilation=True)
    assert vented.ready()
    vented.cp("D")
    assert vented.pins["relay"].on


def test_critical_inputs_open_in_their_own_callback_without_the_main_controller():
    for pin in ("estop", "rcd_ac", "rcd_dc", "pe"):
        bench = Bench()
        assert bench.ready()
        bench.pins[pin].change(True)  # the callback runs check(): no time passes
        assert not bench.pins["relay"].on, pin


def test_estop_stays_latched_until_released_and_reset():
    bench = Bench()
    assert bench.ready()
    bench.pins["estop"].change(True)
    bench.pins["estop"].change(False)
    bench.cp("A")
    bench.cp("C")
    assert not bench.pins["relay"].on and "estop" in bench.node.latches.codes()
    bench.command(reset=True)
    assert "estop" not in bench.node.latches.codes()
    bench.pass_selftest()
    assert bench.pins["relay"].on


def test_a_silent_main_controller_opens_and_latches_until_unplug():
    bench = Bench()
    assert bench.ready()
    bench.advance(LINK_TIMEOUT_MS - 1)
    assert bench.pins["relay"].on
    bench.advance(1)
    assert not bench.pins["relay"].on
    assert "link_lost" in bench.node.latches.codes()
    bench.command()  # the link is back ...
    assert not bench.pins["relay"].on and "link_lost" in bench.node.latches.codes()  # ... latched
    bench.cp("A")
    assert "link_lost" not in bench.node.latches.codes()


def test_feedback_closed_while_the_relay_is_open_is_a_welded_contactor():
    bench = Bench()
    assert bench.ready()
    bench.pins["feedback"].on = True
    bench.cp("B")  # the relay opens; the feedback stays closed
    bench.advance(150)
    assert "contactor_welded" not in bench.node.latches.codes()  # still within the release time
    bench.advance(100)
    assert "contactor_welded" in bench.node.latches.codes()


def test_a_failed_self_test_forbids_charging_until_a_test_passes():
    bench = Bench()
    bench.command(allow=True)
    test = bench.node.selftest
    test.start(0)
    for t in (1000, 2000, 3000):
        bench.clock.now = t
        bench.command()  # the main controller keeps the link alive meanwhile
    test.poll(3000, False, False)  # the monitor never answered
    assert test.failed
    bench.cp("C")
    bench.command()
    assert not bench.pins["relay"].on and "rcd_selftest" in bench.node.latches.codes()
    bench.pass_selftest()
    bench.command()
    assert bench.pins["relay"].on and "rcd_selftest" not in bench.node.latches.codes()


def test_rcd_outputs_during_the_self_test_are_not_trips():
    bench = Bench()
    bench.command(allow=True)
    bench.node.selftest.start(0)
    bench.pins["rcd_ac"].change(True)
    bench.pins["rcd_dc"].change(True)
    assert "rcd_ac" not in bench.node.latches.codes()


def test_over_temperature_and_broken_sensors_stop_and_are_reported():
    bench = Bench()
    assert bench.ready()
    bench.temps["connector"].temp_c = 95.0
    bench.node._temperatures(bench.clock.now)
    bench.node.check()
    assert not bench.pins["relay"].on
    kind, flags, codes, temps = bench.last_report()
    assert kind == "report" and "over_temperature" in codes and temps["connector"] == 95.0
    assert not flags & messages.RELAY_CLOSED
    bench.temps["connector"].temp_c = 40.0
    bench.temps["ambient"].read_ohms = lambda: 1.0e6  # the wire breaks
    bench.node._temperatures(bench.clock.now)
    bench.node.check()
    kind, flags, codes, temps = bench.last_report()
    assert codes == ["temp_sensor"] and temps["ambient"] is None
