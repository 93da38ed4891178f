# portable
# The power path (pilot sampling -> session -> pilot output and contactor) on a fake board, under the
# real asyncio of CPython and of MicroPython. A fake is right here: it stands for a board's pins.
import asyncio
import time

from firmware.charger import Charger
from firmware.config import Config
from hal.interfaces import Board
from tests.firmware.safety_fakes import Pin
from tests.portable import run_async

LEVELS = {"A": (12000, 12000), "B": (8980, -12000), "C": (5990, -12000)}


class Clock:
    def __init__(self):
        self._t0 = self._now()

    def _now(self):
        if hasattr(time, "ticks_ms"):
            return time.ticks_ms()
        return int(time.monotonic() * 1000)

    def ms(self):
        if hasattr(time, "ticks_diff"):
            return time.ticks_diff(self._now(), self._t0)
        return self._now() - self._t0

    def utc(self):
        return "2026-01-01T00:00:00Z"


class PilotOut:
    def __init__(self):
        self.log = []

    def x1(self):
        self.log.append("x1")

    def pwm(self, duty_permille):
        self.log.append(duty_permille)

    def f(self):
        self.log.append("f")


class PilotIn:
    def __init__(self):
        self.levels = LEVELS["A"]
        self.changed = asyncio.Event()

    def read(self):
        return self.levels

    def set(self, state):
        self.levels = LEVELS[state]
        self.changed.set()

    async def wait(self, timeout_ms):
        try:
            await asyncio.wait_for(self.changed.wait(), timeout_ms / 1000)
        except asyncio.TimeoutError:
            pass
        self.changed.clear()
        return self.levels



def make_charger():
    pins = {"coil": Pin(), "feedback": Pin()}
    board = Board(clock=Clock(), pilot_out=PilotOut(), pilot_in=PilotIn(), contactor=pins["coil"],
                  contactor_feedback=pins["feedback"], meter_uart=None, storage=None,
                  network=None, info={"max_current_a": 16})
    return Charger(board, Config(), None), board, pins


def run_story(story):
    """Run story(charger, board, pins) with the charger's tasks running, and stop them after."""

    async def main():
        charger, board, pins = make_charger()
        tasks = [asyncio.create_task(c) for c in charger.tasks()]
        try:
            await story(charger, board, pins)
        finally:
            for task in tasks:
                task.cancel()

    run_async(main())


async def until(pred, timeout_ms=2000):
    waited = 0
    while not pred():
        if waited >= timeout_ms:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
        waited += 5


def test_plug_authorize_charge_and_unplug_drive_pilot_and_coil():
    async def story(charger, board, pins):
        board.pilot_in.set("B")
        await until(lambda: charger.session.status == "Preparing")
        charger.authorize()
        assert board.pilot_out.log[-1] == 266  # 16 A -> 26.6 % duty
        board.pilot_in.set("C")
        await until(lambda: pins["coil"].on)
        pins["feedback"].set(True)
        board.pilot_in.set("A")
        await until(lambda: not pins["coil"].on)
        assert charger.session.status == "Available"

    run_story(story)


def test_a_critical_fault_reported_by_the_safety_node_opens_the_coil_and_drives_f():
    async def story(charger, board, pins):
        board.pilot_in.set("C")
        await until(lambda: charger.session.cp == "C")
        charger.authorize()
        assert pins["coil"].on
        charger.safety_report(0, ["rcd_ac"], {})
        assert not pins["coil"].on
        assert board.pilot_out.log[-1] == "f"
        assert charger.connector_status()[:2] == ("Faulted", "GroundFailure")
        charger.safety_report(0, [], {})  # the safety node cleared it (its latch rule)
        assert charger.connector_status()[1] == "NoError"


def test_hot_sensors_reported_by_the_safety_node_derate_the_offer_in_steps():
    async def story(charger, board, pins):
        board.pilot_in.set("B")
        await until(lambda: charger.session.cp == "B")
        charger.authorize()
        assert board.pilot_out.log[-1] == 266  # 16 A
        charger.safety_report(0, [], {"ambient": 66.0})
        assert board.pilot_out.log[-1] == 133  # half: 8 A
        assert charger.connector_status()[1] == "HighTemperature"
        charger.safety_report(0, [], {"ambient": 69.0})
        assert board.pilot_out.log[-1] == 100  # a quarter would be 4 A: never below 6 A
        charger.safety_report(0, [], {"ambient": 63.0})
        assert board.pilot_out.log[-1] == 133  # hysteresis: half until below 62 C
        charger.safety_report(0, [], {"ambient": 61.0})
        assert board.pilot_out.log[-1] == 266
        assert charger.connector_status()[1] == "NoError"

    run_story(story)


def test_a_limit_below_6a_withdraws_the_offer_and_a_new_limit_sets_the_duty():
    async def story(charger, board, pins):
        board.pilot_in.set("B")
        await until(lambda: charger.session.cp == "B")
        charger.authorize()
        assert board.pilot_out.log[-1] == 266
        charger.set_limit(4)  # IEC 61851-1: no duty below 6 A, so no offer at all
        assert board.pilot_out.log[-1] == "x1"
        assert charger.connector_status()[0] == "SuspendedEVSE"
        charger.set_limit(10)
        assert board.pilot_out.log[-1] == 166  # 10 A -> 16.6 %

    run_story(story)
