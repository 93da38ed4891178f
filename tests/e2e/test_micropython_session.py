"""The whole firmware inside the real `micropython` binary: a charge session against the plant over the
bridge, the pymodbus meter over a pty and the embedded CSMS over a real WebSocket on 127.0.0.1
(sim/mpy_session.py). Real time: about ten seconds each."""

import asyncio

import board
from sim.mpy_session import MpyOptions, drive_commanded_session, last_status, run_mpy_session, stopped, until


def run(drive=None, **options):
    lines = []
    result = asyncio.run(run_mpy_session(MpyOptions(log=lines.append, **options), drive))
    return result, lines


def test_a_full_session_under_micropython_is_billed_exactly():
    result, lines = run(charge_s=6, meter_interval_s=2)
    assert result.passed, (result.reason, result.stderr[-2000:], lines)
    assert result.billed_wh == round(result.energy_wh) and result.energy_wh > 20  # 22 kW for ~6 s
    assert result.messages["StartTransaction"] == 1 and result.messages["StopTransaction"] == 1
    assert result.messages["MeterValues"] >= 2  # sampled every 2 s while charging
    assert 31 < result.peak_current_a <= 32.0  # the PWM offered 32 A
    assert result.bridge_bad_frames == 0
    assert result.stderr == ""  # no traceback from the firmware


def test_csms_commands_are_answered_under_micropython_with_the_handlers_loaded_on_the_first_call():
    result, lines = run(drive_commanded_session, charge_s=3, meter_interval_s=2, mem_ms=200)
    assert result.passed, (result.reason, result.stderr[-2000:], lines)
    later = result.mem["loaded_later"]
    assert "firmware.ocpp.core16" in later and "firmware.ocpp.schema16" in later  # not at boot
    assert result.mem["gc_threshold"] == board.GC_EVERY_BYTES  # collects early: less fragmentation
    assert result.messages["MeterValues"] >= 2 and result.stderr == ""


def test_when_the_bridge_is_lost_both_sides_go_safe_and_the_transaction_is_stopped_once():
    seen = {}

    async def cut_while_charging(w):
        await until(lambda: last_status(w.station) == "Available", w.fw, "Available", 30)
        w.plant.plug()
        await asyncio.sleep(1.0)
        w.bridge.present_tag("TAG1")
        await until(lambda: w.plant.contactor.closed and w.plant.current_a > 0, w.fw, "charging", 30)
        await asyncio.sleep(1.0)
        await w.bridge.stop()  # the plant's end of the wire goes away mid-charge
        seen["coil_after_cut"] = w.plant.contactor.coil
        await until(lambda: stopped(w.station), w.fw, "StopTransaction", 20)
        await until(lambda: last_status(w.station) == "Faulted", w.fw, "Faulted", 20)
        await asyncio.sleep(1.0)  # nothing more may follow: one stop only
        seen["stops"] = w.station.counts["in"]["StopTransaction"]

    result, lines = run(drive=cut_while_charging)
    assert seen["coil_after_cut"] is False  # the plant dropped the dead controller's outputs at once
    assert seen["stops"] == 1
    assert any("reading the pilot as lost" in line for line in lines), lines
    assert not result.station_errors
    assert result.stderr == ""
