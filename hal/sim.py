"""The HAL bound to the simulated plant (CPython): what the firmware gets instead of pins."""

import asyncio

from hal.interfaces import Board, DigitalOut, PilotIn, PilotOut, Watchdog
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
    """The CP sampler. Fault injection: `stalled` makes the driver hang (a task stall for the watchdog)."""

    def __init__(self, plant):
        self.plant = plant
        self.stalled = False
        self._given = None  # the levels last handed out

    def read(self):
        self._given = self.plant.cp_levels()
        return self._given

    async def wait(self, timeout_ms):
        if self.stalled:
            await asyncio.Event().wait()  # hangs until the task is cancelled (by a reset)
        levels = self.plant.cp_levels()
        if levels == self._given:  # a change made since (say, by our own PWM) is news: no waiting
            levels = await self.plant.wait_cp(timeout_ms)
        self._given = levels
        return levels


class SimSwitch(DigitalOut):
    """One of the two switches in series in the contactor's coil circuit ("main" or "safety")."""

    def __init__(self, contactor, which):
        self.contactor = contactor
        self.which = which

    def set(self, on):
        self.contactor.switch(self.which, on)


class SimWatchdog(Watchdog):
    """A watchdog in loop time: on_expire() runs if feed() is not called within timeout_ms."""

    def __init__(self, timeout_ms, on_expire):
        self.timeout_ms = timeout_ms
        self.on_expire = on_expire
        self._timer = None
        self.feed()

    def feed(self):
        self.stop()
        self._timer = asyncio.get_running_loop().call_later(self.timeout_ms / 1000, self.on_expire)

    def stop(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def sim_board(plant, clock, network, meter_uart, storage=None, safety_link=None, watchdog=None,
              reset_cause="power", pilot_in=None, **info):
    ratings = {"vendor": "OpenEVSE-Py", "model": "SimAC22", "serial": "SIM-0001", "firmware": "0.1.0",
               "max_current_a": 32, "phases": 3, "ventilation": False}
    ratings.update(info)
    return Board(
        clock=clock,
        pilot_out=SimPilotOut(plant),
        pilot_in=pilot_in or SimPilotIn(plant),
        contactor=SimSwitch(plant.contactor, "main"),
        contactor_feedback=plant.contactor.feedback.view(),
        meter_uart=meter_uart,
        storage=storage or MemoryStorage(),
        network=network,
        safety_link=safety_link,
        watchdog=watchdog,
        reset_cause=reset_cause,
        info=ratings,
    )


def sim_safety_board(plant, clock, link, ventilation=False, watchdog=None):
    """The safety node's board: its own CP sense, its switch, and the safety sensors of the plant."""
    return Board(
        clock=clock,
        pilot_in=SimPilotIn(plant),
        relay=SimSwitch(plant.contactor, "safety"),
        contactor_feedback=plant.contactor.feedback.view(),
        rcd_ac=plant.rcd.ac,
        rcd_dc=plant.rcd.dc,
        rcd_test=plant.rcd,
        estop=plant.estop,
        pe_fault=plant.pe_fault,
        temperatures=plant.temperatures,
        link=link,
        watchdog=watchdog,
        reset_cause="power",
        info={"ventilation": ventilation},
    )
