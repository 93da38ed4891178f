# portable
# firmware/waiting.py on both runtimes, in real time with short waits: on MicroPython the waiting tasks sit
# on their events and one task serves every deadline (asyncio's own queues); on CPython, wait_for.
import asyncio
import time

from firmware import waiting
from firmware.waiting import event_or_timeout
from tests.portable import run_async

try:
    _ticks = time.ticks_ms  # MicroPython
except AttributeError:
    def _ticks():
        return int(time.monotonic() * 1000)


def _no_waits_left():
    assert waiting._waits == []  # MicroPython's bookkeeping; always empty on CPython


def test_the_event_ends_the_wait_and_the_deadline_ends_it_otherwise():
    async def story():
        event = asyncio.Event()

        async def setter():
            await asyncio.sleep(0.02)
            event.set()

        asyncio.create_task(setter())
        t0 = _ticks()
        assert await event_or_timeout(event, 5000) is True
        assert _ticks() - t0 < 4000  # woken by the event, not by the deadline
        event.clear()
        t0 = _ticks()
        assert await event_or_timeout(event, 30) is False
        assert _ticks() - t0 >= 29
        _no_waits_left()

    run_async(story())


def test_already_set_none_and_zero_timeouts():
    async def story():
        event = asyncio.Event()
        assert await event_or_timeout(event, 0) is False
        assert await event_or_timeout(event, -5) is False
        event.set()
        assert await event_or_timeout(event, 0) is True
        assert await event_or_timeout(event, 10) is True
        assert await event_or_timeout(event, None) is True
        _no_waits_left()

    run_async(story())


def test_a_loop_on_an_event_left_set_still_lets_the_other_tasks_run():
    # (a loop of the bridge's waits on an event that stays set: it starved the plant's task on CPython)
    async def story():
        event = asyncio.Event()
        event.set()
        ran = []

        async def other():
            ran.append(True)

        asyncio.create_task(other())
        for _ in range(3):
            assert await event_or_timeout(event, 1000) is True
        assert ran == [True]

    run_async(story())


def test_many_waiters_each_on_its_own_deadline_and_a_later_shorter_one_is_served_on_time():
    async def story():
        events = [asyncio.Event() for _ in range(4)]
        ended = []

        async def waiter(name, event, timeout_ms):
            came = await event_or_timeout(event, timeout_ms)
            ended.append((name, came))

        tasks = [asyncio.create_task(waiter("long", events[0], 300)),
                 asyncio.create_task(waiter("set", events[1], 300)),
                 asyncio.create_task(waiter("mid", events[2], 120))]
        await asyncio.sleep(0.01)
        # A deadline sooner than any the server sleeps towards: it must be brought forward.
        tasks.append(asyncio.create_task(waiter("short", events[3], 20)))
        await asyncio.sleep(0.06)
        assert ended == [("short", False)]
        events[1].set()
        await asyncio.sleep(0.01)
        assert ended == [("short", False), ("set", True)]
        for task in tasks:
            await task
        assert ended == [("short", False), ("set", True), ("mid", False), ("long", False)]
        _no_waits_left()

    run_async(story())


def test_a_cancelled_waiter_leaves_nothing_behind_and_the_others_go_on():
    async def story():
        event = asyncio.Event()
        other = asyncio.Event()
        cancelled = []

        async def victim():
            try:
                await event_or_timeout(event, 5000)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        task = asyncio.create_task(victim())
        await asyncio.sleep(0.01)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert cancelled == [True]
        assert await event_or_timeout(other, 20) is False  # the deadline server still works
        event.set()  # nobody is on its queue any more: nothing is woken twice
        await asyncio.sleep(0.01)
        _no_waits_left()

    run_async(story())


def test_a_loop_woken_often_with_a_long_deadline_keeps_no_old_waits():
    async def story():
        event = asyncio.Event()
        wakes = []

        async def loop():
            for _ in range(50):
                event.clear()
                wakes.append(await event_or_timeout(event, 60000))

        task = asyncio.create_task(loop())
        while not task.done():
            event.set()
            await asyncio.sleep(0.001)
        assert wakes == [True] * 50
        _no_waits_left()

    run_async(story())


def test_a_long_sleep_is_slept_in_pieces_a_board_s_ticks_can_hold():
    # A board's ticks are 30 bits: a deadline more than 2**29 ms ahead reads as past (the sleep would end
    # at once). TransactionMessageRetryInterval x attempts can be 99 days.
    slept = []
    real_sleep = asyncio.sleep

    async def recorded(s):
        slept.append(s)

    asyncio.sleep = recorded
    try:
        run_async(waiting.sleep_s(2.5 * waiting.LONGEST_MS / 1000))
        run_async(waiting.sleep_s(1.5))
    finally:
        asyncio.sleep = real_sleep
    longest_s = waiting.LONGEST_MS / 1000
    assert slept == [longest_s, longest_s, 0.5 * longest_s, 1.5]
