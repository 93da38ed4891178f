"""The `evse` command: run a simulated charge session, benchmark the stack."""

import argparse
import asyncio
import os
import sys
import time

from tools import bench


def _session_options(args, progress):
    from sim.scenario import Options

    return Options(
        cp_id=args.id, token=args.token, ocpp=args.ocpp, csms_url=args.csms, realtime=args.realtime,
        capacity_kwh=args.capacity_kwh, soc_start_pct=args.soc_start, soc_target_pct=args.soc_target,
        max_current_a=args.max_current, phases=args.phases, minutes=args.minutes,
        meter_interval_s=args.meter_interval, trace_path=args.trace, progress=progress, seed=args.seed,
        plug_at_s=args.plug_at, token_after_s=args.token_after, unplug_after_s=args.unplug_after,
    )


def _check(args):
    problems = []
    if not 0 <= args.soc_start < args.soc_target <= 100:
        problems.append("need 0 <= --soc-start < --soc-target <= 100")
    if args.capacity_kwh <= 0:
        problems.append("--capacity-kwh must be above 0")
    if not 6 <= args.max_current <= 80:
        problems.append("--max-current must be within 6..80 A (IEC 61851-1 PWM range)")
    if min(args.plug_at, args.token_after, args.unplug_after) < 0:
        problems.append("--plug-at, --token-after and --unplug-after cannot be negative")
    if args.minutes <= 0:
        problems.append("--minutes must be above 0")
    if args.csms and not args.csms.startswith(("ws://", "wss://")):
        problems.append("--csms takes a ws:// or wss:// URL")
    if args.runtime == "micropython" and args.csms:
        problems.append("--runtime micropython runs against the embedded CSMS only")
    if args.charge_seconds <= 0:
        problems.append("--charge-seconds must be above 0")
    return problems


def _micropython_session(args):
    from sim.mpy_session import MpyOptions, run_mpy_session

    print("firmware: the micropython binary (board/unix.py); plant over the bridge; real time")
    opts = MpyOptions(cp_id=args.id, token=args.token, charge_s=args.charge_seconds,
                      meter_interval_s=min(args.meter_interval, 10), max_current_a=args.max_current,
                      phases=args.phases, heapsize=args.heapsize, trace_path=args.trace,
                      log=lambda text: print("  " + text))
    result = asyncio.run(run_mpy_session(opts))
    print("\n".join(result.summary_lines()))
    if result.mem:
        print("micropython heap : %d B after imports, %d B in use at the end" % (
            result.mem["imported"], result.mem["alloc"]))
    if not result.passed and result.stderr:
        print(result.stderr[-3000:], file=sys.stderr)
    return 0 if result.passed else 1


def cmd_sim(args):
    problems = _check(args)
    if problems:
        for problem in problems:
            print("evse sim: " + problem, file=sys.stderr)
        return 2
    if args.runtime == "micropython":
        return _micropython_session(args)
    tty = sys.stdout.isatty()
    last = {"wall": 0.0, "key": None, "t_s": -1e9, "snapshot": None}

    def progress(snapshot):
        last["snapshot"] = snapshot
        # On a terminal: one line rewritten at most 10 times a second. Elsewhere (CI logs): a line
        # when the CP state or the OCPP status changes, and every 15 virtual minutes.
        if tty:
            wall = time.perf_counter()
            if wall - last["wall"] >= 0.1:
                last["wall"] = wall
                sys.stdout.write("\r" + snapshot.line() + "\033[K")
                sys.stdout.flush()
            return
        key = (snapshot.cp, snapshot.status)
        if key != last["key"] or snapshot.t_s - last["t_s"] >= 900:
            last["key"], last["t_s"] = key, snapshot.t_s
            print(snapshot.line())

    opts = _session_options(args, progress)
    realtime = args.realtime or bool(args.csms)
    if realtime:
        from sim.vloop import RealClock

        result = asyncio.run(_real(opts, RealClock()))
    else:
        from sim import vloop
        from sim.scenario import run_session

        result = vloop.run(lambda clock: run_session(opts, clock))
    if tty and last["snapshot"] is not None:
        sys.stdout.write("\r" + last["snapshot"].line() + "\033[K\n")
    print("\n".join(result.summary_lines()))
    return 0 if result.passed else 1


async def _real(opts, clock):
    from sim.scenario import run_session

    return await run_session(opts, clock)


def cmd_bench(args):
    return bench.main(args)


def cmd_csms(args):
    from tools import csms_server

    return csms_server.main(args)


def cmd_faults(args):
    from tools import faults

    return faults.main(args)


def cmd_outages(args):
    from tools import outages

    return outages.main(args)


def cmd_footprint(args):
    from tools import footprint

    return footprint.main(args)


def cmd_diagram(args):
    from tools import diagram

    return diagram.main(args)


def build_parser():
    parser = argparse.ArgumentParser(prog="evse", description="EV charger firmware: simulation and tools")
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("sim", help="run one complete simulated charge session")
    sim.add_argument("--csms", metavar="URL", help="external CSMS (ws://...); the charge point id is appended")
    sim.add_argument("--id", default="CP1", help="charge point identity (default CP1)")
    sim.add_argument("--ocpp", default="1.6", choices=["1.6"], help="OCPP version (2.0.1 comes later)")
    sim.add_argument("--token", default="TAG1", help="the RFID tag the driver presents")
    sim.add_argument("--realtime", action="store_true", help="run on the wall clock over a real WebSocket")
    sim.add_argument("--capacity-kwh", type=float, default=60.0, help="EV battery capacity (default 60)")
    sim.add_argument("--soc-start", type=float, default=20.0, help="start SoC %% (default 20)")
    sim.add_argument("--soc-target", type=float, default=80.0, help="target SoC %% (default 80)")
    sim.add_argument("--max-current", type=float, default=32.0, help="EV max current per phase, A (default 32)")
    sim.add_argument("--phases", type=int, default=3, choices=[1, 3], help="phases the EV uses (default 3)")
    sim.add_argument("--minutes", type=float, default=240.0, help="cap on the session, virtual minutes")
    sim.add_argument("--meter-interval", type=int, default=60, help="MeterValueSampleInterval, s (default 60)")
    sim.add_argument("--trace", metavar="FILE", help="write a JSON-lines trace of the session")
    sim.add_argument("--seed", type=int, default=0, help="seed for the simulated link's latency (default 0)")
    sim.add_argument("--plug-at", type=float, default=5.0, help="the EV plugs in this many s after start")
    sim.add_argument("--token-after", type=float, default=5.0, help="the tag is presented this many s after plug-in")
    sim.add_argument("--unplug-after", type=float, default=60.0, help="the driver unplugs this many s after the EV is full")
    sim.add_argument("--runtime", default="cpython", choices=["cpython", "micropython"],
                     help="micropython: the firmware runs in the micropython binary, in real time, against "
                          "the plant over the bridge (default cpython)")
    sim.add_argument("--charge-seconds", type=float, default=20.0,
                     help="with --runtime micropython: how long the EV charges before it is unplugged")
    sim.add_argument("--heapsize", help="with --runtime micropython: the binary's -X heapsize (e.g. 128k)")
    sim.set_defaults(func=cmd_sim)

    b = sub.add_parser("bench", help="benchmark: one-hour 11 kW session, meter values every 10 s")
    b.add_argument("--runs", type=int, default=5, help="repetitions (the median is reported)")
    b.add_argument("--profile", action="store_true", help="also print where the time goes (cProfile)")
    b.set_defaults(func=cmd_bench)

    c = sub.add_parser("csms", help="run the embedded OCPP 1.6J CSMS as a server on 127.0.0.1")
    c.add_argument("--port", type=int, default=9000, help="TCP port on 127.0.0.1 (0: any free one)")
    c.add_argument("--accept", nargs="*", default=["TAG1"], help="tags it accepts (default TAG1)")
    c.add_argument("--heartbeat", type=int, default=300, help="HeartbeatInterval it hands out, s")
    c.add_argument("--boot-statuses", default="Accepted", help="e.g. Pending,Pending,Accepted")
    c.add_argument("--records", metavar="FILE", help="on exit, write what it recorded as JSON")
    c.set_defaults(func=cmd_csms)

    f = sub.add_parser("faults", help="fault-injection campaign: seeded random sessions with random faults")
    f.add_argument("-n", type=int, default=1000, help="sessions (default 1000)")
    f.add_argument("--seed", type=int, default=0, help="campaign seed; each session gets its own (default 0)")
    f.add_argument("--faults", metavar="NAME,NAME", help="draw only from these faults (default: all)")
    f.add_argument("--json", metavar="FILE", help="write the table, totals and failing sessions as JSON")
    f.add_argument("--replay", type=int, metavar="SEED", help="replay one session exactly and show it")
    f.add_argument("--trace", metavar="FILE", help="with --replay: JSON-lines trace of the session")
    f.add_argument("--jobs", type=int, default=1, help="processes to run sessions on (default 1)")
    f.set_defaults(func=cmd_faults)

    o = sub.add_parser("outages", help="offline campaign: random sessions with CSMS outages and power cuts")
    o.add_argument("-n", type=int, default=300, help="sessions (default 300)")
    o.add_argument("--seed", type=int, default=0, help="campaign seed; each session gets its own (default 0)")
    o.add_argument("--json", metavar="FILE", help="write the totals and failing sessions as JSON")
    o.add_argument("--replay", type=int, metavar="SEED", help="replay one session and show its plan and result")
    o.add_argument("--jobs", type=int, default=1, help="processes to run sessions on (default 1)")
    o.set_defaults(func=cmd_outages)

    fp = sub.add_parser("footprint", help="RAM the firmware needs under MicroPython: import costs, working "
                                          "set, smallest heap for a full session")
    fp.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    fp.add_argument("--wasm32", action="store_true", help="also measure the imports on the same MicroPython "
                    "built for 32-bit wasm (Node.js; fetches its wheel and Pyodide once)")
    fp.add_argument("--cache", metavar="DIR", default=os.path.expanduser("~/.cache/evse-wasm32"),
                    help="where --wasm32 keeps what it fetched (default ~/.cache/evse-wasm32)")
    fp.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="a heap size counts as passing only if N sessions in a row pass (a step of the"
                         " bisection passes or fails from run to run near the limit; default 1)")
    fp.set_defaults(func=cmd_footprint)

    from tools import deploy, desk

    desk.add_commands(sub)
    deploy.add_commands(sub)

    d = sub.add_parser("diagram", help="print the IEC 61851 session table as a Mermaid state diagram")
    d.set_defaults(func=cmd_diagram)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
