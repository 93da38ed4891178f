# Local authorization, OCPP 1.6 section 3.5: the Authorization Cache (3.5.1), the records of it and of the
# Local Authorization List (3.5.2: firmware/ocpp/local_list.py) and the decision whether a presented idTag
# may start charging at once, must be asked of the CSMS, or is refused (3.5, 3.5.3, 3.5.4).
#
# Sans-I/O: time comes in as UTC epoch seconds, records go through a Storage (hal/interfaces.py) as
# versioned JSON, nothing here sends a message. An idTag is a CiString20 (7.15, 7.28): printable ASCII,
# compared case-insensitively, so both stores key by the lower-cased idTag.
import json

from firmware import timefmt

STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")  # 1.6 section 7.2
VALID = ("Accepted", "ConcurrentTx")  # what 3.5.2 calls "valid"; only Accepted may start charging
ID_TAG_MAX_CHARS = 20  # CiString20Type, 1.6 section 7.15
RECORD_VERSION = 2  # layout of both stored records (each entry as its packed text; 1: as an object)
CACHE_KEY = "auth_cache"
LIST_KEY = "local_list"
MAX_PROBLEMS = 10  # kept for the log; older ones are dropped


class AuthError(ValueError):
    pass


def id_key(id_tag):
    """The lower-cased idTag, or AuthError when it is not a CiString20 (1..20 printable ASCII)."""
    if not isinstance(id_tag, str) or not 1 <= len(id_tag) <= ID_TAG_MAX_CHARS:
        raise AuthError("idTag must be 1..%d characters, not %r" % (ID_TAG_MAX_CHARS, id_tag))
    for c in id_tag:
        if not " " <= c <= "~":
            raise AuthError("idTag must be printable ASCII, not %r" % id_tag)
    return id_tag.lower()


def check_info(info):
    """(clean IdTagInfo, expiry epoch s or None) from an IdTagInfo (1.6 section 7.27). Raises AuthError."""
    if not isinstance(info, dict):
        raise AuthError("idTagInfo must be an object, not %r" % (info,))
    status = info.get("status")
    if status not in STATUSES:
        raise AuthError("idTagInfo status %r unknown" % (status,))
    clean = {"status": status}
    expiry_s = None
    if "expiryDate" in info:
        try:
            expiry_s = timefmt.parse(info["expiryDate"])  # RFC 3339, 1.6 section 3.15
        except ValueError as exc:
            raise AuthError("idTagInfo expiryDate: %s" % exc)
        clean["expiryDate"] = info["expiryDate"]
    if "parentIdTag" in info:
        id_key(info["parentIdTag"])
        clean["parentIdTag"] = info["parentIdTag"]
    return clean, expiry_s


def pack(clean):
    """The text an entry is kept as, in RAM and in its record: "status<TAB>expiryDate<TAB>parentIdTag",
    a field empty when absent (no field can hold a tab: an idTag is printable ASCII). A dict per entry took
    ~310 bytes of MicroPython's heap, the text ~180 with its key: a full cache of 50 idTags and a full list
    of 100 are what a charger used by many people holds for good (issue #4, `evse footprint`)."""
    return "%s\t%s\t%s" % (clean["status"], clean.get("expiryDate", ""), clean.get("parentIdTag", ""))


def unpack(text):
    """(clean IdTagInfo, expiry epoch s or None) of a packed entry. Raises AuthError."""
    fields = text.split("\t") if isinstance(text, str) else ()
    if len(fields) != 3:
        raise AuthError("entry %r is not status, expiryDate and parentIdTag" % (text,))
    info = {"status": fields[0]}
    if fields[1]:
        info["expiryDate"] = fields[1]
    if fields[2]:
        info["parentIdTag"] = fields[2]
    return check_info(info)


def view(info, expiry_s, now_s):
    # A valid entry past its expiryDate reads as Expired (3.5.1; 3.5.4 "apparently expired").
    info = dict(info)
    if expiry_s is not None and now_s >= expiry_s:
        info["status"] = "Expired"
    return info


class StoredRecord:
    # One versioned JSON record in Storage; a record that does not read back is reported, never used.
    def __init__(self, storage, key):
        self.storage = storage
        self.key = key
        self.problems = []

    def problem(self, text):
        self.problems = self.problems[-(MAX_PROBLEMS - 1):] + [text]

    def read(self):
        raw = None if self.storage is None else self.storage.read(self.key)
        if raw is None:
            return None
        try:
            record = json.loads(raw)
            version = record.get("version") if isinstance(record, dict) else None
            if version not in (1, RECORD_VERSION):  # 1: written by an older firmware, still read
                raise AuthError("not a version 1 or %d record" % RECORD_VERSION)
            if not isinstance(record.get("entries"), dict):
                raise AuthError("entries is not an object")
            entries = {}
            for key in record["entries"]:
                if id_key(key) != key:
                    raise AuthError("key %r is not lower-cased" % key)
                entries[key] = self.entry(record["entries"][key], version)
            return record, entries
        except Exception as exc:  # ValueError, KeyError, TypeError, UnicodeError...
            self.problem("stored %s unreadable (%s: %s); starting empty" % (self.key, type(exc).__name__, exc))
            return None

    def write(self, record):
        if self.storage is None:
            return True
        try:
            self.storage.write(self.key, json.dumps(record).encode())
            return True
        except Exception as exc:  # OSError from a full or failing flash
            self.problem("writing %s failed (%s: %s)" % (self.key, type(exc).__name__, exc))
            return False


class AuthCache(StoredRecord):
    """The Authorization Cache: the latest IdTagInfo the CSMS gave for each idTag (3.5.1)."""

    def __init__(self, storage, max_entries):
        StoredRecord.__init__(self, storage, CACHE_KEY)
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.entries = {}  # key -> "<last use tick><TAB><packed IdTagInfo>" (pack())
        self.tick = 0
        loaded = self.read()
        if loaded is not None:
            _record, self.entries = loaded
            for key in self.entries:
                self.tick = max(self.tick, _used(self.entries[key]))
            if len(self.entries) > self.max_entries:
                self.problem("stored cache longer than %d entries; least used dropped" % max_entries)
            while len(self.entries) > self.max_entries:
                self._evict(None)

    def entry(self, stored, version):
        if version == 1:  # [IdTagInfo, use tick]
            info, used = stored
            if not isinstance(used, int) or used is True or used is False or used < 0:
                raise AuthError("bad use tick %r" % (used,))
            return "%d\t%s" % (used, pack(check_info(info)[0]))
        fields = stored.split("\t", 1) if isinstance(stored, str) else ()  # "<use tick><TAB><packed>"
        if len(fields) != 2 or not fields[0].isdigit():
            raise AuthError("bad cache entry %r" % (stored,))
        return "%d\t%s" % (int(fields[0]), pack(unpack(fields[1])[0]))

    def _save(self):
        self.write({"version": RECORD_VERSION, "entries": self.entries})

    def _evict(self, now_s):
        # 3.5.1: "remove any NOT-valid entries, and then, if necessary, the oldest valid entries".
        # Only as many as needed, least recently used first, so a Blocked idTag stays known as long
        # as possible (dropped, it would read as unknown offline).
        victim = None
        for key in self.entries:
            used, text = self.entries[key].split("\t", 1)
            info, expiry_s = unpack(text)
            valid = info["status"] in VALID and (now_s is None or expiry_s is None or now_s < expiry_s)
            rank = (valid, int(used))
            if victim is None or rank < victim[0]:
                victim = (rank, key)
        del self.entries[victim[1]]

    def update(self, id_tag, id_tag_info, now_s):
        """Remember the IdTagInfo of an Authorize/StartTransaction/StopTransaction reply. Raises AuthError."""
        key = id_key(id_tag)
        clean, expiry_s = check_info(id_tag_info)
        if key not in self.entries and len(self.entries) >= self.max_entries:
            self._evict(now_s)
        self.tick += 1
        self.entries[key] = "%d\t%s" % (self.tick, pack(clean))
        self._save()

    def lookup(self, id_tag, now_s):
        """The cached IdTagInfo (a copy; Expired once past expiryDate), or None when unknown."""
        try:
            key = id_key(id_tag)
        except AuthError:
            return None
        entry = self.entries.get(key)
        if entry is None:
            return None
        info = view(*unpack(entry.split("\t", 1)[1]), now_s)  # 3.5.1: an expired entry is changed to Expired
        self.tick += 1
        self.entries[key] = "%d\t%s" % (self.tick, pack(info))
        self._save()
        return info

    def clear(self):
        """ClearCache (1.6 section 5.4)."""
        self.entries = {}
        self._save()


def _used(entry):
    return int(entry.split("\t", 1)[0])


def _flag(config, name):
    # 1.6 section 9: an optional boolean key that is absent means the feature is absent.
    try:
        return config[name] is True
    except KeyError:
        return False


def learn(id_tag, id_tag_info, now_s, config, cache, local_list):
    """Feed every IdTagInfo the CSMS sends (Authorize, StartTransaction, StopTransaction .conf).
    Returns True when it conflicts with the Local Authorization List. Raises AuthError on bad input."""
    id_key(id_tag)
    if id_tag_info is None:
        return False
    check_info(id_tag_info)
    if local_list is not None and _flag(config, "LocalAuthListEnabled") \
            and local_list.lookup(id_tag, now_s) is not None:
        # 3.5.3: identifiers known in the list are not added to the cache.
        return local_list.conflict(id_tag, id_tag_info, now_s)
    if cache is not None and _flag(config, "AuthorizationCacheEnabled"):
        cache.update(id_tag, id_tag_info, now_s)
    return False


def decide(id_tag, now_s, online, config, cache, local_list):
    """What to do with an idTag presented at the charger (3.5):
    ("accept", idTagInfo) start at once; ("accept", None) offline, unknown idTag let in by
    AllowOfflineTxForUnknownId (3.5.4; StartTransaction.conf decides later); ("ask", None) send
    Authorize to the CSMS; ("reject", idTagInfo or None) refuse."""
    try:
        id_key(id_tag)
    except AuthError:
        return ("reject", None)  # not a CiString20: no CSMS could accept it either
    info = None
    if local_list is not None and _flag(config, "LocalAuthListEnabled"):
        info = local_list.lookup(id_tag, now_s)
    if info is None and cache is not None and _flag(config, "AuthorizationCacheEnabled"):
        info = cache.lookup(id_tag, now_s)  # 3.5.3: the list has priority over the cache
    accepted = info is not None and info["status"] == "Accepted"
    if online:
        # LocalPreAuthorize starts on a valid local entry without waiting; a NOT-valid entry is
        # checked with the CSMS (3.5.1 "an Authorize.req SHOULD be sent").
        if accepted and _flag(config, "LocalPreAuthorize"):
            return ("accept", info)
        return ("ask", None)
    if info is not None and not accepted:
        return ("reject", info)  # 3.5.4: not Accepted, or expired by time, MUST be rejected
    if accepted and _flag(config, "LocalAuthorizeOffline"):
        return ("accept", info)
    if _flag(config, "AllowOfflineTxForUnknownId"):
        return ("accept", None)
    return ("reject", None)
