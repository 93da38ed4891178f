# The control pilot on a board: the 1 kHz +/-12 V generator and the CP sampler (IEC 61851-1 Annex A;
# fact sheet standards.md section 1).
#
# The MCU drives an op-amp that swings the CP line between +12 V and -12 V behind R1 (1 kOhm); a
# resistor network brings the CP voltage (-12..+12 V) into the ADC's range. The sampler reports the
# two plateaus of the square wave in CP millivolts: the high one gives the state (A..F), the low one
# shows the EV's diode (it must reach about -12 V while PWM runs). Without PWM both are the same level.
# Portable subset; machine/pyb objects are passed in (see hal/machine_hal.py).
import asyncio
from array import array

from hal.machine_hal import default_time

PWM_FREQ_HZ = 1000  # fact sheet 1.1: 1 kHz, accepted 980..1020 Hz
PERIOD_US = 1000000 // PWM_FREQ_HZ
DUTY_FULL = 65535  # duty_u16 of a constant high output


class PwmPilotOut:  # hal.interfaces.PilotOut
    """The pilot generator over any PWM with duty_u16() (machine.PWM, or TimerSampler on STM32).

    duty_u16 = duty_permille * 65535 // 1000, rounded down: the EV reads a current of at most the
    one asked for (I = D x 0.6 A), and the error is under 1/65535 of a period (15 ns at 1 kHz).
    Starts in X1 (+12 V), the state a board comes up in."""

    def __init__(self, pwm):
        self._pwm = pwm
        self.duty_u16 = None
        self.x1()

    def x1(self):
        self._set(DUTY_FULL)

    def f(self):
        self._set(0)

    def pwm(self, duty_permille):
        if type(duty_permille) is not int or not 0 <= duty_permille <= 1000:
            raise ValueError("duty_permille must be an int in 0..1000, not %r" % (duty_permille,))
        self._set(duty_permille * DUTY_FULL // 1000)

    def _set(self, duty_u16):
        self.duty_u16 = duty_u16
        self._pwm.duty_u16(duty_u16)


def plateaus(samples, count, window):
    """(high, low): the mean of the samples within `window` of the largest one, and of those within
    `window` of the smallest one, among samples[:count]. One level (mean of all) if they span less."""
    top = bottom = samples[0]
    for i in range(1, count):
        value = samples[i]
        if value > top:
            top = value
        elif value < bottom:
            bottom = value
    if top - bottom <= window:
        total = 0
        for i in range(count):
            total += samples[i]
        return total / count, total / count
    high_sum = high_n = low_sum = low_n = 0
    for i in range(count):
        value = samples[i]
        if value >= top - window:
            high_sum += value
            high_n += 1
        elif value <= bottom + window:
            low_sum += value
            low_n += 1
    return high_sum / high_n, low_sum / low_n


class BurstSampler:
    """ESP32: MicroPython has no LEDC -> ADC trigger, so read the ADC as fast as it goes for burst_us
    (at least two PWM periods, so even a 10 % duty shows a few high samples) and take the top and
    bottom clusters (plateaus(), window_mv wide in CP millivolts; edge samples fall between them).
    A reading younger than max_age_ms is shared, so the main controller's and the safety node's views
    cost one burst."""

    def __init__(self, adc_in, divider, time_module=None, burst_us=2 * PERIOD_US + 200, max_samples=200,
                 window_mv=1500, max_age_ms=5):
        if burst_us < 2 * PERIOD_US:
            raise ValueError("burst_us must cover two PWM periods (%d us), not %r" % (2 * PERIOD_US, burst_us))
        self.adc_in = adc_in
        self.divider = divider
        self._time = time_module or default_time()
        self.burst_us = burst_us
        self.max_age_ms = max_age_ms
        self._buf = array("i", [0] * max_samples)
        # window in raw ADC units: CP mV -> ADC mV (gain) -> raw
        self._window = window_mv * divider.gain * 1000 / adc_in.uv_per_raw
        self._levels = None
        self._at_ms = 0
        self.samples = 0  # how many the last burst took (bring-up: at least ~40 for 10 % duty)

    def levels(self):
        t = self._time
        now = t.ticks_ms()
        if self._levels is not None and t.ticks_diff(now, self._at_ms) < self.max_age_ms:
            return self._levels
        buf = self._buf
        read = self.adc_in.raw
        size = len(buf)
        start = t.ticks_us()
        count = 0
        while count < size:
            buf[count] = read()
            count += 1
            if t.ticks_diff(t.ticks_us(), start) >= self.burst_us:
                break
        self.samples = count
        high, low = plateaus(buf, count, self._window)
        mv = self.adc_in.mv
        self._levels = (self.divider.cp_mv(mv(high)), self.divider.cp_mv(mv(low)))
        self._at_ms = t.ticks_ms()
        return self._levels


def compare_points(pulse, period):
    """Timer counts at which to sample the high phase (its middle) and the low phase (its middle),
    kept inside the period: with no low phase (X1) both land on high, with no high phase (F) on low."""
    high_at = min(max(pulse // 2, 1), period - 1)
    low_at = min(max((pulse + period + 1) // 2, 1), period - 1)
    return high_at, low_at


class TimerSampler:
    """STM32: the pilot PWM and its sampling on one pyb.Timer, so they stay in step. Channel
    pwm_channel drives the pilot pin; two more channels in OC_TIMING mode (no pin) fire a compare
    IRQ in the middle of the high phase and of the low phase, and their callbacks read the ADC into
    preallocated rings of `window` samples (hard IRQ: no allocation, only small ints and array
    stores). levels() averages the rings. duty_u16() makes it the PWM of a PwmPilotOut."""

    def __init__(self, pyb, adc_in, divider, timer_id, pwm_channel, pwm_pin, high_channel, low_channel,
                 window=8, inverted=False):
        timer_cls = pyb.Timer
        self.adc_in = adc_in
        self.divider = divider
        self.timer = timer_cls(timer_id, freq=PWM_FREQ_HZ)
        self.period = self.timer.period()  # the counter runs 0..period
        first = adc_in.raw()
        self._high = array("H", [first] * window)
        self._low = array("H", [first] * window)
        self._n = window
        self._high_i = 0
        self._low_i = 0
        self._read = adc_in.raw
        mode = timer_cls.PWM_INVERTED if inverted else timer_cls.PWM
        full = self.period + 1
        self.pwm_channel = self.timer.channel(pwm_channel, mode, pin=pwm_pin, pulse_width=full)
        high_at, low_at = compare_points(full, self.period)
        self.high_channel = self.timer.channel(high_channel, timer_cls.OC_TIMING, compare=high_at,
                                               callback=self._on_high)
        self.low_channel = self.timer.channel(low_channel, timer_cls.OC_TIMING, compare=low_at,
                                              callback=self._on_low)

    def duty_u16(self, value):
        pulse = value * (self.period + 1) // DUTY_FULL
        self.pwm_channel.pulse_width(pulse)
        high_at, low_at = compare_points(pulse, self.period)
        self.high_channel.compare(high_at)
        self.low_channel.compare(low_at)

    def _on_high(self, _timer):  # hard IRQ
        i = self._high_i
        self._high[i] = self._read()
        i += 1
        self._high_i = 0 if i == self._n else i

    def _on_low(self, _timer):  # hard IRQ
        i = self._low_i
        self._low[i] = self._read()
        i += 1
        self._low_i = 0 if i == self._n else i

    def levels(self):
        mv = self.adc_in.mv
        cp_mv = self.divider.cp_mv
        return (cp_mv(mv(sum(self._high) / self._n)), cp_mv(mv(sum(self._low) / self._n)))


class SampledPilotIn:  # hal.interfaces.PilotIn
    """hal PilotIn over a sampler: wait() polls every poll_ms and returns once either plateau moved more
    than noise_mv from the levels last handed out, or at timeout_ms. noise_mv stays well under the
    300 mV hysteresis and 3 V spacing of the CP bands (firmware/pilot.py), so no real change is missed
    and ADC noise wakes nobody."""

    def __init__(self, sampler, clock, noise_mv=200, poll_ms=10):
        self.sampler = sampler
        self.clock = clock
        self.noise_mv = noise_mv
        self.poll_ms = poll_ms
        self._given = None

    def read(self):
        self._given = self.sampler.levels()
        return self._given

    def _moved(self, levels):
        given = self._given
        return (given is None or abs(levels[0] - given[0]) > self.noise_mv
                or abs(levels[1] - given[1]) > self.noise_mv)

    async def wait(self, timeout_ms):
        deadline = self.clock.ms() + timeout_ms
        polls = timeout_ms // self.poll_ms + 1  # also bounds the wait when the clock stands still (tests)
        while True:
            levels = self.sampler.levels()
            if self._moved(levels):
                break
            left_ms = deadline - self.clock.ms()
            if left_ms <= 0 or polls <= 0:
                break
            polls -= 1
            await asyncio.sleep(min(self.poll_ms, left_ms) / 1000)
        self._given = levels
        return levels
