"""sim/bridge_server.py: the plant served over TCP on 127.0.0.1 to hal/bridge.py's client (CPython, real
time, real sockets). Waits poll the condition with a generous limit; nothing asserts a duration."""

import asyncio
import functools

from firmware.frames import encode
from hal import bridge_wire as wire
from hal.bridge import LOST_LEVELS, BridgeClient
from sim.bridge_server import BridgeServer
from sim.ev import Ev
from sim.meter import MeterModel
from sim.plant import Plant
from sim.vloop import RealClock


def on_real_loop(test):
    @functools.wraps(test)
    def run():
        asyncio.run(asyncio.wait_for(test(), 30))

    return run


async def until(predicate, timeout_s=5.0):
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met within %s s" % timeout_s)
        await asyncio.sleep(0.01)


class Bench:
    """A plant, its bridge server on loopback, and one connected client."""

    async def __aenter__(self):
        self.clock = RealClock()
        self.plant = Plant(self.clock, Ev(), MeterModel(self.clock.ms))
        self.logs = []
        self.server = BridgeServer(self.plant, self.clock, keepalive_ms=50, peer_timeout_ms=300,
                                   log=self.logs.append)
        self.port = await self.server.serve_tcp()
        self.tasks = []
        self.client = await self.connect()
        return self

    async def connect(self):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        client = BridgeClient(reader, writer, self.clock, keepalive_ms=50, peer_timeout_ms=300)
        client.writer_ = writer
        self.tasks += [asyncio.create_task(c) for c in client.tasks()]
        assert await client.wait_hello(5000)
        await until(lambda: len(client.temperatures_ohms) == 3)
        return client

    async def __aexit__(self, *exc):
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.stop()


@on_real_loop
async def test_the_firmware_side_sees_and_drives_the_plant():
    async with Bench() as b:
        main, safety = b.client.main_parts(), b.client.safety_parts()
        assert main["pilot_in"].read() == b.plant.cp_levels()
        assert sorted(safety["temperatures"]) == ["ambient", "connector", "power_path"]
        assert abs(safety["temperatures"]["connector"].read_ohms()
                   - b.plant.temperatures["connector"].read_ohms()) < 0.5
        b.plant.plug()
        await until(lambda: main["pilot_in"].read()[0] < 10000)  # state B: 9 V
        main["pilot_out"].pwm(533)  # 32 A: the EV closes S2, the CP drops to 6 V
        await until(lambda: b.plant.generator == "pwm" and b.plant.duty_permille == 533)
        await until(lambda: main["pilot_in"].read()[0] < 7000)
        feedback = []
        main["contactor_feedback"].on_change(feedback.append)
        main["contactor"].set(True)
        safety["relay"].set(True)
        await until(lambda: b.plant.contactor.closed and feedback == [True])
        assert safety["contactor_feedback"].value()
        b.plant.estop.set(True)
        await until(lambda: safety["estop"].value())
        tags = []
        b.client.on_tag = tags.append
        b.server.present_tag("TAG1")
        await until(lambda: tags == ["TAG1"])
        assert b.server.bad_frames == b.server.bad_messages == 0


@on_real_loop
async def test_rcd_test_input_reaches_the_monitor_and_its_trip_comes_back():
    async with Bench() as b:
        safety = b.client.safety_parts()
        safety["rcd_test"].set(True)
        await until(lambda: safety["rcd_ac"].value() and safety["rcd_dc"].value())
        safety["rcd_test"].set(False)
        await until(lambda: not safety["rcd_ac"].value())


@on_real_loop
async def test_bad_frames_are_counted_and_the_server_carries_on():
    async with Bench() as b:
        main = b.client.main_parts()
        b.client.writer_.write(b"\x03\x01\x02\x00" + wire.frame(b"Q") + encode(b"P\x01\xe8\x03")
                               + encode(b"y" * 200))
        main["pilot_out"].pwm(250)
        await until(lambda: b.plant.duty_permille == 250)
        assert b.server.bad_frames == 2 and b.server.bad_messages == 2


@on_real_loop
async def test_a_silent_firmware_is_a_dead_controller_and_its_outputs_drop():
    async with Bench() as b:
        main, safety = b.client.main_parts(), b.client.safety_parts()
        b.plant.plug()
        main["pilot_out"].pwm(533)
        main["contactor"].set(True)
        safety["relay"].set(True)
        await until(lambda: b.plant.contactor.coil)
        for task in b.tasks:  # the firmware hangs: nothing more on the wire
            task.cancel()
        await until(lambda: b.server.lost == 1)
        assert not b.plant.contactor.coil and b.plant.generator == "x1"
        assert any("outputs drop" in line for line in b.logs)
        again = await b.connect()  # a rebooted firmware gets the whole state again
        assert again.main_parts()["pilot_in"].read() == b.plant.cp_levels()
        assert b.server.connections == 2


@on_real_loop
async def test_a_silent_plant_makes_the_firmware_read_a_lost_pilot():
    async with Bench() as b:
        pilot_in = b.client.main_parts()["pilot_in"]
        await b.server.stop()  # the plant's process hangs up
        await until(lambda: b.client.lost == 1)
        assert pilot_in.read() == LOST_LEVELS

