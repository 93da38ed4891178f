# Power cuts for the simulation: a Storage wrapper that dies at a chosen write (CPython only).
#
# CutStorage counts every mutating step (write or delete) and, at step number cut_at (0-based), cuts
# power: "before" the step, "after" it, or "torn" in the middle of it (for a write to a FileStorage: half
# of the temporary file is on flash; for anything else, "torn" is the same as "before", since RAM and
# delete() are atomic). Then it raises PowerCut and is dead: every later call raises PowerCut too, as a
# charger without power does nothing more. A test then reopens the inner storage, as a reboot would.
#
# PowerCut derives from BaseException so that firmware code catching Exception (to log and carry on)
# cannot swallow it: after a cut, nothing of the old run may continue.
from hal.file_storage import frame
from hal.interfaces import Storage

MODES = ("before", "after", "torn")


class PowerCut(BaseException):
    pass


class CutStorage(Storage):
    def __init__(self, inner, cut_at=None, mode="before"):
        self.inner = inner
        self.steps = 0  # mutating steps begun (writes and deletes)
        self.writes = 0
        self.deletes = 0
        self.dead = False
        self.cut_at = None
        self.mode = "before"
        self.arm(cut_at, mode)

    def arm(self, cut_at, mode="before"):
        """Cut power at mutating step cut_at (counted from 0 since construction); None disarms."""
        if mode not in MODES:
            raise ValueError("cut mode must be one of %s, not %r" % (", ".join(MODES), mode))
        if cut_at is not None and cut_at < 0:
            raise ValueError("cut_at must be >= 0, not %r" % (cut_at,))
        self.cut_at = cut_at
        self.mode = mode

    def _alive(self):
        if self.dead:
            raise PowerCut("storage used after the power cut")

    def _cut_now(self):
        step = self.steps
        self.steps += 1
        return step == self.cut_at

    def _die(self, where):
        self.dead = True
        raise PowerCut("power cut %s step %d" % (where, self.cut_at))

    def read(self, key):
        self._alive()
        return self.inner.read(key)

    def keys(self, prefix=""):
        self._alive()
        return self.inner.keys(prefix)

    def write(self, key, data):
        self._alive()
        if not self._cut_now():
            self.inner.write(key, data)
            self.writes += 1
            return
        if self.mode == "after":
            self.inner.write(key, data)
            self.writes += 1
        elif self.mode == "torn" and hasattr(self.inner, "temp_path"):
            self._tear(key, bytes(data))
        self._die(self.mode)

    def delete(self, key):
        self._alive()
        if not self._cut_now():
            self.inner.delete(key)
            self.deletes += 1
            return
        if self.mode == "after":
            self.inner.delete(key)
            self.deletes += 1
        self._die(self.mode)

    def _tear(self, key, data):
        # What a cut halfway through FileStorage.write leaves: a temporary file with half the frame.
        framed = frame(data)
        with open(self.inner.temp_path(key), "wb") as f:
            f.write(framed[:len(framed) // 2])
