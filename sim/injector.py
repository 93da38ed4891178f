"""Fault injection into a simulated charger (CPython): faults by name (sim/fault_table.py) put into the
plant of a sim.rig.Rig now or at a chosen virtual time, taken out again after a while or at the repair,
with a record of each: what, with which parameters, when injected and cleared, and (filled in by
sim.invariants.Monitor) when the firmware could first know it."""

import asyncio
import random

from firmware.safety.selftest import TIMEOUT_MS as SELFTEST_TIMEOUT_MS
from sim.fault_table import FAULTS

__all__ = ["FAULTS", "Injection", "Injector"]


class Injection:
    """One fault put into the plant: what, when, with what, and (filled in by the Monitor) when the
    firmware could first know it."""

    def __init__(self, name, params, at_ms):
        self.name = name
        self.fault = FAULTS[name]
        self.params = params
        self.at_ms = at_ms  # when it is due
        self.injected_ms = None
        self.cleared_ms = None
        self.skipped = None  # why it was not applied (another fault of its group was active)
        self.knowable_ms = None  # set by sim.invariants.Monitor
        self.coil_at_knowable = None
        self.active_at_knowable = ()  # fault codes already active then (a latch from before)
        self.state = {}  # notes the fault's present() keeps

    @property
    def active(self):
        return self.injected_ms is not None and self.cleared_ms is None

    def record(self):
        return {"name": self.name, "params": dict(self.params), "injected_ms": self.injected_ms,
                "cleared_ms": self.cleared_ms, "knowable_ms": self.knowable_ms, "skipped": self.skipped}


class Injector:
    """Puts faults into a Rig's plant, now or at a virtual time, and takes them out again."""

    def __init__(self, rig, rng):
        self.rig = rig
        self.clock = rig.clock
        self.rng = rng  # random.Random: the faults' parameters
        self.injections = []
        self.test_pulses_ms = []  # rising edges of the RCD monitor's TEST input
        self._timers = []
        rcd = rig.plant.rcd
        self._test_pin = False
        self._set_test_pin = rcd.set
        rcd.set = self._test_input  # the safety board drives rcd.set; note each self-test it starts

    def _test_input(self, on):
        if on and not self._test_pin:
            self.test_pulses_ms.append(self.clock.ms())
            self._later(SELFTEST_TIMEOUT_MS + 1, self.rig.plant.recompute)  # let watchers judge the test
        self._test_pin = on
        self._set_test_pin(on)

    def _later(self, delay_ms, fn, *args):
        self._timers.append(asyncio.get_running_loop().call_later(max(delay_ms, 0) / 1000, fn, *args))

    def inject(self, name, at_ms=None, duration_ms=None):
        """Inject fault `name` now (at_ms None) or at virtual time at_ms; clear it duration_ms later
        (None: it lasts until clear() or clear_all()). Returns the Injection record. Parameters are drawn
        at once, so a plan made from one seed repeats exactly."""
        if name not in FAULTS:
            raise ValueError("unknown fault %r; known: %s" % (name, ", ".join(sorted(FAULTS))))
        if duration_ms is not None and duration_ms < 0:
            raise ValueError("duration_ms must be >= 0, got %r" % (duration_ms,))
        now = self.clock.ms()
        injection = Injection(name, {}, now if at_ms is None else at_ms)
        seed = self.rng.getrandbits(32)
        self.injections.append(injection)
        if at_ms is None or at_ms <= now:
            busy = self._busy(injection)
            if busy is not None:
                self.injections.remove(injection)
                raise ValueError("%s: %s of the same group (%s) is active" % (name, busy.name, busy.fault.group))
            self._apply(injection, seed, duration_ms)
        else:
            self._later(at_ms - now, self._apply, injection, seed, duration_ms)
        return injection

    def inject_random(self, names, start_ms, end_ms, duration_ms=None):
        """One of `names` at a random virtual time in [start_ms, end_ms], drawn from this injector's rng."""
        if end_ms < start_ms:
            raise ValueError("end_ms %r is before start_ms %r" % (end_ms, start_ms))
        name = self.rng.choice(sorted(names))
        return self.inject(name, at_ms=self.rng.randint(int(start_ms), int(end_ms)), duration_ms=duration_ms)

    def _busy(self, injection):
        for other in self.injections:
            if other is not injection and other.active and other.fault.group == injection.fault.group:
                return other
        return None

    def _apply(self, injection, seed, duration_ms):
        busy = self._busy(injection)
        if busy is not None:
            injection.skipped = "%s was active" % busy.name
            return
        injection.injected_ms = self.clock.ms()
        injection.params = injection.fault.inject(self.rig, random.Random(seed)) or {}
        self.rig.plant.recompute()  # a change in the plant: every watcher looks again
        if duration_ms is not None and not injection.fault.lasting:
            self._later(duration_ms, self.clear, injection)

    def clear(self, injection):
        """Take the fault out of the plant (no effect if it is not active)."""
        if not injection.active:
            return
        injection.fault.clear(self.rig, injection.params)
        injection.cleared_ms = self.clock.ms()
        self.rig.plant.recompute()

    def clear_all(self):
        """The repair at the end: every active fault out, and nothing scheduled any more."""
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        for injection in self.injections:
            self.clear(injection)

    def active(self):
        return [i for i in self.injections if i.active]

