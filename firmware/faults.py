# The faults the firmware knows, with the OCPP 1.6 StatusNotification errorCode each maps to.
# Issue #3 grows this into the full catalogue (severity, latch and retry rules, 2.0.1 mapping).

# name: (ocpp16 errorCode, description)
FAULTS = {
    "rcd": ("GroundFailure", "residual current trip"),
    "contactor_welded": ("PowerSwitchFailure", "contactor feedback closed while commanded open"),
    "contactor_stuck_open": ("PowerSwitchFailure", "contactor feedback open while commanded closed"),
    "pilot": ("OtherError", "control pilot fault (state E/F, voltage out of band, or diode missing)"),
}


def ocpp16_error(name):
    return FAULTS.get(name, ("InternalError", name))[0]


def description(name):
    return FAULTS.get(name, ("InternalError", name))[1]
