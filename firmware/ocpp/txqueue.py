# The persistent queue of transaction messages (issue #5): StartTransaction, StopTransaction and the
# MeterValues of a transaction, each written to flash (firmware/journal.py: one atomic, checksummed
# record per message) before it is sent and removed only after its CALLRESULT, so that neither an
# outage nor a power cut loses one. After a reboot the records are replayed in the order they were made.
#
# A record is {"a": action, "p": payload, "l": local id}. The local id names the transaction inside the
# charge point: the sequence number of its StartTransaction record ("l" is absent on that record). The
# CSMS's transactionId is only known once StartTransaction.conf arrives, perhaps after an outage and a
# reboot; resolve() then writes it into every queued record of that transaction before the Start is
# removed, so a cut in between only makes the Start go out again. A CSMS that sees the same
# StartTransaction twice answers with the same transactionId (sim/csms_handlers.py does; OCPP 1.6 has
# no message for it, so the charge point sends exactly what it stored, never a new variant).
#
# Bounded: at SAMPLES_MAX queued MeterValues the oldest one is dropped (and logged) for a new one; a
# Start or a Stop is never dropped, not even above the capacity (logged).
from firmware.journal import Journal, JournalFull

NAME = "txq"
SAMPLES_MAX = 96  # transaction MeterValues kept while offline (~1 day of 15 min samples)
ENDS_MAX = 32  # room for Start/Stop records beyond the samples
RECORD_MAX_BYTES = 4096  # journal limit; a Stop above it loses its oldest transactionData first
START, STOP, SAMPLE = "StartTransaction", "StopTransaction", "MeterValues"
ACTIONS = (START, STOP, SAMPLE)


class Queued:
    """One transaction message in the RAM outbox; its content lives in the queue from .seq on."""

    def __init__(self, queue, action, tx=None, seq=None):
        self.queue = queue
        self.action = action
        self.tx = tx  # the Transaction in RAM, if this boot made it (None for a replayed record)
        self.seq = seq  # None until written (a Start or Stop waits for its meter reading)

    def build(self):
        """The payload to send; None: not written yet; False: no longer queued (dropped, see log)."""
        if self.seq is None:
            return None
        return self.queue.payload(self.seq)


class TxQueue:
    def __init__(self, storage, log, samples_max=SAMPLES_MAX):
        self.log = log
        self.samples_max = samples_max
        self.journal = Journal(storage, NAME, capacity=samples_max + ENDS_MAX, record_max_bytes=RECORD_MAX_BYTES)
        for problem in self.journal.problems:
            log("txqueue", problem)
        self.actions = {}  # seq -> action, to find the oldest sample without reading flash
        self.ids = {}  # local id -> transactionId, known this boot
        self.replayed = []  # (seq, record) found at construction, oldest first
        self.dropped = 0  # MeterValues dropped because the queue was full
        self.max_len = len(self.journal)  # the longest the queue got (figures for the campaign)
        self.added = 0  # messages written this boot
        for seq, record in self.journal:
            if not isinstance(record, dict) or record.get("a") not in ACTIONS or not isinstance(record.get("p"), dict):
                self.log("txqueue", "record %d has an unknown layout, dropped: %r" % (seq, record))
                self.journal.ack(seq)
                continue
            self.actions[seq] = record["a"]
            self.replayed.append((seq, record))

    def __len__(self):
        return len(self.journal)

    def add(self, action, payload, local=None):
        """Write one message; returns its sequence number once it is durable (the local id of a Start)."""
        if action not in ACTIONS:
            raise ValueError("not a transaction message: %r" % (action,))
        record = {"a": action, "p": payload}
        if local is not None:
            record["l"] = local
        if action == SAMPLE and self._count(SAMPLE) >= self.samples_max:
            self._drop_oldest_sample()
        while True:
            try:
                seq = self._append(record)
                break
            except JournalFull:
                if not self._drop_oldest_sample():
                    self.log("txqueue", "queue above capacity: %s kept anyway" % action)
                    self.journal.capacity += 1
        self.actions[seq] = action
        self.added += 1
        self.max_len = max(self.max_len, len(self.journal))
        return seq

    def _append(self, record):
        while True:
            try:
                return self.journal.append(record)
            except ValueError:
                data = record["p"].get("transactionData")
                if record["a"] != STOP or not data:
                    raise
                # Too big for one record: the oldest transaction data goes first (the end value stays).
                self.log("txqueue", "StopTransaction too large: oldest transactionData value dropped")
                record["p"]["transactionData"] = data[1:]

    def _count(self, action):
        n = 0
        for seq in self.actions:
            if self.actions[seq] == action:
                n += 1
        return n

    def _drop_oldest_sample(self):
        for seq in self.journal.seqs():
            if self.actions.get(seq) == SAMPLE:
                self.log("txqueue", "queue full: oldest MeterValues (record %d) dropped" % seq)
                self.ack(seq)
                self.dropped += 1
                return True
        return False

    def payload(self, seq):
        """The payload of record seq with its transactionId filled in; False when it is no longer
        queued, or is an orphan (its StartTransaction was given up: the CSMS has no id for it)."""
        loaded = self.journal._load(seq) if seq in self.journal._seqs else None
        if loaded is None:
            return False
        record = loaded[0]
        payload = record["p"]
        local = record.get("l")
        if local is not None and payload.get("transactionId") is None:
            tx_id = self.ids.get(local)
            if tx_id is None:
                self.log("txqueue", "%s of a transaction the CSMS never gave an id: dropped" % record["a"])
                self.ack(seq)
                return False
            payload["transactionId"] = tx_id
        return payload

    def resolve(self, local, tx_id):
        """The CSMS gave transaction local its id: write it into every queued record of it."""
        self.ids[local] = tx_id
        for seq, record in self.journal:
            if record.get("l") == local and record["p"].get("transactionId") != tx_id:
                record["p"]["transactionId"] = tx_id
                self.journal.update(seq, record)

    def ack(self, seq):
        """Delivered (or given up): remove record seq."""
        self.actions.pop(seq, None)
        return self.journal.ack(seq)
