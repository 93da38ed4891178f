# Control pilot (CP): duty cycle <-> current, CP state classification, diode check, debounce.
#
# Sans-I/O: the caller feeds sampled plateaus and the current time; nothing here reads a pin or a clock.
# Units: millivolts and duty in permille (1/1000 of the period), both integers; currents in amps.
# Facts come from the project fact sheet (shared/reference/standards.md section 1), which cites
# IEC 61851-1 Annex A. Portable subset: runs under MicroPython 1.2x.

# --- Duty cycle <-> current (IEC 61851-1 Annex A; fact sheet 1.3) ---

DIGITAL_COMM_PERMILLE = 50  # 5 %: digital communication (ISO 15118 / DIN 70121) required, fact sheet 1.3
NO_CHARGING_PERMILLE = 1000  # "100 %" (X1 / B1, C1, D1): no charging, fact sheet 1.3
MIN_CURRENT_A = 6  # lowest current a duty can offer (D = 10 %), fact sheet 1.3
MAX_CURRENT_A = 80  # highest current a duty can offer (D = 96 %), fact sheet 1.3
LOW_BAND_MAX_MA = 51000  # D = I / 0.6 up to 51 A (85 %), fact sheet 1.3 write side
HIGH_BAND_MIN_MA = 52500  # D = I / 2.5 + 64 from 52.5 A (85 %); 51..52.5 A is the gap clamped to 51 A


def duty_for_current(current_a):
    """The PWM duty in permille that offers at most current_a to the EV; NO_CHARGING_PERMILLE below 6 A."""
    if current_a != current_a:  # NaN: an upstream bug must not turn into an offer
        raise ValueError("current_a is NaN")
    if current_a < MIN_CURRENT_A:
        return NO_CHARGING_PERMILLE
    if current_a > MAX_CURRENT_A:
        current_a = MAX_CURRENT_A
    # Resolve to the milliamp first (float noise such as 10.2 * 1000 = 10199.99...), then do exact
    # integer arithmetic that rounds the duty down, so the EV is never offered more than asked
    # (to the milliamp: an ask of 10.1996 A counts as 10.200 A).
    ma = int(current_a * 1000 + 0.5)
    if ma < HIGH_BAND_MIN_MA:
        ma = min(ma, LOW_BAND_MAX_MA)  # the 51..52.5 A gap: the low formula would overshoot 85 %
        return ma // 60  # D[%] = I / 0.6  ->  D[permille] = I[mA] / 60
    return ma * 4 // 1000 + 640  # D[%] = I / 2.5 + 64  ->  D[permille] = I[mA] * 4 / 1000 + 640


def current_for_duty(duty_permille):
    """The current in amps an EV may draw at this duty (read-side table); 0.0 means no charging."""
    d = duty_permille
    if d < 0 or d > 1000:
        raise ValueError("duty_permille out of 0..1000: %r" % (d,))
    if d < 80 or d > 970:  # < 8 %: none / digital comm; > 97 %: no charging (fact sheet 1.3)
        return 0.0
    if d < 100:  # 8..10 % -> 6 A
        return float(MIN_CURRENT_A)
    if d <= 850:  # 10..85 % -> D * 0.6 (85 % itself reads as 51 A, the lower of the two formulas)
        return d * 60 / 1000
    if d <= 960:  # 85..96 % -> (D - 64) * 2.5
        return (d - 640) * 250 / 1000
    return float(MAX_CURRENT_A)  # 96..97 % -> 80 A


# --- CP state classification (fact sheet 1.2) ---

# Edges between bands on the high plateau, from the top down. Midpoints between nominal levels
# (A 12 V, B 9 V, C 6 V, D 3 V, E 0 V, F -12 V, fact sheet 1.2); the outer edges leave room for the
# +/-5 % generator tolerance (fact sheet 1.1) and reject anything beyond it as INVALID.
INVALID_ABOVE_MV = 13500  # above the A band (11..13 V) plus margin: sampler or wiring fault
A_B_MV = 10500  # midway A 12 V / B 9 V
B_C_MV = 7500  # midway B 9 V / C 6 V
C_D_MV = 4500  # midway C 6 V / D 3 V
D_E_MV = 1500  # midway D 3 V / E 0 V
E_LOW_MV = -1500  # E band is -1..+1 V; between E and F nothing is valid
# F band is -11..-13 V, but an edge at -11 V would leave a -12 V -5 % generator (-11.4 V) only 0.1 V once
# hysteresis moves it; like A, F gets 1.5 V either side of nominal. Beyond either edge: INVALID.
F_HIGH_MV = -10500
F_LOW_MV = -13500
HYSTERESIS_MV = 300  # each edge moves this far away from the present state, so a level on an edge cannot chatter
DIODE_FAULT_ABOVE_MV = -10000  # with PWM in B/C/D the low plateau must reach about -12 V (fact sheet 1.2, TF)

# Debounce: a state must be seen for 30 ms before it counts. That is three readings of a board that
# polls every 10 ms, enough to reject single glitches; with up to one poll (10 ms) of latency the
# detection takes <= 40 ms, inside the <= 50 ms filter that lets the contactor open within 100 ms
# after C->B or unplug (IEC 61851-1 Table A.6 seq. 8.1 / 2.2; fact sheet 1.4).
DEBOUNCE_MS = 30

STATES = ("A", "B", "C", "D", "E", "F")
INVALID = "INVALID"

_EDGES_MV = (INVALID_ABOVE_MV, A_B_MV, B_C_MV, C_D_MV, D_E_MV, E_LOW_MV, F_HIGH_MV, F_LOW_MV)
# Band i lies just above edge i (band 0 above the top edge, the last band below the bottom edge).
_BANDS = (INVALID, "A", "B", "C", "D", "E", INVALID, "F", INVALID)
_BAND_OF = {"A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 7}  # INVALID / None: no hysteresis
_DIODE_STATES = ("B", "C", "D")  # EV resistors present, so the negative half tells about the diode


def classify(high_mv, prev_state=None):
    """The CP state for a high-plateau reading: 'A'..'F' or 'INVALID'.

    prev_state (the confirmed state) widens its own band by HYSTERESIS_MV on each side. For a fixed
    prev_state the edges stay in order, so a higher voltage never gives a state further down A..F."""
    band = _BAND_OF.get(prev_state)
    for i in range(len(_EDGES_MV)):
        edge = _EDGES_MV[i]
        if band is not None:
            edge += -HYSTERESIS_MV if band <= i else HYSTERESIS_MV
        if high_mv > edge:
            return _BANDS[i]
    return _BANDS[-1]


def diode_fault(low_mv):
    """True when the negative plateau is too high for a working EV diode (only meaningful with PWM in B/C/D)."""
    return low_mv > DIODE_FAULT_ABOVE_MV


class _Debounced:
    """A value that changes only after a new candidate has been seen continuously for debounce_ms."""

    def __init__(self, value, debounce_ms):
        self.value = value
        self.debounce_ms = debounce_ms
        self._candidate = None
        self._since_ms = 0
        self._pending = False

    def update(self, seen, now_ms):
        """Feed one observation; True when the confirmed value changed."""
        if seen == self.value:
            self._pending = False
            return False
        if not self._pending or seen != self._candidate:
            self._candidate = seen
            self._since_ms = now_ms
            self._pending = True
        if now_ms - self._since_ms >= self.debounce_ms:
            self.value = seen
            self._pending = False
            return True
        return False

    def deadline(self):
        return self._since_ms + self.debounce_ms if self._pending else None


class PilotReader:
    """Debounced CP state and diode check, fed with (high_mv, low_mv) samples by the caller.

    state: None until the first confirmed state, then 'A'..'F' or 'INVALID'.
    diode_ok: False once a missing/shorted EV diode has been confirmed; it is re-checked whenever PWM
    runs in B/C/D, returns to True in state A (no EV), and otherwise keeps its last value, since without
    a negative phase there is nothing to measure."""

    def __init__(self, debounce_ms=DEBOUNCE_MS):
        if debounce_ms < 0:
            raise ValueError("debounce_ms must be >= 0")
        self._state = _Debounced(None, debounce_ms)
        self._diode = _Debounced(True, debounce_ms)

    @property
    def state(self):
        return self._state.value

    @property
    def diode_ok(self):
        return self._diode.value

    def feed(self, high_mv, low_mv, now_ms, pwm_on):
        """Take one sample at now_ms; True when state or diode_ok changed."""
        seen = classify(high_mv, self._state.value)
        if pwm_on and seen in _DIODE_STATES:
            diode_seen = not diode_fault(low_mv)
        elif seen == "A":
            diode_seen = True
        else:
            diode_seen = self._diode.value
        state_changed = self._state.update(seen, now_ms)
        diode_changed = self._diode.update(diode_seen, now_ms)  # both updated on every sample
        return state_changed or diode_changed

    def next_deadline(self):
        """now_ms at which a pending change is confirmed if readings stay the same; None if none pending."""
        a = self._state.deadline()
        b = self._diode.deadline()
        if a is None:
            return b
        if b is None:
            return a
        return min(a, b)
