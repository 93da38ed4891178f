# The HAL over MicroPython's `machine` module: clock, pins, UART, ADC, watchdog, reset cause.
#
# Portable subset. Nothing here imports `machine` itself: every class takes the module (or an object
# made from it) as a parameter, so the same code runs on a board, and under CPython or the unix
# `micropython` binary against tests/board's fake machine (the unix port's built-in `machine` has no
# Pin, ADC or UART and would shadow a file of that name). Beside it: hal/machine_uart.py,
# hal/machine_adc.py (ADC, PT1000, CP divider), hal/machine_pilot.py (the control pilot),
# hal/machine_net.py (Wi-Fi / Ethernet uplink), and hal/machine_board.py, which builds a board's parts.

def default_time():
    import time

    if not hasattr(time, "ticks_ms"):
        raise ValueError("this runtime's time module has no ticks_ms: pass time_module (tests/board/fakes.py)")
    return time


def default_schedule():
    """micropython.schedule on MicroPython; a direct call elsewhere (CPython tests)."""
    try:
        import micropython

        return micropython.schedule
    except (ImportError, AttributeError):
        return _call_now


def _call_now(fn, arg):
    fn(arg)


def make_pin(machine, pin_id, role, *args, **kwargs):
    """machine.Pin(pin_id, ...), with the pin's role in the error when the port refuses it."""
    try:
        return machine.Pin(pin_id, *args, **kwargs)
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError("pin %s=%r: %s" % (role, pin_id, exc))


class MachineClock:  # hal.interfaces.Clock
    """ms() from time.ticks_ms(), extended so it never wraps: ticks wrap every 2**30 ms (12.4 days) on
    32-bit ports, and ticks_diff is right for any two readings less than half of that apart. Every
    firmware task reads the clock many times a second, so consecutive readings are always that close."""

    def __init__(self, time_module=None, rtc=None, weekday_base=0):
        self._time = time_module or default_time()
        self._rtc = rtc  # machine.RTC(), only needed for set_utc()
        self.weekday_base = weekday_base  # what the port's RTC calls Monday: ESP32 0, STM32 1
        self._last = self._time.ticks_ms()
        self._ms = self._last

    def ms(self):
        now = self._time.ticks_ms()
        step = self._time.ticks_diff(now, self._last)
        self._last = now
        if step > 0:  # never backwards, whatever happens
            self._ms += step
        return self._ms

    def utc(self):
        t = self._time.gmtime()  # the RTC, set by NTP (ntptime) or set_utc()
        return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (t[0], t[1], t[2], t[3], t[4], t[5])

    def set_utc(self, year, month, day, hour, minute, second):
        """Set the RTC (for instance from the CSMS's currentTime when NTP is unreachable)."""
        if self._rtc is None:
            raise ValueError("this clock has no RTC to set")
        # Sakamoto's weekday (0 = Sunday), turned into the port's Monday-based count.
        y = year - 1 if month < 3 else year
        sunday0 = (y + y // 4 - y // 100 + y // 400 + (0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4)[month - 1] + day) % 7
        weekday = (sunday0 + 6) % 7 + self.weekday_base
        self._rtc.datetime((year, month, day, weekday, hour, minute, second, 0))


    def set_epoch_s(self, epoch_s):
        """Set the RTC from seconds since 1970 (desk mode: the plant's clock at hello). ESP32 and STM32
        count time from 2000, the unix port from 1970: gmtime(0) tells which."""
        port_epoch_s = 946684800 if self._time.gmtime(0)[0] == 2000 else 0
        t = self._time.gmtime(int(epoch_s) - port_epoch_s)
        self.set_utc(t[0], t[1], t[2], t[3], t[4], t[5])


class PinOut:  # hal.interfaces.DigitalOut
    """An output pin driving a relay driver or the RCD's TEST input. Created inactive, so nothing
    switches on at boot; active_low for drivers that switch on at 0."""

    def __init__(self, machine, pin_id, active_low=False, role="output"):
        self.active_low = active_low
        self.on = False
        self.pin = make_pin(machine, pin_id, role, machine.Pin.OUT, value=1 if active_low else 0)

    def set(self, on):
        self.on = bool(on)
        self.pin.value(1 if self.on != self.active_low else 0)


class PinIn:  # hal.interfaces.DigitalIn
    """An input pin (contactor feedback, RCD outputs, e-stop, PE check) with an edge IRQ.

    The IRQ handler only schedules _changed through micropython.schedule (a hard handler must not
    allocate; a soft one may be late either way); _changed reads the pin and calls back only if the
    level differs from the last one reported, so contact bounce that settles back is not news. A
    signal read by both nodes gives each its own view() with its own callback."""

    def __init__(self, machine, pin_id, active_low=False, pull=None, schedule=None, role="input"):
        pin_cls = machine.Pin
        pulls = {None: None, "up": pin_cls.PULL_UP, "down": pin_cls.PULL_DOWN}
        if pull not in pulls:
            raise ValueError("pin %s: pull must be None, 'up' or 'down', not %r" % (role, pull))
        self.pin = make_pin(machine, pin_id, role, pin_cls.IN, pulls[pull])
        self.active_low = active_low
        self._schedule = schedule or default_schedule()
        self._callback = None
        self._views = []
        self._pending = False
        self._reported = self.value()
        self._changed_ref = self._changed  # bound once: the IRQ handler must not allocate
        self.pin.irq(handler=self._irq, trigger=pin_cls.IRQ_RISING | pin_cls.IRQ_FALLING)

    def value(self):
        return (self.pin.value() == 1) != self.active_low

    def on_change(self, callback):
        self._callback = callback

    def view(self):
        view = PinView(self)
        self._views.append(view)
        return view

    def _irq(self, _pin):
        if self._pending:
            return
        self._pending = True
        try:
            self._schedule(self._changed_ref, None)
        except RuntimeError:  # schedule queue full: the next edge, or the reader's own poll, catches up
            self._pending = False

    def _changed(self, _arg):
        self._pending = False
        value = self.value()
        if value == self._reported:
            return
        self._reported = value
        if self._callback is not None:
            self._callback(value)
        for view in self._views:
            view.notify(value)


class PinView:  # hal.interfaces.DigitalIn
    """A second reader of a PinIn (the safety node beside the main controller), with its own callback."""

    def __init__(self, source):
        self.source = source
        self._callback = None

    def value(self):
        return self.source.value()

    def on_change(self, callback):
        self._callback = callback

    def notify(self, value):
        if self._callback is not None:
            self._callback(value)


class MachineWatchdog:  # hal.interfaces.Watchdog
    """machine.WDT, started by the first feed(): the firmware's feeder task starts it, so a slow boot
    (Wi-Fi, storage recovery) cannot bite before anyone feeds. Once started it cannot be stopped."""

    MIN_MS = 1000  # ESP32: built on the ESP-IDF task watchdog, 1 s at least
    MAX_MS = 32000  # STM32: IWDG on the ~32 kHz LSI tops out near 32 s

    def __init__(self, machine, timeout_ms):
        if type(timeout_ms) is not int or not self.MIN_MS <= timeout_ms <= self.MAX_MS:
            raise ValueError("watchdog timeout_ms must be an int in %d..%d, not %r"
                             % (self.MIN_MS, self.MAX_MS, timeout_ms))
        self.machine = machine
        self.timeout_ms = timeout_ms
        self.wdt = None

    def feed(self):
        if self.wdt is None:
            self.wdt = self.machine.WDT(timeout=self.timeout_ms)
        self.wdt.feed()


def reset_cause(machine):
    """machine.reset_cause() as the firmware names it: "power", "watchdog", "soft" or "hard"."""
    cause = machine.reset_cause()
    for name, text in (("WDT_RESET", "watchdog"), ("SOFT_RESET", "soft"), ("PWRON_RESET", "power"),
                       ("DEEPSLEEP_RESET", "power"), ("HARD_RESET", "hard")):
        if getattr(machine, name, None) == cause:
            return text
    return "hard"  # brown-out, lockup, ...: the port has no name for it
