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

ADAPTERS = {"1.6": v16}


def _boot_count(storage):
    # Counts boots in storage: it makes OCPP message ids unique across reboots without a random source.
    raw = storage.read("boots")
    count = int(raw) + 1 if raw and raw.isdigit() else 1
    storage.write("boots", str(count).encode())
    return count


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
        meter = Sdm630Meter(board.meter_uart, board.clock) if board.meter_uart is not None else None
        self.charger = Charger(board, self.config, meter, trace)
        adapter = ADAPTERS[ocpp_version]
        rpc = Rpc(version=ocpp_version, id_prefix="b%d" % _boot_count(board.storage))
        url = csms_url.rstrip("/") + "/" + cp_id

        def frame(direction, text):
            trace("ocpp", direction=direction, frame=text)

        link = Link(board.network, url, adapter.SUBPROTOCOL, rpc, board.clock, None, trace=frame)
        self.cp = ChargePoint(adapter, link, self.config, board.clock, self.charger, board.info, log)
        self.charger.ocpp = self.cp
        self._tasks = []

    async def present_token(self, id_tag):
        """What the RFID reader calls with a tag it read."""
        return await self.cp.present_token(id_tag)

    def start(self):
        for coro in self.charger.tasks() + self.cp.tasks():
            self._tasks.append(asyncio.create_task(coro))

    async def stop(self):
        for task in self._tasks:
            task.cancel()
        await self.cp.link.stop()

    async def run(self):
        self.start()
        await asyncio.gather(*self._tasks)
