"""`evse outages`: the offline campaign (sim/outage_campaign.py): random sessions with CSMS outages and
power cuts at random storage writes; the figures, every failing session with its replay command, --json
for CI. Exit code 1 on any violation, 2 on bad arguments."""

import json
import sys

from sim.outage_campaign import plan, run_campaign, run_session

FIGURES = (("sessions", "sessions"), ("transactions", "transactions at the CSMS"),
           ("cuts", "power cuts"), ("power_loss", "stopped with PowerLoss"), ("outages", "CSMS outages"),
           ("outage_ms", "outage time (virtual ms)"), ("queued", "transaction messages queued"),
           ("max_queue", "max queue length"), ("duplicates", "re-sent after a lost reply (recognised)"),
           ("violations", "violations"))


def main(args):
    if args.replay is not None:
        result = run_session(args.replay)
        print(json.dumps({"plan": plan(args.replay), "result": result}, indent=1))
        return 1 if result["violations"] else 0
    try:
        report = run_campaign(args.n, args.seed, args.jobs)
    except ValueError as exc:
        print("evse outages: %s" % exc, file=sys.stderr)
        return 2
    totals = report["totals"]
    for key, title in FIGURES:
        print("%-42s %s" % (title, totals[key]))
    print("%-42s %s" % ("wall time (s)", totals["wall_s"]))
    for failure in report["failures"][:50]:
        print("FAIL seed %d: %s" % (failure["seed"], "; ".join(failure["violations"])))
        print("  replay: " + failure["replay"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 1 if report["failures"] else 0
