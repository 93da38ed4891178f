import asyncio
import time
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim import vloop
from sim.vloop import SimulationStalled, VirtualClock, VirtualLoopError

START = 1735689600  # 2025-01-01T00:00:00Z


def test_an_hour_of_one_second_sleeps_reads_exactly_3600_s_without_really_waiting():
    async def main(clock):
        for _ in range(3600):
            await asyncio.sleep(1)
        return clock.now_s, clock.ms(), asyncio.get_running_loop().time()

    real_start = time.monotonic()
    now_s, ms, loop_time = vloop.run(main)
    assert (now_s, ms, loop_time) == (3600.0, 3600000, 3600.0)
    assert time.monotonic() - real_start < 60  # proves no real sleeping (a real hour would be 3600 s)


def test_tenth_of_a_second_steps_add_up_to_whole_milliseconds():
    async def main(clock):
        seen = []
        for _ in range(30):
            await asyncio.sleep(0.1)
            seen.append(clock.ms())
        return seen

    assert vloop.run(main) == [100 * (i + 1) for i in range(30)]


def test_a_sleep_longer_than_a_day_lands_exactly():
    async def main(clock):
        await asyncio.sleep(3 * 86400 + 0.25)
        return clock.now_s

    assert vloop.run(main) == 3 * 86400 + 0.25


def test_timers_at_the_same_instant_fire_in_the_order_they_were_scheduled():
    def trace():
        async def main(clock):
            log = []
            loop = asyncio.get_running_loop()
            for name, delay in [("c", 2), ("a", 1), ("b", 1), ("d", 2), ("e", 1), ("f", 0.5)]:
                loop.call_later(delay, lambda n=name: log.append((n, clock.ms())))
            await asyncio.sleep(3)
            return log

        return vloop.run(main)

    first = trace()
    assert first == [("f", 500), ("a", 1000), ("b", 1000), ("e", 1000), ("c", 2000), ("d", 2000)]
    assert trace() == first


def test_tasks_woken_at_the_same_instant_run_in_creation_order():
    async def main(clock):
        log = []

        async def sleeper(name):
            await asyncio.sleep(5)
            log.append(name)

        await asyncio.gather(*(sleeper(n) for n in "pqrstu"))
        return log

    assert vloop.run(main) == list("pqrstu")


def test_wait_for_times_out_at_the_exact_virtual_time():
    async def main(clock):
        await asyncio.sleep(10)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.Event().wait(), 2.5)
        after_wait_for = clock.ms()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await asyncio.sleep(100)
        return after_wait_for, clock.ms()

    assert vloop.run(main) == (12500, 12600)


def test_an_event_set_by_a_timer_wakes_its_waiter_at_that_time():
    async def main(clock):
        event = asyncio.Event()
        asyncio.get_running_loop().call_later(42, event.set)
        await asyncio.wait_for(event.wait(), 100)
        return clock.now_s

    assert vloop.run(main) == 42


def test_a_deadlock_raises_simulation_stalled_naming_the_waiting_task():
    async def stuck():
        await asyncio.Event().wait()

    async def main(clock):
        asyncio.get_running_loop().create_task(stuck(), name="waits-forever")
        await asyncio.sleep(7)
        await asyncio.Event().wait()

    with pytest.raises(SimulationStalled) as info:
        vloop.run(main)
    message = str(info.value)
    assert "t=7.000 s" in message
    assert "waits-forever" in message and "stuck" in message


def test_a_stall_caused_by_a_crashed_task_points_at_the_crash():
    async def main(clock):
        done = asyncio.Event()

        async def worker():
            raise ValueError("sensor unplugged")

        asyncio.get_running_loop().create_task(worker())
        await done.wait()

    with pytest.raises(SimulationStalled) as info:
        vloop.run(main)
    assert isinstance(info.value.__cause__, ValueError)
    assert "sensor unplugged" in str(info.value)


def test_utc_follows_virtual_time_from_the_start_epoch():
    async def main(clock):
        first = clock.utc()
        await asyncio.sleep(86400 + 3661.5)
        return first, clock.utc()

    first, later = vloop.run(main, start_utc_epoch=START)
    assert first == "2025-01-01T00:00:00.000Z"
    assert later == "2025-01-02T01:01:01.500Z"
    parsed = datetime.fromisoformat(later.replace("Z", "+00:00"))
    assert parsed == datetime(2025, 1, 2, 1, 1, 1, 500000, tzinfo=timezone.utc)


def test_the_main_coroutine_exception_propagates():
    async def main():
        await asyncio.sleep(1)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        vloop.run(main())


def test_a_background_task_that_crashed_unobserved_fails_the_run():
    async def main(clock):
        async def worker():
            await asyncio.sleep(1)
            raise ZeroDivisionError("bad scaling")

        asyncio.get_running_loop().create_task(worker())
        await asyncio.sleep(5)
        return "finished"

    with pytest.raises(ZeroDivisionError):
        vloop.run(main)


def test_a_crash_that_was_awaited_and_handled_does_not_fail_the_run():
    async def main(clock):
        async def worker():
            raise ZeroDivisionError()

        task = asyncio.get_running_loop().create_task(worker())
        with pytest.raises(ZeroDivisionError):
            await task
        return "ok"

    assert vloop.run(main) == "ok"


def test_leftover_tasks_are_cancelled_in_virtual_time_at_the_end():
    cleaned = []

    async def main(clock):
        async def long_runner():
            try:
                await asyncio.sleep(10**6)
            finally:
                await asyncio.sleep(30)  # cleanup that itself waits
                cleaned.append(clock.now_s)

        asyncio.get_running_loop().create_task(long_runner())
        await asyncio.sleep(1)

    vloop.run(main)
    assert cleaned == [31.0]


def test_threads_and_real_io_are_refused_with_a_clear_error():
    async def main(clock):
        loop = asyncio.get_running_loop()
        with pytest.raises(VirtualLoopError):
            loop.run_in_executor(None, print)
        with pytest.raises(VirtualLoopError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", 80)

    vloop.run(main)


def test_new_loop_gives_a_loop_and_its_clock():
    loop, clock = vloop.new_loop(START)
    try:
        loop.run_until_complete(asyncio.sleep(2.5))
        assert clock.ms() == 2500 and loop.clock is clock
    finally:
        loop.close()


def test_virtual_clock_never_goes_back():
    clock = VirtualClock(START)
    clock.advance(1.5)
    clock.advance_to(1.0)
    assert clock.ms() == 1500
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_real_clock_reads_monotonic_ms_and_a_utc_string():
    clock = vloop.RealClock()
    assert 0 <= clock.ms() < 10**6
    assert clock.utc().endswith("Z") and len(clock.utc()) == len("2025-01-01T00:00:00.000Z")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(min_value=0, max_value=10**7), max_size=8), min_size=1, max_size=5))
def test_every_task_wakes_at_its_exact_cumulative_time_in_time_order(plans_ms):
    async def main(clock):
        log = []

        async def sleeper(index, plan):
            total = 0
            for step_ms in plan:
                await asyncio.sleep(step_ms / 1000)
                total += step_ms
                log.append((clock.ms(), index, total))

        await asyncio.gather(*(sleeper(i, plan) for i, plan in enumerate(plans_ms)))
        return log

    log = vloop.run(main)
    assert all(woke_ms == expected_ms for woke_ms, _, expected_ms in log)
    assert [entry[0] for entry in log] == sorted(entry[0] for entry in log)
    assert len(log) == sum(len(plan) for plan in plans_ms)
