"""Fault campaigns (issue #3, CPython): N seeded random sessions, each with 0..3 random faults at random
moments (sometimes on top of each other), each on its own virtual-time loop; the per-fault table of what
was injected, detected and how fast, and every failing session with its seed for an exact replay.

A session is a pure function of its seed (and the list of faults to draw from): plan() draws the EV, the
driver's timeline and the faults; run_session() plays it on a fresh Rig with an Injector and a Monitor
(sim/invariants.py) and returns plain data. The driver: plug in, present the tag (sometimes first, or
never), the EV charges, sometimes a remote stop or an operator's fault reset, unplug; then the
technician repairs whatever is still broken and the charger gets time to tell the CSMS everything.
"""

import asyncio
import math
import random
import time
from concurrent.futures import ProcessPoolExecutor

from sim import vloop
from sim.csms import Csms
from sim.ev import Ev
from sim.injector import FAULTS, Injector
from sim.invariants import Monitor
from sim.memlink import MemoryNetwork
from sim.rig import Rig

TAG = "TAG1"
REPAIR_AFTER_MS = 5000  # after the unplug the technician clears what is still broken
SETTLE_MS = 120000  # then the charger has this long to deliver its transaction messages
SETTLE_EXTRA_MS = 2000
FAULT_COUNT_WEIGHTS = (15, 45, 25, 15)  # sessions with 0, 1, 2, 3 faults
MIN_FAULT_MS, MAX_FAULT_MS = 50, 90000  # fault durations, drawn log-uniform
LASTING_SHARE = 0.3  # faults that last until the repair


def session_seeds(n, seed):
    rng = random.Random(seed)
    return [rng.getrandbits(32) for _ in range(n)]


def check_faults(names):
    """The fault names to draw from (all by default); a clear error for an unknown one."""
    if not names:
        return sorted(FAULTS)
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        raise ValueError("unknown fault(s) %s; known: %s" % (", ".join(unknown), ", ".join(sorted(FAULTS))))
    return sorted(set(names))


def plan(seed, faults=None):
    """Everything a session does, drawn from its seed: plain data."""
    pool = check_faults(faults)
    rng = random.Random(seed)
    phases, max_a = rng.choice((1, 3)), rng.choice((6, 10, 13, 16, 20, 25, 32))
    capacity_kwh, soc_start = round(rng.uniform(10.0, 100.0), 1), round(rng.uniform(5.0, 90.0), 1)
    charge_ms = rng.randint(20000, 300000)  # to full at full current
    soc_span = 230.0 * max_a * phases * charge_ms / 3600000.0 / (capacity_kwh * 10.0)
    ev = {"capacity_kwh": capacity_kwh, "soc_start_pct": soc_start, "phases": phases, "max_current_a": max_a,
          "soc_target_pct": round(min(100.0, soc_start + soc_span), 2), "needs_ventilation": rng.random() < 0.05}
    plug_ms = rng.randint(1000, 15000)
    unplug_ms = plug_ms + rng.randint(20000, 240000)
    draw = rng.random()
    if draw < 0.05:
        token_ms = None  # nobody presents a tag
    elif draw < 0.15:
        token_ms = max(500, plug_ms - rng.randint(1000, 30000))  # the tag first, then the plug
    else:
        token_ms = plug_ms + rng.randint(300, 10000)
    remote_stop_ms = plug_ms + rng.randint(5000, 200000) if rng.random() < 0.1 else None
    reset_ms = rng.randint(plug_ms, unplug_ms + 5000) if rng.random() < 0.2 else None
    count = rng.choices(range(len(FAULT_COUNT_WEIGHTS)), weights=FAULT_COUNT_WEIGHTS)[0]
    if faults and count == 0:
        count = 1  # asked for these faults: every session gets one
    chosen, groups = [], set()
    for name in rng.sample(pool, len(pool)):
        if len(chosen) < count and FAULTS[name].group not in groups:
            chosen.append(name)
            groups.add(FAULTS[name].group)
    injections = []
    for name in chosen:
        if injections and rng.random() < 0.3:
            at_ms = injections[0][1] + rng.randint(0, 2000)  # on top of the first one
        elif rng.random() < 0.6:
            at_ms = rng.randint(plug_ms, max(plug_ms, min(unplug_ms, plug_ms + charge_ms)))  # while charging
        else:
            at_ms = rng.randint(500, unplug_ms + REPAIR_AFTER_MS)
        lasting = rng.random() < LASTING_SHARE
        duration = None if lasting else int(math.exp(rng.uniform(math.log(MIN_FAULT_MS), math.log(MAX_FAULT_MS))))
        injections.append((name, at_ms, duration))
    return {"seed": seed, "ev": ev, "plug_ms": plug_ms, "token_ms": token_ms, "unplug_ms": unplug_ms,
            "remote_stop_ms": remote_stop_ms, "reset_ms": reset_ms, "faults": injections,
            "fault_seed": rng.getrandbits(32), "pool": pool if faults else None}


def run_session(seed, faults=None, trace=None):
    """Play one planned session in virtual time; returns its summary (plain data). A crash of the
    simulation or the firmware is a violation of its own, not an exception."""
    session = plan(seed, faults)
    wall0 = time.perf_counter()
    try:
        result = vloop.run(lambda clock: _session(session, clock, trace))
    except Exception as exc:  # noqa: BLE001 - whatever broke, it is this seed's finding
        result = {"violations": [{"kind": "crash", "at_ms": None, "fault": None, "detail": repr(exc)}],
                  "faults": [], "transactions": 0, "tx_ok": False, "data_lost_wh": 0.0, "meter_fault": False,
                  "ended_safe": False, "virtual_s": None}
    result.update(seed=seed, plan=session, wall_s=time.perf_counter() - wall0)
    return result


async def _session(session, clock, trace):
    csms = Csms(accepted_tokens=(TAG,), clock=clock)
    network = MemoryNetwork(acceptor=csms.accept, seed=session["seed"])
    rig = Rig(clock, ev=Ev(**session["ev"]), csms=csms, csms_url="mem://csms/ocpp", network=network, trace=trace)
    injector = Injector(rig, random.Random(session["fault_seed"]))
    monitor = Monitor(rig, injector)
    rig.start()
    for name, at_ms, duration_ms in session["faults"]:
        injector.inject(name, at_ms=at_ms, duration_ms=duration_ms)
    try:
        await _drive(session, rig, clock, injector)
        # A firmware task that died is a finding even if something retrieved its exception.
        for task in getattr(asyncio.get_running_loop(), "_crashed", ()):  # sim.vloop keeps them all
            where = getattr(task.get_coro(), "__qualname__", task.get_name())  # stable across runs
            monitor.violation("crash", None, None, "task %s died: %r" % (where, task._exception))
            import traceback; traceback.print_exception(task._exception)
        result = monitor.finish()
    finally:
        await rig.stop()
    result["virtual_s"] = clock.ms() / 1000.0
    result["coil_log"] = monitor.coil_log
    return result


async def _at(clock, ms):
    await asyncio.sleep(max(ms - clock.ms(), 0) / 1000.0)


async def _remote_stop(rig):
    tx = rig.fw.cp.tx
    if tx is None or tx.transaction_id is None:
        return
    try:
        await rig.station.remote_stop(tx.transaction_id)
    except Exception:  # noqa: BLE001 - the CSMS side may fail (offline, reboot): the driver shrugs
        pass


async def _drive(session, rig, clock, injector):
    events = [(session["plug_ms"], "plug"), (session["unplug_ms"], "unplug")]
    for key in ("token_ms", "remote_stop_ms", "reset_ms"):
        if session[key] is not None:
            events.append((session[key], key[:-3]))
    background = []  # kept referenced until the session ends
    for at_ms, action in sorted(events):
        await _at(clock, at_ms)
        if action == "plug":
            rig.plant.plug()
        elif action == "unplug":
            rig.plant.unplug()
        elif action == "token":
            background.append(asyncio.ensure_future(rig.fw.present_token(TAG)))
        elif action == "remote_stop":
            background.append(asyncio.ensure_future(_remote_stop(rig)))
        else:
            rig.fw.charger.reset_faults()
    await _at(clock, session["unplug_ms"] + REPAIR_AFTER_MS)
    injector.clear_all()
    deadline = clock.ms() + SETTLE_MS
    while clock.ms() < deadline:
        cp = rig.fw.cp
        if cp.booted and cp.tx is None and not cp.outbox:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(SETTLE_EXTRA_MS / 1000.0)  # a firmware call that raised shows among the crashed tasks


def replay_command(seed, faults=None):
    return "evse faults --replay %d%s" % (seed, " --faults " + ",".join(faults) if faults else "")


def run_campaign(n, seed=0, faults=None, jobs=1, progress=None):
    """Run n sessions (seeds drawn from `seed`) on `jobs` processes; returns the campaign's results:
    the per-fault table (rows), totals, and every failing session with its replay command."""
    if n < 1 or jobs < 1:
        raise ValueError("need n >= 1 and jobs >= 1, got %r and %r" % (n, jobs))
    pool = check_faults(faults)
    seeds = session_seeds(n, seed)
    wall0 = time.perf_counter()
    results = []
    if jobs == 1:
        for s in seeds:
            results.append(run_session(s, faults))
            if progress is not None:
                progress(len(results), n)
    else:
        with ProcessPoolExecutor(jobs) as executor:
            for result in executor.map(run_session, seeds, [faults] * n, chunksize=max(1, n // (jobs * 8))):
                results.append(result)
                if progress is not None:
                    progress(len(results), n)
    wall_s = time.perf_counter() - wall0
    failures = [{"seed": r["seed"], "replay": replay_command(r["seed"], faults), "violations": r["violations"],
                 "faults": [f["name"] for f in r["faults"] if f["injected_ms"] is not None]}
                for r in results if r["violations"]]
    return {"sessions": n, "seed": seed, "faults": pool, "jobs": jobs, "wall_s": round(wall_s, 3),
            "sessions_per_s": round(n / wall_s, 2) if wall_s > 0 else None,
            "virtual_s": round(sum(r["virtual_s"] or 0 for r in results), 1),
            "violations": sum(len(r["violations"]) for r in results), "failing_sessions": len(failures),
            "rows": table(results, pool), "failures": failures}


def percentile(values, share):
    """Nearest-rank percentile of a list of numbers (None for none)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def table(results, names):
    """Per fault class: injected, detectable, detected, reaction p50/p99/max (virtual ms), and over the
    sessions it was in: ended safe, transactions closed correctly at the CSMS, data lost (Wh)."""
    rows = {name: {"fault": name, "injected": 0, "detectable": 0, "detected": 0, "reactions": [], "sessions": 0,
                   "ended_safe": 0, "tx_ok": 0, "data_lost_wh": 0.0, "violations": 0}
            for name in list(names) + ["(none)", "(all)"]}
    for result in results:
        injected = [f for f in result["faults"] if f["injected_ms"] is not None]
        for f in injected:
            for row in (rows[f["name"]], rows["(all)"]):
                row["injected"] += 1
                row["detectable"] += f["detectable"]
                row["detected"] += f["detected"]
                if f["reaction_ms"] is not None and row is not rows["(all)"]:
                    row["reactions"].append(f["reaction_ms"])
        for name in set(f["name"] for f in injected) or {"(none)"}:
            _count_session(rows[name], result)
        _count_session(rows["(all)"], result)
    out = []
    for row in rows.values():
        if row["sessions"] or row["injected"]:
            reactions = row.pop("reactions")
            row.update(reaction_p50_ms=percentile(reactions, 0.5), reaction_p99_ms=percentile(reactions, 0.99),
                       reaction_max_ms=max(reactions) if reactions else None,
                       data_lost_wh=round(row["data_lost_wh"], 1))
            out.append(row)
    return out


def _count_session(row, result):
    row["sessions"] += 1
    row["ended_safe"] += result["ended_safe"]
    row["tx_ok"] += result["tx_ok"]
    row["data_lost_wh"] += result["data_lost_wh"]
    row["violations"] += len(result["violations"])
