"""A test rig: one charger on the simulated plant: the main controller's firmware, the safety node
beside it on its own board (joined by a byte pipe), the plant, and an embedded CSMS, wired together on
the running event loop (CPython). Scenarios, tests and tools build on it.

The main controller's watchdog is simulated too: when it bites, reboot() does what a reset does (all
outputs drop, tasks die, RAM is gone, storage stays) and boots the firmware again."""

import asyncio
import random

from firmware.app import Firmware
from firmware.safety.node import SafetyNode
from firmware.watchdog import WDT_TIMEOUT_MS
from hal.sim import MemoryStorage, SimWatchdog, sim_board, sim_safety_board
from sim.bytepipe import BytePipe
from sim.csms import Csms
from sim.ev import Ev
from sim.memlink import MemoryNetwork
from sim.meter import MeterModel, MeterUart, SimSdm630
from sim.plant import Plant

SAFETY_BAUD = 115200


class Rig:
    def __init__(self, clock, cp_id="CP1", ev=None, csms=None, csms_url=None, network=None, config=None,
                 trace=None, storage=None, ocpp="1.6", board_info=None):
        self.clock = clock
        self.cp_id = cp_id
        self.csms = csms
        self.ev = ev or Ev()
        self.meter_model = MeterModel(clock.ms)
        self.meter = SimSdm630(self.meter_model)
        self.plant = Plant(clock, self.ev, self.meter_model)
        if network is None:
            if self.csms is None:
                self.csms = Csms(clock=clock)
            network = MemoryNetwork(acceptor=self.csms.accept)
            csms_url = csms_url or "mem://csms/ocpp"
        self.network = network
        self.storage = storage or MemoryStorage()
        self.safety_pipe = BytePipe(baud=SAFETY_BAUD)
        info = dict(board_info or {})
        self.board = sim_board(self.plant, clock, network, MeterUart(self.meter), self.storage,
                               safety_link=self.safety_pipe.a, **info)
        self.board.watchdog = SimWatchdog(WDT_TIMEOUT_MS, self._watchdog_bites)
        self.board.random_bytes = random.Random(cp_id).randbytes  # seeded: a run repeats (link jitter)
        self.safety_board = sim_safety_board(self.plant, clock, self.safety_pipe.b,
                                             ventilation=self.board.info["ventilation"])
        self.safety_node = SafetyNode(self.safety_board, epoch=1, trace=trace)
        self.resets = []  # (ms, cause) of every reset of the main controller
        self._boot_args = (csms_url, cp_id, ocpp, config, trace)
        self._safety_tasks = []
        self.fw = self._boot()

    def _boot(self):
        csms_url, cp_id, ocpp, config, trace = self._boot_args
        fw = Firmware(self.board, csms_url, cp_id, ocpp, config=config, trace=trace)
        fw.cp.restart = self._restart  # Reset.req and the restart into a new firmware slot reboot the rig
        return fw

    async def _restart(self, cause):
        # The firmware asked for a restart ("Hard", "Soft" or "firmware"): its own task is cancelled by
        # it, so run it beside. The board then boots with that reset cause ("hard", "soft", "firmware").
        asyncio.get_running_loop().create_task(self.reboot(cause.lower()))
        await asyncio.Event().wait()

    @property
    def station(self):
        return self.csms.station(self.cp_id)

    @property
    def session(self):
        return self.fw.charger.session

    def start(self):
        for coro in self.safety_node.tasks():
            self._safety_tasks.append(asyncio.get_running_loop().create_task(coro))
        self.fw.start()

    def _watchdog_bites(self):
        asyncio.get_running_loop().create_task(self.reboot("watchdog"))

    async def reboot(self, cause):
        """Reset the main controller: outputs drop at once, then it boots again from storage."""
        self.resets.append((self.clock.ms(), cause))
        self.board.watchdog.stop()
        self.board.contactor.set(False)
        self.board.pilot_out.x1()
        await self.fw.stop()
        self.board.pilot_in.stalled = False  # a reset also restarts the driver that hung
        self.board.reset_cause = cause
        self.board.watchdog = SimWatchdog(WDT_TIMEOUT_MS, self._watchdog_bites)
        self.fw = self._boot()
        self.fw.start()

    async def stop(self):
        self.board.watchdog.stop()
        await self.fw.stop()
        for task in self._safety_tasks:
            task.cancel()
        self._safety_tasks = []
        if self.csms is not None:
            await self.csms.stop()
