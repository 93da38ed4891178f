# Security events of the OCPP 1.6 security whitepaper (SecurityEventNotification, and the SecurityLog of
# GetLog), kept in flash: the last EVENTS_MAX events, each one record of a journal (firmware/journal.py:
# atomic, checksummed, survives a power cut), the way firmware/ocpp/txqueue.py keeps transaction messages.
#
# The same records are the queue and the log. A record is {"p": the notification payload, "d": 1 once
# the CSMS has it}. run() sends the undelivered ones in the order they were raised, one at a time, once
# the charge point is booted and online, and marks each delivered after its CALLRESULT (an event whose
# answer a power cut lost goes again after the reboot: at least once, as txqueue). Offline, nothing is
# sent and nothing dropped, except at capacity: the oldest record goes (a log line says so, and whether
# the CSMS had it). A CALLERROR or a timeout while online is tried again ATTEMPTS times, then the event
# stays in the log only (a CSMS that does not know the message must not stall the queue forever).
#
# Built by the charge point at its first event (firmware/ocpp/parts.py: each boot raises
# StartupOfTheDevice), whose tasks include run().
import asyncio

from firmware import timefmt
from firmware.journal import Journal
from firmware.ocpp.link import CallFailed

NAME = "secev"
EVENTS_MAX = 32  # records kept, delivered or not (~32 x 300 bytes of flash)
RECORD_MAX_BYTES = 512  # type (50) + timestamp + techInfo (255, CiString255Type) in JSON
ACTION = "SecurityEventNotification"
ATTEMPTS = 3
RETRY_S = 10  # between attempts while online
POLL_S = 1  # boot and connect have no event this task may wait on: look again after this
TOPIC = "security"


class SecurityEvents:
    def __init__(self, cp):
        self.cp = cp
        self.journal = Journal(cp.storage, NAME, capacity=EVENTS_MAX, record_max_bytes=RECORD_MAX_BYTES)
        for problem in self.journal.problems:
            cp.log(TOPIC, problem)
        self._pending = [seq for seq, record in self.journal if not record.get("d")]
        self._wake = None  # made by run(), on the loop that runs it

    def add(self, payload):
        """Store one SecurityEventNotification.req payload; run() sends it. Returns its record number."""
        journal = self.journal
        if len(journal) >= EVENTS_MAX:
            seq = journal.seqs()[0]
            lost = seq in self._pending
            self._forget(seq)
            self.cp.log(TOPIC, "event store full (%d): oldest event dropped%s"
                        % (EVENTS_MAX, ", never delivered" if lost else ""))
        seq = journal.append({"p": payload})
        self._pending.append(seq)
        if self._wake is not None:
            self._wake.set()
        return seq

    def pending(self):
        """The payloads not delivered yet, oldest first."""
        return [self._record(seq)["p"] for seq in list(self._pending) if self._record(seq) is not None]

    def lines(self, start_s=None, stop_s=None):
        """The stored events as SecurityLog lines "<timestamp> security: <type> <techInfo>", oldest first,
        those from start_s to stop_s (epoch seconds, inclusive; None: open)."""
        for _seq, record in self.journal:
            p = record.get("p") or {}
            try:
                at_s = timefmt.parse(p["timestamp"])
            except (KeyError, TypeError, ValueError):
                continue
            if (start_s is None or at_s >= start_s) and (stop_s is None or at_s <= stop_s):
                yield "%s %s: %s %s" % (timefmt.format_utc(at_s), TOPIC, p.get("type"), p.get("techInfo", ""))

    async def run(self):
        cp = self.cp
        failures = 0
        self._wake = asyncio.Event()
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            if not cp.booted or not cp.link.online.is_set():
                await asyncio.sleep(POLL_S)
                continue
            seq = self._pending[0]
            record = self._record(seq)
            if record is None:  # damaged in flash (the journal logged it)
                self._pending.remove(seq)
                continue
            try:
                await cp.link.call(ACTION, record["p"])
            except CallFailed as exc:
                if not cp.link.online.is_set():
                    continue  # the same event again after the reconnect
                failures += 1
                cp.log(TOPIC, "event %s not delivered (%d of %d): %s" % (record["p"].get("type"), failures,
                                                                          ATTEMPTS, exc))
                if failures < ATTEMPTS:
                    await asyncio.sleep(RETRY_S)
                    continue
            failures = 0
            record["d"] = 1
            self.journal.update(seq, record)
            if seq in self._pending:
                self._pending.remove(seq)

    def _record(self, seq):
        for got, record in self.journal:
            if got == seq:
                return record
        return None

    def _forget(self, seq):
        self.journal.ack(seq)
        if seq in self._pending:
            self._pending.remove(seq)
