"""The simulated byte stream (sim/bytepipe.py): wire timing, fault knobs, and the safety link over it."""

import asyncio

import pytest

from firmware.safety.link import TIMEOUT_MS, Peer
from hal.interfaces import Uart
from sim.bytepipe import BytePipe
from sim.vloop import run


async def read_all(end, timeout_ms=50):
    """Everything that arrives until the line has been quiet for timeout_ms."""
    data = b""
    while True:
        chunk = await end.read(timeout_ms)
        if not chunk:
            return data
        data += chunk


def test_bytes_cross_both_ways_on_a_plain_event_loop():
    async def main():
        pipe = BytePipe()
        assert isinstance(pipe.a, Uart) and isinstance(pipe.b, Uart)
        pipe.a.write(b"to b")
        pipe.b.write(bytearray(b"to a"))
        assert await read_all(pipe.b) == b"to b"
        assert await read_all(pipe.a) == b"to a"
        assert await pipe.a.read(5) == b""  # nothing more: b"" on timeout
        assert await pipe.a.read(0) == b""

    asyncio.run(main())


def test_bytes_arrive_after_latency_plus_wire_time_and_queue_on_the_line():
    async def main(clock):
        pipe = BytePipe(baud=10_000, latency_ms=1)  # 1 ms a byte (10 bits each)
        pipe.a.write(b"0123456789")
        pipe.a.write(b"abcdefghij")  # waits until the first write has left
        assert await pipe.b.read(10) == b""
        assert await pipe.b.read(100) == b"0123456789"
        first_at = clock.ms()
        assert await pipe.b.read(100) == b"abcdefghij"
        return first_at, clock.ms()

    assert run(main) == (11, 21)


def test_reset_input_drops_what_was_received():
    async def main():
        pipe = BytePipe()
        pipe.a.write(b"stale")
        await asyncio.sleep(0.01)
        pipe.b.reset_input()
        pipe.a.write(b"fresh")
        return await read_all(pipe.b)

    assert run(main) == b"fresh"


def test_drop_duplicate_and_reorder_act_on_whole_writes():
    async def main():
        pipe = BytePipe()
        pipe.a_to_b.drop(1)
        pipe.a.write(b"1")
        pipe.a.write(b"2")
        pipe.a_to_b.duplicate(1)
        pipe.a.write(b"3")
        pipe.a_to_b.reorder(1)
        pipe.a.write(b"4")
        pipe.a.write(b"5")
        pipe.a.write(b"6")
        got = await read_all(pipe.b)
        pipe.b.write(b"other way")  # the knobs are per direction
        return got, await read_all(pipe.a), pipe.a_to_b.counts

    got, back, counts = run(main)
    assert got == b"233546"
    assert back == b"other way"
    assert counts["writes"] == 6
    assert (counts["dropped"], counts["duplicated"], counts["reordered"]) == (1, 1, 1)


def test_corrupt_flips_exactly_one_bit_and_never_makes_a_zero():
    async def main():
        pipe = BytePipe()
        pipe.a_to_b.corrupt(2)
        pipe.a.write(b"\x01\x02\x10\x04\x05")
        pipe.a.write(b"\xff\xff\xff")
        pipe.a.write(b"clean")
        return await read_all(pipe.b)

    got = run(main)
    sent = b"\x01\x02\x10\x04\x05" + b"\xff\xff\xff" + b"clean"
    diff = [a ^ b for a, b in zip(got, sent)]
    assert len(got) == len(sent)
    assert sorted(bin(d).count("1") for d in diff if d) == [1, 1]
    assert 0 not in got
    assert got.endswith(b"clean")


def test_a_cut_link_delivers_nothing_not_even_bytes_on_the_wire():
    async def main():
        pipe = BytePipe(baud=1000)
        pipe.a.write(b"in flight")
        await asyncio.sleep(0.01)
        pipe.a_to_b.cut(True)
        pipe.a.write(b"during cut")
        lost = await read_all(pipe.b, 500)
        pipe.a_to_b.cut(False)
        pipe.a.write(b"after")
        return lost, await read_all(pipe.b, 500), pipe.a_to_b.counts["lost_to_cut"]

    assert run(main) == (b"", b"after", 2)


def test_bad_knob_values_and_writes_are_refused():
    pipe = BytePipe()
    with pytest.raises(ValueError):
        pipe.a_to_b.drop(-1)
    with pytest.raises(TypeError):
        pipe.a.write("text")
    with pytest.raises(ValueError):
        BytePipe(baud=0)


async def run_link(peer, end, stop_ms, clock, changes):
    """A peer's loop: heartbeat when due, read until the next deadline, log (ms, alive) changes."""
    alive = False
    while clock.ms() < stop_ms:
        now = clock.ms()
        if peer.heartbeat_due(now):
            end.write(peer.heartbeat(now))
        data = await end.read(max(1, peer.next_deadline(now) - now))
        peer.receive(data, clock.ms())
        if peer.alive(clock.ms()) != alive:
            alive = not alive
            changes.append((clock.ms(), alive))


def test_safety_node_notices_a_cut_link_within_the_timeout():
    async def main(clock):
        pipe = BytePipe()
        main_peer, safety_peer = Peer(epoch=1), Peer(epoch=2)
        changes = []
        tasks = [asyncio.create_task(run_link(main_peer, pipe.a, 3000, clock, [])),
                 asyncio.create_task(run_link(safety_peer, pipe.b, 3000, clock, changes))]
        await asyncio.sleep(0.35)
        pipe.a_to_b.corrupt(3)  # heartbeats 400, 500, 600
        await asyncio.sleep(0.4)
        pipe.a_to_b.duplicate(2)  # heartbeats 800, 900
        await asyncio.sleep(0.25)
        pipe.a_to_b.cut(True)  # the main controller's words stop reaching the safety node
        await asyncio.gather(*tasks)
        return changes, safety_peer.stats

    changes, stats = run(main)
    assert len(changes) == 2 and changes[0][1] and not changes[1][1]  # alive once, then dead for good
    wire_ms = 2  # 1 ms latency + 11 bytes at 115200 baud, rounded up
    assert 900 + TIMEOUT_MS <= changes[1][0] <= 900 + wire_ms + TIMEOUT_MS  # last heartbeat: 900 ms
    assert stats["corrupt"] == 3 and stats["duplicate"] == 2
    assert stats["reordered"] == 0 and stats["missing"] == 3
