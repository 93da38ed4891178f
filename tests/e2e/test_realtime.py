"""The same firmware on the wall clock: a short session over a real WebSocket on 127.0.0.1, and the
`evse sim` command line as users type it. No test here asserts how long anything took."""

import asyncio
import json
import os
import subprocess
import sys


from sim.vloop import RealClock
from sim.scenario import Options, run_session

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI_TIMEOUT_S = 120  # a guard against a hung child, not a performance claim


def test_short_session_over_a_real_websocket_passes():
    opts = Options(realtime=True, capacity_kwh=0.02, soc_start_pct=70, soc_target_pct=80, plug_at_s=0.2,
                   token_after_s=0.3, unplug_after_s=0.5, meter_interval_s=1)
    result = asyncio.run(run_session(opts, RealClock()))
    assert result.passed, result.reason
    assert len(result.transactions) == 1
    assert abs(result.billed_wh - result.energy_wh) <= 1
    assert result.transactions[0]["reason"] == "EVDisconnected"
    for action in ("BootNotification", "Authorize", "StartTransaction", "StatusNotification", "StopTransaction"):
        assert result.messages[action] >= 1, result.messages


def evse(*args):
    """Run `evse` the way a user does, from the repository, and return the CompletedProcess."""
    script = os.path.join(os.path.dirname(sys.executable), "evse")
    command = [script] if os.path.exists(script) else [sys.executable, "-m", "tools.cli"]
    return subprocess.run(command + list(args), cwd=REPO, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)


def test_evse_sim_default_run_prints_the_summary_and_pass():
    run = evse("sim")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    for label in ("energy delivered", "session time", "peak current", "final SoC", "OCPP messages"):
        assert any(line.startswith(label) for line in lines), (label, run.stdout)
    assert lines[-1].startswith("PASS"), run.stdout


def test_evse_sim_trace_writes_json_lines_of_every_kind(tmp_path):
    trace = tmp_path / "session.jsonl"
    run = evse("sim", "--capacity-kwh", "10", "--soc-start", "70", "--trace", str(trace))
    assert run.returncode == 0, run.stdout + run.stderr
    records = [json.loads(line) for line in trace.read_text().splitlines()]
    kinds = {r["kind"] for r in records}
    assert {"state", "pilot", "contactor", "meter", "ocpp"} <= kinds, kinds
    stamps = [r["t_ms"] for r in records]
    assert stamps == sorted(stamps)
    frames = [json.loads(r["frame"]) for r in records if r["kind"] == "ocpp"]
    assert any(f[0] == 2 and f[2] == "StopTransaction" for f in frames)


def test_evse_sim_with_an_unknown_token_fails():
    run = evse("sim", "--token", "NOTKNOWN")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAIL" in run.stdout
    assert "NOTKNOWN" in run.stdout + run.stderr


def test_evse_sim_refuses_a_target_below_the_start_soc():
    run = evse("sim", "--soc-start", "90", "--soc-target", "10")
    assert run.returncode == 2
    assert "--soc-start" in run.stderr and "--soc-target" in run.stderr
    assert "Traceback" not in run.stderr
