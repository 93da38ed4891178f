# Temperatures: PT1000 resistance to degrees, broken-sensor detection, and the derating steps.
#
# Each sensor walks through steps FULL -> HALF -> QUARTER -> STOP as it heats, and back with a
# hysteresis (OpenEVSE's scheme, fact sheet 3). The main controller derates the offered current from
# the step; the safety node stops on its own at STOP.

# IEC 60751 platinum RTD: R(t) = R0 (1 + A t + B t^2) for t >= 0 C (also used below 0: the error
# there is < 0.2 K down to -40 C, well within what derating needs).
R0_OHMS = 1000.0
A = 3.9083e-3
B = -5.775e-7
OPEN_OHMS = 1900.0  # ~ 240 C: no real reading; a broken wire or a loose connector
SHORT_OHMS = 780.0  # ~ -56 C: below any rated ambient; a shorted sensor or cable

FULL, HALF, QUARTER, STOP = 0, 1, 2, 3
HYSTERESIS_C = 3.0  # OpenEVSE ambient: half current at 65 C, restored at 62 C

# Where the sensor sits: (half at, quarter at, stop at), degrees C.
THRESHOLDS_C = {
    "ambient": (65.0, 68.0, 71.0),  # OpenEVSE ambient sensor steps (open_evse.h)
    "power_path": (75.0, 80.0, 85.0),  # relay and terminals on the board: vendor choice, below 90 C
    "connector": (70.0, 80.0, 90.0),  # IEC 62196-1: 50 K terminal rise over 40 C ambient = 90 C
}


def celsius(ohms):
    """Temperature of a PT1000 from its resistance. Raises ValueError for an open or shorted sensor."""
    if ohms is None or ohms != ohms:
        raise ValueError("no reading")
    if ohms >= OPEN_OHMS:
        raise ValueError("sensor open (%d ohm)" % ohms)
    if ohms <= SHORT_OHMS:
        raise ValueError("sensor short (%d ohm)" % ohms)
    # Solve B t^2 + A t + (1 - R/R0) = 0 for the root near A t.
    c = 1.0 - ohms / R0_OHMS
    return (-A + (A * A - 4.0 * B * c) ** 0.5) / (2.0 * B)


def ohms(celsius_c):
    """PT1000 resistance at a temperature (the simulated sensor uses this)."""
    return R0_OHMS * (1.0 + A * celsius_c + B * celsius_c * celsius_c)


def step(place, temp_c, previous):
    """The derating step for one sensor now, given its step before (hysteresis on the way down)."""
    limits = THRESHOLDS_C.get(place, THRESHOLDS_C["ambient"])
    new = FULL
    for i in range(3):
        if temp_c >= limits[i]:
            new = i + 1
    if new >= previous:
        return new
    level = previous  # on the way down, leave each step only once cooled below its threshold - hysteresis
    while level > new and temp_c < limits[level - 1] - HYSTERESIS_C:
        level -= 1
    return level


def derated_a(limit_a, worst_step, min_a=6.0):
    """The current to offer at a derating step (never below 6 A, the least a PWM can offer)."""
    if worst_step == HALF:
        return max(limit_a / 2.0, min(limit_a, min_a))
    if worst_step == QUARTER:
        return max(limit_a / 4.0, min(limit_a, min_a))
    if worst_step == STOP:
        return 0.0
    return limit_a


class Thermal:
    """Steps of several sensors with hysteresis. update() takes {place: ohms} and returns
    (worst step, [places with a broken sensor], {place: celsius or None}); update_c() takes celsius."""

    def __init__(self):
        self.steps = {}

    def update(self, readings):
        temps = {}
        for place in readings:
            try:
                temps[place] = celsius(readings[place])
            except ValueError:
                temps[place] = None
        return self.update_c(temps)

    def update_c(self, temps):
        """The same from temperatures ({place: celsius, or None for a broken sensor})."""
        broken = []
        worst = FULL
        for place in temps:
            temp_c = temps[place]
            if temp_c is None:
                broken.append(place)
                continue
            self.steps[place] = step(place, temp_c, self.steps.get(place, FULL))
            worst = max(worst, self.steps[place])
        return worst, broken, temps
