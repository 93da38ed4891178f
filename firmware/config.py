# Charge point configuration: typed keys with defaults, access and ranges, kept apart from code.
#
# The values live in Storage under one key as JSON with a schema version; a record that does not
# parse or fails validation is reported and replaced by the defaults key by key, never half-used.
import json

RW = "RW"
R = "R"
VERSION = 1  # of the stored record's layout
STORE_KEY = "config"

# The measurands the metering can report (firmware/ocpp/v16.py meter_value). A CSL key naming any other
# is Rejected: Accepting it would promise values the CSMS never gets.
MEASURANDS = (
    "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC",
)

# name: (type, default, access, (min, max) or None). OCPP 1.6 section 9 (fact sheet 4.3).
KEYS = {
    "AuthorizeRemoteTxRequests": ("bool", False, RW, None),
    "ClockAlignedDataInterval": ("int", 0, RW, (0, 86400)),
    "ConnectionTimeOut": ("int", 60, RW, (1, 3600)),
    "GetConfigurationMaxKeys": ("int", 50, R, None),
    "HeartbeatInterval": ("int", 86400, RW, (1, 604800)),
    "LocalAuthorizeOffline": ("bool", True, RW, None),
    "LocalPreAuthorize": ("bool", False, RW, None),
    "MeterValuesAlignedData": ("csl", "Energy.Active.Import.Register", RW, None),
    "MeterValuesSampledData": (
        "csl", "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC", RW, None),
    "MeterValueSampleInterval": ("int", 60, RW, (0, 86400)),
    "NumberOfConnectors": ("int", 1, R, None),
    "ResetRetries": ("int", 2, RW, (0, 10)),
    "StopTransactionOnEVSideDisconnect": ("bool", True, RW, None),
    "StopTransactionOnInvalidId": ("bool", True, RW, None),
    "StopTxnSampledData": ("csl", "Energy.Active.Import.Register", RW, None),
    "SupportedFeatureProfiles": ("csl", "Core", R, None),
    "TransactionMessageAttempts": ("int", 3, RW, (1, 100)),
    "TransactionMessageRetryInterval": ("int", 60, RW, (1, 86400)),
    "WebSocketPingInterval": ("int", 0, RW, (0, 86400)),
    "MaxCurrent": ("int", 32, RW, (6, 80)),  # vendor key: the installation's current limit per phase, A
}

CSL_ALLOWED = {
    "MeterValuesSampledData": MEASURANDS,
    "MeterValuesAlignedData": MEASURANDS,
    "StopTxnSampledData": MEASURANDS,
}


_BY_LOWER = {}
for _name in KEYS:
    _BY_LOWER[_name.lower()] = _name


def canonical(name):
    """The key as we spell it, for a name in any case, or None for a key we do not have.
    OCPP 1.6 types the key of Get/ChangeConfiguration as CiString50Type: case-insensitive."""
    if not isinstance(name, str):
        return None
    return _BY_LOWER.get(name.lower())


class ConfigError(Exception):
    pass


def parse(name, text):
    """Check a value given as text (as OCPP sends it) and return it typed. Raises ConfigError."""
    kind, _default, _access, limits = KEYS[name]
    if kind == "bool":
        low = text.lower()
        if low not in ("true", "false"):
            raise ConfigError("%s must be true or false, not %r" % (name, text))
        return low == "true"
    if kind == "int":
        # Plain ASCII digits with an optional sign: int() alone also takes "1_000", " 7 " and (on
        # CPython only) non-ASCII digits, so the two runtimes would disagree.
        digits = text[1:] if text[:1] in ("-", "+") else text
        if not digits or not all("0" <= c <= "9" for c in digits) or len(digits) > 18:
            raise ConfigError("%s must be an integer, not %r" % (name, text))
        value = int(text)
        if limits is not None and not limits[0] <= value <= limits[1]:
            raise ConfigError("%s must be within %d..%d, not %d" % (name, limits[0], limits[1], value))
        return value
    items = [item.strip() for item in text.split(",") if item.strip()]
    allowed = CSL_ALLOWED.get(name)
    if allowed is not None:
        for item in items:
            if item not in allowed:
                raise ConfigError("%s: unsupported item %r" % (name, item))
    return ",".join(items)


_JSON_TYPES = {"bool": (bool,), "int": (int,), "csl": (str,)}


def _stored_type_ok(kind, value):
    # What _save wrote: a JSON true/false for bool, a number for int (never a bool), a string for csl.
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
        self.values = {}
        self.problems = []  # what was wrong with the stored record, for the log
        for name in KEYS:
            self.values[name] = KEYS[name][1]
        self._load()
        if overrides:
            for name in overrides:
                self.values[name] = overrides[name]

    def __getitem__(self, name):
        return self.values[name]

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
            if name not in KEYS:
                self.problems.append("unknown stored key %s ignored" % name)
                continue
            kind, _default, access, _limits = KEYS[name]
            if access != RW:
                continue  # read-only keys are the firmware's facts; older firmware stored them too
            value = stored[name]
            if not _stored_type_ok(kind, value):
                self.problems.append("stored %s has the wrong type (%r); default kept" % (name, value))
                continue
            try:
                self.values[name] = parse(name, render(value))
            except ConfigError as exc:
                self.problems.append("%s; default kept" % exc)

    def set(self, name, text):
        """ChangeConfiguration semantics: returns Accepted, Rejected or NotSupported."""
        name = canonical(name)
        if name is None:
            return "NotSupported"
        if KEYS[name][2] != RW:
            return "Rejected"
        try:
            self.values[name] = parse(name, text)
        except ConfigError:
            return "Rejected"
        self._save()
        return "Accepted"

    def _save(self):
        if self.storage is not None:
            # Only the RW keys: a read-only value stored once would hide a newer firmware's value.
            values = {}
            for name in KEYS:
                if KEYS[name][2] == RW:
                    values[name] = self.values[name]
            record = {"version": VERSION, "values": values}
            self.storage.write(STORE_KEY, json.dumps(record).encode())

    def entries(self, names=None):
        """(known entries as dicts with key/readonly/value, unknown names) for GetConfiguration."""
        known = []
        unknown = []
        for asked in names or sorted(KEYS):
            name = canonical(asked)
            if name is None:
                unknown.append(asked)
                continue
            known.append({"key": name, "readonly": KEYS[name][2] != RW, "value": render(self.values[name])})
        return known, unknown
