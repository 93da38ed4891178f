# The requests a 1.6 CSMS sends to a charge point, as the OCA JSON schemas of OCPP 1.6 define them, in a
# compact form a microcontroller can check without a JSON-schema library, and the CALLERROR code for
# each way a payload can break them (OCPP-J 1.6 section 4.2.3, Table 7):
#
#   a field the PDU does not have (additionalProperties) -> FormationViolation ("not conform the PDU
#     structure"; the `ocpp` package maps it the same way)
#   a required field missing                               -> ProtocolError ("Payload ... is incomplete")
#   a wrong JSON type, a string too long, a bad dateTime   -> TypeConstraintViolation ("violates data type
#     constraints"; CiString20Type etc. are data types)
#   a value outside an enumeration                         -> PropertyConstraintViolation ("a field
#     contains an invalid value")
#
# The first problem found wins: unknown fields, then each field in schema order, depth first.
# Not checked: "multipleOf": 0.1 on charging rates (a Decimal question the firmware rounds anyway).
from firmware import timefmt
from firmware.ocpp.rpc import (FORMATION_VIOLATION, PROPERTY_CONSTRAINT_VIOLATION, PROTOCOL_ERROR,
                               TYPE_CONSTRAINT_VIOLATION, RpcError)

INT = "integer"
NUM = "number"
STR = "string"
ENUM = "enum"
TIME = "dateTime"
OBJ = "object"
LIST = "array"

# One request per block: its action at column 0, then one line per field, indented two spaces a level:
#   name  type  req|opt  argument
# type: integer, number, string, enum, dateTime, object, or one of them with "[]": an array of such items
# (its items always required). argument: a string's maximum length (none: any length), an enum's values
# (comma-separated), an object's fields (the indented lines under it, or "@Name": the block @Name at the
# end, a type more than one request uses). "#" starts a comment.
# Text rather than a dict of tuples (issue #4): importing the module took ~20 KB of heap on MicroPython's
# unix port with the dict, ~11 KB with this text. check() parses only the block of the action it checks
# (transient garbage, ~12 KB at most, for SetChargingProfile); requests() parses all (for the tests).
_TEXT = """
# name                      type      req argument
# OCPP 1.6 section 6, the .req PDUs a Central System sends.
# Security extension log upload and extended trigger (firmware/ocpp/log16.py); MessageTriggerEnumType
ExtendedTriggerMessage
  requestedMessage          enum      req BootNotification,LogStatusNotification,FirmwareStatusNotification,Heartbeat,MeterValues,SignChargePointCertificate,StatusNotification
  connectorId               integer   opt
GetLog
  log                       object    req  # LogParametersType
    remoteLocation          string    req 512
    oldestTimestamp         dateTime  opt
    latestTimestamp         dateTime  opt
  logType                   enum      req DiagnosticsLog,SecurityLog
  requestId                 integer   req
  retries                   integer   opt
  retryInterval             integer   opt
# Security extension A02/A03 (firmware/ocpp/certsign16.py)
CertificateSigned
  certificateChain          string    req 10000
# Security extension signed firmware update (firmware/ocpp/signed16.py)
SignedUpdateFirmware
  retries                   integer   opt
  retryInterval             integer   opt
  requestId                 integer   req
  firmware                  object    req  # FirmwareType
    location                string    req 512
    retrieveDateTime        dateTime  req
    installDateTime         dateTime  opt
    signingCertificate      string    req 5500
    signature               string    req 800
# Security extension certificate management (firmware/ocpp/certs16.py); CertificateUseEnumType
DeleteCertificate
  certificateHashData       object    req @CertificateHashData
GetInstalledCertificateIds
  certificateType           enum      req CentralSystemRootCertificate,ManufacturerRootCertificate
InstallCertificate
  certificateType           enum      req CentralSystemRootCertificate,ManufacturerRootCertificate
  certificate               string    req 5500
# Reservation and Smart Charging (firmware/ocpp/reservation.py, smart_charging.py)
CancelReservation
  reservationId             integer   req
ClearChargingProfile
  id                        integer   opt
  connectorId               integer   opt
  chargingProfilePurpose    enum      opt ChargePointMaxProfile,TxDefaultProfile,TxProfile
  stackLevel                integer   opt
GetCompositeSchedule
  connectorId               integer   req
  duration                  integer   req
  chargingRateUnit          enum      opt A,W
ReserveNow
  connectorId               integer   req
  expiryDate                dateTime  req
  idTag                     string    req 20
  parentIdTag               string    opt 20
  reservationId             integer   req
SetChargingProfile
  connectorId               integer   req
  csChargingProfiles        object    req @ChargingProfile
# Core, Firmware Management, Local Auth List Management, Remote Trigger
ChangeAvailability
  connectorId               integer   req
  type                      enum      req Inoperative,Operative
ChangeConfiguration
  key                       string    req 50
  value                     string    req 500
ClearCache
DataTransfer
  vendorId                  string    req 255
  messageId                 string    opt 50
  data                      string    opt
GetConfiguration
  key                       string[]  opt 50
GetDiagnostics
  location                  string    req
  retries                   integer   opt
  retryInterval             integer   opt
  startTime                 dateTime  opt
  stopTime                  dateTime  opt
GetLocalListVersion
RemoteStartTransaction
  connectorId               integer   opt
  idTag                     string    req 20
  chargingProfile           object    opt @ChargingProfile
RemoteStopTransaction
  transactionId             integer   req
Reset
  type                      enum      req Hard,Soft
SendLocalList
  listVersion               integer   req
  localAuthorizationList    object[]  opt
    idTag                   string    req 20
    idTagInfo               object    opt @IdTagInfo
  updateType                enum      req Differential,Full
# MessageTrigger 7.37
TriggerMessage
  requestedMessage          enum      req BootNotification,DiagnosticsStatusNotification,FirmwareStatusNotification,Heartbeat,MeterValues,StatusNotification
  connectorId               integer   opt
UnlockConnector
  connectorId               integer   req
UpdateFirmware
  location                  string    req
  retries                   integer   opt
  retrieveDate              dateTime  req
  retryInterval             integer   opt
# Types more than one request uses.
# IdTagInfo 7.27; its status an AuthorizationStatus 7.2
@IdTagInfo
  expiryDate                dateTime  opt
  parentIdTag               string    opt 20
  status                    enum      req Accepted,Blocked,Expired,Invalid,ConcurrentTx
# ChargingProfile 7.7
@ChargingProfile
  chargingProfileId         integer   req
  transactionId             integer   opt
  stackLevel                integer   req
  chargingProfilePurpose    enum      req ChargePointMaxProfile,TxDefaultProfile,TxProfile
  chargingProfileKind       enum      req Absolute,Recurring,Relative
  recurrencyKind            enum      opt Daily,Weekly
  validFrom                 dateTime  opt
  validTo                   dateTime  opt
  chargingSchedule          object    req  # ChargingSchedule 7.8
    duration                integer   opt
    startSchedule           dateTime  opt
    chargingRateUnit        enum      req A,W
    chargingSchedulePeriod  object[]  req  # ChargingSchedulePeriod 7.9
      startPeriod           integer   req
      limit                 number    req
      numberPhases          integer   opt
    minChargingRate         number    opt
# Security whitepaper ed. 3 (firmware/ocpp/certs16.py): CertificateHashDataType
@CertificateHashData
  hashAlgorithm             enum      req SHA256,SHA384,SHA512
  issuerNameHash            string    req 128
  issuerKeyHash             string    req 128
  serialNumber              string    req 40
"""


def _block(head):
    """The fields of the block head (an action, or "@Name") as a list of (name, (type, required, argument))
    in table order; KeyError when there is no such block."""
    at = -1
    if isinstance(head, str) and head and head[0] not in "# " and "\n" not in head:
        at = _TEXT.find("\n" + head + "\n")
    if at < 0:
        raise KeyError(head)
    # Sliced by offsets, one string a field line: the parse's garbage is what check() costs.
    lines = []
    at += len(head) + 2
    while at < len(_TEXT):
        end = _TEXT.find("\n", at)
        first = _TEXT[at] if at < end else "#"  # a blank line: skipped like a comment
        if first != "#":
            if first != " ":
                break  # the next block
            cut = _TEXT.find(" #", at, end)
            cut = end if cut < 0 else cut
            while cut > at and _TEXT[cut - 1] == " ":
                cut -= 1
            if cut > at:
                lines.append(_TEXT[at:cut])
        at = end + 1
    return _fields(lines, 0, 2)[0]


def _indent(line):
    n = 0
    while line[n] == " ":  # (a line is never blanks only)
        n += 1
    return n


def _fields(lines, i, indent):
    """The fields on lines[i:] indented by indent, and the index of the first line after them."""
    fields = []
    while i < len(lines) and _indent(lines[i]) >= indent:
        words = lines[i].split()
        i += 1
        kind = words[1]
        arg = words[3] if len(words) > 3 else None
        listed = kind[-2:] == "[]"
        if listed:
            kind = kind[:-2]
        if kind == OBJ:
            if arg is None:
                arg, i = _fields(lines, i, indent + 2)
            else:
                arg = _block(arg)
        elif kind == STR and arg is not None:
            arg = int(arg)
        elif kind == ENUM:
            arg = tuple(arg.split(","))
        required = words[2] == "req"
        fields.append((words[0], (LIST, required, (kind, True, arg)) if listed else (kind, required, arg)))
    return fields, i


def _spec_dict(spec):
    kind, required, arg = spec
    if kind == OBJ:
        arg = _dict(arg)
    elif kind == LIST:
        arg = _spec_dict(arg)
    return kind, required, arg


def _dict(fields):
    found = {}
    for name, spec in fields:
        found[name] = _spec_dict(spec)
    return found


def requests():
    """Every request's schema: {action: {field: (type, required, argument)}}, where argument is a string's
    maximum length or None, an enum's values (a tuple), an object's fields (such a dict), an array's
    items' (type, required, argument). Built on each call, for the tests; check() does not use it."""
    found = {}
    for line in _TEXT.split("\n"):
        if line and line[0] not in "# @":
            found[line] = _dict(_block(line))
    return found


def _is_int(value):
    return isinstance(value, int) and value is not True and value is not False


def _value(where, spec, value):
    kind, _required, arg = spec
    if kind == INT:
        ok = _is_int(value)
    elif kind == NUM:
        ok = _is_int(value) or isinstance(value, float)
    elif kind in (STR, ENUM, TIME):
        ok = isinstance(value, str)
    elif kind == OBJ:
        ok = isinstance(value, dict)
    else:
        ok = isinstance(value, list)
    if not ok:
        raise RpcError(TYPE_CONSTRAINT_VIOLATION, "%s must be of type %s" % (where, kind))
    if kind == STR and arg is not None and len(value) > arg:
        raise RpcError(TYPE_CONSTRAINT_VIOLATION, "%s is longer than %d characters" % (where, arg))
    if kind == ENUM and value not in arg:
        raise RpcError(PROPERTY_CONSTRAINT_VIOLATION, "%s must be one of %s" % (where, ", ".join(arg)))
    if kind == TIME:
        try:
            timefmt.parse(value)
        except ValueError:
            raise RpcError(TYPE_CONSTRAINT_VIOLATION, "%s is not an RFC 3339 dateTime" % where)
    if kind == OBJ:
        _object(where + ".", arg, value)
    elif kind == LIST:
        for i in range(len(value)):
            _value("%s[%d]" % (where, i), arg, value[i])


def _object(prefix, fields, payload):
    # fields: a list of (name, spec) in table order (a dict would lose it on MicroPython).
    for name in payload:
        for field in fields:
            if field[0] == name:
                break
        else:
            raise RpcError(FORMATION_VIOLATION, "%s%s is not a field of this PDU" % (prefix, name))
    for name, spec in fields:
        if name in payload:
            _value(prefix + name, spec, payload[name])
        elif spec[1]:
            raise RpcError(PROTOCOL_ERROR, "%s%s is required" % (prefix, name))


def check(action, payload):
    """Raise RpcError with the OCPP-J 1.6 code for the first way payload breaks the schema of action's
    request; return None when it conforms. KeyError for an action without a schema here."""
    if isinstance(action, str) and action[:1] == "@":  # a type, not an action
        raise KeyError(action)
    _object("", _block(action), payload)
