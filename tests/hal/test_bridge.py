# portable
# hal/bridge_wire.py and hal/bridge.py (the firmware side of the bridge) against a scripted plant on an
# in-memory stream pair: runs under pytest and under the micropython binary.
import asyncio

from firmware.frames import Decoder, encode
from hal import bridge_wire as wire
from hal.bridge import LOST_LEVELS, BridgeClient
from tests.portable import raises, run_async


class Clock:
    def __init__(self):
        self.now = 0

    def ms(self):
        return self.now


class Streams:
    """Both directions of a byte stream: the client reads `to_client`, what it writes lands in `written`."""

    def __init__(self):
        self.to_client = bytearray()
        self.arrived = asyncio.Event()
        self.written = bytearray()
        self.closed = False

    def feed(self, data):
        self.to_client += data
        self.arrived.set()

    async def read(self, n):
        while not self.to_client and not self.closed:
            self.arrived.clear()
            await self.arrived.wait()
        data = bytes(self.to_client[:n])
        self.to_client = self.to_client[n:]
        return data

    def write(self, data):
        self.written += data

    async def drain(self):
        pass

    def messages(self):
        return [wire.decode_from_firmware(p) for p in Decoder(wire.MAX_PAYLOAD).feed(bytes(self.written))]


def plant_state(streams, epoch_s=1700000000):
    for payload in (wire.hello(epoch_s), wire.cp(12000, -12000), wire.input_(0, False),
                    wire.input_(3, False), wire.temperature("connector", 1097.3)):
        streams.feed(wire.frame(payload))


def test_every_message_round_trips():
    assert wire.decode_from_plant(wire.hello(7)) == ("hello", 7)
    assert wire.decode_from_plant(wire.keepalive()) == ("keepalive",)
    assert wire.decode_from_plant(wire.cp(8950, -12010)) == ("cp", 8950, -12010)
    assert wire.decode_from_plant(wire.input_(3, True)) == ("input", "estop", True)
    name, ohms = wire.decode_from_plant(wire.temperature("power_path", 1116.7))[1:]
    assert name == "power_path" and abs(ohms - 1116.7) < 0.01
    assert wire.decode_from_plant(wire.tag("TAG1")) == ("tag", "TAG1")
    assert wire.decode_from_firmware(wire.hello()) == ("hello",)
    assert wire.decode_from_firmware(wire.pilot(wire.PILOT_PWM, 533)) == ("pilot", "pwm", 533)
    assert wire.decode_from_firmware(wire.pilot(wire.PILOT_F, 0)) == ("pilot", "f", None)
    assert wire.decode_from_firmware(wire.output(1, True)) == ("output", "relay", True)


def test_bad_messages_are_refused_with_a_reason():
    for payload in (b"", b"Z", b"C\x01", b"I\x09\x01", b"I\x00\x02", b"T\x00\x00\x80\xff", b"R",
                    b"R" + b"x" * 21, b"R\xff\xfe", b"H\x02\x00\x00\x00\x00", b"K\x00"):
        raises(ValueError, wire.decode_from_plant, payload)
    for payload in (b"P\x01\x00\x00", b"P\x01\xe8\x03", b"P\x03\x00\x00", b"O\x03\x01", b"H\x09", b"Q"):
        raises(ValueError, wire.decode_from_firmware, payload)


async def _start(streams, clock):
    client = BridgeClient(streams, streams, clock, keepalive_ms=50, peer_timeout_ms=200)
    tasks = [asyncio.create_task(c) for c in client.tasks()]
    plant_state(streams)
    assert await client.wait_hello(1000)
    await asyncio.sleep(0)
    return client, tasks


def _stop(tasks):
    for task in tasks:
        task.cancel()


def test_the_sender_refuses_names_and_tags_the_receiver_would_refuse():
    # Found by test_bridge_props: five characters can be 17 bytes of UTF-8, over MAX_NAME.
    raises(ValueError, wire.temperature, "\u0080\u0800\U00010000\U00010000\U00010000", 1000.0)
    raises(ValueError, wire.temperature, "", 1000.0)
    raises(ValueError, wire.tag, "x" * (wire.MAX_TAG + 1))
    assert wire.decode_from_plant(wire.temperature("n" * wire.MAX_NAME, 1000.0))[1] == "n" * wire.MAX_NAME
    assert wire.decode_from_plant(wire.tag("\u00e9" * 10)) == ("tag", "\u00e9" * 10)  # 20 bytes


def test_parts_follow_the_plant_and_drive_it():
    async def main():
        streams, clock = Streams(), Clock()
        client, tasks = await _start(streams, clock)
        main_parts, safety = client.main_parts(), client.safety_parts()
        assert client.plant_epoch_s == 1700000000
        assert main_parts["pilot_in"].read() == (12000, -12000)
        assert sorted(safety["temperatures"]) == ["connector"]
        assert abs(safety["temperatures"]["connector"].read_ohms() - 1097.3) < 0.01
        seen = []
        safety["estop"].on_change(seen.append)
        streams.feed(wire.frame(wire.input_(3, True)) + wire.frame(wire.cp(9000, -12000)))
        assert await main_parts["pilot_in"].wait(1000) == (9000, -12000)
        assert seen == [True] and safety["estop"].value() and not main_parts["contactor_feedback"].value()
        tags = []
        client.on_tag = tags.append
        streams.feed(wire.frame(wire.tag("TAG1")))
        main_parts["pilot_out"].pwm(533)
        main_parts["contactor"].set(True)
        safety["relay"].set(True)
        safety["rcd_test"].set(True)
        await asyncio.sleep(0.01)
        assert tags == ["TAG1"]
        sent = [m for m in streams.messages() if m[0] != "keepalive"]
        assert sent == [("hello",), ("pilot", "pwm", 533), ("output", "contactor", True),
                        ("output", "relay", True), ("output", "rcd_test", True)]
        _stop(tasks)

    run_async(main())


def test_bad_frames_are_counted_and_the_stream_carries_on():
    async def main():
        streams, clock = Streams(), Clock()
        client, tasks = await _start(streams, clock)
        pilot_in = client.main_parts()["pilot_in"]
        pilot_in.read()
        good = bytearray(wire.frame(wire.cp(6000, -12000)))
        good[2] ^= 0x40  # a flipped bit: bad CRC
        streams.feed(bytes(good) + b"\x05\x01\x00" + wire.frame(b"Zzz") + encode(b"x" * 100))
        streams.feed(wire.frame(wire.cp(3000, -12000)))
        assert await pilot_in.wait(1000) == (3000, -12000)
        assert client.bad_frames == 3 and client.bad_messages == 1
        _stop(tasks)

    run_async(main())


def test_a_silent_plant_reads_as_a_lost_pilot_until_it_speaks_again():
    async def main():
        streams, clock = Streams(), Clock()
        client, tasks = await _start(streams, clock)
        pilot_in = client.main_parts()["pilot_in"]
        assert pilot_in.read() == (12000, -12000)
        clock.now += 201  # nothing from the plant in that time
        assert await pilot_in.wait(1000) == LOST_LEVELS
        assert client.lost == 1 and not client.alive
        streams.feed(wire.frame(wire.keepalive()))
        assert await pilot_in.wait(1000) == (12000, -12000)
        assert client.alive and client.lost == 1
        _stop(tasks)

    run_async(main())


def test_a_closed_stream_is_a_lost_plant():
    async def main():
        streams, clock = Streams(), Clock()
        client, tasks = await _start(streams, clock)
        streams.closed = True
        streams.arrived.set()
        await asyncio.sleep(0.01)
        assert client.cp_levels() == LOST_LEVELS and client.lost == 1
        _stop(tasks)

    run_async(main())


def test_a_memory_error_reading_the_stream_is_read_again():
    # The receiving task ended on a MemoryError in the stream's read (issue #4: a small MicroPython heap
    # had no 257 bytes for a moment); the plant was lost for good although it was still there.
    async def main():
        streams, clock = Streams(), Clock()
        client, tasks = await _start(streams, clock)
        pilot_in = client.main_parts()["pilot_in"]
        pilot_in.read()
        real_read = streams.read
        failed = []

        async def short_of_heap(n):
            if not failed:
                failed.append(n)
                raise MemoryError("memory allocation failed, allocating 257 bytes")
            return await real_read(n)

        streams.read = short_of_heap
        streams.feed(wire.frame(wire.cp(6000, -12000)))  # a read is already waiting: it takes this
        assert await pilot_in.wait(1000) == (6000, -12000)
        streams.feed(wire.frame(wire.cp(9000, -12000)))  # the next read fails once, then takes this
        assert await pilot_in.wait(1000) == (9000, -12000)
        assert failed == [256] and client.alive
        _stop(tasks)

    run_async(main())
