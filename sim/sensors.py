"""Simulated safety sensors around the plant (CPython): the residual current monitor and the PT1000
temperature sensors. Both behave like the parts a board would carry, including their faults."""

import asyncio

from firmware import temperature

# Trip times of the residual current monitor, the slowest a compliant part may be (fact sheet 2).
# AC, Type A 30 mA (IEC 61008/61009): 1 x IDn <= 300 ms, 2 x <= 150 ms, 5 x <= 40 ms; it must trip
# between 50 % and 100 % of IDn, we model the middle of that band.
AC_RATED_MA = 30.0
AC_TRIP_FROM_MA = 0.75 * AC_RATED_MA
AC_TRIP_MS = ((5 * AC_RATED_MA, 40), (2 * AC_RATED_MA, 150), (AC_TRIP_FROM_MA, 300))
# DC, RDC-DD 6 mA (IEC 62955): 6 mA within 10 s; 60 mA 0.3 s and 200 mA 0.1 s (fact sheet: UNCONFIRMED).
DC_RATED_MA = 6.0
DC_TRIP_MS = ((200.0, 100), (60.0, 300), (DC_RATED_MA, 10000))
# Self-test: the TEST input makes the monitor see a test current; both outputs assert after the
# response time and release after the test current goes (patterned on TF's X804 sequence, shortened).
TEST_RESPONSE_MS = 300
TEST_RELEASE_MS = 600


class SimInput:
    """A digital signal the plant drives and the firmware reads (hal DigitalIn).

    A signal wired to two nodes (the contactor feedback reaches both controllers) gives each its own
    input with view(); each view keeps one callback, as a board's pin does."""

    def __init__(self, value=False):
        self._value = value
        self._callback = None
        self._views = []

    def value(self):
        return self._value

    def on_change(self, callback):
        self._callback = callback

    def view(self):
        view = SimInput(self._value)
        self._views.append(view)
        return view

    def set(self, value):
        if value != self._value:
            self._value = value
            if self._callback is not None:
                self._callback(value)
            for view in self._views:
                view.set(value)


def trip_ms(table, current_ma):
    for threshold_ma, delay_ms in table:
        if current_ma >= threshold_ma:
            return delay_ms
    return None


class RcdMonitor:
    """A Type A + 6 mA DC residual current monitor with two trip outputs and a TEST input.

    The plant sets the residual currents (ac_ma, dc_ma); an output asserts after the standard's trip
    time for that current and stays asserted while the current flows. Faults: `blind` (never trips,
    also not on TEST: a dead monitor that only the self-test can find)."""

    def __init__(self):
        self.ac = SimInput(False)
        self.dc = SimInput(False)
        self.ac_ma = 0.0
        self.dc_ma = 0.0
        self.blind = False
        self.testing = False
        self._test_pin = False
        self._timers = {}

    def set_residual(self, ac_ma=None, dc_ma=None):
        if ac_ma is not None:
            self.ac_ma = float(ac_ma)
        if dc_ma is not None:
            self.dc_ma = float(dc_ma)
        self._update()

    # hal DigitalOut for the TEST input: a rising edge runs one test cycle
    def set(self, on):
        if on and not self.testing and not self.blind:
            self.testing = True
            self._later("test", TEST_RESPONSE_MS, self._test_response)
        self._test_pin = on

    def _test_response(self):
        self.ac.set(True)
        self.dc.set(True)
        self._later("test", TEST_RELEASE_MS, self._test_over)

    def _test_over(self):
        self.testing = False
        self._update()

    def _update(self):
        if self.testing:
            return  # the test current dominates until it is released
        for name, output, current_ma, table in (("ac", self.ac, self.ac_ma, AC_TRIP_MS),
                                                ("dc", self.dc, self.dc_ma, DC_TRIP_MS)):
            delay_ms = None if self.blind else trip_ms(table, current_ma)
            if delay_ms is None:
                self._cancel(name)
                output.set(False)
            elif not output.value() and name not in self._timers:
                self._later(name, delay_ms, lambda output=output: output.set(True))

    def _later(self, name, delay_ms, fn):
        self._cancel(name)

        def fire():
            del self._timers[name]
            fn()

        self._timers[name] = asyncio.get_running_loop().call_later(delay_ms / 1000, fire)

    def _cancel(self, name):
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()


class SimTemperature:
    """A PT1000 at a place in the charger (hal TemperatureIn). Faults: broken = "open" or "short"."""

    def __init__(self, temp_c=25.0):
        self.temp_c = temp_c
        self.broken = None

    def read_ohms(self):
        if self.broken == "open":
            return 1.0e6
        if self.broken == "short":
            return 0.5
        return temperature.ohms(self.temp_c)
