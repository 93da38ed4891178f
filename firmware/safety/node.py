# The safety node: the logic of the safety MCU. It has the last word on the contactor: its own switch
# sits in series with the main controller's, and it closes it only when the main controller asks, the
# link is alive, the CP reads C (or D with ventilation), the residual current monitor passed its
# self-test and none of its faults is active. It opens on its own, without asking, the moment a
# critical input changes (an input change runs the whole check at once; a board's Pin.irq does the same
# through micropython.schedule), so its reaction time is one pass of check().
#
# Runs its own loop on its own board (hal Board, safety parts): beside the main controller in
# simulation, or on a second MCU.
import asyncio

from firmware import pilot
from firmware.contactor import CONFIRM_MS
from firmware.faults import FaultLatches
from firmware.safety import messages
from firmware.safety.link import Peer
from firmware.safety.selftest import RcdSelfTest
from firmware.temperature import STOP, Thermal
from firmware.waiting import event_or_timeout
from firmware.watchdog import registrar

TEMP_POLL_MS = 1000  # temperatures move in seconds; a PT1000 through an RC filter needs no faster
LINK_HEARTBEAT_MS = 500  # a report at least this often, even when nothing changed
# Silence this long: open and latch link_lost (EVerest: 1 Hz, 5 s). 3.5 heartbeats, so two lost frames
# in a row never trip it and three always do, whatever the order of events within a millisecond.
LINK_TIMEOUT_MS = 1750
READ_CHUNK_WAIT_MS = 1000
PILOT_IDLE_WAIT_MS = 2000  # longest pilot wait with nothing pending, so that its loop beats meanwhile


class SafetyNode:
    def __init__(self, board, epoch=0, trace=None, supervisor=None):
        self.board = board
        self.clock = board.clock
        self.trace = trace or (lambda kind, **fields: None)
        self.ventilation = board.info.get("ventilation", False)
        self.peer = Peer(epoch % 65536, timeout_ms=LINK_TIMEOUT_MS, heartbeat_ms=LINK_HEARTBEAT_MS)
        self.latches = FaultLatches()
        self.reader = pilot.PilotReader()
        self.thermal = Thermal()
        self.selftest = RcdSelfTest(board.rcd_test)
        self.temps_c = {}
        self.main_allows = False
        self.resets = None  # the main controller's reset count last seen
        self.relay_closed = False
        self.opened_ms = self.clock.ms()
        self.linked = False  # the link has been alive at least once
        self._last_report = None
        self._wake = asyncio.Event()
        # Each loop beats when it comes round, so that one that stopped ends in a watchdog reset (firmware/
        # watchdog.py). A safety MCU's board feeds its own watchdog; on a single-MCU board the main
        # firmware's supervisor feeds the one watchdog for both nodes (board/runner.py).
        register = registrar(supervisor)
        self._beat_run = register("safety node")  # wakes at least every TEMP_POLL_MS
        self._beat_link = register("safety node link")  # every READ_CHUNK_WAIT_MS
        self._beat_pilot = register("safety node pilot")  # every PILOT_IDLE_WAIT_MS
        board.relay.set(False)
        for name in ("rcd_ac", "rcd_dc", "estop", "pe_fault", "contactor_feedback"):
            getattr(board, name).on_change(self._input_changed)

    def tasks(self):
        return [self._run(), self._receive(), self._sample_pilot()]

    # The check: every input to a verdict, then the relay --------------------------------------

    def check(self):
        now = self.clock.ms()
        board = self.board
        conditions = {
            "estop": board.estop.value(),
            "pe_loss": board.pe_fault.value(),
            "link_lost": self.linked and not self.peer.alive(now),
            "contactor_welded": (not self.relay_closed and board.contactor_feedback.value()
                                 and now - self.opened_ms >= CONFIRM_MS),
            "rcd_selftest": self.selftest.failed,
        }
        if not self.selftest.running:  # the test current trips both outputs on purpose
            conditions["rcd_ac"] = board.rcd_ac.value()
            conditions["rcd_dc"] = board.rcd_dc.value()
        for code in conditions:
            if conditions[code]:
                if self.latches.raise_(code, now):
                    self.trace("safety_fault", name=code)
            elif self.latches.gone(code, now):
                self.trace("safety_fault_cleared", name=code)
        self.latches.poll(now)
        permits = self.permits(now)
        close = permits and self.main_allows
        if close != self.relay_closed:
            board.relay.set(close)
            self.relay_closed = close
            if not close:
                self.opened_ms = now
            self.trace("safety_relay", closed=close)
        self._report(now, permits)

    def permits(self, now):
        cp_ok = self.reader.state == "C" or (self.reader.state == "D" and self.ventilation)
        return (cp_ok and self.peer.alive(now) and self.selftest.passed and not self.selftest.running
                and not self.latches.codes())

    def _report(self, now, permits):
        flags = ((messages.RELAY_CLOSED if self.relay_closed else 0) | (messages.PERMITS if permits else 0)
                 | (messages.SELFTEST_OK if self.selftest.passed else 0)
                 | (messages.TESTING if self.selftest.running else 0))
        payload = messages.report(flags, self.latches.codes(), self.temps_c)
        if payload != self._last_report or self.peer.heartbeat_due(now):
            self._last_report = payload
            self.board.link.write(self.peer.send(payload, now))

    # Inputs ------------------------------------------------------------------------------------

    def _input_changed(self, _value):
        self.check()  # at once, in the callback: this is the safety node's reaction time
        self._wake.set()

    def _temperatures(self, now):
        readings = {}
        for place in self.board.temperatures:
            readings[place] = self.board.temperatures[place].read_ohms()
        worst, broken, self.temps_c = self.thermal.update(readings)
        for code, present in (("over_temperature", worst == STOP), ("temp_sensor", bool(broken))):
            if present:
                if self.latches.raise_(code, now):
                    self.trace("safety_fault", name=code)
            elif self.latches.gone(code, now):
                self.trace("safety_fault_cleared", name=code)

    def _command(self, allow, resets):
        now = self.clock.ms()
        if self.resets is not None and resets != self.resets:
            cleared = self.latches.reset(now)
            self.trace("safety_reset", cleared=cleared)
        self.resets = resets
        self.main_allows = allow

    # Tasks -------------------------------------------------------------------------------------

    async def _run(self):
        next_temp_ms = self.clock.ms()
        self.selftest.start(self.clock.ms())  # at boot (and before each session, see _sample_pilot)
        while True:
            self._beat_run()
            now = self.clock.ms()
            if now >= next_temp_ms:
                self._temperatures(now)
                next_temp_ms = now + TEMP_POLL_MS
            self.selftest.poll(now, self.board.rcd_ac.value(), self.board.rcd_dc.value())
            self.check()
            deadlines = [next_temp_ms, self.peer.next_deadline(now)]
            for extra in (self.selftest.deadline, self.latches.next_deadline()):
                if extra is not None:
                    deadlines.append(extra)
            if now < self.opened_ms + CONFIRM_MS:
                deadlines.append(self.opened_ms + CONFIRM_MS)  # judge the feedback after it opened
            self._wake.clear()
            await event_or_timeout(self._wake, max(min(deadlines) - self.clock.ms(), 0))

    async def _receive(self):
        link = self.board.link
        while True:
            self._beat_link()
            data = await link.read(READ_CHUNK_WAIT_MS)
            if not data:
                continue
            now = self.clock.ms()
            for payload in self.peer.receive(data, now):
                try:
                    message = messages.parse(payload)
                except messages.BadMessage as exc:
                    self.trace("safety_bad_message", error=str(exc))
                    continue
                if message[0] == "command":
                    self._command(message[1], message[2])
            if self.peer.alive(now):
                self.linked = True
            self.check()
            self._wake.set()

    async def _sample_pilot(self):
        pilot_in = self.board.pilot_in
        high_mv, low_mv = pilot_in.read()
        while True:
            self._beat_pilot()
            before = self.reader.state
            if self.reader.feed(high_mv, low_mv, self.clock.ms(), low_mv < 0):
                state = self.reader.state
                if state == "A":
                    for code in self.latches.unplugged(self.clock.ms()):
                        self.trace("safety_fault_cleared", name=code)
                elif before == "A" and state == "B" and not self.relay_closed:
                    self.selftest.start(self.clock.ms())  # before each session
                self.check()
                self._wake.set()
            deadline = self.reader.next_deadline()
            timeout = PILOT_IDLE_WAIT_MS if deadline is None else max(deadline - self.clock.ms(), 0)
            high_mv, low_mv = await pilot_in.wait(timeout)
