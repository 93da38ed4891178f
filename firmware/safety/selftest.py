# The residual current monitor's self-test: pulse its TEST input, expect both trip outputs (AC and
# DC) to assert and then release again. Run at boot and before each session (ADI and TF do both); a
# failure means no charging until a later test passes. Sans-I/O apart from the TEST pin it drives.

PULSE_MS = 250  # TF pulses the X804's TEST input for 250 ms
TIMEOUT_MS = 3000  # both outputs up and down again within this from the pulse (TF: 740 + 660 + 1600 ms)


class RcdSelfTest:
    def __init__(self, test_pin):
        self.pin = test_pin
        self.running = False
        self.passed = False
        self.failed = False
        self.deadline = None
        self._start_ms = 0
        self._pulsing = False
        self._seen = False

    def start(self, now_ms):
        if self.running:
            return
        self.running = True
        self._start_ms = now_ms
        self._pulsing = True
        self._seen = False
        self.deadline = now_ms + PULSE_MS
        self.pin.set(True)

    def poll(self, now_ms, ac_tripped, dc_tripped):
        """Feed the outputs as they are now; returns True when the test just ended."""
        if not self.running:
            return False
        if self._pulsing and now_ms >= self._start_ms + PULSE_MS:
            self.pin.set(False)
            self._pulsing = False
        if ac_tripped and dc_tripped:
            self._seen = True
        if self._seen and not ac_tripped and not dc_tripped:
            return self._finish(True)
        if now_ms >= self._start_ms + TIMEOUT_MS:
            return self._finish(False)
        self.deadline = self._start_ms + (PULSE_MS if self._pulsing else TIMEOUT_MS)
        return False

    def _finish(self, ok):
        if self._pulsing:
            self.pin.set(False)
            self._pulsing = False
        self.running = False
        self.passed = ok
        self.failed = not ok
        self.deadline = None
        return True
