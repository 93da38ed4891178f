# The firmware, assembled: configuration, the power path and the OCPP client over one Board.
# The same code runs on a MicroPython board (board/*.py builds the Board) and in simulation.
import asyncio

from firmware.charger import Charger
from firmware.config import Config
from firmware.meter import Sdm630Meter
from firmware.ocpp import v16
from firmware.ocpp.chargepoint import ChargePoint
from firmware.ocpp.link import Link
from firmware.ocpp.rpc import Rpc
from firmware.safety.client import SafetyClient
from firmware.watchdog import FEED_MS, Supervisor

ADAPTERS = {"1.6": v16}


def _boot_count(storage):
    # Counts boots in storage: it makes OCPP message ids unique across reboots without a random source.
    raw = storage.read("boots")
    count = int(raw) + 1 if raw and raw.isdigit() else 1
    storage.write("boots", str(count).encode())
    return count


def _random_source(board):
    # The board's (a seeded one in simulation, so a run repeats), else os.urandom, else no jitter.
    source = getattr(board, "random_bytes", None)
    if source is None:
        import os

        source = getattr(os, "urandom", None)
    return source


class Firmware:
    def __init__(self, board, csms_url, cp_id, ocpp_version="1.6", config=None, trace=None, log=None):
        if ocpp_version not in ADAPTERS:
            raise ValueError("OCPP %s is not supported (have: %s)" % (ocpp_version, ", ".join(ADAPTERS)))
        self.board = board
        self.config = Config(board.storage, config)
        trace = trace or (lambda kind, **fields: None)
        if log is None:

            def log(topic, text):  # what went wrong, in the trace beside everything else
                trace("log", topic=topic, text=text)

        for problem in self.config.problems:
            log("config", problem)
        self.reset_cause = getattr(board, "reset_cause", "power")
        boot_note = None
        if self.reset_cause == "watchdog":
            stalled = board.storage.read("stalled")
            boot_note = "watchdog reset, stalled: %s" % (stalled.decode() if stalled else "unknown")
            log("boot", boot_note)
        boots = _boot_count(board.storage)
        self.supervisor = Supervisor(getattr(board, "watchdog", None), board.clock)
        meter = Sdm630Meter(board.meter_uart, board.clock) if board.meter_uart is not None else None
        self.charger = Charger(board, self.config, meter, trace, self.supervisor)
        if getattr(board, "safety_link", None) is not None:
            self.safety = SafetyClient(board.safety_link, board.clock, boots, self.charger.safety_report,
                                       self.charger.safety_alive, trace, self.supervisor)
            self.charger.safety = self.safety
            self.charger.contactor.safety_closed = False  # until its first report says otherwise
        else:  # a board without a safety node: nothing in series with our switch
            self.safety = None
        adapter = ADAPTERS[ocpp_version]
        rpc = Rpc(version=ocpp_version, id_prefix="b%d" % boots)
        url = csms_url.rstrip("/") + "/" + cp_id

        def frame(direction, text):
            trace("ocpp", direction=direction, frame=text)

        link = Link(board.network, url, adapter.SUBPROTOCOL, rpc, board.clock, None, trace=frame)
        link.random_bytes = _random_source(board)  # reconnect jitter
        link.ping_interval_s = lambda: self.config["WebSocketPingInterval"]
        self.cp = ChargePoint(adapter, link, self.config, board.clock, self.charger, board.info, log,
                              board.storage, self.reset_cause)
        self.cp.boot_note = boot_note
        self.charger.ocpp = self.cp
        self._tasks = []

    async def present_token(self, id_tag):
        """What the RFID reader calls with a tag it read."""
        return await self.cp.present_token(id_tag)

    def start(self):
        coros = self.charger.tasks() + self.cp.tasks() + [self._feed_watchdog()]
        if self.safety is not None:
            coros += self.safety.tasks()
        for coro in coros:
            self._tasks.append(asyncio.create_task(coro))

    async def _feed_watchdog(self):
        noted = None
        while True:
            if not self.supervisor.feed() and self.supervisor.stalled != noted:
                # Say which task stalled before the watchdog bites; the next boot reports it.
                noted = self.supervisor.stalled
                self.board.storage.write("stalled", noted.encode())
            await asyncio.sleep(FEED_MS / 1000)

    async def stop(self):
        for task in self._tasks + (self.cp.late_tasks or []) + self.cp.spawned:
            task.cancel()
        await self.cp.link.stop()

    async def run(self):
        self.start()
        await asyncio.gather(*self._tasks)
