# The IEC 61851-1 charging session: one table of (state, event) -> (next state, actions).
#
# Sans-I/O: the caller feeds events (debounced CP states, authorization, stop requests, faults,
# current-limit changes) with the current time and applies the effects it gets back (pilot output,
# contactor). Nothing here reads a clock or touches hardware. The whole behaviour of the charger's
# power path is the table ROWS below; everything else in this module is bookkeeping around it.
#
# Pilot outputs: "x1" constant +12 V (no charging offered), "pwm" 1 kHz duty = current limit (X2),
# "f" constant -12 V (EVSE not available). The CP letter the EV presents: A..F, or INVALID.

# Timings, IEC 61851-1:2017 Annex A (fact sheet 1.4).
PWM_OFF_TO_OPEN_MS = 6000  # Table A.6 seq. 10.2: PWM off while the EV stays in C -> open under load after 6 s
FAULT_HOLD_MS = 300  # Table A.5: hold state F at least 300 ms after a fault
CONNECTION_TIMEOUT_MS = 60000  # authorized before plug-in: wait this long for the EV (OCPP ConnectionTimeOut)
POWER_ON_WITHIN_MS = 3000  # Table A.6 seq. 4: power on within 3 s of C2 (we close at once: checked by tests)
OFF_WITHIN_MS = 100  # Table A.6 seq. 8.1 / 2.2: contactor open within 100 ms of C->B, A or pilot loss

# States, with the OCPP 1.6 connector status each one reports (ChargePointStatus).
IDLE = "idle"  # no EV (A)
WAIT_PLUG = "wait_plug"  # authorized first, waiting for the EV to plug in
PLUGGED = "plugged"  # EV in B1/C1, not authorized: nothing offered
READY = "ready"  # authorized, PWM offered (B2), EV has not asked for power yet
CHARGING = "charging"  # C2/D2, contactor closed
EV_PAUSED = "ev_paused"  # authorized, EV went back to B2 (full, or pausing itself)
PAUSING = "pausing"  # limit fell below 6 A while charging: PWM off, waiting for the EV to go to B
EVSE_PAUSED = "evse_paused"  # authorized but the EVSE offers nothing (limit < 6 A, D without ventilation)
STOPPING = "stopping"  # transaction stop requested while charging: PWM off, waiting for B (max 6 s)
FINISHING = "finishing"  # transaction over, EV still plugged
FAULT = "fault"  # state F output, contactor open (held FAULT_HOLD_MS)
INOPERATIVE = "inoperative"  # a fault outlived the F hold: X1 (so CP A shows an unplug), contactor open

STATUS = {
    IDLE: "Available",
    WAIT_PLUG: "Preparing",
    PLUGGED: "Preparing",
    READY: "SuspendedEV",  # OCPP 1.6 4.9: a transaction runs and energy is offered, the EV takes none yet
    CHARGING: "Charging",
    EV_PAUSED: "SuspendedEV",
    PAUSING: "SuspendedEVSE",
    EVSE_PAUSED: "SuspendedEVSE",
    STOPPING: "Finishing",
    FINISHING: "Finishing",
    FAULT: "Faulted",
    INOPERATIVE: "Faulted",
}

# A transaction runs while the session is in one of these states.
TX_STATES = (READY, CHARGING, EV_PAUSED, PAUSING, EVSE_PAUSED, STOPPING)

# Actions: "close"/"open" the contactor; "x1"/"pwm"/"f" the pilot; "timer_6s", "timer_fault",
# "timer_plug" arm the state's timer (any transition disarms it first, unless it says "keep_timer": a
# stop while pausing must still open 6 s after the PWM went off, not 6 s after the stop).
# Events: cp_A..cp_F, cp_invalid, cp_D_vent / cp_D_novent (D split by the ventilation guard), auth,
# stop, fault, limit_ok, limit_low, timeout, timeout_clear (the fault hold ran out and no fault is
# active). An event with no row for the current state changes nothing.
#
# The table is one string with fixed columns, looked up by row(): as a dict of tuples it took ~10 KB of
# a MicroPython heap (three objects per row), as text it is its ~2 KB of characters (issue #4).
# "fault timeout -> inoperative": F held long enough and a fault is still active: show X1 (EVerest: F,
# then C1/B1), so that the CP reads the EV again and an unplug can clear UNPLUG latches (firmware/faults.py).
_STATE_W = 13  # column widths: the state, then the event; the next state and the actions follow
_EVENT_W = 15
ROWS = """
# state      event          next state   actions
idle         cp_B           plugged
idle         cp_C           plugged
idle         cp_D_vent      plugged
idle         cp_D_novent    plugged
idle         auth           wait_plug    timer_plug
wait_plug    cp_B           ready        pwm
wait_plug    cp_C           ready        pwm
wait_plug    cp_D_vent      ready        pwm
wait_plug    cp_D_novent    ready        pwm
wait_plug    timeout        idle
wait_plug    stop           idle
plugged      cp_A           idle
plugged      auth           ready        pwm
ready        cp_A           idle         x1
ready        cp_C           charging     close
ready        cp_D_vent      charging     close
ready        cp_D_novent    evse_paused  x1
ready        stop           finishing    x1
ready        limit_low      evse_paused  x1
charging     cp_A           idle         open x1
charging     cp_B           ev_paused    open
charging     cp_D_novent    evse_paused  open x1
charging     stop           stopping     x1 timer_6s
charging     limit_low      pausing      x1 timer_6s
ev_paused    cp_A           idle         x1
ev_paused    cp_C           charging     close
ev_paused    cp_D_vent      charging     close
ev_paused    cp_D_novent    evse_paused  x1
ev_paused    stop           finishing    x1
ev_paused    limit_low      evse_paused  x1
pausing      cp_A           idle         open
pausing      cp_B           evse_paused  open
pausing      timeout        evse_paused  open
pausing      cp_D_novent    evse_paused  open
pausing      stop           stopping     keep_timer
evse_paused  cp_A           idle
evse_paused  limit_ok       ev_paused    pwm
evse_paused  stop           finishing
stopping     cp_A           idle         open
stopping     cp_B           finishing    open
stopping     timeout        finishing    open
stopping     cp_D_novent    finishing    open
finishing    cp_A           idle
finishing    auth           ready        pwm
fault        timeout_clear  idle         x1
fault        timeout        inoperative  x1
inoperative  timeout_clear  idle
"""

# From every state but FAULT and INOPERATIVE: these events open the contactor and hold F (Table A.5).
# While inoperative the contactor is already open; pilot faults there are the fault latches' business.
FAULT_EVENTS = ("fault", "cp_E", "cp_F", "cp_invalid")
_TO_FAULT = (FAULT, ("open", "f", "timer_fault"))


def row(state, event):
    """(next state, actions) for the event in the state, or None: the event changes nothing there."""
    if event in FAULT_EVENTS and state != FAULT and state != INOPERATIVE:
        return _TO_FAULT
    at = ROWS.find("\n" + state + " " * (_STATE_W - len(state)) + event + " " * (_EVENT_W - len(event)))
    if at < 0:
        return None
    cells = ROWS[at + 1 + _STATE_W + _EVENT_W:ROWS.find("\n", at + 1)].split()
    return cells[0], tuple(cells[1:])


def table():
    """Every row as {(state, event): (next state, actions)}, for tools and tests (the firmware uses row())."""
    rows = {}
    for line in ROWS.split("\n"):
        cells = line.split()
        if cells and cells[0] != "#":
            rows[(cells[0], cells[1])] = (cells[2], tuple(cells[3:]))
    for state in STATUS:
        if state != FAULT and state != INOPERATIVE:
            for event in FAULT_EVENTS:
                rows[(state, event)] = _TO_FAULT
    return rows


# Why a transaction ended, by the event that ended it (OCPP 1.6 Reason).
STOP_REASONS = {
    "cp_A": "EVDisconnected",
    "fault": "Other",
    "cp_E": "Other",
    "cp_F": "Other",
    "cp_invalid": "Other",
}

_TIMERS = {"timer_6s": PWM_OFF_TO_OPEN_MS, "timer_fault": FAULT_HOLD_MS, "timer_plug": CONNECTION_TIMEOUT_MS}


class Session:
    """One connector's session. Feed events with handle(); fire timers with poll()."""

    def __init__(self, ventilation=False, connection_timeout_ms=CONNECTION_TIMEOUT_MS):
        self.ventilation = ventilation
        self.timers = dict(_TIMERS)
        self.timers["timer_plug"] = connection_timeout_ms
        self.state = IDLE
        self.cp = None  # last debounced CP letter
        self.pilot = "x1"
        self.contactor = False
        self.deadline = None  # ms at which "timeout" fires, or None
        self.faults = set()  # active fault names; F is left only when this is empty
        self.limit_ok = True
        self.stop_reason = None  # set when a transaction ends
        self._stop_requested = None  # the reason given with a stop that is still being carried out

    @property
    def status(self):
        return STATUS[self.state]

    @property
    def tx_active(self):
        return self.state in TX_STATES

    def handle(self, event, now_ms, reason=None):
        """Apply one event. Returns the effects to carry out, in order: ("contactor", bool) and
        ("pilot", "x1" | "pwm" | "f")."""
        if event.startswith("cp_"):
            self.cp = event[3:]
            reason = None  # a CP change carries its own reason (STOP_REASONS)
        elif event == "stop" and self.tx_active:
            self._stop_requested = reason or "Local"
        elif event == "limit_ok":
            self.limit_ok = True
        elif event == "limit_low":
            self.limit_ok = False
        before = (self.contactor, self.pilot)
        self._step(self._refine(event), now_ms, reason)
        return self._effects(before)

    def fault(self, name, now_ms, reason="Other"):
        """A fault became active: open, hold F, stay faulted until clear_fault() for every one.
        reason: the OCPP StopTransaction reason if this ends a transaction."""
        self.faults.add(name)
        return self.handle("fault", now_ms, reason)

    def clear_fault(self, name, now_ms):
        """A fault cleared. Leaves the faulted states once the F hold is over and none is left."""
        self.faults.discard(name)
        if self.state == INOPERATIVE and not self.faults:
            return self.handle("timeout_clear", now_ms)
        return []

    def poll(self, now_ms):
        """Fire the state's timer if it is due."""
        if self.deadline is None or now_ms < self.deadline:
            return []
        self.deadline = None
        if self.state == FAULT and not self.faults:
            return self.handle("timeout_clear", now_ms)
        return self.handle("timeout", now_ms)

    def _refine(self, event):
        # Guards are folded into event names so that the table stays a plain lookup.
        if event == "cp_D":
            return "cp_D_vent" if self.ventilation else "cp_D_novent"
        return event

    def _step(self, event, now_ms, reason):
        found = row(self.state, event)
        if found is None:
            return
        was_tx = self.tx_active
        if self.state == FAULT:
            self.cp = None  # we drove -12 V ourselves: the last reading says nothing about the EV
        self.state, actions = found
        if "keep_timer" not in actions:
            self.deadline = None
        for action in actions:
            if action in ("close", "open"):
                self.contactor = action == "close"
            elif action in ("x1", "pwm", "f"):
                self.pilot = action
            elif action != "keep_timer":
                self.deadline = now_ms + self.timers[action]
        if was_tx and not self.tx_active:
            self.stop_reason = reason or self._stop_requested or STOP_REASONS.get(event, "Local")
            self._stop_requested = None
        # Nothing can be offered below 6 A: an offer made while the limit is low is withdrawn at once.
        if self.state in (READY, EV_PAUSED) and not self.limit_ok:
            self._step("limit_low", now_ms, None)
        # The CP is a level, not an edge: a state entered while the EV already presents C (say)
        # reacts to it at once, as if it had just been seen.
        elif self.cp is not None and self.state != FAULT:
            follow = self._refine("cp_" + self.cp)
            if follow != event and row(self.state, follow) is not None:
                self._step(follow, now_ms, None)

    def _effects(self, before):
        # Outputs as a difference, in a safe order: open before the pilot changes, close after it.
        closed, pilot = before
        effects = []
        if closed and not self.contactor:
            effects.append(("contactor", False))
        if pilot != self.pilot:
            effects.append(("pilot", self.pilot))
        if self.contactor and not closed:
            effects.append(("contactor", True))
        return effects
