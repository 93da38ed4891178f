"""The safety invariants of issue #3, watched continuously on a running sim.rig.Rig (CPython).

Monitor(rig, injector) hooks the plant: the contactor's coil and contacts, the safety inputs, the plant's
listeners (every change of the EV, the pilot, the current), the fault latches of both nodes and the
main controller's reboots. At every change it judges, in virtual milliseconds:

- the coil is never energized while either switch in its circuit is off (sanity of the series wiring);
- the coil is de-energized within OFF_WITHIN_MS once the CP the EV presents is not C (or D with
  ventilation): the 6 s PWM-off rule keeps the EV in C, so it is no exception here;
- the coil is de-energized within its fault's open_ms while an injected fault is present in a form the
  firmware can sense (sim/fault_table.py gives each bound and its source);
- a fault present for its detect_ms is named by the firmware (a latch raised on either node, or a
  watchdog reset for a stalled task).

finish() adds the end-of-session checks (every transaction the CSMS started has a stop, none the
firmware started is missing, billed energy matches the meter register between the transaction's own
timestamps; after a meter fault a mismatch is "data lost", not a violation) and measures each injected
fault: detected, and the reaction time from when the firmware could first know it to the coil off (if
the coil was energized then) or to the firmware naming it. Returns the session's summary as plain data.
"""

import bisect
import calendar
import time

from sim.fault_table import OFF_WITHIN_MS

BILLING_TOLERANCE_WH = 1.0  # brief: billed within 1 Wh of the register (compared after OCPP's whole-Wh rounding)


def ev_cp_state(rig):
    """The CP state the EV presents: 'A'..'E', or 'INVALID' for a level no EV can present."""
    ev = rig.ev
    if ev.cp_stuck_mv is not None:
        return "INVALID"
    if ev.cp_shorted:
        return "E"
    if not ev.plugged:
        return "A"
    if not ev.s2_closed:
        return "B"
    return "D" if ev.needs_ventilation else "C"


class Monitor:
    def __init__(self, rig, injector=None):
        self.rig = rig
        self.clock = rig.clock
        self.injector = injector
        self.violations = []  # {kind, at_ms, fault, detail}
        self.coil_log = []  # (ms, energized) at every change
        self.raised = []  # (ms, code, node) every time a latch became active
        self.tx_starts = []  # ms of every transaction the firmware started
        self._energy_ms, self._energy = [], []  # the meter model's register, piecewise linear
        self._since = {}  # hazard -> ms since when the coil is energized while it is present
        self._reported = set()  # hazards whose current interval is already a violation
        self._present_since = {}  # injection -> ms since when its fault is present
        self._due = {}  # injection -> ms by which the firmware had to name it
        contactor = rig.plant.contactor
        self._set_coil = contactor.set_coil
        contactor.set_coil = self._coil
        for signal in (rig.plant.rcd.ac, rig.plant.rcd.dc, rig.plant.estop, rig.plant.pe_fault,
                       contactor.feedback):
            signal.view().on_change(lambda value: self.poke())
        rig.plant.listeners.append(self._plant_changed)
        self._watch_latches(rig.safety_node.latches, "safety")
        self._watch_firmware(rig.fw)
        self._reboot = rig.reboot
        rig.reboot = self._rebooted
        self._plant_changed()

    # Hooks ---------------------------------------------------------------------------------------

    def _coil(self, on):
        before = self.rig.plant.contactor.coil
        self._set_coil(on)
        if self.rig.plant.contactor.coil != before:
            self.coil_log.append((self.clock.ms(), self.rig.plant.contactor.coil))
            self.poke()

    def _plant_changed(self):
        model = self.rig.meter_model
        self._energy_ms.append(self.clock.ms())
        self._energy.append((model.energy_wh, model.power_w))
        self.poke()

    def _watch_latches(self, latches, node):
        raise_ = latches.raise_

        def watched(code, now_ms):
            new = raise_(code, now_ms)
            if new:
                self.raised.append((self.clock.ms(), code, node))
                self.poke()
            return new

        latches.raise_ = watched

    def _watch_firmware(self, fw):
        self._watch_latches(fw.charger.latches, "main")
        tx_started = fw.cp.tx_started

        def watched():
            self.tx_starts.append(self.clock.ms())
            tx_started()

        fw.cp.tx_started = watched

    async def _rebooted(self, cause):
        await self._reboot(cause)
        self._watch_firmware(self.rig.fw)  # a new firmware object: watch it before its tasks run
        now = self.clock.ms()
        for injection in self._present_since:  # what the old boot had seen of a fault is gone with its RAM
            self._present_since[injection] = now
        self.poke()

    # The judgement at every change ----------------------------------------------------------------

    def active_codes(self):
        return set(self.rig.fw.charger.active_faults()) | set(self.rig.safety_node.latches.codes())

    def poke(self):
        now = self.clock.ms()
        rig = self.rig
        contactor = rig.plant.contactor
        coil = contactor.coil
        unswitched = coil and not (contactor.switches["main"] and contactor.switches["safety"])
        if unswitched and "switches" not in self._reported:
            self._reported.add("switches")
            self.violation("coil_without_both_switches", now, None, "switches %r" % (contactor.switches,))
        elif not unswitched:
            self._reported.discard("switches")
        state = ev_cp_state(rig)
        cp_ok = state == "C" or (state == "D" and rig.board.info.get("ventilation", False))
        self._judge("cp", coil and not cp_ok, OFF_WITHIN_MS, now, None, "CP %s" % state)
        for injection in self.injector.injections if self.injector is not None else ():
            if injection.injected_ms is None:
                continue
            fault = injection.fault
            present = injection.active and fault.present(self.injector, injection)
            self._presence(injection, present, present and fault.nameable(self.injector, injection), now, coil)
            if injection.fault.open_ms is not None:
                self._judge(injection, coil and present, injection.fault.open_ms, now, injection.name, "present")

    def _judge(self, key, on, bound_ms, now, fault, what):
        since = self._since.get(key)
        if on and since is None:
            self._since[key] = since = now
        if since is None:
            return
        if now - since > bound_ms and key not in self._reported:
            self._reported.add(key)
            kind = "coil_outside_c" if key == "cp" else "coil_while_fault"
            self.violation(kind, since, fault, "coil energized %d ms (bound %d ms) while %s"
                            % (now - since, bound_ms, what))
        if not on:
            del self._since[key]
            self._reported.discard(key)

    def _presence(self, injection, present, nameable, now, coil):
        since = self._present_since.get(injection)
        if present and injection.knowable_ms is None:
            injection.knowable_ms = now
            injection.coil_at_knowable = coil
            injection.active_at_knowable = tuple(sorted(self.active_codes()))
        if nameable:
            if since is None:
                self._present_since[injection] = now
        elif since is not None:
            del self._present_since[injection]
            self._note_due(injection, since, now)

    def _note_due(self, injection, since, until):
        detect_ms = injection.fault.detect_ms
        if detect_ms is not None and until - since >= detect_ms and injection not in self._due:
            self._due[injection] = since + detect_ms

    def violation(self, kind, at_ms, fault, detail):
        self.violations.append({"kind": kind, "at_ms": at_ms, "fault": fault, "detail": detail})

    # The end of the session -----------------------------------------------------------------------

    def energy_at(self, ms):
        """The meter model's register (Wh) at virtual time ms."""
        i = max(bisect.bisect_right(self._energy_ms, ms) - 1, 0)
        wh, power_w = self._energy[i]
        return wh + power_w * (ms - self._energy_ms[i]) / 3600000.0

    def utc_ms(self, text):
        """Virtual ms of an OCPP dateTime the firmware stamped ('YYYY-MM-DDTHH:MM:SS.mmmZ')."""
        base, _, fraction = text.rstrip("Z").partition(".")
        seconds = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
        return seconds * 1000 + int((fraction + "000")[:3]) - int(round(self.clock.start_epoch * 1000))

    def finish(self):
        """Judge the end of the session and measure every injection; returns plain data."""
        self.poke()
        now = self.clock.ms()
        injections = self.injector.injections if self.injector is not None else []
        for injection, since in list(self._present_since.items()):
            self._note_due(injection, since, now)
        faults = [self._measure(injection) for injection in injections]
        meter_fault = any(i.fault.meter and i.injected_ms is not None for i in injections)
        tx_ok, lost_wh, count = self._transactions(meter_fault)
        coil = self.rig.plant.contactor.coil
        return {"violations": list(self.violations), "faults": faults, "transactions": count, "tx_ok": tx_ok,
                "data_lost_wh": round(lost_wh, 1), "meter_fault": meter_fault, "coil_at_end": coil,
                "ended_safe": not coil and not self.violations}

    def _measure(self, injection):
        record = injection.record()
        fault, known = injection.fault, injection.knowable_ms
        detected = None
        if injection.injected_ms is not None and fault.codes == ("watchdog",):
            detected = next((ms for ms, cause in self.rig.resets
                             if cause == "watchdog" and ms >= injection.injected_ms), None)
        elif injection.injected_ms is not None and fault.codes:
            if known is not None and set(fault.codes) & set(injection.active_at_knowable):
                detected = known  # still latched from before: the firmware knows already
            else:
                detected = next((ms for ms, code, _ in self.raised
                                 if code in fault.codes and ms >= injection.injected_ms), None)
        reaction = None  # only for what the firmware named: a fault gone before that has no reaction
        if known is not None and detected is not None:
            reaction = max(detected - known, 0)
            if injection.coil_at_knowable and fault.open_ms is not None:
                off = next((ms for ms, on in self.coil_log if ms >= known and not on), None)
                reaction = None if off is None else off - known
        due = self._due.get(injection)
        if due is not None and (detected is None or detected > due):
            self.violation("missed_detection", due, injection.name, "present %d ms and not named %s"
                           % (fault.detect_ms, "/".join(fault.codes)))
        record.update(detectable=bool(fault.codes) and known is not None, detected_ms=detected,
                      detected=detected is not None, reaction_ms=reaction, coil_at_knowable=injection.coil_at_knowable)
        return record

    def _transactions(self, meter_fault):
        if self.rig.csms is None:
            return True, 0.0, 0
        station = self.rig.station
        ok, lost_wh = True, 0.0
        for error in station.errors:
            self.violation("ocpp_error", None, None, "%s %s: %s" % (error["kind"], error["action"], error["code"]))
        transactions = list(station.transactions.values())
        for tx in transactions:
            if tx["meter_stop_wh"] is None:
                ok = False
                self.violation("tx_not_stopped", None, None, "transaction %s has no stop" % tx["transaction_id"])
                continue
            truth_wh = (round(self.energy_at(self.utc_ms(tx["timestamp_stop"])))
                        - round(self.energy_at(self.utc_ms(tx["timestamp_start"]))))
            error_wh = (tx["meter_stop_wh"] - tx["meter_start_wh"]) - truth_wh
            if abs(error_wh) > BILLING_TOLERANCE_WH:
                ok = False
                lost_wh += abs(error_wh)
                if not meter_fault:
                    self.violation("billing", None, None, "transaction %s billed %+d Wh off the register (%d Wh)"
                                    % (tx["transaction_id"], error_wh, truth_wh))
        if len(self.tx_starts) > len(transactions):
            ok = False
            if not meter_fault:
                self.violation("tx_lost", None, None, "the firmware started %d transactions, the CSMS knows %d"
                                % (len(self.tx_starts), len(transactions)))
        return ok, lost_wh, len(transactions)
