"""`evse faults`: a fault-injection campaign (sim/campaign.py), its table per fault class, the failing
sessions with the command that replays each exactly, and --json for CI. Exit code 1 on any violation,
2 on bad arguments."""

import asyncio
import json
import logging
import sys

COLUMNS = (("fault", "%-21s", "fault"), ("injected", "%8s", "injected"), ("detectable", "%10s", "knowable"),
           ("detected", "%8s", "detected"), ("reaction_p50_ms", "%7s", "p50 ms"), ("reaction_p99_ms", "%7s", "p99 ms"),
           ("reaction_max_ms", "%7s", "max ms"), ("ended_safe", "%11s", "ended safe"), ("tx_ok", "%11s", "tx closed"),
           ("data_lost_wh", "%10s", "lost Wh"))


def table_lines(rows):
    """The campaign's table as text: one line per fault class, reaction times in virtual ms."""
    lines = [" ".join(fmt % title for _, fmt, title in COLUMNS)]
    for row in rows:
        cells = []
        for key, fmt, _ in COLUMNS:
            value = row[key]
            if key in ("ended_safe", "tx_ok"):
                value = "%d/%d" % (value, row["sessions"])
            elif value is None:
                value = "-"
            cells.append(fmt % value)
        lines.append(" ".join(cells))
    return lines


def failure_lines(failures, limit=50):
    lines = []
    for failure in failures[:limit]:
        lines.append("FAIL seed %d (faults: %s)" % (failure["seed"], ", ".join(failure["faults"]) or "none"))
        for v in failure["violations"]:
            at = "" if v["at_ms"] is None else " at %d ms" % v["at_ms"]
            lines.append("  %s%s%s: %s" % (v["kind"], " [%s]" % v["fault"] if v["fault"] else "", at, v["detail"]))
        lines.append("  replay: " + failure["replay"])
    if len(failures) > limit:
        lines.append("... and %d more failing sessions (all in --json)" % (len(failures) - limit))
    return lines


class JsonTrace:
    """Trace of a replayed session as JSON lines (virtual ms, kind, fields), like `evse sim --trace`."""

    def __init__(self, path):
        self.file = open(path, "w")

    def __call__(self, kind, **fields):
        record = {"t_ms": int(round(asyncio.get_running_loop().time() * 1000)), "kind": kind}
        record.update(fields)
        self.file.write(json.dumps(record, default=repr) + "\n")


def replay(seed, faults, trace_path=None):
    from sim.campaign import run_session

    trace = JsonTrace(trace_path) if trace_path else None
    try:
        result = run_session(seed, faults, trace=trace)
    finally:
        if trace is not None:
            trace.file.close()
    session = result["plan"]
    print("session seed %d: EV %s" % (seed, json.dumps(session["ev"])))
    print("driver: plug %s, tag %s, remote stop %s, fault reset %s, unplug %s (ms)" % (
        session["plug_ms"], session["token_ms"], session["remote_stop_ms"], session["reset_ms"], session["unplug_ms"]))
    for f in result["faults"]:
        print("fault %-20s injected %s cleared %s knowable %s detected %s reaction %s ms %s%s" % (
            f["name"], f["injected_ms"], f["cleared_ms"], f["knowable_ms"], f["detected_ms"], f["reaction_ms"],
            json.dumps(f["params"]), " (skipped: %s)" % f["skipped"] if f["skipped"] else ""))
    print("coil (ms, energized): %s" % (result.get("coil_log") or []))
    print("transactions at the CSMS: %d, closed correctly: %s, data lost: %.1f Wh" % (
        result["transactions"], result["tx_ok"], result["data_lost_wh"]))
    for v in result["violations"]:
        where = " [%s]" % v["fault"] if v["fault"] else ""
        print("VIOLATION %s%s at %s ms: %s" % (v["kind"], where, v["at_ms"], v["detail"]))
    print("%s: %.1f s virtual in %.3f s wall" % ("FAIL" if result["violations"] else "PASS", result["virtual_s"] or 0,
                                                 result["wall_s"]))
    return 1 if result["violations"] else 0


def main(args):
    from sim.campaign import check_faults, run_campaign

    faults = [name.strip() for name in args.faults.split(",") if name.strip()] if args.faults else None
    try:
        check_faults(faults)
    except ValueError as exc:
        print("evse faults: %s" % exc, file=sys.stderr)
        return 2
    if args.n < 1 or args.jobs < 1:
        print("evse faults: -n and --jobs must be at least 1", file=sys.stderr)
        return 2
    # The CSMS and pymodbus log what a fault provokes; the campaign judges it and says what matters.
    for name in ("sim.csms", "pymodbus"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if args.replay is not None:
        return replay(args.replay, faults, args.trace)
    tty = sys.stderr.isatty()

    def progress(done, total):
        if tty and (done % 10 == 0 or done == total):
            sys.stderr.write("\r%d/%d sessions" % (done, total) + ("\n" if done == total else ""))
            sys.stderr.flush()

    results = run_campaign(args.n, args.seed, faults, jobs=args.jobs, progress=progress)
    print("\n".join(table_lines(results["rows"])))
    print("%d sessions (seed %d) in %.1f s wall on %d process(es): %.1f sessions/s, %.1f h virtual" % (
        results["sessions"], results["seed"], results["wall_s"], results["jobs"], results["sessions_per_s"] or 0,
        results["virtual_s"] / 3600))
    if results["failures"]:
        print("\n".join(failure_lines(results["failures"])))
    print("%s: %d violation(s) in %d session(s)" % ("FAIL" if results["violations"] else "PASS",
                                                    results["violations"], results["failing_sessions"]))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)
    return 1 if results["violations"] else 0
