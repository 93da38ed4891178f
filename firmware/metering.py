# Judging the meter's readings: is the meter there, is it alive, is the grid within limits, does the EV
# take more than offered. Sans-I/O: feed() takes one poll's outcome and returns the conditions, by fault
# code (firmware/faults.py), that are present now; the charger turns them into faults.

SILENT_MS = 10000  # no good reading this long: meter_silent (SmartEVSE gives its EV meter 11 s)
STALE_WINDOW_MS = 30000  # judge the energy register over this long while power flows ...
STALE_MIN_W = 500.0  # ... at least this much power (below it the register moves too little to judge)
STALE_FRACTION = 0.5  # energy must rise by at least half of what the meter's own power implies
UNDERVOLTAGE_V = 195.0  # 230 V -15 % (ADI reference design, fact sheet 3)
OVERVOLTAGE_V = 264.0  # 230 V +15 %
VOLTAGE_HYSTERESIS_V = 5.0
OVERCURRENT_FACTOR = 1.10  # EVerest soft over-current: (offered + 0.5 A) x 1.10 ...
OVERCURRENT_MARGIN_A = 0.5
OVERCURRENT_GRACE_MS = 7000  # ... for 7 s; longer than the 5 s an EV has to follow a lower duty


class MeterWatch:
    def __init__(self):
        self.last_good_ms = None
        self.conditions = {"meter_silent": False, "meter_stale": False, "grid_undervoltage": False,
                           "grid_overvoltage": False, "overcurrent": False}
        self._window = None  # (start ms, start Wh, sum of power x ms)
        self._over_since = None

    def feed(self, reading, now_ms, offered_a, drawing_allowed):
        """reading: a firmware.meter.MeterReading, or None when the poll failed. offered_a: what the PWM
        offers now (0 when nothing); drawing_allowed: the contactor is meant to be closed."""
        c = self.conditions
        if self.last_good_ms is None:
            self.last_good_ms = now_ms  # the boot counts as the start of the silence
        if reading is None:
            c["meter_silent"] = now_ms - self.last_good_ms >= SILENT_MS
            return c
        self.last_good_ms = now_ms
        c["meter_silent"] = False
        self._judge_voltage(reading.voltage_v)
        self._judge_energy(reading, now_ms)
        self._judge_current(reading.current_a, now_ms, offered_a, drawing_allowed)
        return c

    def _judge_voltage(self, volts):
        c = self.conditions
        low = min(volts)
        high = max(volts)
        if c["grid_undervoltage"]:
            c["grid_undervoltage"] = low < UNDERVOLTAGE_V + VOLTAGE_HYSTERESIS_V
        else:
            c["grid_undervoltage"] = low < UNDERVOLTAGE_V
        if c["grid_overvoltage"]:
            c["grid_overvoltage"] = high > OVERVOLTAGE_V - VOLTAGE_HYSTERESIS_V
        else:
            c["grid_overvoltage"] = high > OVERVOLTAGE_V

    def _judge_energy(self, reading, now_ms):
        # A frozen meter repeats its last values: power says energy flows, the register says it does not.
        if reading.power_w < STALE_MIN_W:
            self._window = None
            self.conditions["meter_stale"] = False
            return
        if self._window is None:
            self._window = [now_ms, reading.energy_wh, 0.0, now_ms, reading.power_w]
            return
        start_ms, start_wh, power_wms, last_ms, last_w = self._window
        power_wms += last_w * (now_ms - last_ms)
        self._window = [start_ms, start_wh, power_wms, now_ms, reading.power_w]
        if now_ms - start_ms >= STALE_WINDOW_MS:
            expected_wh = power_wms / 3600000.0
            self.conditions["meter_stale"] = reading.energy_wh - start_wh < STALE_FRACTION * expected_wh
            self._window = [now_ms, reading.energy_wh, 0.0, now_ms, reading.power_w]

    def _judge_current(self, amps, now_ms, offered_a, drawing_allowed):
        limit_a = (offered_a + OVERCURRENT_MARGIN_A) * OVERCURRENT_FACTOR
        if drawing_allowed and max(amps) > limit_a:
            if self._over_since is None:
                self._over_since = now_ms
            self.conditions["overcurrent"] = now_ms - self._over_since >= OVERCURRENT_GRACE_MS
        else:
            self._over_since = None
            self.conditions["overcurrent"] = False
