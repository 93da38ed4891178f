# A fake `machine` (and the ticks part of `time`; `pyb` is in fake_pyb.py) for testing the board HAL without a board,
# under pytest and under the micropython binary. Passed in by dependency injection: the unix port's
# built-in `machine` would shadow a module of that name.
#
# It records what it is asked (pins set, PWM frequency and duty_u16, UART bytes, WDT feeds) in
# `log`, and plays back ADC input: a recorded list of millivolts, a constant, or a waveform of time
# (the CP square wave an EV makes, in step with the fake PWM's duty). Every ADC read takes
# `read_us` of fake time, as a real conversion does.
import time as _time

PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5


class FakeTime:
    """ticks_ms/ticks_us/ticks_diff with MicroPython's wrap-around, on a fake microsecond counter."""

    def __init__(self, period=1 << 30, start_us=0, epoch_s=1767225600):  # 2026-01-01T00:00:00Z
        self.period = period
        self.us = start_us
        self.epoch_s = epoch_s

    def ticks_us(self):
        return self.us % self.period

    def ticks_ms(self):
        return (self.us // 1000) % self.period

    def ticks_diff(self, a, b):
        half = self.period // 2
        return (a - b + half) % self.period - half

    def ticks_add(self, a, delta):
        return (a + delta) % self.period

    def advance_ms(self, ms):
        self.us += ms * 1000

    def sleep_us(self, us):
        self.us += us

    def time(self):
        return self.epoch_s + self.us // 1000000

    def gmtime(self, secs=None):
        return _time.gmtime(self.time() if secs is None else secs)


def make_machine(time=None, valid_pins=None, cause=PWRON_RESET, read_us=23, full_scale_mv=3300):
    """A fresh fake machine module (a namespace object). valid_pins: ids Pin() accepts (None: any)."""
    m = _Namespace()
    m.time = time or FakeTime()
    m.log = []  # ("pin", id, level) / ("pwm", id, duty_u16) / ("uart", id, bytes) / ("wdt", ...)
    m.pins = {}  # id -> the last FakePin made for it
    m.wire = {}  # id -> the level the outside world holds an input at (read when a Pin is made)
    m.pwms = {}  # pin id -> FakePWM
    m.adcs = {}  # pin id -> FakeADC
    m.uarts = {}  # uart id -> FakeUART
    m.wdts = []
    m.rtc_datetime = None
    m.PWRON_RESET, m.HARD_RESET, m.WDT_RESET = PWRON_RESET, HARD_RESET, WDT_RESET
    m.DEEPSLEEP_RESET, m.SOFT_RESET = DEEPSLEEP_RESET, SOFT_RESET
    m.cause = cause
    m.reset_cause = lambda: m.cause
    m.unique_id = lambda: b"\x24\x0a\xc4\x12\x34\x56"

    class Pin(FakePin):
        machine = m
        valid = valid_pins

    class PWM(FakePWM):
        machine = m

    class ADC(FakeADC):
        machine = m
        READ_US = read_us
        FULL_SCALE_MV = full_scale_mv

    class UART(FakeUART):
        machine = m

    class WDT(FakeWDT):
        machine = m

    class RTC:
        def datetime(self, value=None):
            if value is None:
                return m.rtc_datetime
            m.rtc_datetime = value

    m.Pin, m.PWM, m.ADC, m.UART, m.WDT, m.RTC = Pin, PWM, ADC, UART, WDT, RTC
    return m


class _Namespace:
    pass


class FakePin:
    IN, OUT, OPEN_DRAIN = 1, 3, 7
    PULL_UP, PULL_DOWN = 1, 2
    IRQ_RISING, IRQ_FALLING = 1, 2
    machine = None
    valid = None

    def __init__(self, pin_id, mode=-1, pull=None, value=None):
        if self.valid is not None and pin_id not in self.valid:
            raise ValueError("invalid pin")
        self.id = pin_id
        self.mode = mode
        self.pull = pull
        if value is not None:
            self.level = value
        elif pin_id in self.machine.wire:
            self.level = self.machine.wire[pin_id]
        else:
            self.level = 1 if pull == self.PULL_UP else 0
        self.handler = None
        self.trigger = 0
        self.machine.pins[pin_id] = self

    def value(self, level=None):
        if level is None:
            return self.level
        self.level = level
        self.machine.log.append(("pin", self.id, level))

    def irq(self, handler=None, trigger=3, hard=False):
        self.handler = handler
        self.trigger = trigger

    def drive(self, level):
        """The outside world sets an input's level (edges fire the IRQ like a real pin)."""
        if level == self.level:
            return
        self.level = level
        edge = self.IRQ_RISING if level else self.IRQ_FALLING
        if self.handler is not None and self.trigger & edge:
            self.handler(self)


class FakePWM:
    machine = None

    def __init__(self, pin, freq=None, duty_u16=None, invert=False):
        self.pin = pin
        self.freqs = []
        self.duties = []
        self.invert = invert
        if freq is not None:
            self.freq(freq)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)
        self.machine.pwms[pin.id] = self

    def freq(self, hz=None):
        if hz is None:
            return self.freqs[-1]
        self.freqs.append(hz)

    def duty_u16(self, value=None):
        if value is None:
            return self.duties[-1]
        if not 0 <= value <= 65535:
            raise ValueError("duty_u16 out of range")
        self.duties.append(value)
        self.machine.log.append(("pwm", self.pin.id, value))

    def duty_fraction(self):
        return self.duties[-1] / 65535


class FakeADC:
    ATTN_0DB, ATTN_2_5DB, ATTN_6DB, ATTN_11DB = 0, 1, 2, 3
    machine = None
    READ_US = 23
    FULL_SCALE_MV = 3300

    def __init__(self, pin, atten=None):
        self.pin = pin
        self.atten = atten
        self.reads = 0
        self._samples = None
        self._i = 0
        self._wave = None
        self._mv = 0
        self.machine.adcs[pin.id] = self

    def play(self, samples_mv):
        """Play back recorded samples (ADC millivolts), one per read, round and round."""
        self._samples = list(samples_mv)
        self._i = 0
        self._wave = None

    def wave(self, fn):
        """fn(t_us) -> ADC millivolts at fake time t_us."""
        self._wave = fn
        self._samples = None

    def level(self, mv):
        self._mv = mv
        self._samples = self._wave = None

    def _next_mv(self):
        self.reads += 1
        t = self.machine.time
        now = t.us
        t.us += self.READ_US  # a conversion takes time
        if self._samples is not None:
            mv = self._samples[self._i % len(self._samples)]
            self._i += 1
            return mv
        if self._wave is not None:
            return self._wave(now)
        return self._mv

    def read_u16(self):
        mv = self._next_mv()
        return max(0, min(65535, int(mv * 65535 / self.FULL_SCALE_MV + 0.5)))

    def read_uv(self):
        return max(0, int(self._next_mv() * 1000))


class FakeUART:
    machine = None

    def __init__(self, uart_id, **options):
        self.id = uart_id
        self.options = options
        self.written = b""
        self.rx = b""
        self.machine.uarts[uart_id] = self

    def write(self, data):
        self.written += bytes(data)
        self.machine.log.append(("uart", self.id, bytes(data)))
        return len(data)

    def flush(self):
        self.machine.log.append(("uart_flush", self.id))

    def txdone(self):
        return True

    def any(self):
        return len(self.rx)

    def read(self, n=None):
        if not self.rx:
            return None  # what a real UART with timeout=0 returns when empty
        n = len(self.rx) if n is None else n
        data, self.rx = self.rx[:n], self.rx[n:]
        return data

    def feed(self, data):
        """Bytes arriving from the wire."""
        self.rx += data


class FakeWDT:
    machine = None

    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        self.machine.wdts.append(self)

    def feed(self):
        self.feeds += 1
        self.machine.log.append(("wdt", self.feeds))


def cp_wave(divider, high_mv, low_mv, duty_fraction, period_us=1000):
    """The ADC millivolts an EV's CP makes over time: high_mv for the first duty_fraction() of each
    period, low_mv after (CP millivolts, through the board's divider)."""
    high_adc = divider.adc_mv(high_mv)
    low_adc = divider.adc_mv(low_mv)

    def at(t_us):
        return high_adc if (t_us % period_us) < duty_fraction() * period_us else low_adc

    return at
