# The fault catalogue: every fault the charger can meet, what it does to charging, how it clears, and
# how it is reported over OCPP. Faults are data (docs/architecture.md, "Faults are data"); the code that
# detects a fault only names it, and FaultLatches below decides when it may clear.
#
# Severity:
#   WARNING  - charging goes on, derated or just reported (StatusNotification errorCode, status unchanged)
#   ERROR    - the session stops and the connector is inoperative (Faulted) until the fault clears
#   CRITICAL - emergency shutdown: the safety node opens the contactor on its own at once, then as ERROR
# Latch (when an active fault may clear, once its condition is gone):
#   SELF   - at once
#   UNPLUG - after the EV was unplugged (CP A seen since the fault was raised)
#   RESET  - after an explicit reset (OCPP Reset or the maintenance input)
#   RETRY  - after the backoff time, or at unplug; after `cap` trips in a row only a RESET clears it
WARNING = "warning"
ERROR = "error"
CRITICAL = "critical"
SELF = "self"
UNPLUG = "unplug"
RESET = "reset"
RETRY = "retry"

GFI_RETRY_MS = 300000  # OpenEVSE: after a GFI or no-ground trip retry every 5 min ...
GFI_RETRY_CAP = 6  # ... at most 6 times, then hard fault (fact sheet 2 and anchor-embedded 2)
OVERVOLTAGE_RETRY_MS = 60000  # ADI latches over-voltage; we retry a few times so one surge is not fatal
OVERVOLTAGE_RETRY_CAP = 3

# One row per fault code: severity, latch, retry backoff (s) and cap (RETRY only: RCD AC and PE loss
# GFI_RETRY_MS / GFI_RETRY_CAP, over-voltage OVERVOLTAGE_RETRY_MS / _CAP), the OCPP 1.6 errorCode, which
# node detects it; _TEXT has its description (the StatusNotification info). The node matters for the
# safety link: "safety" faults travel in its report as bits, in SAFETY_CODES order.
# Text, not a dict of tuples: on MicroPython that took ~6 KB more heap (issue #4). Rows are found by
# _entry(); catalogue() gives them all as a dict for tools and tests.
_ROWS = """
# code               severity latch  retry  cap errorCode          node
rcd_ac               critical retry  300    6   GroundFailure      safety
rcd_dc               critical reset  0      0   GroundFailure      safety
rcd_selftest         error    self   0      0   GroundFailure      safety
pe_loss              critical retry  300    6   GroundFailure      safety
estop                critical reset  0      0   OtherError         safety
contactor_welded     critical reset  0      0   PowerSwitchFailure safety
over_temperature     error    self   0      0   HighTemperature    safety
temp_sensor          error    self   0      0   OtherError         safety
link_lost            critical unplug 0      0   InternalError      safety
contactor_stuck_open error    unplug 0      0   PowerSwitchFailure main
temp_derate          warning  self   0      0   HighTemperature    main
overcurrent          error    unplug 0      0   OverCurrentFailure main
pilot_diode          error    unplug 0      0   OtherError         main
pilot_short          error    self   0      0   OtherError         main
pilot_invalid        error    self   0      0   OtherError         main
grid_undervoltage    error    self   0      0   UnderVoltage       main
grid_overvoltage     error    retry  60     3   OverVoltage        main
meter_silent         error    self   0      0   PowerMeterFailure  main
meter_stale          error    self   0      0   PowerMeterFailure  main
safety_lost          error    self   0      0   InternalError      main
"""
_TEXT = """
rcd_ac               residual current, AC (30 mA class)
rcd_dc               residual current, smooth DC (6 mA, IEC 62955); latched until reset like TF's DC faults
rcd_selftest         residual current monitor failed its self-test; clears when a later test passes
pe_loss              protective earth missing
estop                emergency stop pressed
contactor_welded     contactor feedback closed while commanded open; never closed again until reset
over_temperature     a temperature above its stop threshold; clears below the restore threshold
temp_sensor          a temperature sensor reads open or short
link_lost            safety node: no heartbeat from the main controller; opened and latched
contactor_stuck_open contactor feedback open while commanded closed
temp_derate          hot: current derated
overcurrent          the EV draws more than offered beyond the margin for longer than the grace time
pilot_diode          control pilot: EV diode missing
pilot_short          control pilot shorted to PE (state E)
pilot_invalid        control pilot voltage outside every band
grid_undervoltage    supply voltage below 195 V
grid_overvoltage     supply voltage above 264 V
meter_silent         the energy meter does not answer
meter_stale          the energy meter answers but its energy register does not follow its power
safety_lost          no heartbeat from the safety node
"""
CODES = (
    "rcd_ac", "rcd_dc", "rcd_selftest", "pe_loss", "estop", "contactor_welded", "over_temperature",
    "temp_sensor", "link_lost", "contactor_stuck_open", "temp_derate", "overcurrent", "pilot_diode",
    "pilot_short", "pilot_invalid", "grid_undervoltage", "grid_overvoltage", "meter_silent", "meter_stale",
    "safety_lost",
)  # in catalogue order: worst() breaks ties by it

# Safety-node faults in a fixed order: bit i of the report's fault mask is SAFETY_CODES[i].
SAFETY_CODES = ("rcd_ac", "rcd_dc", "rcd_selftest", "pe_loss", "estop", "contactor_welded",
                "over_temperature", "temp_sensor", "link_lost")

# OCPP 1.6 StopTransaction reason when a fault ends a transaction (Reason enum); default "Other".
STOP_REASON = {"estop": "EmergencyStop"}


def _entry(code):
    """(severity, latch, retry_ms, retry_cap, OCPP 1.6 errorCode, node, description) of a code."""
    at = _ROWS.find("\n" + code + " ") if isinstance(code, str) else -1
    if at < 0 or code not in CODES:
        raise KeyError("unknown fault code %r" % (code,))
    cells = _ROWS[at + 1:_ROWS.find("\n", at + 1)].split()
    at = _TEXT.find("\n" + code + " ")
    text = _TEXT[at + 1 + len(code):_TEXT.find("\n", at + 1)].strip()
    return cells[1], cells[2], int(cells[3]) * 1000, int(cells[4]), cells[5], cells[6], text


def catalogue():
    """{code: _entry(code)} for every code (tools, docs and tests; CODES has the order)."""
    return {code: _entry(code) for code in CODES}


def severity(code):
    return _entry(code)[0]


def ocpp16_error(code):
    return _entry(code)[4]


def description(code):
    return _entry(code)[6]


def stop_reason(code):
    return STOP_REASON.get(code, "Other")


def worst(codes):
    """The code to report first: the most severe, then the first in catalogue order."""
    rank = {CRITICAL: 0, ERROR: 1, WARNING: 2}
    best = None
    for code in CODES:
        if code in codes and (best is None or rank[severity(code)] < rank[severity(best)]):
            best = code
    return best


def pack(codes):
    """Safety faults as a bit mask (for the safety link's report)."""
    mask = 0
    for i, code in enumerate(SAFETY_CODES):
        if code in codes:
            mask |= 1 << i
    return mask


def unpack(mask):
    return [code for i, code in enumerate(SAFETY_CODES) if mask & (1 << i)]


class FaultLatches:
    """Which faults are active, by the catalogue's latch rules. Sans-I/O: the owner reports conditions
    (raise_/gone), unplugs and resets with the time, and learns which codes became active or cleared.

    A fault is active from raise_() until its condition is gone AND its latch rule allows it to clear."""

    def __init__(self):
        self.active = {}  # code -> [condition present, raised at ms, unplugged since, reset since]
        self.trips = {}  # code -> trips in a row (RETRY); cleared by unplug or reset

    def is_active(self, code):
        return code in self.active

    def codes(self):
        return list(self.active)

    def raise_(self, code, now_ms):
        """The condition is present. Returns True if the fault just became active."""
        _entry(code)
        state = self.active.get(code)
        if state is not None:
            state[0] = True
            return False
        self.active[code] = [True, now_ms, False, False]
        self.trips[code] = self.trips.get(code, 0) + 1
        return True

    def gone(self, code, now_ms):
        """The condition went away. Returns True if the fault cleared now."""
        state = self.active.get(code)
        if state is None:
            return False
        state[0] = False
        return self._try_clear(code, now_ms)

    def unplugged(self, now_ms):
        """CP A was seen: UNPLUG and RETRY latches may clear; RETRY counts start again."""
        for code in self.active:
            self.active[code][2] = True
        for code in list(self.trips):
            if _entry(code)[1] == RETRY:
                del self.trips[code]
        return self._sweep(now_ms)

    def reset(self, now_ms):
        """An explicit reset clears the latched faults whose condition is gone. A reset while the
        condition is still present does nothing for it (ISO 13850: an emergency stop is reset only
        after it was released)."""
        for code in self.active:
            if not self.active[code][0]:
                self.active[code][3] = True
        self.trips = {}
        return self._sweep(now_ms)

    def poll(self, now_ms):
        """Codes whose RETRY backoff ran out (and whose condition is gone)."""
        return self._sweep(now_ms)

    def next_deadline(self):
        """When a RETRY backoff runs out next, or None."""
        best = None
        for code, state in self.active.items():
            latch, retry_ms, cap = _entry(code)[1:4]
            if latch == RETRY and not state[0] and self.trips.get(code, 0) <= cap:
                due = state[1] + retry_ms  # poll() clears it then: never a deadline in the past twice
                best = due if best is None or due < best else best
        return best

    def _sweep(self, now_ms):
        return [code for code in list(self.active) if not self.active[code][0] and self._try_clear(code, now_ms)]

    def _try_clear(self, code, now_ms):
        present, raised_ms, unplugged, reset = self.active[code]
        _, latch, retry_ms, cap = _entry(code)[:4]
        if present:
            return False
        if latch == SELF or reset:
            ok = True
        elif latch == UNPLUG:
            ok = unplugged
        elif latch == RETRY:
            ok = unplugged or (self.trips.get(code, 0) <= cap and now_ms >= raised_ms + retry_ms)
        else:
            ok = False
        if ok:
            del self.active[code]
        return ok
