# The Local Authorization List (OCPP 1.6 section 3.5.2): changed only by SendLocalList, kept in one
# storage record, looked up before the Authorization Cache (firmware/ocpp/auth.py has the cache, the
# record format and the decisions). Its own module so that a charger whose CSMS never sends a list does
# not carry it: firmware/ocpp/authorize.py builds it on first use or when storage holds one (issue #4).
from firmware.ocpp.auth import (LIST_KEY, RECORD_VERSION, AuthError, StoredRecord, check_info, id_key, pack, unpack,
                                view)


class LocalList(StoredRecord):
    """The Local Authorization List, changed only by SendLocalList (3.5.2)."""

    def __init__(self, storage, max_length, send_max_length=None):
        StoredRecord.__init__(self, storage, LIST_KEY)
        self.max_length = max_length  # LocalAuthListMaxLength
        self.send_max_length = max_length if send_max_length is None else send_max_length
        self.list_version = 0
        self.entries = {}  # key -> packed IdTagInfo (auth.pack())
        loaded = self.read()
        if loaded is not None:
            record, entries = loaded
            version = record.get("listVersion")
            if not isinstance(version, int) or version is True or version is False or version < 0 \
                    or (version == 0) != (not entries):
                self.problem("stored local_list version %r does not fit its entries; starting empty" % (version,))
                return
            self.list_version, self.entries = version, entries
            if len(entries) > max_length:
                self.problem("stored local list holds %d entries, more than %d" % (len(entries), max_length))

    def entry(self, stored, version):
        return pack(check_info(stored)[0] if version == 1 else unpack(stored)[0])

    def version(self, enabled=True):
        """listVersion for GetLocalListVersion (5.10): -1 when not enabled, 0 for an empty list."""
        return self.list_version if enabled else -1

    def lookup(self, id_tag, now_s):
        """The listed IdTagInfo (a copy; Expired once past expiryDate, the list itself unchanged)."""
        try:
            entry = self.entries.get(id_key(id_tag))
        except AuthError:
            return None
        return None if entry is None else view(*unpack(entry), now_s)

    def apply(self, update_type, list_version, entries, enabled=True):
        """SendLocalList (5.15): "Accepted", "Failed", "VersionMismatch" or "NotSupported" (7.47).
        entries is localAuthorizationList (AuthorizationData, 7.1), or None. Nothing changes unless
        the whole update is valid and stored."""
        if not enabled:
            return "NotSupported"
        entries = [] if entries is None else entries
        if update_type not in ("Full", "Differential") or not isinstance(list_version, int) \
                or list_version is True or list_version is False or not isinstance(entries, list):
            self.problem("SendLocalList malformed: %r %r" % (update_type, list_version))
            return "Failed"
        if update_type == "Differential" and list_version <= self.list_version:
            return "VersionMismatch"  # 7.47: "less or equal then version number of current list"
        if len(entries) > self.send_max_length:
            self.problem("SendLocalList of %d entries, more than %d" % (len(entries), self.send_max_length))
            return "Failed"
        new = {} if update_type == "Full" else dict(self.entries)
        seen = {}
        try:
            for item in entries:
                if not isinstance(item, dict):
                    raise AuthError("AuthorizationData must be an object")
                key = id_key(item.get("idTag"))
                if key in seen:
                    raise AuthError("idTag %r given twice" % item["idTag"])
                seen[key] = True
                if "idTagInfo" in item:
                    new[key] = pack(check_info(item["idTagInfo"])[0])
                elif update_type == "Full":
                    raise AuthError("idTagInfo is required in a Full update (7.1)")
                else:
                    new.pop(key, None)  # 7.1: no idTagInfo in a Differential update deletes
        except AuthError as exc:
            self.problem("SendLocalList refused: %s" % exc)
            return "Failed"
        if len(new) > self.max_length:
            self.problem("local list would hold %d entries, more than %d" % (len(new), self.max_length))
            return "Failed"
        # 0 reports an empty list (5.10), so it names no other; -1 means "not supported".
        if list_version < 0 or (list_version == 0 and new):
            self.problem("SendLocalList version %d refused" % list_version)
            return "Failed"
        version = list_version if new else 0
        if not self.write({"version": RECORD_VERSION, "listVersion": version, "entries": new}):
            return "Failed"  # not acknowledged unless it survives a power cut
        self.list_version, self.entries = version, new
        return "Accepted"

    def conflict(self, id_tag, id_tag_info, now_s):
        """True when the CSMS's IdTagInfo disagrees with the list's entry for id_tag (3.5.2 ->
        StatusNotification on connector 0 with LocalListConflict). ConcurrentTx counts as Accepted."""
        given = check_info(id_tag_info)[0]
        listed = self.lookup(id_tag, now_s)
        if listed is None:
            return False
        status = "Accepted" if given["status"] == "ConcurrentTx" else given["status"]
        return status != listed["status"] or _lower(given.get("parentIdTag")) != _lower(listed.get("parentIdTag"))


def _lower(id_tag):
    return None if id_tag is None else id_tag.lower()
