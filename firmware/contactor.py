# The contactor driver: commands the coil and checks the auxiliary feedback contact follows.
#
# Sans-I/O in its judgement: set() and feedback_changed() return a fault name or None, poll()
# reports a mismatch once the feedback has had CONFIRM_MS to follow the command.

CONFIRM_MS = 200  # longest operate/release time of a typical 32 A contactor plus bounce (datasheets: 20-100 ms)


class Contactor:
    def __init__(self, coil, feedback, confirm_ms=CONFIRM_MS):
        self.coil = coil  # hal DigitalOut
        self.feedback = feedback  # hal DigitalIn, True = main contacts closed
        self.confirm_ms = confirm_ms
        self.commanded = False
        self.deadline = None  # when the feedback must agree with the command

    def set(self, closed, now_ms):
        self.commanded = closed
        self.coil.set(closed)
        self.deadline = now_ms + self.confirm_ms

    def poll(self, now_ms):
        """After the confirm window: the fault name if the feedback disagrees, else None."""
        if self.deadline is None or now_ms < self.deadline:
            return None
        self.deadline = None
        return self.check()

    def check(self):
        if self.deadline is not None:
            return None  # still moving
        closed = self.feedback.value()
        if closed and not self.commanded:
            return "contactor_welded"
        if self.commanded and not closed:
            return "contactor_stuck_open"
        return None
