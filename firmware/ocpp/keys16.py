# The OCPP 1.6 configuration keys this charge point has: type, default, accessibility and range
# (OCPP 1.6 section 9; fact sheet 4.3). firmware/config.py checks, stores and serves them.
#
# Accessibility: R read-only (ChangeConfiguration answers Rejected), RW, W write-only (a secret: set by
# ChangeConfiguration, never shown by GetConfiguration, not even as an unknown key).
# An optional key that is absent means the feature is absent (section 9): BlinkRepeat, LightIntensity,
# MaxEnergyOnInvalidId and MinimumStatusDuration are left out because this charger does not do them.
R = "R"
RW = "RW"
W = "W"

# The measurands the metering can report (firmware/ocpp/v16.py meter_value). A CSL key naming any other
# is Rejected: accepting it would promise values the CSMS never gets.
MEASURANDS = (
    "Energy.Active.Import.Register", "Power.Active.Import", "Current.Import", "Voltage", "SoC",
)
# ConnectorPhaseRotation items are "<connectorId>.<rotation>" (section 9.1.7).
ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")
# Only profiles that really work (docs/ocpp16.md).
PROFILES = ("Core", "FirmwareManagement", "LocalAuthListManagement", "RemoteTrigger", "Reservation",
            "SmartCharging")
CSL_MAX_ITEMS = len(MEASURANDS)  # *MaxLength keys: each measurand at most once
LOCAL_LIST_MAX = 100  # entries; the list is one storage record, about 100 bytes per entry
SEND_LIST_MAX = 100  # entries in one SendLocalList.req

# Changes to these are stored and answered RebootRequired (ChangeConfigurationStatus, section 7.9): the
# power path reads them once, when it is built at boot (firmware/charger.py: the session's plug-in timer
# and the installation's current limit), so a change in the running firmware would be a promise it
# does not keep until the next boot.
REBOOT_REQUIRED = ("ConnectionTimeOut", "MaxCurrent")

# One key per line: name, type, access, limits, default (the rest of the line; nothing: no default).
# Types: bool, int, csl (comma-separated list), phases (a CSL of "<connectorId>.<rotation>", section
# 9.1.7), hex, str. Limits ("-": none): "min..max" for an int, "fewest..most" bytes of UTF-8 for a str;
# "<items>/<most>" for a CSL, items "measurands" (MEASURANDS) or "-" (any); for a bool the only value that
# may be set (a value the charger cannot honour is Rejected); "fewest..most" digits for hex. A CSL's
# default "*" is every item it allows.
# Text rather than a dict of tuples: on MicroPython the dict took ~10 KB of heap, this its characters
# (issue #4); one literal per line, so that the comments between them stay out of it (~2 KB). spec()
# reads one key; names() lists them.
_TABLE = (
    #  name                                    type   acc limits          default
    # Core (section 9.1)
    "\nAllowOfflineTxForUnknownId              bool   RW  -               false"
    "\nAuthorizationCacheEnabled               bool   RW  -               true"
    "\nAuthorizeRemoteTxRequests               bool   RW  -               false"
    "\nClockAlignedDataInterval                int    RW  0..86400        0"
    "\nConnectionTimeOut                       int    RW  1..3600         60"
    "\nConnectorPhaseRotation                  phases RW  -/2             1.Unknown"
    "\nConnectorPhaseRotationMaxLength         int    R   -               2"
    "\nGetConfigurationMaxKeys                 int    R   -               50"
    "\nHeartbeatInterval                       int    RW  1..604800       86400"
    "\nLocalAuthorizeOffline                   bool   RW  -               true"
    "\nLocalPreAuthorize                       bool   RW  -               false"
    "\nMeterValuesAlignedData                  csl    RW  measurands/5    Energy.Active.Import.Register"
    "\nMeterValuesAlignedDataMaxLength         int    R   -               5"
    "\nMeterValuesSampledData                  csl    RW  measurands/5    *"
    "\nMeterValuesSampledDataMaxLength         int    R   -               5"
    "\nMeterValueSampleInterval                int    RW  0..86400        60"
    "\nNumberOfConnectors                      int    R   -               1"
    "\nResetRetries                            int    RW  0..10           2"
    # The session always ends the transaction when the EV unplugs (firmware/session.py): false is Rejected.
    "\nStopTransactionOnEVSideDisconnect       bool   RW  true            true"
    "\nStopTransactionOnInvalidId              bool   RW  -               true"
    "\nStopTxnAlignedData                      csl    RW  measurands/5"
    "\nStopTxnAlignedDataMaxLength             int    R   -               5"
    "\nStopTxnSampledData                      csl    RW  measurands/5    Energy.Active.Import.Register"
    "\nStopTxnSampledDataMaxLength             int    R   -               5"
    "\nSupportedFeatureProfiles                csl    R   -               Core,FirmwareManagement,LocalAuthListManagement,RemoteTrigger,Reservation,SmartCharging"
    "\nSupportedFeatureProfilesMaxLength       int    R   -               6"
    "\nTransactionMessageAttempts              int    RW  1..100          3"
    "\nTransactionMessageRetryInterval         int    RW  1..86400        60"
    # No connector lock (a tethered cable or a plain socket): nothing to unlock, both values hold.
    "\nUnlockConnectorOnEVSideDisconnect       bool   RW  -               true"
    # The link pings on it (firmware/ocpp/link.py); 0 turns pings off.
    "\nWebSocketPingInterval                   int    RW  0..86400        0"
    # Local Auth List Management (section 9.2)
    "\nLocalAuthListEnabled                    bool   RW  -               true"
    "\nLocalAuthListMaxLength                  int    R   -               100"
    "\nSendLocalListMaxLength                  int    R   -               100"
    # Reservation (section 9.3, firmware/ocpp/reservation.py): the connector only, not connector 0.
    "\nReserveConnectorZeroSupported           bool   R   -               false"
    # Smart Charging (section 9.4): the limits firmware/ocpp/smart_charging.py gives smart.Profiles.
    "\nChargeProfileMaxStackLevel              int    R   -               8"
    "\nChargingScheduleAllowedChargingRateUnit csl    R   -               Current,Power"
    "\nChargingScheduleMaxPeriods              int    R   -               24"
    "\nConnectorSwitch3to1PhaseSupported       bool   R   -               false"
    "\nMaxChargingProfilesInstalled            int    R   -               16"
    # Vendor key: the installation's current limit per phase, A.
    "\nMaxCurrent                              int    RW  6..80           32"
    # Security whitepaper ed. 2 section 7 (firmware/ocpp/security16.py): SecurityProfile only goes up, and
    # only to a profile whose prerequisites are installed (security16.change_profile checks both).
    "\nSecurityProfile                         int    RW  0..3            0"
    # CertificateStoreMaxLength: firmware/security/certstore.py's default; CertificateSignedMaxChainSize: the
    # most characters a CertificateSigned.req certificateChain may have.
    "\nCertificateStoreMaxLength               int    R   -               10"
    "\nCertificateSignedMaxChainSize           int    R   -               10000"
    "\nAdditionalRootCertificateCheck          bool   R   -               false"
    # SignCertificate.req resends (firmware/ocpp/certsign16.py): wait CertSigningWaitMinimum s for a
    # CertificateSigned.req, then resend, doubling the wait, at most CertSigningRepeatTimes times. 60 s: a
    # CSMS with its CA at hand signs within seconds, one relaying to an external PKI within a minute or two;
    # 3 resends (60 + 120 + 240 s) ride out a lost message or a reconnect without flooding the CSMS with
    # CSRs (each also costs a key generation). Up to a day and 10 resends; 0 resends: one request per trigger.
    "\nCertSigningWaitMinimum                  int    RW  1..86400        60"
    "\nCertSigningRepeatTimes                  int    RW  0..10           3"
    # The O of the CSR subject (A02.FR.13; firmware/ocpp/certsign16.py), at most 64 bytes of UTF-8 (X.520's
    # bound for an organization name). Empty (no CPO known yet): SignChargePointCertificate is Rejected.
    "\nCpoName                                 str    RW  0..64"
    # Write-only (security whitepaper ed. 2 section 2.1; fact sheet 4.1): never read back. AuthorizationKey is
    # 16..20 bytes, given as 32..40 hex digits: the Basic auth password of security profiles 1 and 2
    # (firmware/ocpp/security16.py).
    "\nAuthorizationKey                        hex    W   32..40"
    "\n"
)


_NAME_W = 40  # columns of _TABLE: the name, then type, access and limits; the default from _DEFAULT_AT
_DEFAULT_AT = 67


def _plain(name):
    # A name that could be a key: a non-empty string without blanks, not a comment line.
    return isinstance(name, str) and name != "" and name[0] != "#" and " " not in name and "\n" not in name


def _find(name):
    """The offset of the newline before name's line in _TABLE, or -1."""
    return _TABLE.find("\n" + name + " ") if _plain(name) else -1


def names():
    """Every key, in table order (the write-only one too), one at a time: splitting the table into
    lines took ~6 KB of heap at once under MicroPython, on every configuration change (issue #4)."""
    at = _TABLE.find("\n")
    while at >= 0:
        if at + 1 < len(_TABLE):  # the table ends with a newline
            yield _TABLE[at + 1:_TABLE.find(" ", at + 1)]
        at = _TABLE.find("\n", at + 1)


def canonical(name):
    """The key as spelt here for a name in any case, or None for a key this charger does not have.
    OCPP 1.6 types the key of Get/ChangeConfiguration as CiString50Type: case-insensitive."""
    if _find(name) >= 0:
        return name
    if not _plain(name):
        return None
    low = name.lower()
    at = _TABLE.find("\n")
    while at >= 0:
        end = at + 1 + len(name)
        if _TABLE[end:end + 1] == " " and _TABLE[at + 1:end].lower() == low:
            return _TABLE[at + 1:end]
        at = _TABLE.find("\n", at + 1)
    return None


def _limits(kind, text):
    if text == "-":
        return None
    if kind == "bool":
        return tuple(value == "true" for value in text.split(","))
    if kind == "int" or kind == "hex" or kind == "str":
        low, _, high = text.partition("..")
        return int(low), int(high)
    allowed, _, most = text.partition("/")
    return (MEASURANDS if allowed == "measurands" else None), int(most)


def spec(name):
    """(type, default, access, limits) of a key, typed (a bool default is True/False, an int's an int,
    a secret without a value None); KeyError for a key this charger does not have."""
    at = _find(name)
    if at < 0:
        raise KeyError(name)
    line = _TABLE[at + 1:_TABLE.find("\n", at + 1)]
    kind, access, limits = line[_NAME_W:_DEFAULT_AT].split()
    default = line[_DEFAULT_AT:] if len(line) > _DEFAULT_AT else None
    limits = _limits(kind, limits)
    if kind == "bool":
        default = default == "true"
    elif kind == "int":
        default = int(default)
    elif default == "*":
        default = ",".join(limits[0])
    elif default is None and kind != "hex":
        default = ""
    return kind, default, access, limits
