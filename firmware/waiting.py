# Waiting for "something happened, or a deadline", the pattern of every event-driven task here.
#
# CPython: asyncio.wait_for. MicroPython: its wait_for runs a helper task, a closure and a second task
# for every wait, ~600 bytes live for each task waiting; with the firmware's dozen loops waiting at once
# that was ~9 KB of a board's heap (issue #4). There, a waiting task sits on the event's queue as
# Event.wait() puts it, and one task for all of them (_serve_deadlines) moves it to the run queue when
# its deadline passes. That uses asyncio's own queues (asyncio.core: cur_task, _task_queue, a task's
# data and ph_key), as its Event and Task.cancel do; tests/firmware/test_waiting.py runs on both.
import asyncio

try:
    from asyncio import core as _core
    from time import ticks_add, ticks_diff, ticks_ms
except ImportError:  # CPython
    _core = None

LONGEST_MS = 1 << 28  # ~3.1 days
MEMORY_PAUSE_S = 1  # keep_stepping: the pause after a MemoryError
_waits = []  # [deadline (ticks), task, event, timed out] of each task waiting (MicroPython)
_server = None  # the task serving their deadlines; it ends when no deadline is ahead


async def event_or_timeout(event, timeout_ms):
    """Wait until event is set or timeout_ms passed (None: no deadline). True if the event came."""
    if timeout_ms is None:
        await event.wait()
        return True
    if timeout_ms <= 0:
        return event.is_set()
    if event.is_set():
        await asyncio.sleep(0)  # as any wait does: a loop on an event left set must still let others run
        return True
    if _core is None:
        try:
            await asyncio.wait_for(event.wait(), timeout_ms / 1000)
            return True
        except asyncio.TimeoutError:
            return False
    # Capped: a ticks deadline more than half the ticks period (2**29 ms on most ports) ahead reads as
    # past. A longer wait ends early and returns False; the callers loop and look at the clock.
    entry = [ticks_add(ticks_ms(), min(int(timeout_ms), LONGEST_MS)), _core.cur_task, event, False]
    _waits.append(entry)
    _serve(entry[0])
    try:
        await _park(event)
    finally:  # also when the task is cancelled: Task.cancel takes it off the event's queue
        _waits.remove(entry)
    return not entry[3]


async def sleep_s(seconds):
    """asyncio.sleep for a wait of any length, e.g. one set by configuration or by the CSMS. A board's ticks
    are 30 bits: a deadline more than 2**29 ms (6.2 days) ahead reads as past and the sleep ends at once,
    so a longer wait is slept in pieces of LONGEST_MS."""
    left_ms = int(seconds * 1000)
    while left_ms > LONGEST_MS:
        await asyncio.sleep(LONGEST_MS / 1000)
        left_ms -= LONGEST_MS
    await asyncio.sleep(left_ms / 1000)


async def keep_stepping(step, log, topic, after_memory_error):
    """await step() for ever. A MemoryError (a board's heap short for a moment, fragmented) is logged with
    what it means for the caller, and the next step comes after MEMORY_PAUSE_S: before, such a task ended
    and what it did stopped until a reboot (issue #4: the outbox, the meter-value sampling)."""
    while True:
        try:
            await step()
        except MemoryError as exc:
            log(topic, "MemoryError: %s; %s" % (exc, after_memory_error))
            await asyncio.sleep(MEMORY_PAUSE_S)


def _park(event):
    # Event.wait() without its check of the state (done by the caller): on the event's queue until
    # set() moves the task to the run queue, or _serve_deadlines does.
    task = _core.cur_task
    event.waiting.push(task)
    task.data = event.waiting
    yield


def _serve(deadline):
    """Make sure the deadline server wakes by deadline."""
    global _server
    if _server is None or _server.done():
        _server = _core.create_task(_serve_deadlines())
    elif ticks_diff(deadline, _server.ph_key) < 0 and _server.data is None:
        # Asleep (or about to run) on the run queue, but later than this deadline: bring it forward.
        _core._task_queue.remove(_server)
        _core._task_queue.push(_server, deadline)


async def _serve_deadlines():
    while True:
        now = ticks_ms()
        soonest = None
        for entry in _waits:
            deadline, task, event, timed_out = entry
            if timed_out:
                continue
            if ticks_diff(deadline, now) <= 0:
                if task.data is event.waiting:  # still on the event's queue: its time is up
                    entry[3] = True
                    event.waiting.remove(task)
                    task.data = None
                    _core._task_queue.push(task)
            elif soonest is None or ticks_diff(deadline, soonest) < 0:
                soonest = deadline
        if soonest is None:
            return
        await asyncio.sleep_ms(ticks_diff(soonest, now))
