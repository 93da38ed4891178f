"""A simulated EV behind the control pilot: the resistor network and a battery, as plain physics.

No clock and no event loop: the plant sets the EV's switches, asks for CP levels and demand, and calls
charge() with the time that passed. Circuit and values from the fact sheet, section 1.1
(shared/reference/standards.md, citing IEC 61851-1 Annex A).
"""

from firmware.pilot import current_for_duty

GENERATOR_MV = 12000  # EVSE generator +/-12 V (fact sheet 1.1)
R1_OHM = 1000.0  # EVSE source resistor (fact sheet 1.1)
R2_OHM = 2740.0  # EV resistor, always on while plugged -> B, 9 V (fact sheet 1.1)
R3_OHM = 1300.0  # switched in by S2, no ventilation -> C, 6 V (fact sheet 1.1)
R3_VENTILATION_OHM = 270.0  # switched in by S2, ventilation required -> D, 3 V (fact sheet 1.1)
DIODE_DROP_MV = 700  # forward drop of the EV's series diode (silicon)

# Taper: a CC/CV-like limit. Full current up to TAPER_KNEE_SOC_PCT, then a straight line down to
# TAPER_FLOOR_A at 100 % SoC. The floor equals the lowest current a PWM duty can offer (6 A), so the EV
# keeps drawing whatever the EVSE offers until it reaches its target and never stalls short of it.
# With the default target of 80 % the knee is never reached.
TAPER_KNEE_SOC_PCT = 85.0
TAPER_FLOOR_A = 6.0

GENERATORS = ("x1", "pwm", "f", "off")


def _parallel(a, b):
    return a * b / (a + b)


def offered_current_a(generator, duty_permille):
    """The current the EV reads from the pilot: the read-side duty table for 'pwm', else 0.0."""
    if generator not in GENERATORS:
        raise ValueError("unknown generator %r" % (generator,))
    if generator != "pwm" or duty_permille is None:
        return 0.0
    return current_for_duty(duty_permille)


class Ev:
    """An EV: plug, switch S2, diode, battery.

    Attributes the plant (or a test) sets: plugged, s2_closed, cp_shorted (fault injection: CP shorted
    to PE), needs_ventilation, diode_ok. Attributes it reads: soc_pct, energy_in_wh.
    Fault knobs (sim/injector.py): overdraw_a (draws this much more than offered), cp_stuck_mv (a
    damaged cable or EV: the CP sits at this level whatever the EVSE drives, e.g. between E and F)."""

    def __init__(self, capacity_kwh=60.0, soc_start_pct=20.0, soc_target_pct=80.0, max_current_a=32.0,
                 phases=3, needs_ventilation=False, diode_ok=True):
        if capacity_kwh <= 0:
            raise ValueError("capacity_kwh must be > 0")
        if not 0.0 <= soc_start_pct <= 100.0 or not 0.0 <= soc_target_pct <= 100.0:
            raise ValueError("SoC values must be within 0..100 %")
        if max_current_a < 0:
            raise ValueError("max_current_a must be >= 0")
        if phases not in (1, 2, 3):
            raise ValueError("phases must be 1, 2 or 3")
        self.capacity_kwh = capacity_kwh
        self.soc_start_pct = soc_start_pct
        self.soc_target_pct = soc_target_pct
        self.max_current_a = max_current_a
        self.phases = phases
        self.needs_ventilation = needs_ventilation
        self.diode_ok = diode_ok
        self.plugged = False
        self.s2_closed = False
        self.cp_shorted = False
        self.overdraw_a = 0.0
        self.cp_stuck_mv = None
        self.soc_pct = soc_start_pct
        self.energy_in_wh = 0.0

    # --- control pilot ---

    def load_ohm(self):
        """Resistance the EV puts between CP and PE (behind the diode); None when unplugged."""
        if not self.plugged:
            return None
        if not self.s2_closed:
            return R2_OHM
        return _parallel(R2_OHM, R3_VENTILATION_OHM if self.needs_ventilation else R3_OHM)

    def _cp_mv(self, source_mv):
        """CP voltage for a constant generator voltage, through R1 into the EV's diode and resistors."""
        load = self.load_ohm()
        if load is None:
            return source_mv  # open circuit: no current through R1
        drop = DIODE_DROP_MV if self.diode_ok else 0  # a failed diode is modelled as shorted
        if self.diode_ok and source_mv <= drop:
            return source_mv  # diode blocks: no current, the CP sits at the generator voltage
        current_ma = (source_mv - drop) / (R1_OHM + load)
        return drop + current_ma * load

    def cp_levels(self, generator, duty_permille=None):
        """The (high_mv, low_mv) plateaus the EVSE's sampler sees.

        generator: 'x1' (+12 V), 'pwm' (1 kHz +/-12 V), 'f' (-12 V) or 'off' (0 V, EVSE unpowered).
        Without PWM both plateaus are the same level. A 'pwm' duty of 1000 permille or more has no low
        phase (reads as 'x1'); a duty of 0 or less has no high phase (reads as 'f')."""
        if generator not in GENERATORS:
            raise ValueError("unknown generator %r" % (generator,))
        if generator == "pwm" and duty_permille is not None:
            if duty_permille >= 1000:
                generator = "x1"
            elif duty_permille <= 0:
                generator = "f"
        if self.cp_stuck_mv is not None:
            return (self.cp_stuck_mv, self.cp_stuck_mv)
        if self.cp_shorted or generator == "off":
            return (0, 0)
        if generator == "x1":
            high = round(self._cp_mv(GENERATOR_MV))
            return (high, high)
        if generator == "f":
            low = round(self._cp_mv(-GENERATOR_MV))
            return (low, low)
        return (round(self._cp_mv(GENERATOR_MV)), round(self._cp_mv(-GENERATOR_MV)))

    # --- battery ---

    @property
    def wants_charge(self):
        return self.plugged and self.soc_pct < self.soc_target_pct

    def taper_limit_a(self):
        """The battery's own current limit at the present SoC (see TAPER_KNEE_SOC_PCT)."""
        if self.soc_pct <= TAPER_KNEE_SOC_PCT:
            return self.max_current_a
        span = 100.0 - TAPER_KNEE_SOC_PCT
        fraction = max(0.0, (100.0 - self.soc_pct) / span)
        limit = TAPER_FLOOR_A + (self.max_current_a - TAPER_FLOOR_A) * fraction
        return min(self.max_current_a, max(TAPER_FLOOR_A, limit))

    def demand_a(self, offered_a):
        """Per-phase current the EV draws with the contactor closed, given the offered current."""
        if not self.s2_closed or not self.wants_charge or offered_a <= 0:
            return 0.0
        if self.overdraw_a:  # a faulty on-board charger: more than offered, whatever its own limits
            return float(offered_a) + self.overdraw_a
        return min(float(offered_a), self.max_current_a, self.taper_limit_a())

    def charge(self, current_a, voltage_v, dt_ms):
        """Put phases * voltage * current for dt_ms into the battery (efficiency taken as 1.0)."""
        if current_a < 0 or voltage_v < 0 or dt_ms < 0:
            raise ValueError("current_a, voltage_v and dt_ms must be >= 0")
        wh = self.phases * voltage_v * current_a * dt_ms / 3_600_000.0
        self.energy_in_wh += wh
        self.soc_pct = min(100.0, self.soc_pct + wh / (self.capacity_kwh * 10.0))  # Wh -> % of capacity
        return wh
