"""The safety rules of IEC 61851-1 Annex A, checked through the whole power path (pilot debounce,
session table, charger, simulated contactor) for random sequences of what an EV and a driver do."""

import asyncio

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim import vloop
from sim.ev import Ev
from sim.plant import CONTACTOR_RELEASE_MS
from sim.rig import Rig

OFF_WITHIN_MS = 100  # IEC 61851-1 Table A.6 seq. 8.1 / 2.2
ACTIONS = st.sampled_from(["plug", "unplug", "s2_close", "s2_open", "ventilation", "no_ventilation",
                           "token", "remote_stop", "rcd_trip", "rcd_clear", "wait",
                           "s2_close", "s2_open", "s2_close", "s2_open"])  # S2 moves most often
# Each step lasts at least 150 ms so that every EV state is held longer than the pilot debounce.
# Most examples start plugged in and authorized, where the contactor has something to do.
STORY_START = st.sampled_from([
    [],
    [("plug", 1000), ("token", 1000)],
    [("plug", 1000), ("token", 1000), ("s2_close", 2000)],
    [("token", 500), ("plug", 1000), ("s2_close", 2000)],
    [("plug", 1000), ("token", 1000), ("ventilation", 500), ("s2_close", 2000)],
])
STEPS = st.builds(lambda start, rest: start + rest, STORY_START,
                  st.lists(st.tuples(ACTIONS, st.integers(150, 20000)), min_size=1, max_size=25))


def ev_state(ev):
    if not ev.plugged:
        return "A"
    if not ev.s2_closed:
        return "B"
    return "D" if ev.needs_ventilation else "C"


async def play(steps, clock):
    ev = Ev(capacity_kwh=1000.0)  # never full within a test
    rig = Rig(clock, ev=ev)
    rig.plant.ev_ignores_pilot = True  # S2 moves only when the test says so
    log = []  # (t_ms, what, ...)
    contactor = rig.plant.contactor
    set_coil = contactor.set_coil

    def coil(on):
        log.append((clock.ms(), "coil", on, ev_state(ev), rig.plant.generator))
        set_coil(on)

    contactor.set_coil = coil
    rig.start()
    await asyncio.sleep(2)  # booted
    for action, dt_ms in steps:
        if action == "plug":
            rig.plant.plug()
        elif action == "unplug":
            rig.plant.unplug()
        elif action in ("s2_close", "s2_open"):
            ev.s2_closed = ev.plugged and action == "s2_close"
            rig.plant.recompute()
        elif action in ("ventilation", "no_ventilation"):
            ev.needs_ventilation = action == "ventilation"
            rig.plant.recompute()
        elif action == "token":
            asyncio.ensure_future(rig.fw.present_token("TAG1"))
        elif action == "remote_stop":
            tx = rig.fw.cp.tx
            if tx is not None and tx.transaction_id is not None:
                asyncio.ensure_future(rig.station.remote_stop(tx.transaction_id))
        elif action in ("rcd_trip", "rcd_clear"):
            rig.plant.trip_rcd(action == "rcd_trip")
        log.append((clock.ms(), "ev", ev_state(ev), rig.plant.rcd.ac_ma > 0))  # a residual current flows
        await asyncio.sleep(dt_ms / 1000)
    await rig.stop()
    return log


def contacts_open_at(log, t_ms):
    """Whether the main contacts are open at t_ms, from the coil log (release takes 20 ms)."""
    closed = False
    for when, what, *rest in log:
        if what != "coil":
            continue
        done = when + (CONTACTOR_RELEASE_MS if not rest[0] else 30)
        if done <= t_ms:
            closed = rest[0]
    return not closed


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
@example(steps=[("plug", 1000), ("token", 1000), ("s2_close", 2000), ("remote_stop", 150), ("ventilation", 150)])
def test_contactor_closes_only_in_c2_and_opens_within_100ms_of_leaving_c(steps):
    log = vloop.run(lambda clock: play(steps, clock))
    for when, what, *rest in log:
        if what == "coil" and rest[0]:
            state, generator = rest[1], rest[2]
            assert state == "C" and generator == "pwm", (when, state, generator)  # no ventilation on board
    previous = None
    for when, what, *rest in log:
        if what != "ev":
            continue
        state, rcd = rest
        left_c = previous == "C" and state != "C"
        if left_c or rcd:
            assert contacts_open_at(log, when + OFF_WITHIN_MS), (when, previous, state, rcd)
        previous = state
