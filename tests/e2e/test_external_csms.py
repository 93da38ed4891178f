"""`evse sim --csms` against the CSMS running as a process of its own (`evse csms`), over a real
WebSocket on 127.0.0.1; and the seeded simulation repeating itself exactly."""

import json
import os
import signal
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GUARD_S = 120  # against a hung child, not a performance claim


def evse(*args, **kw):
    return [sys.executable, "-m", "tools.cli", *args]


def test_session_against_an_external_csms_process(tmp_path):
    records = tmp_path / "records.json"
    csms = subprocess.Popen(evse("csms", "--port", "0", "--records", str(records)), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = csms.stdout.readline()
        assert first.startswith("listening on ws://127.0.0.1:"), first + csms.stderr.read()
        url = first.split()[-1]
        run = subprocess.run(
            evse("sim", "--csms", url, "--id", "CP9", "--capacity-kwh", "0.02", "--soc-start", "70",
                 "--plug-at", "0.2", "--token-after", "0.3", "--unplug-after", "0.5", "--meter-interval", "1"),
            cwd=REPO, capture_output=True, text=True, timeout=GUARD_S)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "StopTransaction 1" in run.stdout
    finally:
        csms.send_signal(signal.SIGINT)
        out, err = csms.communicate(timeout=GUARD_S)
    assert csms.returncode == 0, out + err
    recorded = json.loads(records.read_text())["CP9"]
    assert recorded["errors"] == []
    (tx,) = recorded["transactions"]
    assert tx["id_tag"] == "TAG1" and tx["reason"] == "EVDisconnected"
    assert tx["meter_stop_wh"] > tx["meter_start_wh"]
    assert recorded["statuses"][-1]["status"] == "Available"


def test_same_seed_same_trace_and_another_seed_another(tmp_path):
    traces = []
    for seed in ("3", "3", "4"):
        path = tmp_path / ("trace-%d.jsonl" % len(traces))
        run = subprocess.run(evse("sim", "--seed", seed, "--trace", str(path), "--soc-target", "30"),
                             cwd=REPO, capture_output=True, text=True, timeout=GUARD_S)
        assert run.returncode == 0, run.stdout + run.stderr
        traces.append(path.read_text())
    assert traces[0] == traces[1]
    assert traces[0] != traces[2]


def test_csms_refuses_unknown_boot_statuses():
    run = subprocess.run(evse("csms", "--boot-statuses", "Maybe"), cwd=REPO, capture_output=True, text=True,
                         timeout=GUARD_S)
    assert run.returncode == 2 and "--boot-statuses" in run.stderr
