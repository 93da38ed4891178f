# A fake `pyb` for the STM32 board: Timer and its channels. Goes with tests/board/fakes.py's machine.


class _Namespace:
    pass


def make_pyb(machine, period=83999):
    """A fake pyb with Timer and its channels. run(periods) fires the OC_TIMING callbacks in compare
    order with the fake clock at the compare's point in the period, so ADC waveforms line up."""
    p = _Namespace()
    p.timers = {}

    class Timer(FakeTimer):
        pass

    Timer.machine = machine
    Timer.registry = p.timers
    Timer.PERIOD = period
    p.Timer = Timer
    return p


class FakeTimer:
    PWM, PWM_INVERTED, OC_TIMING = 0, 1, 2
    machine = None
    registry = None
    PERIOD = 83999

    def __init__(self, timer_id, freq=None):
        self.id = timer_id
        self.freq = freq
        self.channels = {}
        self.registry[timer_id] = self

    def period(self):
        return self.PERIOD

    def channel(self, number, mode, pin=None, pulse_width=None, compare=None, callback=None):
        ch = FakeChannel(mode, pin, pulse_width if mode != self.OC_TIMING else compare, callback)
        self.channels[number] = ch
        return ch

    def pwm_fraction(self):
        for ch in self.channels.values():
            if ch.mode != self.OC_TIMING:
                return ch.value / (self.PERIOD + 1)
        raise ValueError("no PWM channel")

    def run(self, periods=1, period_us=1000):
        t = self.machine.time
        for _ in range(periods):
            start = t.us
            timing = [ch for ch in self.channels.values() if ch.mode == self.OC_TIMING and ch.cb is not None]
            timing.sort(key=lambda ch: ch.value)
            for ch in timing:
                t.us = start + ch.value * period_us // (self.PERIOD + 1)
                ch.cb(self)
            t.us = start + period_us


class FakeChannel:
    def __init__(self, mode, pin, value, cb):
        self.mode = mode
        self.pin = pin
        self.value = value
        self.cb = cb
        self.history = [value]

    def pulse_width(self, value=None):
        if value is None:
            return self.value
        self.value = value
        self.history.append(value)

    def compare(self, value=None):
        return self.pulse_width(value)
