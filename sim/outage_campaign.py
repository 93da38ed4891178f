"""The offline campaign (issue #5, CPython): N seeded random charging sessions, each with random CSMS
outages (seconds to an hour, sometimes overlapping) and random power cuts between any two storage
writes (sim/flash.py CutStorage: before, after or torn), played by sim/powercut.py and checked by its
check(): every transaction reaches the CSMS exactly once (Start and Stop), in order, with
meterStop - meterStart = the energy the simulated meter integrated (+/- 1 Wh), and a transaction cut
while it ran is stopped with PowerLoss. A session is a pure function of its seed: `evse outages
--replay SEED` plays one again."""

import random
import time
from concurrent.futures import ProcessPoolExecutor

from sim import vloop
from sim.powercut import check, play

SAMPLE_INTERVALS_S = (0, 10, 60, 300)
ALIGNED_INTERVALS_S = (0, 60, 900)
MODES = ("before", "after", "torn")


def session_seeds(n, seed):
    rng = random.Random(seed)
    return [rng.getrandbits(32) for _ in range(n)]


def plan(seed):
    """Everything one session does, drawn from its seed: plain data (sim/powercut.py's plan)."""
    rng = random.Random(seed)
    unplug_ms = rng.randint(30000, 45 * 60 * 1000)
    outages = []
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        for_ms = int(10 ** rng.uniform(3.5, 6.1))  # 3 s .. ~21 min, log-uniform
        outages.append((rng.randint(0, unplug_ms + 60000), for_ms))
    # Cut at a random storage step after the previous boot; a session writes ~20-300 times.
    cuts = [(int(10 ** rng.uniform(0, 2.3)), rng.choice(MODES)) for _ in range(rng.choice((0, 1, 1, 2, 3)))]
    aligned_s = rng.choice(ALIGNED_INTERVALS_S)
    config = {"MeterValueSampleInterval": rng.choice(SAMPLE_INTERVALS_S), "ClockAlignedDataInterval": aligned_s,
              "LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": True,
              "WebSocketPingInterval": rng.choice((0, 30, 300))}
    if aligned_s:
        config["StopTxnAlignedData"] = "Energy.Active.Import.Register"
    return {"plug_ms": rng.randint(1000, 15000), "unplug_at_ms": unplug_ms, "outages": outages, "cuts": cuts,
            "config": config}


def run_session(seed):
    """Play one session; plain data: figures and violations."""
    p = plan(seed)

    async def main(clock):
        session = await play(clock, p)
        station = session.rig.station
        return {"seed": seed, "violations": check(session), "cuts": len(session.cuts),
                "outages": len(session.outages), "queued": session.queued, "max_queue": session.max_queue,
                "transactions": len(station.transactions), "duplicates": len(station.duplicates),
                "power_loss": len([t for t in station.transactions.values() if t["reason"] == "PowerLoss"]),
                "outage_ms": sum(b - a for a, b in session.outages)}

    return vloop.run(main, check_tasks=False)


def run_campaign(n, seed=0, jobs=1, progress=None):
    if n < 1 or jobs < 1:
        raise ValueError("need n >= 1 and jobs >= 1, got %r and %r" % (n, jobs))
    seeds = session_seeds(n, seed)
    wall0 = time.perf_counter()
    results = []
    if jobs == 1:
        for s in seeds:
            results.append(run_session(s))
            if progress is not None:
                progress(len(results), n)
    else:
        with ProcessPoolExecutor(jobs) as executor:
            for result in executor.map(run_session, seeds, chunksize=max(1, n // (jobs * 8))):
                results.append(result)
                if progress is not None:
                    progress(len(results), n)
    totals = {"sessions": n, "seed": seed, "wall_s": round(time.perf_counter() - wall0, 1)}
    for key in ("cuts", "outages", "queued", "transactions", "duplicates", "power_loss", "outage_ms"):
        totals[key] = sum(r[key] for r in results)
    totals["max_queue"] = max(r["max_queue"] for r in results)
    failures = [dict(r, replay="evse outages --replay %d" % r["seed"]) for r in results if r["violations"]]
    totals["violations"] = sum(len(r["violations"]) for r in results)
    return {"totals": totals, "failures": failures}
