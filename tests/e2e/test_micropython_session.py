"""The whole firmware inside the real `micropython` binary: a charge session against the plant over the
bridge, the pymodbus meter over a pty and the embedded CSMS over a real WebSocket on 127.0.0.1
(sim/mpy_session.py). Real time: about ten seconds each."""

import asyncio

from sim.mpy_session import MpyOptions, run_mpy_session


def run(**options):
    lines = []
    result = asyncio.run(run_mpy_session(MpyOptions(log=lines.append, **options)))
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
