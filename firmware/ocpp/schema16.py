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

ID_TAG_STATUSES = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")  # AuthorizationStatus 7.2
TRIGGERS = ("BootNotification", "DiagnosticsStatusNotification", "FirmwareStatusNotification", "Heartbeat",
            "MeterValues", "StatusNotification")  # MessageTrigger 7.37
EXTENDED_TRIGGERS = ("BootNotification", "LogStatusNotification", "FirmwareStatusNotification", "Heartbeat",
                     "MeterValues", "SignChargePointCertificate", "StatusNotification")  # MessageTriggerEnumType

# field: (type, required, argument): the maximum length of a string, the values of an enum, the
# fields of an object, the (type, required, argument) of an array's items.
ID_TAG_INFO = {  # IdTagInfo 7.27
    "expiryDate": (TIME, False, None),
    "parentIdTag": (STR, False, 20),
    "status": (ENUM, True, ID_TAG_STATUSES),
}
_PERIOD = {  # ChargingSchedulePeriod 7.9
    "startPeriod": (INT, True, None),
    "limit": (NUM, True, None),
    "numberPhases": (INT, False, None),
}
_SCHEDULE = {  # ChargingSchedule 7.8
    "duration": (INT, False, None),
    "startSchedule": (TIME, False, None),
    "chargingRateUnit": (ENUM, True, ("A", "W")),
    "chargingSchedulePeriod": (LIST, True, (OBJ, True, _PERIOD)),
    "minChargingRate": (NUM, False, None),
}
CHARGING_PROFILE = {  # ChargingProfile 7.7
    "chargingProfileId": (INT, True, None),
    "transactionId": (INT, False, None),
    "stackLevel": (INT, True, None),
    "chargingProfilePurpose": (ENUM, True, ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile")),
    "chargingProfileKind": (ENUM, True, ("Absolute", "Recurring", "Relative")),
    "recurrencyKind": (ENUM, False, ("Daily", "Weekly")),
    "validFrom": (TIME, False, None),
    "validTo": (TIME, False, None),
    "chargingSchedule": (OBJ, True, _SCHEDULE),
}

# Security whitepaper ed. 3 (firmware/ocpp/certs16.py): CertificateUseEnumType, CertificateHashDataType
CERTIFICATE_USES = ("CentralSystemRootCertificate", "ManufacturerRootCertificate")
CERTIFICATE_HASH_DATA = {
    "hashAlgorithm": (ENUM, True, ("SHA256", "SHA384", "SHA512")),
    "issuerNameHash": (STR, True, 128),
    "issuerKeyHash": (STR, True, 128),
    "serialNumber": (STR, True, 40),
}

REQUESTS = {  # OCPP 1.6 section 6, the .req PDUs a Central System sends
    # Security extension log upload and extended trigger (firmware/ocpp/log16.py)
    "ExtendedTriggerMessage": {"requestedMessage": (ENUM, True, EXTENDED_TRIGGERS), "connectorId": (INT, False, None)},
    "GetLog": {
        "log": (OBJ, True, {  # LogParametersType
            "remoteLocation": (STR, True, 512),
            "oldestTimestamp": (TIME, False, None),
            "latestTimestamp": (TIME, False, None),
        }),
        "logType": (ENUM, True, ("DiagnosticsLog", "SecurityLog")),
        "requestId": (INT, True, None),
        "retries": (INT, False, None),
        "retryInterval": (INT, False, None),
    },
    # Security extension A02/A03 (firmware/ocpp/certsign16.py)
    "CertificateSigned": {"certificateChain": (STR, True, 10000)},  # string, maxLength 10000
    # Security extension signed firmware update (firmware/ocpp/signed16.py)
    "SignedUpdateFirmware": {
        "retries": (INT, False, None),
        "retryInterval": (INT, False, None),
        "requestId": (INT, True, None),
        "firmware": (OBJ, True, {  # FirmwareType
            "location": (STR, True, 512),
            "retrieveDateTime": (TIME, True, None),
            "installDateTime": (TIME, False, None),
            "signingCertificate": (STR, True, 5500),
            "signature": (STR, True, 800),
        }),
    },
    # Security extension certificate management (firmware/ocpp/certs16.py)
    "DeleteCertificate": {"certificateHashData": (OBJ, True, CERTIFICATE_HASH_DATA)},
    "GetInstalledCertificateIds": {"certificateType": (ENUM, True, CERTIFICATE_USES)},
    "InstallCertificate": {
        "certificateType": (ENUM, True, CERTIFICATE_USES),
        "certificate": (STR, True, 5500),  # InstallCertificate.req: string, maxLength 5500
    },
    # Reservation and Smart Charging (firmware/ocpp/reservation.py, smart_charging.py)
    "CancelReservation": {"reservationId": (INT, True, None)},
    "ClearChargingProfile": {
        "id": (INT, False, None),
        "connectorId": (INT, False, None),
        "chargingProfilePurpose": (ENUM, False, ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile")),
        "stackLevel": (INT, False, None),
    },
    "GetCompositeSchedule": {
        "connectorId": (INT, True, None),
        "duration": (INT, True, None),
        "chargingRateUnit": (ENUM, False, ("A", "W")),
    },
    "ReserveNow": {
        "connectorId": (INT, True, None),
        "expiryDate": (TIME, True, None),
        "idTag": (STR, True, 20),
        "parentIdTag": (STR, False, 20),
        "reservationId": (INT, True, None),
    },
    "SetChargingProfile": {
        "connectorId": (INT, True, None),
        "csChargingProfiles": (OBJ, True, CHARGING_PROFILE),
    },
    "ChangeAvailability": {
        "connectorId": (INT, True, None),
        "type": (ENUM, True, ("Inoperative", "Operative")),
    },
    "ChangeConfiguration": {"key": (STR, True, 50), "value": (STR, True, 500)},
    "ClearCache": {},
    "DataTransfer": {
        "vendorId": (STR, True, 255),
        "messageId": (STR, False, 50),
        "data": (STR, False, None),
    },
    "GetConfiguration": {"key": (LIST, False, (STR, True, 50))},
    "GetDiagnostics": {
        "location": (STR, True, None),
        "retries": (INT, False, None),
        "retryInterval": (INT, False, None),
        "startTime": (TIME, False, None),
        "stopTime": (TIME, False, None),
    },
    "GetLocalListVersion": {},
    "RemoteStartTransaction": {
        "connectorId": (INT, False, None),
        "idTag": (STR, True, 20),
        "chargingProfile": (OBJ, False, CHARGING_PROFILE),
    },
    "RemoteStopTransaction": {"transactionId": (INT, True, None)},
    "Reset": {"type": (ENUM, True, ("Hard", "Soft"))},
    "SendLocalList": {
        "listVersion": (INT, True, None),
        "localAuthorizationList": (LIST, False, (OBJ, True, {
            "idTag": (STR, True, 20),
            "idTagInfo": (OBJ, False, ID_TAG_INFO),
        })),
        "updateType": (ENUM, True, ("Differential", "Full")),
    },
    "TriggerMessage": {"requestedMessage": (ENUM, True, TRIGGERS), "connectorId": (INT, False, None)},
    "UnlockConnector": {"connectorId": (INT, True, None)},
    "UpdateFirmware": {
        "location": (STR, True, None),
        "retries": (INT, False, None),
        "retrieveDate": (TIME, True, None),
        "retryInterval": (INT, False, None),
    },
}


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
    for name in payload:
        if name not in fields:
            raise RpcError(FORMATION_VIOLATION, "%s%s is not a field of this PDU" % (prefix, name))
    for name in fields:
        if name in payload:
            _value(prefix + name, fields[name], payload[name])
        elif fields[name][1]:
            raise RpcError(PROTOCOL_ERROR, "%s%s is required" % (prefix, name))


def check(action, payload):
    """Raise RpcError with the OCPP-J 1.6 code for the first way payload breaks the schema of action's
    request; return None when it conforms. action must be a key of REQUESTS."""
    _object("", REQUESTS[action], payload)
