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

# name: (type, default, access, limits). Types: bool, int, csl (comma-separated list), phases (a CSL of
# "<connectorId>.<rotation>", section 9.1.7), hex. limits: (min, max) for an int; (allowed items or
# None, most items) for a CSL; for a bool the values that may be set (a value the charger cannot honour
# is Rejected); (fewest, most digits) for hex.
KEYS = {
    # Core (section 9.1)
    "AllowOfflineTxForUnknownId": ("bool", False, RW, None),
    "AuthorizationCacheEnabled": ("bool", True, RW, None),
    "AuthorizeRemoteTxRequests": ("bool", False, RW, None),
    "ClockAlignedDataInterval": ("int", 0, RW, (0, 86400)),
    "ConnectionTimeOut": ("int", 60, RW, (1, 3600)),
    "ConnectorPhaseRotation": ("phases", "1.Unknown", RW, (None, 2)),
    "ConnectorPhaseRotationMaxLength": ("int", 2, R, None),
    "GetConfigurationMaxKeys": ("int", 50, R, None),
    "HeartbeatInterval": ("int", 86400, RW, (1, 604800)),
    "LocalAuthorizeOffline": ("bool", True, RW, None),
    "LocalPreAuthorize": ("bool", False, RW, None),
    "MeterValuesAlignedData": ("csl", "Energy.Active.Import.Register", RW, (MEASURANDS, CSL_MAX_ITEMS)),
    "MeterValuesAlignedDataMaxLength": ("int", CSL_MAX_ITEMS, R, None),
    "MeterValuesSampledData": ("csl", ",".join(MEASURANDS), RW, (MEASURANDS, CSL_MAX_ITEMS)),
    "MeterValuesSampledDataMaxLength": ("int", CSL_MAX_ITEMS, R, None),
    "MeterValueSampleInterval": ("int", 60, RW, (0, 86400)),
    "NumberOfConnectors": ("int", 1, R, None),
    "ResetRetries": ("int", 2, RW, (0, 10)),
    # The session always ends the transaction when the EV unplugs (firmware/session.py): false is Rejected.
    "StopTransactionOnEVSideDisconnect": ("bool", True, RW, (True,)),
    "StopTransactionOnInvalidId": ("bool", True, RW, None),
    "StopTxnAlignedData": ("csl", "", RW, (MEASURANDS, CSL_MAX_ITEMS)),
    "StopTxnAlignedDataMaxLength": ("int", CSL_MAX_ITEMS, R, None),
    "StopTxnSampledData": ("csl", "Energy.Active.Import.Register", RW, (MEASURANDS, CSL_MAX_ITEMS)),
    "StopTxnSampledDataMaxLength": ("int", CSL_MAX_ITEMS, R, None),
    "SupportedFeatureProfiles": ("csl", ",".join(PROFILES), R, None),
    "SupportedFeatureProfilesMaxLength": ("int", 6, R, None),
    "TransactionMessageAttempts": ("int", 3, RW, (1, 100)),
    "TransactionMessageRetryInterval": ("int", 60, RW, (1, 86400)),
    # No connector lock (a tethered cable or a plain socket): nothing to unlock, both values hold.
    "UnlockConnectorOnEVSideDisconnect": ("bool", True, RW, None),
    # Stored; the link does not send WebSocket pings yet (docs/ocpp16.md).
    "WebSocketPingInterval": ("int", 0, RW, (0, 86400)),
    # Local Auth List Management (section 9.2)
    "LocalAuthListEnabled": ("bool", True, RW, None),
    "LocalAuthListMaxLength": ("int", LOCAL_LIST_MAX, R, None),
    "SendLocalListMaxLength": ("int", SEND_LIST_MAX, R, None),
    # Reservation (section 9.3, firmware/ocpp/reservation.py): the connector only, not connector 0.
    "ReserveConnectorZeroSupported": ("bool", False, R, None),
    # Smart Charging (section 9.4): the limits firmware/ocpp/smart_charging.py gives smart.Profiles.
    "ChargeProfileMaxStackLevel": ("int", 8, R, None),
    "ChargingScheduleAllowedChargingRateUnit": ("csl", "Current,Power", R, None),
    "ChargingScheduleMaxPeriods": ("int", 24, R, None),
    "ConnectorSwitch3to1PhaseSupported": ("bool", False, R, None),
    "MaxChargingProfilesInstalled": ("int", 16, R, None),
    # Vendor key: the installation's current limit per phase, A.
    "MaxCurrent": ("int", 32, RW, (6, 80)),
    # Security whitepaper ed. 2 section 7 (firmware/ocpp/security16.py): SecurityProfile only goes up, and
    # only to a profile whose prerequisites are installed (security16.change_profile checks both).
    "SecurityProfile": ("int", 0, RW, (0, 3)),
    "CertificateStoreMaxLength": ("int", 10, R, None),  # firmware/security/certstore.py default
    "CertificateSignedMaxChainSize": ("int", 10000, R, None),  # CertificateSigned.req certificateChain max
    "AdditionalRootCertificateCheck": ("bool", False, R, None),
    # The O of the CSR subject (A02.FR.13; firmware/ocpp/certsign16.py). The whitepaper types it a plain
    # string; config.py has no such type, so it is a one-item CSL: trimmed, and a comma is Rejected.
    # "" (no CPO known yet): SignChargePointCertificate is Rejected until the CSMS sets it.
    "CpoName": ("csl", "", RW, (None, 1)),
}

# Write-only keys (security whitepaper ed. 2 section 2.1; fact sheet 4.1): never read back.
# AuthorizationKey is 16..20 bytes, given as 32..40 hex digits: the Basic auth password of security
# profiles 1 and 2 (firmware/ocpp/security16.py).
SECRETS = {
    "AuthorizationKey": ("hex", None, W, (32, 40)),
}
