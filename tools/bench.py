"""`evse bench`: a one-hour 11 kW session (3 x 16 A), MeterValues every 10 s, the full stack in one
process (firmware, plant, pymodbus meter, embedded CSMS with schema validation), in virtual time."""

import cProfile
import io
import pstats
import resource
import statistics

SESSION = dict(max_current_a=16.0, phases=3, capacity_kwh=100.0, soc_start_pct=10.0, soc_target_pct=90.0,
               minutes=60.0, meter_interval_s=10)


def run_once():
    from sim import vloop
    from sim.scenario import Options, run_session

    opts = Options(**SESSION)
    result = vloop.run(lambda clock: run_session(opts, clock))
    if not result.passed:
        raise SystemExit("benchmark session failed: " + result.reason)
    return result


def main(args):
    runs = []
    for i in range(args.runs):
        result = run_once()
        runs.append(result)
        print("run %d: %.3f s wall for %.0f s virtual (%.0fx), %d MeterValues, %.2f kWh" % (
            i + 1, result.wall_s, result.virtual_s, result.virtual_s / result.wall_s,
            result.messages["MeterValues"], result.energy_wh / 1000))
    wall = statistics.median(r.wall_s for r in runs)
    virtual = runs[0].virtual_s
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("wall-clock: %.3f s (median of %d) for %.0f s of charging" % (wall, len(runs), virtual))
    print("peak memory: %.1f MiB (process max RSS)" % peak_mib)
    print("speed-up: %.0f× real time" % (virtual / wall))
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        run_once()
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    return 0
