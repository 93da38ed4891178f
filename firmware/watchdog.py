# Feeding the hardware watchdog only while every firmware task shows progress. Each supervised task
# calls beat(name) whenever it comes round its loop; feed() runs on a timer and feeds the watchdog only
# if no task has been silent longer than its allowance. A stalled task therefore ends in a reset, and the
# board comes up again safe (contactor open, pilot X1) and reports the reset cause.

WDT_TIMEOUT_MS = 8000  # within every port's range (STM32 IWDG tops out near 32 s)
FEED_MS = 1000
DEFAULT_ALLOWANCE_MS = 5000  # a task that waits longer than this must wake and beat meanwhile


class Supervisor:
    def __init__(self, watchdog, clock):
        self.watchdog = watchdog  # hal Watchdog or None (then only the bookkeeping runs)
        self.clock = clock
        self.last = {}  # name -> ms of the last beat
        self.allowance = {}
        self.stalled = None  # the name of the task that stopped the feeding

    def register(self, name, allowance_ms=DEFAULT_ALLOWANCE_MS):
        self.allowance[name] = allowance_ms
        self.last[name] = self.clock.ms()

        def beat():
            self.last[name] = self.clock.ms()

        return beat

    def healthy(self):
        now = self.clock.ms()
        for name in self.last:
            if now - self.last[name] > self.allowance[name]:
                self.stalled = name
                return False
        self.stalled = None
        return True

    def feed(self):
        """Feed the watchdog if every task is alive. Returns whether it fed."""
        if not self.healthy():
            return False
        if self.watchdog is not None:
            self.watchdog.feed()
        return True


def registrar(supervisor):
    """supervisor.register, or (no supervisor: a bare test setup) one that hands out beats doing nothing."""
    if supervisor is not None:
        return supervisor.register
    return lambda name, allowance_ms=DEFAULT_ALLOWANCE_MS: (lambda: None)
