"""One simulated charge session, end to end, and the checks that decide PASS or FAIL (CPython).

The firmware (firmware.app.Firmware) runs on the simulated board (hal.sim) against the plant
(sim.plant: EV, contactor, meter served by pymodbus) and a CSMS (sim.csms, or an external one).
The driver's script: the charger boots, the EV plugs in, the driver presents a tag, the EV charges
to its target SoC and goes back to B, the driver unplugs a little later.
"""

import asyncio
import collections
import json
import time

from sim.csms import Csms
from sim.ev import Ev
from sim.memlink import MemoryNetwork
from sim.rig import Rig


class Options:
    """What a session is made of. Every field has a sensible default; tools.cli sets them."""

    def __init__(self, **kw):
        self.cp_id = kw.get("cp_id", "CP1")
        self.token = kw.get("token", "TAG1")  # what the driver presents
        self.accepted_tokens = kw.get("accepted_tokens", ("TAG1",))  # what the embedded CSMS knows
        self.ocpp = kw.get("ocpp", "1.6")
        self.csms_url = kw.get("csms_url")  # None: the embedded CSMS
        self.realtime = kw.get("realtime", False)
        self.capacity_kwh = kw.get("capacity_kwh", 60.0)
        self.soc_start_pct = kw.get("soc_start_pct", 20.0)
        self.soc_target_pct = kw.get("soc_target_pct", 80.0)
        self.max_current_a = kw.get("max_current_a", 32.0)
        self.phases = kw.get("phases", 3)
        self.minutes = kw.get("minutes", 240.0)  # cap: the driver unplugs then at the latest
        self.meter_interval_s = kw.get("meter_interval_s", 60)
        self.plug_at_s = kw.get("plug_at_s", 5.0)
        self.token_after_s = kw.get("token_after_s", 5.0)
        self.unplug_after_s = kw.get("unplug_after_s", 60.0)
        self.heartbeat_s = kw.get("heartbeat_s", 300)
        self.trace_path = kw.get("trace_path")
        self.seed = kw.get("seed", 0)  # the simulated link's latency draws
        self.progress = kw.get("progress")  # fn(Snapshot) after every change in the plant, or None


class Result:
    def __init__(self):
        self.passed = False
        self.reason = ""
        self.energy_wh = 0.0  # what the simulated meter integrated during the transaction
        self.billed_wh = None  # meterStop - meterStart as the CSMS recorded it
        self.session_s = 0.0  # virtual: plug-in to unplug
        self.peak_current_a = 0.0
        self.messages = collections.Counter()  # "Action" (CALLs from the charge point) and "<- Action"
        self.transactions = []
        self.soc_pct = 0.0
        self.wall_s = 0.0
        self.virtual_s = 0.0
        self.stopped_at_cap = False
        self.virtual_clock = True

    def summary_lines(self):
        lines = [
            "energy delivered : %.3f kWh (billed %s)" % (
                self.energy_wh / 1000, "-" if self.billed_wh is None else "%.3f kWh" % (self.billed_wh / 1000)),
            "session time     : %s (%s)%s" % (hms(self.session_s), "virtual" if self.virtual_clock else "wall clock", ", stopped at the time cap" if self.stopped_at_cap else ""),
            "peak current     : %.1f A" % self.peak_current_a,
            "final SoC        : %.1f %%" % self.soc_pct,
            "OCPP messages    : " + ", ".join("%s %d" % (k, v) for k, v in sorted(self.messages.items())),
            "wall-clock time  : %.3f s (%.0fx real time)" % (self.wall_s, self.virtual_s / self.wall_s if self.wall_s else 0),
            "%s%s" % ("PASS" if self.passed else "FAIL", ": " + self.reason if self.reason else ""),
        ]
        return lines


def hms(seconds):
    seconds = int(seconds)
    return "%02d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)


class Snapshot:
    def __init__(self, t_s, cp, current_a, power_w, energy_wh, soc_pct, status):
        self.t_s, self.cp, self.current_a, self.power_w = t_s, cp, current_a, power_w
        self.energy_wh, self.soc_pct, self.status = energy_wh, soc_pct, status

    def line(self):
        return "t=%s CP %s %5.1f A %6.2f kW %7.3f kWh SoC %5.1f %% %s" % (
            hms(self.t_s), self.cp or "-", self.current_a, self.power_w / 1000, self.energy_wh / 1000,
            self.soc_pct, self.status)


class Trace:
    """JSON lines: every state change, PWM change, contactor change, meter reading and OCPP frame."""

    def __init__(self, path, clock):
        self.clock = clock
        self.file = open(path, "w") if path else None
        self.calls = collections.Counter()  # CALLs by action as the charge point saw them; "<- X" from the CSMS

    def __call__(self, kind, **fields):
        if kind == "ocpp":
            self._count(fields["direction"], fields["frame"])
        if self.file is not None:
            record = {"t_ms": self.clock.ms(), "kind": kind}
            record.update(fields)
            self.file.write(json.dumps(record) + "\n")

    def _count(self, direction, text):
        try:
            frame = json.loads(text)
        except ValueError:
            return
        if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2 and isinstance(frame[2], str):
            self.calls[frame[2] if direction == "out" else "<- " + frame[2]] += 1

    def close(self):
        if self.file is not None:
            self.file.close()


async def run_session(opts, clock):
    """Run one session on the running loop with the given clock; returns a Result."""
    result = Result()
    result.virtual_clock = not (opts.realtime or opts.csms_url)
    wall0 = time.perf_counter()
    start_ms = clock.ms()
    trace = Trace(opts.trace_path, clock)
    csms = network = None
    url = opts.csms_url
    if opts.csms_url or opts.realtime:
        from hal.ws_cpython import WebSocketNetwork

        network = WebSocketNetwork()
    if not opts.csms_url:
        csms = Csms(accepted_tokens=opts.accepted_tokens, heartbeat_interval_s=opts.heartbeat_s, clock=clock)
        if opts.realtime:
            url = "ws://127.0.0.1:%d/ocpp" % await csms.serve_websocket("127.0.0.1", 0)
    ev = Ev(capacity_kwh=opts.capacity_kwh, soc_start_pct=opts.soc_start_pct,
            soc_target_pct=opts.soc_target_pct, max_current_a=opts.max_current_a, phases=opts.phases)
    if network is None:
        network, url = MemoryNetwork(acceptor=csms.accept, seed=opts.seed), "mem://csms/ocpp"
    rig = Rig(clock, opts.cp_id, ev, csms, url, network, trace=trace, ocpp=opts.ocpp,
              config={"MeterValueSampleInterval": opts.meter_interval_s})
    fw, plant, meter_model = rig.fw, rig.plant, rig.meter_model
    rig.start()
    progress = _Progress(opts.progress, clock, plant, fw, meter_model, start_ms)
    plant.listeners.append(progress.poke)
    failure = None
    try:
        await _drive(opts, clock, fw, plant, result)
        await _settle(fw, clock)
    except SessionError as exc:
        failure = str(exc)
    finally:
        progress.poke()
        await rig.stop()
        trace.close()
    result.messages = trace.calls
    result.energy_wh = progress.tx_energy_wh()
    result.peak_current_a = plant.peak_current_a
    result.soc_pct = ev.soc_pct
    result.virtual_s = (clock.ms() - start_ms) / 1000
    result.wall_s = time.perf_counter() - wall0
    if csms is not None:
        _judge(result, csms.station(opts.cp_id), progress)
    else:
        result.passed, result.reason = True, "external CSMS: see its records"
    if rig.resets and result.passed:  # nothing in a plain session may make the watchdog bite
        result.passed, result.reason = False, "unexpected reset: %s" % (rig.resets,)
    if failure is not None:
        result.passed, result.reason = False, failure
    return result


async def _wait(pred, clock, deadline_ms, step_s=1.0):
    while not pred():
        if clock.ms() >= deadline_ms:
            return False
        await asyncio.sleep(step_s)
    return True


async def _drive(opts, clock, fw, plant, result):
    start_ms = clock.ms()
    cap_ms = start_ms + int(opts.minutes * 60000)
    if not await _wait(lambda: fw.cp.booted, clock, cap_ms, 0.1):
        raise SessionError("the charger never got BootNotification accepted")
    await asyncio.sleep(max(opts.plug_at_s - (clock.ms() - start_ms) / 1000, 0))
    plug_ms = clock.ms()
    plant.plug()
    await asyncio.sleep(opts.token_after_s)
    if not await fw.present_token(opts.token):
        raise SessionError("the tag %s was not accepted" % opts.token)
    ev = plant.ev
    done = await _wait(lambda: not ev.wants_charge and not plant.contactor.closed, clock, cap_ms)
    result.stopped_at_cap = not done
    if done:
        await asyncio.sleep(opts.unplug_after_s)
    plant.unplug()
    result.session_s = (clock.ms() - plug_ms) / 1000


async def _settle(fw, clock):
    # Give the charger time to report the stop (meter read, StopTransaction, Available).
    deadline = clock.ms() + 120000
    await _wait(lambda: fw.cp.tx is None and not fw.cp.outbox, clock, deadline, 0.5)
    await asyncio.sleep(1)


class SessionError(Exception):
    pass


def _judge(result, station, progress):
    result.transactions = list(station.transactions.values())
    problems = []
    if station.errors:
        problems.append("CSMS recorded %d error(s), first: %s" % (len(station.errors), station.errors[0]))
    if len(result.transactions) != 1:
        problems.append("expected one transaction, the CSMS has %d" % len(result.transactions))
    else:
        tx = result.transactions[0]
        if tx["meter_stop_wh"] is None:
            problems.append("the transaction was never stopped")
        else:
            result.billed_wh = tx["meter_stop_wh"] - tx["meter_start_wh"]
            if abs(result.billed_wh - result.energy_wh) > 1.0:
                problems.append("billed %d Wh but the meter integrated %.1f Wh" % (result.billed_wh, result.energy_wh))
    last = [s for s in station.statuses if s["connector_id"] == 1]
    if not last or last[-1]["status"] != "Available":
        problems.append("connector not Available at the end (%s)" % (last[-1]["status"] if last else "no status"))
    if result.energy_wh <= 0:
        problems.append("no energy was delivered")
    result.passed = not problems
    result.reason = "; ".join(problems) if problems else "one transaction, %d Wh billed = %.1f Wh metered" % (
        result.billed_wh, result.energy_wh)


class _Progress:
    """Feeds snapshots to the progress callback and measures the transaction's true energy."""

    def __init__(self, callback, clock, plant, fw, meter_model, start_ms):
        self.callback = callback
        self.clock, self.plant, self.fw, self.meter = clock, plant, fw, meter_model
        self.start_ms = start_ms
        self.tx_start_wh = None
        self.tx_end_wh = None

    def poke(self):
        session = self.fw.charger.session
        if session.tx_active and self.tx_start_wh is None:
            self.tx_start_wh = self.meter.energy_wh
        if not session.tx_active and self.tx_start_wh is not None and self.tx_end_wh is None:
            self.tx_end_wh = self.meter.energy_wh
        if self.callback is None:
            return
        ev = self.plant.ev
        self.callback(Snapshot((self.clock.ms() - self.start_ms) / 1000, session.cp, self.plant.current_a,
                               self.meter.power_w, (self.meter.energy_wh - (self.tx_start_wh or self.meter.energy_wh)),
                               ev.soc_pct, session.status))

    def tx_energy_wh(self):
        if self.tx_start_wh is None:
            return 0.0
        end = self.tx_end_wh if self.tx_end_wh is not None else self.meter.energy_wh
        return end - self.tx_start_wh
