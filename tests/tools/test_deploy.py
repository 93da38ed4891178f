"""evse deploy (dry run: real mpy-cross, no board) and evse monitor (pyserial loop:// and a pty pair)."""

import argparse
import io
import os
import pathlib
import shlex
import subprocess
import time
import tty

import pytest
import serial

from tools import deploy

ROOT = pathlib.Path(__file__).resolve().parents[2]


def parser():
    p = argparse.ArgumentParser(prog="evse")
    sub = p.add_subparsers(dest="command", required=True)
    deploy.add_commands(sub)
    return p


def run_cli(argv, capsys):
    args = parser().parse_args(argv)
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("board,march", [("esp32", "xtensawin"), ("stm32", "armv7emsp")])
def test_dry_run_compiles_every_portable_file_for_the_boards_architecture(board, march, tmp_path, capsys):
    staging = tmp_path / "stage"
    code, out, _ = run_cli(["deploy", "--board", board, "--port", "/dev/ttyUSB0", "--dry-run",
                            "--staging", str(staging)], capsys)
    assert code == 0
    compiled = {}
    for line in out.splitlines():
        argv = shlex.split(line)
        if argv and argv[0].endswith("mpy-cross"):
            compiled[argv[-1]] = argv
    sources = deploy.portable_sources()
    assert sorted(compiled) == sorted(sources)
    for src in sources:
        assert "-march=" + march in compiled[src]
        assert (staging / (src[:-3] + ".mpy")).is_file()
    # mpy v6 (MicroPython >= 1.23); bytecode only, so the header names no architecture
    header = (staging / "firmware" / "pilot.mpy").read_bytes()[:2]
    assert header[0:1] == b"M" and header[1] == 6
    assert "would run:" in out
    assert (staging / "main.py").read_bytes() == (ROOT / "board" / "main.py").read_bytes()


def test_staging_tree_holds_the_portable_modules_and_nothing_else(tmp_path):
    staged = deploy.stage("esp32", tmp_path, echo=lambda line: None)
    for must in ("main.py", "firmware/app.mpy", "firmware/ocpp/v16.mpy", "firmware/safety/node.mpy",
                 "hal/interfaces.mpy", "hal/machine_hal.mpy", "hal/machine_pilot.mpy", "hal/file_storage.mpy",
                 "hal/ws_micro.mpy", "board/esp32.mpy", "board/stm32.mpy", "board/__init__.mpy"):
        assert must in staged, must
    for never in ("hal/sim.mpy", "hal/ws_cpython.mpy", "hal/tty_uart.mpy", "board/unix.mpy",
                  "board/manifest.mpy", "board/main.mpy"):
        assert never not in staged, never
    assert all(name == "main.py" or name.endswith(".mpy") for name in staged)
    assert "settings.json" not in staged


def test_settings_file_goes_along_when_given(tmp_path, capsys):
    staging = tmp_path / "stage"
    code, out, _ = run_cli(["deploy", "--board", "stm32", "--port", "/dev/ttyACM0", "--dry-run", "--staging",
                            str(staging), "--settings", str(ROOT / "board" / "settings.example.json")], capsys)
    assert code == 0 and (staging / "settings.json").is_file()
    assert ":settings.json" in out


def test_mpremote_command_cleans_copies_and_resets(tmp_path):
    deploy.stage("esp32", tmp_path, echo=lambda line: None)
    argv = deploy.mpremote_command("/dev/ttyUSB0", tmp_path, mpremote="mpremote")
    text = shlex.join(argv)
    assert argv[:4] == ["mpremote", "connect", "/dev/ttyUSB0", "exec"]
    assert "cp -r %s/firmware %s/hal %s/board :" % (tmp_path, tmp_path, tmp_path) in text
    assert text.endswith("+ reset")
    assert "\n" not in text  # one line a user can copy


def test_clean_snippet_removes_old_modules_and_keeps_data(tmp_path):
    # run it under the micropython binary, as a board would
    for rel in ("firmware/a.mpy", "firmware/ocpp/b.mpy", "hal/old.py", "settings.json", "data/boots.rec"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    script = tmp_path / "clean.py"
    script.write_text(deploy.CLEAN_SNIPPET)
    subprocess.run([str(pathlib.Path(deploy.tool("micropython"))), str(script)], cwd=tmp_path, check=True,
                   timeout=30)
    left = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["clean.py", "data/boots.rec", "settings.json"]


def test_unknown_board_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["deploy", "--board", "esp8266", "--port", "/dev/ttyUSB0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "esp8266" in err and "esp32, stm32" in err
    with pytest.raises(deploy.DeployError, match="known boards: esp32, stm32"):
        deploy.deploy("rp2", "/dev/ttyACM0", dry_run=True)


def test_missing_settings_file_is_an_error(tmp_path, capsys):
    code, _, err = run_cli(["deploy", "--board", "esp32", "--port", "x", "--dry-run", "--staging",
                            str(tmp_path), "--settings", str(tmp_path / "nope.json")], capsys)
    assert code == 2 and "no settings file" in err


def test_monitor_prints_lines_from_a_loop_url():
    ser = serial.serial_for_url("loop://", timeout=0.05)
    ser.write(b"boot: esp32\r\n1200 log topic=boot text=ok\npartial")
    out = io.StringIO()
    deadline = time.monotonic() + 10  # a guard against a hang, not a measurement
    lines = deploy.pump(ser, out, stop=lambda: out.getvalue().count("\n") >= 2 or time.monotonic() > deadline)
    assert lines == 2
    assert out.getvalue().splitlines()[:2] == ["boot: esp32", "1200 log topic=boot text=ok"]


def test_monitor_reads_a_pty_like_a_boards_usb_serial():
    master, slave = os.openpty()
    try:
        tty.setraw(slave)
        out = io.StringIO()
        sent = []
        deadline = time.monotonic() + 10  # a guard against a hang, not a measurement

        def board_talks_then_stop():
            if not sent:  # the port is open now (pyserial drops what came before it opened)
                os.write(master, b"MicroPython v1.24 on esp32\r\n\xff garbage\r\n")
                sent.append(True)
            return out.getvalue().count("\n") >= 2 or time.monotonic() > deadline

        deploy.monitor(os.ttyname(slave), 115200, out, stop=board_talks_then_stop)
        lines = out.getvalue().splitlines()
        assert lines[0] == "MicroPython v1.24 on esp32"
        assert lines[1].endswith("garbage")  # undecodable bytes replaced, not fatal
    finally:
        os.close(master)
        os.close(slave)


def test_monitor_on_a_missing_port_is_a_clear_error(capsys):
    code, _, err = run_cli(["monitor", "--port", "/dev/does-not-exist"], capsys)
    assert code == 2 and "cannot open /dev/does-not-exist" in err
