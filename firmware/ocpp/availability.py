# Availability of the charge point (connector 0) and its connector (1): ChangeAvailability, OCPP 1.6
# section 5.2. Operative or Inoperative, as the CSMS asked; kept in storage, because "a Connector set to
# Unavailable shall persist a reboot". A change that would make a connector with a running transaction
# Inoperative is Scheduled and happens when the transaction ends.
#
# Sans-I/O: the charge point asks and tells (request, tx_ended); nothing here sends a message.
import json

KEY = "availability"
VERSION = 1
OPERATIVE = "Operative"
INOPERATIVE = "Inoperative"
CONNECTORS = (0, 1)  # 0 is the charge point as a whole (section 5.2 note)


class Availability:
    def __init__(self, storage=None):
        self.storage = storage
        self.wanted = {0: OPERATIVE, 1: OPERATIVE}  # what the CSMS asked for last, stored
        self.now = {0: OPERATIVE, 1: OPERATIVE}  # what holds now (a Scheduled change not yet)
        self.problems = []
        self._load()
        self.now = dict(self.wanted)  # after a boot nothing runs: every scheduled change holds

    def _load(self):
        raw = None if self.storage is None else self.storage.read(KEY)
        if raw is None:
            return
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or record.get("v") != VERSION:
                raise ValueError("not a version %d record" % VERSION)
            wanted = {0: record["0"], 1: record["1"]}
            for connector in CONNECTORS:
                if wanted[connector] not in (OPERATIVE, INOPERATIVE):
                    raise ValueError("connector %d: %r" % (connector, wanted[connector]))
        except Exception as exc:  # ValueError, KeyError, TypeError, UnicodeError...
            self.problems.append("stored availability unreadable (%s: %s); Operative"
                                 % (type(exc).__name__, exc))
            return
        self.wanted = wanted

    def _save(self):
        if self.storage is not None:
            record = {"v": VERSION, "0": self.wanted[0], "1": self.wanted[1]}
            self.storage.write(KEY, json.dumps(record).encode())

    def operative(self, connector_id):
        """Whether connector_id may start a transaction now (connector 1 needs the charge point too)."""
        if connector_id == 0:
            return self.now[0] == OPERATIVE
        return self.now[0] == OPERATIVE and self.now[connector_id] == OPERATIVE

    def request(self, connector_id, kind, tx_running):
        """ChangeAvailability.req: "Accepted", "Rejected" (no such connector) or "Scheduled" (a running
        transaction on the connector keeps it Operative until it ends, section 5.2)."""
        if connector_id not in CONNECTORS or kind not in (OPERATIVE, INOPERATIVE):
            return "Rejected"
        self.wanted[connector_id] = kind
        self._save()
        if kind == INOPERATIVE and tx_running and self.operative(1):
            return "Scheduled"
        self.now[connector_id] = kind
        return "Accepted"

    def tx_ended(self):
        """The transaction ended: a Scheduled change happens now. True if anything changed."""
        changed = self.now != self.wanted
        self.now = dict(self.wanted)
        return changed
