# Virtual time for asyncio (CPython only): the whole simulation runs in one event loop whose clock
# jumps straight to the next timer whenever every task is waiting.
#
# How it works. asyncio's BaseEventLoop._run_once asks its selector to wait for I/O for `timeout`
# seconds: 0 when callbacks are ready, the time until the earliest timer when only timers are left,
# None when there is nothing at all. VirtualLoop hands it a selector that never blocks: a positive
# timeout moves the virtual clock to the earliest timer (exactly, so no float drift creeps in),
# None means every task waits for something that can never happen, and SimulationStalled is raised.
# The loop then fires the timer as usual. An hour of sleeps costs a few thousand loop iterations.
#
# Limits. There is no real I/O and there are no threads in this loop: no sockets, pipes, subprocesses,
# signal handlers or run_in_executor (each raises VirtualLoopError), and call_soon_threadsafe from
# another thread is refused. Real WebSocket tests run on a normal loop with RealClock. Timers due at the
# same instant fire in the order they were scheduled, so every run repeats exactly.
import asyncio
import heapq
import inspect
import threading
import time
from asyncio import events

DEFAULT_START_EPOCH = 1735689600  # 2025-01-01T00:00:00Z


class SimulationStalled(RuntimeError):
    """Every task waits and no timer is scheduled: nothing can ever happen again."""


class VirtualLoopError(RuntimeError):
    """Something that needs real I/O or threads was asked of the virtual loop."""


def _iso_utc(epoch_ms):
    """'YYYY-MM-DDTHH:MM:SS.mmmZ' for integer milliseconds since 1970 (valid OCPP dateTime)."""
    seconds, millis = divmod(int(epoch_ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + ".%03dZ" % millis


class VirtualClock:
    """The simulation clock: virtual seconds since the start, and UTC from a start epoch.

    Satisfies hal.interfaces.Clock (ms(), utc()). VirtualLoop moves it; a test may also move it by hand
    with advance() when no loop owns it."""

    def __init__(self, start_epoch=DEFAULT_START_EPOCH):
        self.start_epoch = start_epoch
        self._start_epoch_ms = int(round(start_epoch * 1000))
        self.now_s = 0.0

    def ms(self):
        # round() is non-decreasing, so ms() never goes back; it hides float noise (0.1 * 3 s -> 300 ms)
        return int(round(self.now_s * 1000))

    def utc(self):
        return _iso_utc(self._start_epoch_ms + self.ms())

    def epoch_s(self):
        """Virtual wall-clock time as seconds since 1970 (a float)."""
        return self.start_epoch + self.now_s

    def advance(self, seconds):
        if seconds < 0:
            raise ValueError("virtual time never goes back")
        self.now_s += seconds

    def advance_to(self, now_s):
        if now_s > self.now_s:
            self.now_s = now_s


class RealClock:
    """hal.interfaces.Clock on the real clocks, for --realtime runs on a normal event loop."""

    def __init__(self):
        self._base = time.monotonic()

    def ms(self):
        return int((time.monotonic() - self._base) * 1000)

    def utc(self):
        return _iso_utc(int(time.time() * 1000))

    def epoch_s(self):
        return time.time()


class _FifoTimerHandle(events.TimerHandle):
    """A TimerHandle that breaks ties by scheduling order (asyncio's heap compares `when` only)."""

    __slots__ = ("_seq",)

    def __init__(self, when, seq, callback, args, loop, context=None):
        super().__init__(when, callback, args, loop, context=context)
        self._seq = seq

    def __lt__(self, other):
        if self._when == other._when and isinstance(other, _FifoTimerHandle):
            return self._seq < other._seq
        return self._when < other._when

    def __le__(self, other):
        return self < other or self.__eq__(other)

    def __gt__(self, other):
        return not self.__le__(other)

    def __ge__(self, other):
        return not self.__lt__(other)



class _VirtualSelector:
    """The only piece of the loop that could block; here it moves virtual time instead."""

    def __init__(self, loop):
        self._loop = loop

    def select(self, timeout):
        if timeout is None:
            self._loop._stalled()
        elif timeout > 0:
            self._loop._jump(timeout)
        return []

    def close(self):
        pass


class VirtualLoop(asyncio.BaseEventLoop):
    """An asyncio event loop on a VirtualClock (see the module comment for how and its limits)."""

    def __init__(self, clock=None):
        super().__init__()
        self.clock = clock if clock is not None else VirtualClock()
        self._selector = _VirtualSelector(self)
        self._timer_seq = 0
        self._crashed = []  # tasks that ended with an exception, checked by run() and on a stall

    # -- time -----------------------------------------------------------------------------------

    def time(self):
        return self.clock.now_s

    def _jump(self, timeout):
        # _run_once computed timeout = min(head.when - now, MAXIMUM_SELECT_TIMEOUT); land exactly on
        # the head timer rather than on now + timeout, which can fall one ulp short of it.
        target = self.clock.now_s + timeout
        if self._scheduled:
            when = self._scheduled[0]._when
            if when <= target + 1e-9:
                target = when
        self.clock.advance_to(target)

    def call_at(self, when, callback, *args, context=None):
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
        self._timer_seq += 1
        timer = _FifoTimerHandle(when, self._timer_seq, callback, args, self, context)
        if timer._source_traceback:
            del timer._source_traceback[-1]
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer

    # -- tasks ----------------------------------------------------------------------------------

    def create_task(self, coro, *, name=None, context=None):
        task = super().create_task(coro, name=name, context=context)
        task.add_done_callback(self._note_crash)
        return task

    def _note_crash(self, task):
        if not task.cancelled() and task._exception is not None:
            self._crashed.append(task)

    def unretrieved_crashes(self):
        """Tasks that died with an exception nobody awaited or asked for."""
        return [t for t in self._crashed if getattr(t, "_log_traceback", True)]

    def _stalled(self):
        lines = ["simulation stalled at t=%.3f s: every task waits and no timer is scheduled"
                 % self.clock.now_s]
        pending = [t for t in asyncio.all_tasks(self) if not t.done()]
        for task in sorted(pending, key=lambda t: t.get_name()):
            lines.append("  waiting: %s %s" % (task.get_name(), _where(task)))
        crashed = self.unretrieved_crashes()
        for task in crashed:
            lines.append("  crashed: %s %r" % (task.get_name(), task._exception))
        error = SimulationStalled("\n".join(lines))
        if crashed:
            raise error from crashed[0]._exception
        raise error

    # -- what this loop cannot do ---------------------------------------------------------------

    def _write_to_self(self):
        if self._thread_id is not None and threading.get_ident() != self._thread_id:
            raise VirtualLoopError("call_soon_threadsafe from another thread: threads cannot run in "
                                   "virtual time")

    def _process_events(self, event_list):
        pass

    def run_in_executor(self, executor, func, *args):
        raise VirtualLoopError("run_in_executor(%r): threads cannot run in virtual time; call it "
                               "directly (e.g. ocpp.messages.ASYNC_VALIDATION = False)" % (func,))

    def set_default_executor(self, executor):
        raise VirtualLoopError("no executors in virtual time")

    async def shutdown_default_executor(self):
        pass

    def _no_io(self, *args, **kwargs):
        raise VirtualLoopError("real I/O is not supported in the virtual loop; use sim.memlink, or "
                               "run on a normal event loop with RealClock")

    create_connection = create_server = create_datagram_endpoint = _no_io
    create_unix_connection = create_unix_server = _no_io
    connect_read_pipe = connect_write_pipe = subprocess_exec = subprocess_shell = _no_io
    getaddrinfo = getnameinfo = sock_connect = sock_accept = sock_recv = sock_sendall = _no_io
    add_reader = add_writer = add_signal_handler = _no_io


def _where(task):
    frames = task.get_stack(limit=1)
    if not frames:
        return ""
    code = frames[-1].f_code
    return "in %s (%s:%d)" % (code.co_name, code.co_filename, frames[-1].f_lineno)


def new_loop(start_epoch=DEFAULT_START_EPOCH):
    """A fresh (VirtualLoop, VirtualClock) pair; the caller runs and closes the loop."""
    clock = VirtualClock(start_epoch)
    return VirtualLoop(clock), clock


def run(main, start_utc_epoch=DEFAULT_START_EPOCH, debug=False, check_tasks=True):
    """Run a simulation to completion in virtual time and return main's result.

    main is a coroutine, or a callable returning one (given the VirtualClock if it takes an argument).
    After main returns, leftover tasks are cancelled (in virtual time, so without real waiting) and the
    loop is closed. With check_tasks, a task that died with an exception nobody retrieved fails the run
    with that exception. Cannot be called from inside a running event loop."""
    loop, clock = new_loop(start_utc_epoch)
    loop.set_debug(debug)
    asyncio.set_event_loop(loop)
    try:
        if callable(main):
            coro = main(clock) if inspect.signature(main).parameters else main()
        else:
            coro = main
        result = loop.run_until_complete(coro)
        if check_tasks:
            _cancel_leftovers(loop)
            crashed = loop.unretrieved_crashes()
            if crashed:
                exc = crashed[0]._exception
                crashed[0]._log_traceback = False
                exc.add_note("raised in background task %s, which nobody awaited"
                             % crashed[0].get_name())
                raise exc
        return result
    finally:
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftovers(loop):
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler({
                "message": "unhandled exception while cancelling leftover tasks",
                "exception": task.exception(),
                "task": task,
            })
