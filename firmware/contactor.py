# The contactor driver: commands the main controller's switch in the coil circuit and checks that the
# auxiliary feedback contact follows. The safety node's switch sits in series (firmware/safety/node.py),
# so the contacts should be closed exactly when both are: `safety_closed` is what its last report said.
#
# Sans-I/O in its judgement: check() and poll() return a fault code or None; poll() reports a mismatch
# once the feedback has had CONFIRM_MS to follow the last change of either switch.

CONFIRM_MS = 200  # longest operate/release time of a typical 32 A contactor plus bounce (datasheets: 20-100 ms)


class Contactor:
    def __init__(self, coil, feedback, confirm_ms=CONFIRM_MS, safety_closed=True):
        self.coil = coil  # hal DigitalOut
        self.feedback = feedback  # hal DigitalIn, True = main contacts closed
        self.confirm_ms = confirm_ms
        self.commanded = False
        self.safety_closed = safety_closed  # True on a board without a safety node
        self.deadline = None  # when the feedback must agree with the switches

    @property
    def expected(self):
        return self.commanded and self.safety_closed

    def set(self, closed, now_ms):
        self.commanded = closed
        self.coil.set(closed)
        self.deadline = now_ms + self.confirm_ms

    def safety_changed(self, closed, now_ms):
        """The safety node's switch as its latest report says. True if that changed (a new deadline)."""
        if closed == self.safety_closed:
            return False
        self.safety_closed = closed
        self.deadline = now_ms + self.confirm_ms
        return True

    def poll(self, now_ms):
        """After the confirm window: the fault code if the feedback disagrees, else None."""
        if self.deadline is None or now_ms < self.deadline:
            return None
        self.deadline = None
        return self.check()

    def check(self, now_ms=None):
        """Judge the feedback now. A change nobody asked for gets the confirm window first (the safety
        node's report saying it opened may still be on its way)."""
        if self.deadline is not None:
            return None  # still moving
        closed = self.feedback.value()
        if closed == self.expected:
            return None
        if now_ms is not None and not closed:
            self.deadline = now_ms + self.confirm_ms
            return None
        return "contactor_welded" if closed else "contactor_stuck_open"
