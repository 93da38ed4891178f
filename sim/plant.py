"""The simulated plant around one charger: the EV behind the pilot, the contactor, the meter's power
flow and the residual-current sensor (CPython only).

Event-driven on the running asyncio loop: whatever changes (pilot output, contactor contacts, the EV's
switches) calls recompute(), which integrates energy up to now, works out the new current, tells the
meter, and wakes whoever waits on the CP voltage. Reactions that take time (a contactor operating, an
EV closing S2) are scheduled with call_later, so a virtual clock skips the waiting.
"""

import asyncio

from sim.ev import offered_current_a
from sim.sensors import RcdMonitor, SimInput, SimTemperature

CONTACTOR_OPERATE_MS = 30  # coil on -> main contacts closed (typical 25 A AC-1 contactor)
CONTACTOR_RELEASE_MS = 20  # coil off -> contacts open
EV_S2_CLOSE_MS = 1000  # EV sees an offer it can use -> closes S2 (B2 -> C2); EVs take 0.5-3 s
EV_S2_OPEN_MS = 300  # EV sees PWM stop or is full -> opens S2 (the EVSE waits up to 6 s)
TAPER_STEP_MS = 30000  # while charging, re-evaluate the battery's taper this often
NOMINAL_VOLTAGE_V = 230.0


class SimContactor:
    """Coil, main contacts and auxiliary feedback, with operate/release delays and two faults.

    The coil is fed through two switches in series: the main controller's and the safety node's
    (`switches`), so power flows only when both allow it."""

    def __init__(self, plant):
        self.plant = plant
        self.switches = {"main": False, "safety": False}
        self.coil = False
        self.closed = False
        self.feedback = SimInput(False)
        self.welded = False  # fault injection: contacts stay closed
        self.stuck_open = False  # fault injection: contacts never close
        self._pending = None

    def switch(self, which, on):
        self.switches[which] = bool(on)
        self.set_coil(self.switches["main"] and self.switches["safety"])

    def set_coil(self, on):
        if on == self.coil:
            return
        self.coil = on
        if self._pending is not None:
            self._pending.cancel()
        delay_ms = CONTACTOR_OPERATE_MS if on else CONTACTOR_RELEASE_MS
        self._pending = asyncio.get_running_loop().call_later(delay_ms / 1000, self._move)

    def _move(self):
        self._pending = None
        closed = self.coil
        if self.welded and self.closed:
            closed = True
        if self.stuck_open:
            closed = False
        if closed != self.closed:
            self.closed = closed
            self.plant.recompute()
            self.feedback.set(closed)


class Plant:
    def __init__(self, clock, ev, meter_model, voltage_v=NOMINAL_VOLTAGE_V):
        self.clock = clock
        self.ev = ev
        self.meter = meter_model
        self.voltage_v = voltage_v
        self.generator = "x1"
        self.duty_permille = None
        self.contactor = SimContactor(self)
        self.rcd = RcdMonitor()
        self.estop = SimInput(False)
        self.pe_fault = SimInput(False)
        self.temperatures = {"power_path": SimTemperature(30.0), "connector": SimTemperature(25.0),
                             "ambient": SimTemperature(25.0)}
        self.current_a = 0.0  # per phase, flowing now
        self.peak_current_a = 0.0
        self._levels = self.cp_levels()
        self._cp_waiters = []
        self._last_ms = clock.ms()
        self._ev_reaction = None
        self._next_check = None
        # Fault injection: a stubborn EV that stops watching the pilot. It keeps S2 as it is and goes on
        # drawing the current it was last offered (the story "the car keeps drawing after PWM stops").
        self.ev_ignores_pilot = False
        self._ev_offer_a = 0.0  # the offer as the EV understands it
        self.listeners = []  # fn() called after every recompute (progress display, trace)

    # The pilot, seen from both ends -----------------------------------------------------------

    def set_pilot(self, generator, duty_permille=None):
        self.generator = generator
        self.duty_permille = duty_permille
        self.recompute()

    def cp_levels(self):
        return self.ev.cp_levels(self.generator, self.duty_permille)

    def offered_a(self):
        return offered_current_a(self.generator, self.duty_permille)

    async def wait_cp(self, timeout_ms):
        waiter = asyncio.Event()
        self._cp_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter.wait(), timeout_ms / 1000)
        except asyncio.TimeoutError:
            pass
        finally:
            if waiter in self._cp_waiters:
                self._cp_waiters.remove(waiter)
        return self._levels

    # What the driver does ----------------------------------------------------------------------

    def plug(self):
        self.ev.plugged = True
        self.recompute()

    def unplug(self):
        self.ev.plugged = False
        self.ev.s2_closed = False
        self.recompute()

    def trip_rcd(self, tripped=True, ac_ma=150.0):
        """A residual current (AC, 5 x 30 mA by default: trips within 40 ms), or none."""
        self.rcd.set_residual(ac_ma=ac_ma if tripped else 0.0)

    def set_grid_voltage(self, voltage_v):
        self.voltage_v = float(voltage_v)
        self.meter.set_voltages(voltage_v, voltage_v, voltage_v)
        self.recompute()

    # The physics ---------------------------------------------------------------------------------

    def recompute(self):
        now = self.clock.ms()
        if now > self._last_ms and self.current_a > 0:
            self.ev.charge(self.current_a, self.voltage_v, now - self._last_ms)
        self._last_ms = now
        if not self.ev_ignores_pilot:
            self._ev_offer_a = self.offered_a()
        flowing = self.contactor.closed and self.ev.plugged and self.ev.s2_closed
        self.current_a = self.ev.demand_a(self._ev_offer_a) if flowing else 0.0
        self.peak_current_a = max(self.peak_current_a, self.current_a)
        phases = [self.current_a if i < self.ev.phases else 0.0 for i in range(3)]
        self.meter.set_currents(*phases)
        self._schedule_battery_check()
        self._ev_react()
        levels = self.cp_levels()
        if levels != self._levels:
            self._levels = levels
            for waiter in self._cp_waiters:
                waiter.set()
        for listener in self.listeners:
            listener()

    def _schedule_battery_check(self):
        # Wake when the battery reaches its target at this power, or for the next taper step.
        if self._next_check is not None:
            self._next_check.cancel()
            self._next_check = None
        if self.current_a <= 0:
            return
        power_w = self.current_a * self.voltage_v * self.ev.phases
        missing_wh = (self.ev.soc_target_pct - self.ev.soc_pct) / 100 * self.ev.capacity_kwh * 1000
        to_target_ms = max(missing_wh / power_w * 3600000, 1)
        delay_ms = min(to_target_ms, TAPER_STEP_MS)
        self._next_check = asyncio.get_running_loop().call_later(delay_ms / 1000, self.recompute)

    def _ev_react(self):
        # A well-behaved EV: closes S2 when offered a usable current and it wants energy; opens S2
        # when the offer goes away or the battery is full. A stubborn EV (ev_ignores_pilot) does neither.
        ev = self.ev
        want_s2 = ev.plugged and ev.wants_charge and self.offered_a() >= 6.0
        if want_s2 == ev.s2_closed or not ev.plugged or self.ev_ignores_pilot:
            if self._ev_reaction is not None:
                self._ev_reaction.cancel()
                self._ev_reaction = None
            return
        if self._ev_reaction is None:
            delay_ms = EV_S2_CLOSE_MS if want_s2 else EV_S2_OPEN_MS
            self._ev_reaction = asyncio.get_running_loop().call_later(delay_ms / 1000, self._switch_s2)

    def _switch_s2(self):
        self._ev_reaction = None
        ev = self.ev
        ev.s2_closed = ev.plugged and ev.wants_charge and self.offered_a() >= 6.0
        self.recompute()
