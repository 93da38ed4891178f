"""A test rig: one charger's firmware on the simulated board, its plant and an embedded CSMS, wired
together on the running event loop (CPython). Scenarios, tests and tools build on it."""

from firmware.app import Firmware
from hal.sim import MemoryStorage, sim_board
from sim.csms import Csms
from sim.ev import Ev
from sim.memlink import MemoryNetwork
from sim.meter import MeterModel, MeterUart, SimSdm630
from sim.plant import Plant


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
        self.board = sim_board(self.plant, clock, network, MeterUart(self.meter), self.storage,
                               **(board_info or {}))
        self.fw = Firmware(self.board, csms_url, cp_id, ocpp, config=config, trace=trace)

    @property
    def station(self):
        return self.csms.station(self.cp_id)

    @property
    def session(self):
        return self.fw.charger.session

    def start(self):
        self.fw.start()

    async def stop(self):
        await self.fw.stop()
        if self.csms is not None:
            await self.csms.stop()
