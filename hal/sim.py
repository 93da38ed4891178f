"""The HAL bound to the simulated plant (CPython): what the firmware gets instead of pins."""

from hal.interfaces import Board, DigitalOut, PilotIn, PilotOut
from hal.memory import MemoryStorage


class SimPilotOut(PilotOut):
    def __init__(self, plant):
        self.plant = plant

    def x1(self):
        self.plant.set_pilot("x1")

    def pwm(self, duty_permille):
        self.plant.set_pilot("pwm", duty_permille)

    def f(self):
        self.plant.set_pilot("f")


class SimPilotIn(PilotIn):
    def __init__(self, plant):
        self.plant = plant

    def read(self):
        return self.plant.cp_levels()

    async def wait(self, timeout_ms):
        return await self.plant.wait_cp(timeout_ms)


class SimCoil(DigitalOut):
    def __init__(self, contactor):
        self.contactor = contactor

    def set(self, on):
        self.contactor.set_coil(on)


def sim_board(plant, clock, network, meter_uart, storage=None, **info):
    ratings = {"vendor": "OpenEVSE-Py", "model": "SimAC22", "serial": "SIM-0001", "firmware": "0.1.0",
               "max_current_a": 32, "phases": 3, "ventilation": False}
    ratings.update(info)
    return Board(
        clock=clock,
        pilot_out=SimPilotOut(plant),
        pilot_in=SimPilotIn(plant),
        contactor=SimCoil(plant.contactor),
        contactor_feedback=plant.contactor.feedback,
        rcd_trip=plant.rcd,
        meter_uart=meter_uart,
        storage=storage or MemoryStorage(),
        network=network,
        info=ratings,
    )
