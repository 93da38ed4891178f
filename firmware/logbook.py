# A bounded log of the charger's recent lines: what GetDiagnostics (OCPP 1.6 section 5.9) uploads and
# what a person at the console reads. Portable.
#
# A ring of capacity_lines entries (UTC epoch seconds, tag, text), each text cut to line_max_chars, so
# RAM stays bounded however chatty the charger is; the oldest line goes first. Optional persistence:
# with a Storage, save() writes the whole ring as one atomic record (every save_every_lines lines, or
# when the caller asks, e.g. before a reboot) and the next start reads it back. A Logbook is callable
# as log(tag, text), the signature the firmware's modules take for their log.
import json

from firmware import timefmt

CAPACITY_LINES = 200
LINE_MAX_CHARS = 160
KEY = "logbook"


class Logbook:
    def __init__(self, clock, capacity_lines=CAPACITY_LINES, line_max_chars=LINE_MAX_CHARS, storage=None,
                 key=KEY, save_every_lines=0):
        if capacity_lines < 1:
            raise ValueError("capacity_lines must be at least 1, not %r" % (capacity_lines,))
        self.clock = clock
        self.capacity_lines = capacity_lines
        self.line_max_chars = line_max_chars
        self.storage = storage
        self.key = key
        self.save_every_lines = save_every_lines
        self.dropped = 0  # lines pushed out of the ring since the start
        self._ring = [None] * capacity_lines
        self._next = 0  # where the next line goes
        self._count = 0
        self._unsaved = 0
        if storage is not None:
            self._restore()

    def __call__(self, tag, text):
        self.add(tag, text)

    def add(self, tag, text):
        self._put(timefmt.parse(self.clock.utc()), str(tag), str(text))
        self._unsaved += 1
        if self.save_every_lines and self._unsaved >= self.save_every_lines:
            self.save()

    def _put(self, epoch_s, tag, text):
        if self._count == self.capacity_lines:
            self.dropped += 1
        else:
            self._count += 1
        # One str per line rather than a tuple of three: 64 bytes less per line on MicroPython's heap
        # (issue #4: 64 lines of ~50 characters took 10.9 KB, now 6.8), and the epoch as text, which on a
        # 32-bit port is no int object of its own (it is over the 30-bit small-int range).
        self._ring[self._next] = "%d\t%s\t%s" % (epoch_s, tag.replace("\t", " "), text[:self.line_max_chars])
        self._next = (self._next + 1) % self.capacity_lines

    def __len__(self):
        return self._count

    def entries(self):
        """(epoch_s, tag, text) oldest first."""
        first = (self._next - self._count) % self.capacity_lines
        for i in range(self._count):
            epoch_s, tag, text = self._ring[(first + i) % self.capacity_lines].split("\t", 2)
            yield int(epoch_s), tag, text

    def lines(self, start_s=None, stop_s=None):
        """The entries from start_s to stop_s (UTC epoch seconds, both inclusive, None: open) as text
        lines "2024-03-10T23:55:00Z tag: text", oldest first."""
        for epoch_s, tag, text in self.entries():
            if (start_s is None or epoch_s >= start_s) and (stop_s is None or epoch_s <= stop_s):
                yield "%s %s: %s" % (timefmt.format_utc(epoch_s), tag, text)

    def save(self):
        if self.storage is None:
            return
        self.storage.write(self.key, json.dumps([list(e) for e in self.entries()]).encode())
        self._unsaved = 0

    def _restore(self):
        raw = self.storage.read(self.key)
        if raw is None:
            return
        try:
            entries = json.loads(raw)
            for epoch_s, tag, text in entries:
                if not isinstance(epoch_s, int) or not isinstance(tag, str) or not isinstance(text, str):
                    raise ValueError("bad entry")
        except (ValueError, TypeError):
            self.add("logbook", "saved log unreadable, started empty")
            return
        for epoch_s, tag, text in entries[-self.capacity_lines:]:
            self._put(epoch_s, tag, text)
