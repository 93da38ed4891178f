# OCPP 1.6 Reservation (section 3.12; ReserveNow 5.13, CancelReservation 5.3): one reservation of the
# connector at a time, kept in storage across a reboot, ended by its expiryDate (a timer), by
# CancelReservation or by the StartTransaction of its idTag (which carries its reservationId).
# While it holds, an Available connector reports Reserved and only the reserved idTag, or an idTag whose
# parentIdTag is the reservation's parentIdTag, may start (from the local list / cache, else Authorize.req).
# Connector 0 (the charge point as a whole) cannot be reserved: ReserveConnectorZeroSupported is false,
# so such a request is Rejected.
import asyncio
import json

from firmware import timefmt
from firmware.waiting import event_or_timeout

KEY = "reservation"
VERSION = 1
CONNECTOR = 1
MAX_WAIT_MS = 900000  # the expiry timer re-reads the wall clock at least this often (a clock set later)


def _same(a, b):
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()  # CiString20


class Reservations:
    def __init__(self, cp):
        self.cp = cp
        self.current = None  # {"id", "connector", "expiry_s", "tag", "parent"} or None
        self._changed = asyncio.Event()
        raw = cp.storage.read(KEY) if cp.storage is not None else None
        if raw:
            try:
                record = json.loads(raw)
                if not isinstance(record, dict) or record.get("v") != VERSION:
                    raise ValueError("not a version %d record" % VERSION)
                self.current = {"id": record["id"], "connector": record["connector"],
                                "expiry_s": int(record["expiry_s"]), "tag": record["tag"],
                                "parent": record.get("parent")}
            except Exception as exc:  # ValueError, KeyError, TypeError...: forget it, say so
                cp.log("reservation", "stored reservation unreadable (%s: %s)" % (type(exc).__name__, exc))

    def _save(self):
        if self.cp.storage is not None:
            record = b""
            if self.current is not None:
                record = dict(self.current)
                record["v"] = VERSION
                record = json.dumps(record).encode()
            self.cp.storage.write(KEY, record)
        self._changed.set()
        self.cp.status_changed()

    def active(self):
        """The reservation holding now, or None (an expired one is ended here too)."""
        r = self.current
        if r is not None and timefmt.parse(self.cp.clock.utc()) >= r["expiry_s"]:
            self.cp.log("reservation", "reservation %d expired" % r["id"])
            self.current = None
            self._save()
            return None
        return r

    def reserve(self, connector_id, expiry_date, id_tag, parent_id_tag, reservation_id):
        """ReserveNow.req -> Accepted, Faulted, Occupied, Rejected or Unavailable (section 5.13)."""
        cp = self.cp
        if connector_id != CONNECTOR:
            return "Rejected"  # no such connector, or 0 (ReserveConnectorZeroSupported false)
        r = self.active()
        status = cp.connector_status()[0]
        if status == "Faulted":
            return "Faulted"
        if status == "Unavailable":
            return "Unavailable"
        if r is not None and r["id"] != reservation_id:
            return "Occupied"  # reserved by another reservation
        if cp.tx is not None or cp.pending_id_tag is not None or status not in ("Available", "Reserved"):
            return "Occupied"
        expiry_s = timefmt.parse(expiry_date)
        if expiry_s <= timefmt.parse(cp.clock.utc()):
            return "Rejected"  # already over: nothing to reserve
        # The same reservationId replaces the reservation (section 5.13).
        self.current = {"id": reservation_id, "connector": connector_id, "expiry_s": expiry_s, "tag": id_tag,
                        "parent": parent_id_tag}
        self._save()
        return "Accepted"

    def cancel(self, reservation_id):
        """CancelReservation.req -> Accepted or Rejected (no such reservation)."""
        r = self.active()
        if r is None or r["id"] != reservation_id:
            return "Rejected"
        self.current = None
        self._save()
        return "Accepted"

    def _matches_known(self, r, id_tag):
        if _same(id_tag, r["tag"]):
            return True
        if r["parent"] is None:
            return False
        info = self.cp.auth.lookup(id_tag)
        return info is not None and _same(info.get("parentIdTag"), r["parent"])

    async def admits(self, id_tag):
        """May id_tag start a transaction on the connector? Always, unless it is reserved for another."""
        r = self.active()
        if r is None or self._matches_known(r, id_tag):
            return True
        if r["parent"] is None or not self.cp.auth.online():
            return False
        try:
            info = await self.cp.auth.ask(id_tag)  # its parentIdTag, from the CSMS
        except Exception as exc:  # CallFailed: no answer, no parent known
            self.cp.log("reservation", str(exc))
            return False
        return _same(info.get("parentIdTag"), r["parent"])

    def admits_known(self, id_tag):
        """Like admits(), without asking the CSMS (RemoteStartTransaction answers at once)."""
        r = self.active()
        return r is None or self._matches_known(r, id_tag)

    def tx_started(self, tx):
        """A transaction started: the reservation it fulfils ends. -> its reservationId, or None."""
        r = self.active()
        if r is None:
            return None
        self.current = None
        self._save()
        return r["id"]

    async def run(self):
        while True:
            self._changed.clear()
            wait_ms = None
            r = self.active()
            if r is not None:
                now_s = timefmt.parse(self.cp.clock.utc())
                wait_ms = max(min((r["expiry_s"] - now_s) * 1000, MAX_WAIT_MS), 1)
            await event_or_timeout(self._changed, wait_ms)
