"""`evse csms`: the embedded OCPP 1.6J CSMS as a server of its own on 127.0.0.1, for `evse sim --csms`
and for trying the firmware against it by hand. Prints one line per frame it receives; on SIGINT or
SIGTERM it stops and, with --records FILE, writes what it recorded as JSON."""

import asyncio
import json
import signal
import sys

from sim.csms import Csms
from sim.vloop import RealClock


def _records(csms):
    out = {}
    for cp_id, station in csms.stations.items():
        out[cp_id] = {
            "boot_notifications": station.boot_notifications,
            "statuses": station.statuses,
            "transactions": list(station.transactions.values()),
            "errors": station.errors,
            "counts": {"in": dict(station.counts["in"]), "out": dict(station.counts["out"])},
        }
    return out


async def serve(args):
    csms = Csms(accepted_tokens=args.accept, heartbeat_interval_s=args.heartbeat,
                boot_statuses=args.boot_statuses.split(","), clock=RealClock())
    port = await csms.serve_websocket("127.0.0.1", args.port)
    print("listening on ws://127.0.0.1:%d/ocpp" % port, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    seen = 0
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), 0.2)
        except asyncio.TimeoutError:
            pass
        for station in csms.stations.values():
            for frame in station.frames[seen:]:
                if frame["type"] == "CALL":
                    print("%s %s %s %s" % (frame["utc"], station.id, frame["direction"], frame["action"]),
                          flush=True)
            seen = max(seen, len(station.frames))
    await csms.stop()
    if args.records:
        with open(args.records, "w") as f:
            json.dump(_records(csms), f, indent=1, default=str)
    errors = csms.errors
    print("stopped: %d charge point(s), %d transaction(s), %d error(s)" % (
        len(csms.stations), len(csms.transactions), len(errors)), flush=True)
    return 1 if errors else 0


def main(args):
    if not args.boot_statuses or any(s not in ("Accepted", "Pending", "Rejected")
                                     for s in args.boot_statuses.split(",")):
        print("evse csms: --boot-statuses takes Accepted, Pending and Rejected, comma-separated", file=sys.stderr)
        return 2
    return asyncio.run(serve(args))
