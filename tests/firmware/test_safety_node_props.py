"""The safety node's one promise, for every sequence of CP states, inputs, commands and time: its relay
is closed only when the CP reads C (or D with ventilation), the main controller asks, the link is alive,
the residual current monitor passed its self-test, no critical input is active and no fault is latched;
and a critical input opens it in the same instant it changes."""

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.safety.node import LINK_TIMEOUT_MS
from tests.firmware.safety_fakes import Bench

ACTIONS = st.one_of(
    st.tuples(st.just("cp"), st.sampled_from("ABCDEF")),
    st.tuples(st.just("pin"), st.sampled_from(["estop", "rcd_ac", "rcd_dc", "pe", "feedback"]), st.booleans()),
    st.tuples(st.just("command"), st.booleans(), st.booleans()),
    st.tuples(st.just("advance"), st.integers(1, 2 * LINK_TIMEOUT_MS)),
    st.tuples(st.just("selftest"), st.booleans()),
    st.tuples(st.just("heat"), st.sampled_from([20.0, 66.0, 75.0, 95.0])),
)


def closed_only_when_allowed(bench):
    node, pins = bench.node, bench.pins
    if not pins["relay"].on:
        return True
    cp_ok = node.reader.state == "C" or (node.reader.state == "D" and node.ventilation)
    inputs_ok = not (pins["estop"].on or pins["pe"].on or pins["rcd_ac"].on or pins["rcd_dc"].on)
    return (cp_ok and node.main_allows and node.peer.alive(bench.clock.now) and node.selftest.passed
            and inputs_ok and not node.latches.codes())


@settings(max_examples=300, deadline=None)
@given(ventilation=st.booleans(), steps=st.lists(ACTIONS, max_size=40))
def test_the_relay_is_closed_only_when_every_condition_allows_it(ventilation, steps):
    bench = Bench(ventilation)
    bench.ready()
    for step in steps:
        kind = step[0]
        if kind == "cp":
            bench.cp(step[1])
        elif kind == "pin":
            name, on = step[1], step[2]
            bench.pins[name].change(on)
            if on and name != "feedback":
                assert not bench.pins["relay"].on, name  # opened in the input's own callback
        elif kind == "command":
            bench.command(allow=step[1], reset=step[2])
        elif kind == "advance":
            bench.advance(step[1])
        elif kind == "selftest":
            if step[1]:
                bench.pass_selftest()
            else:
                bench.fail_selftest()
        elif kind == "heat":
            bench.temps["connector"].temp_c = step[1]
            bench.node._temperatures(bench.clock.now)
            bench.node.check()
        assert closed_only_when_allowed(bench), (step, bench.node.latches.codes())
