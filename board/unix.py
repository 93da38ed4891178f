# MicroPython's unix port as a board: the firmware under the real `micropython` binary, with the plant
# on a PC across the bridge (CI, and `evse sim --runtime micropython`).
#
#   micropython board/unix.py --bridge 127.0.0.1:PORT --csms ws://127.0.0.1:PORT/ocpp --cp-id CP1
#       --meter /dev/pts/N --storage DIR [--config JSON] [--trace all|log] [--mem-ms 100]
#
# The plant (pilot, contactor, safety sensors, RFID reader) comes over the bridge (hal/bridge.py), the
# meter over a tty with the firmware's own Modbus driver (hal/tty_uart.py), OCPP over a real WebSocket
# (hal/ws_micro.py), storage in a directory (hal/file_storage.py). Both nodes run in this one process
# (board/runner.py). It prints JSON lines: the trace, and {"kind": "mem", ...} heap figures.
import gc
import json
import sys
import time

import asyncio

from board import runner
from firmware.timefmt import format_utc
from hal.bridge import BridgeClient
from hal.file_storage import FileStorage
from hal.parts import Board
from hal.tty_uart import TtyUart
from hal.ws_micro import WsNetwork

gc.collect()
IMPORTED_BYTES = gc.mem_alloc()  # the firmware's modules are all loaded by now
IMPORTED_MODULES = set(sys.modules)
USAGE = "usage: board/unix.py --bridge HOST:PORT --csms URL --cp-id ID --meter TTY --storage DIR [--config JSON] [--trace all|log] [--mem-ms N]"
RATINGS = {"vendor": "OpenEVSE-Py", "model": "UnixBridge", "serial": "MPY-0001", "firmware": "0.1.0",
           "max_current_a": 32, "phases": 3, "ventilation": False}


class UnixClock:
    """time.ticks_ms() made monotonic without wrap (hal Clock), UTC from the host's clock."""

    def __init__(self):
        self._last = time.ticks_ms()
        self._ms = 0

    def ms(self):
        now = time.ticks_ms()
        self._ms += time.ticks_diff(now, self._last)
        self._last = now
        return self._ms

    def utc(self):
        return format_utc(int(time.time()))


def parse_args(argv):
    opts = {"config": "{}", "trace": "log", "mem-ms": "0"}
    i = 0
    while i < len(argv):
        name = argv[i]
        if not name.startswith("--") or i + 1 >= len(argv):
            raise SystemExit("bad argument %r\n%s" % (name, USAGE))
        opts[name[2:]] = argv[i + 1]
        i += 2
    for need in ("bridge", "csms", "cp-id", "meter", "storage"):
        if need not in opts:
            raise SystemExit("missing --%s\n%s" % (need, USAGE))
    return opts


def emit(record):
    try:
        print(json.dumps(record))
    except MemoryError:  # in a heap at its limit, a trace line is lost, not the work of whoever traced
        print('{"kind": "dropped"}')


class MemWatch:
    """The heap figures the footprint benchmark reads: what the imports left resident, and the peak of
    live data seen, sampled after a collection every period_ms (0: no sampling; a peak between two
    samples is missed, which is why the benchmark also finds the smallest heap that still works)."""

    def __init__(self, period_ms):
        self.period_ms = period_ms
        self.peak_live = 0
        gc.collect()
        self.built = gc.mem_alloc()  # both nodes' objects made, their tasks created, nothing run yet

    async def run(self):
        while self.period_ms > 0:
            gc.collect()
            self.peak_live = max(self.peak_live, gc.mem_alloc())
            await asyncio.sleep_ms(self.period_ms)

    def report(self):
        emit({"kind": "mem", "imported": IMPORTED_BYTES, "built": self.built, "peak_live": self.peak_live,
              "alloc": gc.mem_alloc(), "free": gc.mem_free(), "gc_threshold": gc.threshold(),
              "loaded_later": sorted(name for name in sys.modules if name not in IMPORTED_MODULES)})


async def main(argv):
    opts = parse_args(argv)
    clock = UnixClock()
    everything = opts["trace"] == "all"

    def trace(kind, **fields):
        if everything or kind == "log":
            fields["kind"] = kind
            fields["t_ms"] = clock.ms()
            emit(fields)

    host, port = opts["bridge"].rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    bridge = BridgeClient(reader, writer, clock, log=lambda text: trace("log", topic="bridge", text=text))
    for coro in bridge.tasks():
        asyncio.create_task(coro)
    if not await bridge.wait_hello(5000):
        raise SystemExit("no hello from the plant at %s" % opts["bridge"])
    main_board = Board(clock=clock, meter_uart=TtyUart(opts["meter"]), storage=FileStorage(opts["storage"]),
                       network=WsNetwork(), safety_link=None, watchdog=None, reset_cause="power",
                       info=dict(RATINGS), **bridge.main_parts())
    safety_board = Board(clock=clock, link=None, watchdog=None, reset_cause="power",
                         info={"ventilation": RATINGS["ventilation"]}, **bridge.safety_parts())
    fw, node, tasks = runner.start(main_board, safety_board, opts["csms"], opts["cp-id"],
                                   config=json.loads(opts["config"]), trace=trace)
    bridge.on_tag = lambda id_tag: asyncio.create_task(fw.present_token(id_tag))
    mem = MemWatch(int(opts["mem-ms"]))
    asyncio.create_task(mem.run())
    while True:
        await asyncio.sleep_ms(1000)
        mem.report()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
