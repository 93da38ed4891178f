# Charge point configuration: typed keys with defaults, access and ranges, kept apart from code.
#
# The values live in Storage under one key as JSON with a schema version; a record that does not
# parse or fails validation is reported and replaced by the defaults key by key, never half-used.
import json

from firmware.ocpp import keys16
from firmware.ocpp.keys16 import MEASURANDS, R, REBOOT_REQUIRED, ROTATIONS, RW, W, canonical, spec  # noqa: F401

VERSION = 1  # of the stored record's layout
STORE_KEY = "config"


def __getattr__(name):
    # KEYS (the readable keys, what GetConfiguration lists) and SECRETS (the write-only ones) as dicts of
    # spec() tuples, built when asked for (tools and tests): the firmware reads keys16's table instead.
    if name == "KEYS" or name == "SECRETS":
        table = {}
        for key in keys16.names():
            entry = spec(key)
            if (entry[2] == W) == (name == "SECRETS"):
                table[key] = entry
        return table
    raise AttributeError(name)


class ConfigError(Exception):
    pass


def _int(name, text, limits):
    # Plain ASCII digits with an optional sign: int() alone also takes "1_000", " 7 " and (on CPython
    # only) non-ASCII digits, so the two runtimes would disagree.
    digits = text[1:] if text[:1] in ("-", "+") else text
    if not digits or not all("0" <= c <= "9" for c in digits) or len(digits) > 18:
        raise ConfigError("%s must be an integer, not %r" % (name, text))
    value = int(text)
    if limits is not None and not limits[0] <= value <= limits[1]:
        raise ConfigError("%s must be within %d..%d, not %d" % (name, limits[0], limits[1], value))
    return value


def _items(name, text, limits):
    items = [item.strip() for item in text.split(",") if item.strip()]
    if limits is not None:
        allowed, most = limits
        if len(items) > most:
            raise ConfigError("%s takes at most %d items, not %d" % (name, most, len(items)))
        for i in range(len(items)):
            if allowed is not None and items[i] not in allowed:
                raise ConfigError("%s: unsupported item %r" % (name, items[i]))
            if items[i] in items[:i]:
                raise ConfigError("%s: %r given twice" % (name, items[i]))
    return items


def _phases(name, items):
    # "<connectorId>.<rotation>", one per connector: 0 (the grid connection) or 1 (section 9.1.7).
    seen = []
    for item in items:
        connector, _, rotation = item.partition(".")
        if connector not in ("0", "1") or rotation not in ROTATIONS or connector in seen:
            raise ConfigError("%s: %r is not <connector 0 or 1>.<rotation>, once per connector" % (name, item))
        seen.append(connector)


def parse(name, text):
    """Check a value given as text (as OCPP sends it) and return it typed. Raises ConfigError."""
    kind, _default, _access, limits = spec(name)
    if kind == "bool":
        low = text.lower()
        if low not in ("true", "false") or (limits is not None and (low == "true") not in limits):
            raise ConfigError("%s must be %s, not %r" % (
                name, " or ".join(render(v) for v in (limits or (True, False))), text))
        return low == "true"
    if kind == "int":
        return _int(name, text, limits)
    if kind == "str":
        if limits is not None and not limits[0] <= len(text.encode()) <= limits[1]:
            raise ConfigError("%s must be %d..%d bytes of UTF-8" % (name, limits[0], limits[1]))
        return text
    if kind == "hex":
        if not limits[0] <= len(text) <= limits[1] or len(text) % 2 \
                or not all(c in "0123456789abcdefABCDEF" for c in text):
            raise ConfigError("%s must be %d..%d hex digits (an even number)" % (name, limits[0], limits[1]))
        return text
    items = _items(name, text, limits)
    if kind == "phases":
        _phases(name, items)
    return ",".join(items)


_JSON_TYPES = {"bool": (bool,), "int": (int,), "csl": (str,), "phases": (str,), "hex": (str,), "str": (str,)}


def _stored_type_ok(kind, value):
    # What _save wrote: a JSON true/false for bool, a number for int (never a bool), a string otherwise.
    if kind != "bool" and (value is True or value is False):
        return False
    return isinstance(value, _JSON_TYPES[kind])


def render(value):
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


class Config:
    def __init__(self, storage=None, overrides=None):
        self.storage = storage
        # Only the keys given a value (stored, passed here or changed since); the others read their default
        # from the key table when asked. A dict of every key took ~5 KB of heap under MicroPython (issue #4),
        # and a stored record of only what was set lets a newer firmware's defaults apply to the rest.
        self.values = {}
        self.problems = []  # what was wrong with the stored record, for the log
        self._load()
        if overrides:
            for name in overrides:
                self.values[name] = overrides[name]

    def __getitem__(self, name):
        if name in self.values:
            return self.values[name]
        return spec(name)[1]  # KeyError for a key this charger does not have

    def _load(self):
        if self.storage is None:
            return
        raw = self.storage.read(STORE_KEY)
        if raw is None:
            return
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            if record.get("version") != VERSION:
                raise ValueError("layout version %r" % record.get("version"))
            stored = record["values"]
            if not isinstance(stored, dict):
                raise ValueError("values is not a JSON object")
        except Exception as exc:  # ValueError, UnicodeError, KeyError, RecursionError...
            self.problems.append("stored configuration unreadable (%s: %s); using defaults"
                                 % (type(exc).__name__, exc))
            return
        for name in stored:
            try:
                kind, _default, access, _limits = spec(name)
            except KeyError:
                self.problems.append("unknown stored key %s ignored" % name)
                continue
            if access == R:
                continue  # read-only keys are the firmware's facts; older firmware stored them too
            value = stored[name]
            if value is None and access == W:
                continue  # a secret never set
            if not _stored_type_ok(kind, value):
                self.problems.append("stored %s has the wrong type; default kept" % name)
                continue
            try:
                self.values[name] = parse(name, render(value))
            except ConfigError as exc:
                self.problems.append("%s; default kept" % (name if access == W else exc))

    def set(self, name, text):
        """ChangeConfiguration semantics (OCPP 1.6 section 7.9): returns Accepted, Rejected (a bad value,
        a read-only key), RebootRequired (stored, applies at the next boot) or NotSupported (unknown)."""
        name = canonical(name)
        if name is None:
            return "NotSupported"
        if spec(name)[2] == R:
            return "Rejected"
        try:
            self.values[name] = parse(name, text)
        except ConfigError:
            return "Rejected"
        self._save()
        return "RebootRequired" if name in REBOOT_REQUIRED else "Accepted"

    def _save(self):
        if self.storage is not None:
            # Only what may be written: a read-only value stored once would hide a newer firmware's value.
            values = {}
            for name in self.values:
                if canonical(name) == name and spec(name)[2] != R:
                    values[name] = self.values[name]
            record = {"version": VERSION, "values": values}
            self.storage.write(STORE_KEY, json.dumps(record).encode())

    def entries(self, names=None):
        """(known entries as dicts with key/readonly/value, unknown names) for GetConfiguration.
        A write-only key is in neither list (security whitepaper: never readable)."""
        known = []
        unknown = []
        for asked in names or sorted(keys16.names()):
            name = canonical(asked)
            access = spec(name)[2] if name is not None else None
            if name is None:
                unknown.append(asked)
            elif access != W:
                known.append({"key": name, "readonly": access == R, "value": render(self[name])})
        return known, unknown
