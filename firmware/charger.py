# The power path of one connector: pilot sampling -> session table -> pilot output and contactor,
# with the meter and the fault inputs beside it. Wires the sans-I/O cores to the HAL and tells the
# OCPP side (anything with status_changed / tx_started / tx_ended) what happened.
import asyncio

from firmware import faults, pilot
from firmware.contactor import Contactor
from firmware.session import Session
from firmware.waiting import event_or_timeout

PILOT_IDLE_WAIT_MS = 10000  # longest pilot wait with nothing pending; a board's sampler polls inside


class Charger:
    def __init__(self, board, config, meter, trace=None):
        self.board = board
        self.clock = board.clock
        self.config = config
        self.meter = meter  # firmware.meter.Sdm630Meter or None
        self.trace = trace or (lambda kind, **fields: None)
        ratings = board.info
        self.session = Session(ventilation=ratings.get("ventilation", False),
                               connection_timeout_ms=config["ConnectionTimeOut"] * 1000)
        self.reader = pilot.PilotReader()
        self.contactor = Contactor(board.contactor, board.contactor_feedback)
        self.ocpp = None  # set by the app: receives status_changed(), tx_started(), tx_ended()
        self.limit_a = min(config["MaxCurrent"], ratings.get("max_current_a", 32))
        self.last_reading = None
        self._meter_lock = asyncio.Lock()
        self._rearm = asyncio.Event()
        self._status = None
        self._tx = False
        board.pilot_out.x1()
        board.contactor.set(False)
        board.rcd_trip.on_change(self._rcd_changed)
        board.contactor_feedback.on_change(self._feedback_changed)

    # Queries for the OCPP side -----------------------------------------------------------------

    def connector_status(self):
        """(OCPP 1.6 status, errorCode, info)."""
        active = sorted(self.session.faults)
        if active:
            return self.session.status, faults.ocpp16_error(active[0]), faults.description(active[0])
        return self.session.status, "NoError", None

    def can_start(self):
        return not self.session.tx_active and not self.session.faults

    def soc_pct(self):
        return None  # basic IEC 61851 PWM charging carries no SoC; ISO 15118 would

    # Commands ----------------------------------------------------------------------------------

    def authorize(self):
        self._event("auth")

    def stop(self, reason):
        self._event("stop", reason)

    def set_limit(self, limit_a):
        """The current the EVSE may offer now (installation, smart charging, derating)."""
        self.limit_a = limit_a
        low = limit_a < pilot.MIN_CURRENT_A
        self._event("limit_low" if low else "limit_ok")
        if not low and self.session.pilot == "pwm":
            self.board.pilot_out.pwm(pilot.duty_for_current(limit_a))

    async def read_meter(self):
        """A fresh meter reading, or the last good one if the meter does not answer."""
        if self.meter is None:
            return self.last_reading
        async with self._meter_lock:
            try:
                self.last_reading = await self.meter.read()
                self.trace("meter", energy_wh=self.last_reading.energy_wh, power_w=self.last_reading.power_w)
            except Exception as exc:  # noqa: BLE001 - any meter failure: keep the last reading, say so
                self.trace("meter_error", error=repr(exc))
        return self.last_reading

    # Tasks -------------------------------------------------------------------------------------

    def tasks(self):
        return [self._sample_pilot(), self._run_timers()]

    async def _sample_pilot(self):
        pilot_in = self.board.pilot_in
        high_mv, low_mv = pilot_in.read()  # the first sample at once: the CP state is known 30 ms after boot
        while True:
            was_diode_ok = self.reader.diode_ok
            changed = self.reader.feed(high_mv, low_mv, self.clock.ms(), self.session.pilot == "pwm")
            deadline = self.reader.next_deadline()
            timeout = PILOT_IDLE_WAIT_MS if deadline is None else max(deadline - self.clock.ms(), 0)
            if changed:
                self._pilot_changed(was_diode_ok, high_mv, low_mv)
            high_mv, low_mv = await pilot_in.wait(timeout)

    def _pilot_changed(self, was_diode_ok, high_mv, low_mv):
        if self.reader.diode_ok != was_diode_ok:
            if self.reader.diode_ok:
                self._clear("pilot")
            else:
                self._fault("pilot")
        state = self.reader.state
        if state != self.session.cp:
            self.trace("cp", state=state, high_mv=high_mv, low_mv=low_mv)
            self._event("cp_invalid" if state == pilot.INVALID else "cp_" + state)

    async def _run_timers(self):
        # One task serves the session's and the contactor's deadlines; any event re-arms it.
        while True:
            self._rearm.clear()
            deadlines = [d for d in (self.session.deadline, self.contactor.deadline) if d is not None]
            timeout_ms = min(deadlines) - self.clock.ms() if deadlines else None
            if await event_or_timeout(self._rearm, timeout_ms):
                continue  # something changed: look at the deadlines again
            now = self.clock.ms()
            self._apply(self.session.poll(now))
            fault = self.contactor.poll(now)
            if fault is not None:
                self._fault(fault)

    # Plumbing ----------------------------------------------------------------------------------

    def _event(self, event, reason=None):
        self._apply(self.session.handle(event, self.clock.ms(), reason))

    def _fault(self, name):
        self.trace("fault", name=name)
        self._apply(self.session.fault(name, self.clock.ms()))

    def _clear(self, name):
        self.trace("fault_cleared", name=name)
        self._apply(self.session.clear_fault(name, self.clock.ms()))

    def _rcd_changed(self, tripped):
        if tripped:
            self._fault("rcd")
        else:
            self._clear("rcd")

    def _feedback_changed(self, closed):
        fault = self.contactor.check()
        if fault is not None:
            self._fault(fault)

    def _apply(self, effects):
        now = self.clock.ms()
        for kind, value in effects:
            if kind == "contactor":
                self.contactor.set(value, now)
                self.trace("contactor", closed=value)
            elif value == "pwm":
                duty = pilot.duty_for_current(self.limit_a)
                self.board.pilot_out.pwm(duty)
                self.trace("pilot", mode="pwm", duty_permille=duty)
            else:
                getattr(self.board.pilot_out, value)()
                self.trace("pilot", mode=value)
        self._rearm.set()
        if self.session.state != self._status:
            self._status = self.session.state
            self.trace("state", state=self.session.state, status=self.session.status)
        if self.ocpp is None:
            return
        if self._tx != self.session.tx_active:
            self._tx = self.session.tx_active
            if self._tx:
                self.ocpp.tx_started()
            else:
                self.ocpp.tx_ended(self.session.stop_reason)
        self.ocpp.status_changed()
