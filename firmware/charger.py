# The power path of one connector: pilot sampling -> session table -> pilot output and contactor,
# with the meter, the safety node's reports and the fault latches beside it. Wires the sans-I/O cores
# to the HAL and tells the OCPP side (anything with status_changed / tx_started / tx_ended) what
# happened.
import asyncio

from firmware import faults, pilot, temperature
from firmware.contactor import Contactor
from firmware.faults import FaultLatches
from firmware.metering import MeterWatch
from firmware.safety import messages
from firmware.session import Session
from firmware.waiting import event_or_timeout, keep_stepping
from firmware.watchdog import registrar

PILOT_IDLE_WAIT_MS = 2000  # longest pilot wait with nothing pending (a board's sampler polls inside);
# short enough for the watchdog's allowance (firmware/watchdog.py)
TIMER_IDLE_WAIT_MS = 2000  # the timer task wakes at least this often, for the same reason
METER_POLL_MS = 5000  # meter polled this often while an EV is plugged (over-current, stale meter) ...
METER_IDLE_POLL_MS = 10000  # ... and this often without one (grid voltage, meter alive)


class Charger:
    def __init__(self, board, config, meter, trace=None, supervisor=None):
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
        self.safety = None  # set by the app: firmware.safety.client.SafetyClient
        self.limit_a = min(config["MaxCurrent"], ratings.get("max_current_a", 32))
        self.offered_a = self.limit_a  # after derating
        self.last_reading = None
        self.latches = FaultLatches()  # faults this controller detects
        self.mirrored = []  # faults the safety node reports (it keeps their latches)
        self.thermal = temperature.Thermal()
        self.derate_step = temperature.FULL
        self.meter_watch = MeterWatch()
        self._meter_lock = asyncio.Lock()
        self._rearm = asyncio.Event()
        self._plug_seen = asyncio.Event()
        self.pilot_known = asyncio.Event()  # set once the CP state was read (debounced) after boot
        self._status = None
        self._tx = False
        register = registrar(supervisor)
        self._beat_pilot = register("pilot")
        self._beat_timers = register("timers")
        # The meter task beats once per poll: its allowance is the idle poll period plus a slow read.
        self._beat_meter = register("meter", METER_IDLE_POLL_MS + 5000) if meter is not None else None
        board.pilot_out.x1()
        board.contactor.set(False)
        board.contactor_feedback.on_change(self._feedback_changed)

    # Queries for the OCPP side -----------------------------------------------------------------

    def active_faults(self):
        """Every active fault code: this controller's and the safety node's."""
        return self.latches.codes() + [code for code in self.mirrored if not self.latches.is_active(code)]

    def connector_status(self):
        """(OCPP 1.6 status, errorCode, info): the worst active fault names the error (a warning
        rides along with an unchanged status)."""
        worst = faults.worst(self.active_faults())
        if worst is not None:
            return self.session.status, faults.ocpp16_error(worst), faults.description(worst)
        return self.session.status, "NoError", None

    def can_start(self):
        return not self.session.tx_active and not self.session.faults

    def reset_faults(self):
        """An explicit reset (OCPP Reset, maintenance input): clear latches whose cause is gone, here
        and on the safety node."""
        now = self.clock.ms()
        for code in self.latches.reset(now):
            self._latch_cleared(code)
        if self.safety is not None:
            self.safety.reset()

    def soc_pct(self):
        return None  # basic IEC 61851 PWM charging carries no SoC; ISO 15118 would

    # Commands ----------------------------------------------------------------------------------

    def authorize(self):
        self._event("auth")

    def stop(self, reason):
        self._event("stop", reason)

    def set_limit(self, limit_a):
        """The current the EVSE may offer now (installation, smart charging); derating comes on top."""
        self.limit_a = limit_a
        self._offer()

    def _offer(self):
        offered = temperature.derated_a(self.limit_a, self.derate_step)
        changed = offered != self.offered_a
        self.offered_a = offered
        low = offered < pilot.MIN_CURRENT_A
        self._event("limit_low" if low else "limit_ok")
        if changed and not low and self.session.pilot == "pwm":
            duty = pilot.duty_for_current(offered)
            self.board.pilot_out.pwm(duty)
            self.trace("pilot", mode="pwm", duty_permille=duty)

    # The safety node's side --------------------------------------------------------------------

    def safety_report(self, flags, codes, temps_c):
        now = self.clock.ms()
        if self.contactor.safety_changed(bool(flags & messages.RELAY_CLOSED), now):
            self._rearm.set()  # the timer task must judge the feedback at the new deadline
        for code in codes:
            if code not in self.mirrored:
                self.mirrored.append(code)
                self._raised(code)
        for code in list(self.mirrored):
            if code not in codes:
                self.mirrored.remove(code)
                if not self.latches.is_active(code):
                    self._cleared(code)
        step = self.thermal.update_c(temps_c)[0]
        if step != self.derate_step:
            self.derate_step = step
            self.trace("derate", step=step, temps_c=temps_c)
            self._condition("temp_derate", step in (temperature.HALF, temperature.QUARTER))
            self._offer()

    def safety_alive(self, alive):
        self._condition("safety_lost", not alive)

    async def read_meter(self):
        """A fresh meter reading, or the last good one if the meter does not answer. Every reading is
        also judged (firmware/metering.py): a silent or frozen meter, the grid voltage, over-current."""
        if self.meter is None:
            return self.last_reading
        if self._meter_lock.locked():  # a read is on the bus right now: its result is fresh enough
            async with self._meter_lock:
                return self.last_reading
        async with self._meter_lock:
            try:
                reading = await self.meter.read()
                self.trace("meter", energy_wh=reading.energy_wh, power_w=reading.power_w)
            except Exception as exc:  # noqa: BLE001 - any meter failure: keep the last reading, say so
                reading = None
                self.trace("meter_error", error=repr(exc))
            offered = self.offered_a if self.session.pilot == "pwm" else 0.0
            conditions = self.meter_watch.feed(reading, self.clock.ms(), offered, self.contactor.commanded)
            if reading is not None and not conditions["meter_stale"]:
                self.last_reading = reading  # never bill from a frozen meter
            for code in conditions:
                self._condition(code, conditions[code])
        return self.last_reading

    # Tasks -------------------------------------------------------------------------------------

    def tasks(self):
        tasks = [self._sample_pilot(), self._run_timers()]
        if self.meter is not None:
            tasks.append(self._poll_meter())
        return tasks

    async def _poll_meter(self):
        # A MemoryError (a board's heap short for a moment, issue #4) loses that poll, not the task: with
        # the task ended the meter read as silent from then on, and charging stopped.
        await keep_stepping(self._poll_meter_once, self._log, "meter", "polled again after a pause")

    async def _poll_meter_once(self):
        self._beat_meter()
        await self.read_meter()
        plugged = self.session.cp not in (None, "A")
        self._plug_seen.clear()
        if plugged:
            await asyncio.sleep(METER_POLL_MS / 1000)
        else:  # an EV plugging in ends the idle wait: over-current and grid checks start at once
            await event_or_timeout(self._plug_seen, METER_IDLE_POLL_MS)

    def _log(self, topic, text):
        self.trace("log", topic=topic, text=text)

    async def _sample_pilot(self):
        pilot_in = self.board.pilot_in
        high_mv, low_mv = pilot_in.read()  # the first sample at once: the CP state is known 30 ms after boot
        while True:
            self._beat_pilot()
            was_diode_ok = self.reader.diode_ok
            changed = self.reader.feed(high_mv, low_mv, self.clock.ms(), self.session.pilot == "pwm")
            deadline = self.reader.next_deadline()
            timeout = PILOT_IDLE_WAIT_MS if deadline is None else max(deadline - self.clock.ms(), 0)
            if changed:
                self._pilot_changed(was_diode_ok, high_mv, low_mv)
            high_mv, low_mv = await pilot_in.wait(timeout)

    def _pilot_changed(self, was_diode_ok, high_mv, low_mv):
        if self.reader.diode_ok != was_diode_ok:
            self._condition("pilot_diode", not self.reader.diode_ok)
        state = self.reader.state
        # F is what we read while driving F ourselves; otherwise no EV can present it.
        self._condition("pilot_invalid", state == pilot.INVALID or (state == "F" and self.session.pilot != "f"))
        self._condition("pilot_short", state == "E")
        if state == "A":
            for code in self.latches.unplugged(self.clock.ms()):
                self._latch_cleared(code)
        elif self.session.cp in (None, "A"):
            self._plug_seen.set()
        if state != self.session.cp:
            self.trace("cp", state=state, high_mv=high_mv, low_mv=low_mv)
            self._event("cp_invalid" if state == pilot.INVALID else "cp_" + state)
        self.pilot_known.set()

    async def _run_timers(self):
        # One task serves the session's and the contactor's deadlines; any event re-arms it.
        while True:
            self._beat_timers()
            self._rearm.clear()
            now = self.clock.ms()
            deadlines = [now + TIMER_IDLE_WAIT_MS]
            for deadline in (self.session.deadline, self.contactor.deadline, self.latches.next_deadline()):
                if deadline is not None:
                    deadlines.append(deadline)
            if await event_or_timeout(self._rearm, max(min(deadlines) - now, 0)):
                continue  # something changed: look at the deadlines again
            now = self.clock.ms()
            self._apply(self.session.poll(now))
            if self.contactor.deadline is not None and now >= self.contactor.deadline:
                self._judge_contactor(self.contactor.poll(now))
            for code in self.latches.poll(now):
                self._latch_cleared(code)

    # Plumbing ----------------------------------------------------------------------------------

    def _event(self, event, reason=None):
        self._apply(self.session.handle(event, self.clock.ms(), reason))

    def _condition(self, code, present):
        """A fault condition this controller watches is present or not; the latch rule decides."""
        now = self.clock.ms()
        if present:
            if self.latches.raise_(code, now) and code not in self.mirrored:
                self._raised(code)
        elif self.latches.gone(code, now):
            self._latch_cleared(code)

    def _latch_cleared(self, code):
        if code not in self.mirrored:  # the safety node may still hold the same fault (welding)
            self._cleared(code)

    def _raised(self, code):
        self.trace("fault", name=code)
        if faults.severity(code) == faults.WARNING:
            self._report_status()
        else:
            self._apply(self.session.fault(code, self.clock.ms(), faults.stop_reason(code)))

    def _cleared(self, code):
        self.trace("fault_cleared", name=code)
        if faults.severity(code) == faults.WARNING:
            self._report_status()
        else:
            self._apply(self.session.clear_fault(code, self.clock.ms()))

    def _report_status(self):
        if self.ocpp is not None:
            self.ocpp.status_changed()

    def _feedback_changed(self, closed):
        self._judge_contactor(self.contactor.check(self.clock.ms()))
        self._rearm.set()

    def _judge_contactor(self, fault):
        if fault is not None:
            self._condition(fault, True)
        elif self.contactor.deadline is None:  # settled and agreeing
            self._condition("contactor_welded", False)
            self._condition("contactor_stuck_open", False)

    def _apply(self, effects):
        now = self.clock.ms()
        for kind, value in effects:
            if kind == "contactor":
                self.contactor.set(value, now)
                if self.safety is not None:
                    self.safety.set_allow(value)
                self.trace("contactor", closed=value)
            elif value == "pwm":
                duty = pilot.duty_for_current(self.offered_a)
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
