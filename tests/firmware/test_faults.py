# portable
# The fault catalogue and its latch rules (firmware/faults.py).
from firmware import faults
from firmware.faults import FaultLatches
from tests.portable import raises


def test_every_fault_has_a_known_severity_latch_and_ocpp16_error_code():
    codes16 = ("ConnectorLockFailure", "EVCommunicationError", "GroundFailure", "HighTemperature",
               "InternalError", "LocalListConflict", "OtherError", "OverCurrentFailure", "OverVoltage",
               "PowerMeterFailure", "PowerSwitchFailure", "ReaderFailure", "ResetFailure", "UnderVoltage",
               "WeakSignal")  # OCPP 1.6 ChargePointErrorCode
    for code, entry in faults.catalogue().items():
        severity, latch, retry_ms, cap, error16, node, text = entry
        assert severity in (faults.WARNING, faults.ERROR, faults.CRITICAL), code
        assert latch in (faults.SELF, faults.UNPLUG, faults.RESET, faults.RETRY), code
        assert (retry_ms > 0 and cap > 0) == (latch == faults.RETRY), code
        assert error16 in codes16, code
        assert node in ("main", "safety") and text, code
    for code in faults.SAFETY_CODES:
        assert faults.catalogue()[code][5] == "safety"


def test_unknown_code_is_a_clear_error():
    exc = raises(KeyError, faults.severity, "gremlins")
    assert "gremlins" in str(exc)
    raises(KeyError, FaultLatches().raise_, "gremlins", 0)


def test_safety_codes_pack_into_a_mask_and_back():
    codes = ["estop", "rcd_dc", "link_lost"]
    mask = faults.pack(codes)
    assert sorted(faults.unpack(mask)) == sorted(codes)
    assert faults.unpack(0) == []


def test_worst_prefers_critical_over_error_over_warning():
    assert faults.worst(["temp_derate", "meter_silent", "estop"]) == "estop"
    assert faults.worst(["temp_derate", "meter_silent"]) == "meter_silent"
    assert faults.worst([]) is None


def test_self_latch_clears_when_the_condition_goes():
    latches = FaultLatches()
    assert latches.raise_("grid_undervoltage", 0)
    assert not latches.raise_("grid_undervoltage", 5)  # already active
    assert latches.gone("grid_undervoltage", 10)
    assert not latches.is_active("grid_undervoltage")


def test_unplug_latch_waits_for_the_ev_to_leave():
    latches = FaultLatches()
    latches.raise_("overcurrent", 0)
    assert not latches.gone("overcurrent", 10)
    assert latches.is_active("overcurrent")
    assert latches.unplugged(20) == ["overcurrent"]


def test_an_unplug_before_the_condition_goes_still_counts():
    latches = FaultLatches()
    latches.raise_("pilot_diode", 0)
    assert latches.unplugged(5) == []  # condition still present
    assert latches.gone("pilot_diode", 10)


def test_reset_latch_needs_an_explicit_reset_and_the_condition_gone():
    latches = FaultLatches()
    latches.raise_("estop", 0)
    assert latches.unplugged(10) == []
    assert latches.reset(20) == []  # still pressed: a reset now counts for nothing
    assert not latches.gone("estop", 30)  # released: still latched
    assert latches.reset(60) == ["estop"]  # reset after the release: clears


def test_retry_latch_clears_after_the_backoff_and_gives_up_after_the_cap():
    latches = FaultLatches()
    t = 0
    for trip in range(faults.GFI_RETRY_CAP):
        latches.raise_("rcd_ac", t)
        latches.gone("rcd_ac", t + 10)
        assert latches.is_active("rcd_ac")
        assert latches.next_deadline() == t + faults.GFI_RETRY_MS
        assert latches.poll(t + faults.GFI_RETRY_MS) == ["rcd_ac"], trip
        t += faults.GFI_RETRY_MS + 1000
    latches.raise_("rcd_ac", t)  # one trip too many
    latches.gone("rcd_ac", t + 10)
    assert latches.poll(t + 10 * faults.GFI_RETRY_MS) == []
    assert latches.next_deadline() is None  # nothing to wait for: a timer must not spin on it
    assert latches.reset(t + 10 * faults.GFI_RETRY_MS) == ["rcd_ac"]


def test_retry_latch_clears_at_unplug_and_counts_again_from_zero():
    latches = FaultLatches()
    for _ in range(faults.GFI_RETRY_CAP + 1):
        latches.raise_("pe_loss", 0)
        latches.gone("pe_loss", 1)
        latches.unplugged(2)
    assert not latches.is_active("pe_loss")
    latches.raise_("pe_loss", 10)
    latches.gone("pe_loss", 11)
    assert latches.poll(10 + faults.GFI_RETRY_MS) == ["pe_loss"]


def test_the_catalogue_text_keeps_the_named_retry_figures_and_one_description_per_code():
    table = faults.catalogue()
    assert sorted(table) == sorted(faults.CODES)
    assert table["rcd_ac"][2:4] == (faults.GFI_RETRY_MS, faults.GFI_RETRY_CAP)
    assert table["pe_loss"][2:4] == (faults.GFI_RETRY_MS, faults.GFI_RETRY_CAP)
    assert table["grid_overvoltage"][2:4] == (faults.OVERVOLTAGE_RETRY_MS, faults.OVERVOLTAGE_RETRY_CAP)
    assert faults.description("pe_loss") == "protective earth missing"
    # A code that is only the start of another one's name is not that one.
    raises(KeyError, faults.severity, "rcd")
    raises(KeyError, faults.severity, "")
    raises(KeyError, faults.severity, None)
