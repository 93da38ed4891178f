# A persistent FIFO of records (transaction messages) built from atomic Storage writes (issue #5).
#
# Records are JSON values (in practice dicts: {"action": ..., "payload": ...}; tuples come back as lists,
# dict keys must be strings); the journal stores each as compact JSON under its own key "<name>.<seq>",
# so every operation is one atomic storage step:
#
#   append  write "<name>.<seq>"      a cut leaves the record absent (before) or present (after)
#   update  write "<name>.<seq>"      old or new content, never a mix (Storage is atomic per key)
#   ack     delete "<name>.<seq>"     present (before) or gone (after)
#
# Sequence numbers only grow, across restarts too, so a stale ack or update can never hit a newer record
# that reused a number. A lease key "<name>.lease" holds a bound above every number ever handed out;
# it is raised by LEASE_BLOCK before the first append past it (one extra write per LEASE_BLOCK appends)
# and a restart continues from it. A cut between raising the lease and writing the record only skips
# some numbers.
#
# Recovery at construction lists the keys, reads and checks every record once, and drops (and reports
# in .problems) any the storage found corrupt or that is not valid JSON: that only happens when flash
# is damaged, never from a power cut. Only sequence numbers stay in RAM; records are read on demand.
import json

LEASE_BLOCK = 64  # sequence numbers reserved per lease write
CAPACITY = 64  # default records kept: on littlefs a record above the inline limit uses a 4 KB block
RECORD_MAX_BYTES = 4096  # a StopTransaction with transactionData is ~1-2 KB
JSON_DEPTH_MAX = 16  # OCPP payloads nest 4-5 deep


class JournalFull(Exception):
    """append() found capacity records queued; nothing was written. The caller chooses what to drop."""


def _plain(text, extra):
    # ASCII only: CPython's isalpha() also accepts letters that file names (hal/file_storage.py) refuse.
    return bool(text) and all("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c in extra
                              for c in text)


def _digits(text):
    return bool(text) and all("0" <= c <= "9" for c in text)


def _check(value, depth=0):
    # MicroPython's json.dumps writes what it cannot encode as "<object>" and bytes as strings, instead
    # of raising; a record must come back as it went in, on both runtimes.
    if depth > JSON_DEPTH_MAX:
        raise ValueError("journal record nested deeper than %d" % JSON_DEPTH_MAX)
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check(item, depth + 1)
        return
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError("journal record has a non-string key %r" % (key,))
            _check(value[key], depth + 1)
        return
    raise ValueError("journal record holds a %s, not a JSON value" % type(value).__name__)


def _encode(record, max_bytes):
    _check(record)
    data = json.dumps(record, separators=(",", ":")).encode()
    if len(data) > max_bytes:
        raise ValueError("journal record of %d bytes exceeds %d" % (len(data), max_bytes))
    return data


class Journal:
    def __init__(self, storage, name, capacity=CAPACITY, record_max_bytes=RECORD_MAX_BYTES):
        if not isinstance(name, str) or not _plain(name, "_-"):
            raise ValueError("journal name %r: letters, digits, '_' and '-' only" % (name,))
        if capacity < 1:
            raise ValueError("journal capacity must be at least 1, not %r" % (capacity,))
        self.storage = storage
        self.name = name
        self.capacity = capacity
        self.record_max_bytes = record_max_bytes
        self.problems = []  # what recovery found wrong, for the log
        self.dropped = 0  # records lost to storage corruption (never to a power cut)
        self._prefix = name + "."
        self._seqs = []  # queued sequence numbers, oldest first
        self._recover()

    # --- recovery -------------------------------------------------------------------------------

    def _recover(self):
        highest = 0
        for key in self.storage.keys(self._prefix):
            suffix = key[len(self._prefix):]
            if suffix == "lease":
                continue
            if not _digits(suffix):
                self.problems.append("journal %s: unknown key %s ignored" % (self.name, key))
                continue
            seq = int(suffix)
            highest = max(highest, seq)
            if self._load(seq) is not None:
                self._seqs.append(seq)
        self._seqs.sort()
        self._lease = max(self._read_lease(), highest + 1)
        self._next = self._lease  # numbers below the lease may have been handed out before the cut

    def _read_lease(self):
        raw = self.storage.read(self._prefix + "lease")
        if raw is None:
            return 1
        try:
            return int(raw)
        except ValueError:
            self.problems.append("journal %s: lease record unreadable" % self.name)
            return 1

    def _load(self, seq):
        """The record stored under seq, or None (dropped and reported when it is damaged)."""
        key = self._key(seq)
        raw = self.storage.read(key)
        if raw is not None:
            try:
                return (json.loads(raw),)
            except Exception:  # ValueError, UnicodeError, RecursionError: damaged beyond the CRC
                self.storage.delete(key)
        self.dropped += 1
        self.problems.append("journal %s: record %d corrupt, dropped" % (self.name, seq))
        return None

    def _key(self, seq):
        return self._prefix + str(seq)

    # --- the queue ------------------------------------------------------------------------------

    def append(self, record):
        """Store record at the end; returns its sequence number once it is durable.
        Raises JournalFull when capacity records are queued, ValueError for a bad record."""
        data = _encode(record, self.record_max_bytes)
        if len(self._seqs) >= self.capacity:
            raise JournalFull("journal %s holds %d records" % (self.name, len(self._seqs)))
        seq = self._next
        if seq >= self._lease:
            # Durable before the number is used: a restart must never hand it out again.
            self.storage.write(self._prefix + "lease", str(seq + LEASE_BLOCK).encode())
            self._lease = seq + LEASE_BLOCK
        self._next = seq + 1  # even if the write below fails: a half-done number is never reused
        try:
            self.storage.write(self._key(seq), data)
        except Exception:
            # A failed write (flash full, I/O error) may still have landed: take it back so that RAM and
            # storage agree, then report. A power cut (sim/flash.py PowerCut) is no Exception: it stops all.
            self.storage.delete(self._key(seq))
            raise
        self._seqs.append(seq)
        return seq

    def peek(self):
        """(seq, record) of the oldest queued record, or None when the journal is empty."""
        for item in self:
            return item
        return None

    def ack(self, seq):
        """Remove record seq (delivered). Unknown, repeated or out-of-order sequence numbers are fine:
        an unknown one changes nothing and returns False."""
        if seq not in self._seqs:
            return False
        self.storage.delete(self._key(seq))
        self._seqs.remove(seq)
        return True

    def update(self, seq, record):
        """Replace the content of queued record seq (e.g. patch in a transactionId the CSMS assigned
        later); returns False when seq is no longer queued. The record keeps its place in the order."""
        if seq not in self._seqs:
            return False
        data = _encode(record, self.record_max_bytes)
        self.storage.write(self._key(seq), data)
        return True

    def seqs(self):
        """The queued sequence numbers, oldest first (a copy)."""
        return list(self._seqs)

    def __len__(self):
        return len(self._seqs)

    def __iter__(self):
        """(seq, record) oldest first, read from storage; a snapshot of the queue at the start, so the
        caller may ack or update while iterating."""
        for seq in list(self._seqs):
            if seq not in self._seqs:
                continue  # acked meanwhile
            loaded = self._load(seq)
            if loaded is None:
                self._seqs.remove(seq)
                continue
            yield seq, loaded[0]
