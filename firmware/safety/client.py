# The main controller's end of the safety link: tells the safety node whether the main controller
# wants the contactor closed (and when a reset of latched faults was asked for), and hands the safety
# node's reports to the charger. The link's own accounting (CRC, sequence, heartbeats) is in link.py.
import asyncio

from firmware.safety import messages
from firmware.safety.link import Peer
from firmware.safety.node import LINK_HEARTBEAT_MS, LINK_TIMEOUT_MS
from firmware.waiting import event_or_timeout
from firmware.watchdog import registrar


class SafetyClient:
    """on_report(flags, codes, temps_c) for every report; on_alive(bool) when the link comes or goes."""

    def __init__(self, uart, clock, epoch, on_report, on_alive, trace=None, supervisor=None):
        self.uart = uart
        self.clock = clock
        self.peer = Peer(epoch % 65536, timeout_ms=LINK_TIMEOUT_MS, heartbeat_ms=LINK_HEARTBEAT_MS)
        self.on_report = on_report
        self.on_alive = on_alive
        self.trace = trace or (lambda kind, **fields: None)
        # Both loops beat the watchdog's supervisor: a receiving loop that stopped left the node unheard
        # for good (safety_lost until a reboot) while the heartbeat kept the watchdog fed.
        register = registrar(supervisor)
        self.beat = register("safety")
        self._beat_in = register("safety link in")  # reads wake every LINK_HEARTBEAT_MS * 4
        self.allow = False
        self.resets = 0
        self.was_alive = False
        self._started_ms = clock.ms()
        self._told = False  # on_alive called at least once
        self.bad_messages = 0
        self._changed = asyncio.Event()

    def set_allow(self, allow):
        if allow != self.allow:
            self.allow = allow
            self._send()

    def reset(self):
        """Ask the safety node to clear latched faults whose cause is gone."""
        self.resets = (self.resets + 1) % 256
        self._send()

    def alive(self):
        return self.peer.alive(self.clock.ms())

    def tasks(self):
        return [self._heartbeat(), self._receive()]

    def _send(self):
        self.uart.write(self.peer.send(messages.command(self.allow, self.resets), self.clock.ms()))
        self._changed.set()

    def _check_alive(self):
        now = self.clock.ms()
        alive = self.peer.alive(now)
        if alive != self.was_alive:
            self.was_alive = alive
            self._told = True
            self.on_alive(alive)
        elif not alive and not self._told and now - self._started_ms >= LINK_TIMEOUT_MS:
            # Never heard since this controller started (the node's direction of the link dead across a
            # reboot of ours): lost, as if it had gone quiet at our start. Only a change was told before,
            # so safety_lost was never raised and the charger closed its switch blind to the node
            # (found by tests/e2e/test_safety_stateful.py).
            self._told = True
            self.on_alive(False)

    async def _heartbeat(self):
        while True:
            self.beat()
            now = self.clock.ms()
            if self.peer.heartbeat_due(now):
                self._send()
            self._check_alive()
            self._changed.clear()
            await event_or_timeout(self._changed, max(self.peer.next_deadline(self.clock.ms()) - self.clock.ms(), 1))

    async def _receive(self):
        while True:
            self._beat_in()
            data = await self.uart.read(LINK_HEARTBEAT_MS * 4)
            if not data:
                self._check_alive()
                continue
            for payload in self.peer.receive(data, self.clock.ms()):
                try:
                    message = messages.parse(payload)
                except messages.BadMessage as exc:
                    self.bad_messages += 1
                    self.trace("safety_bad_message", error=str(exc))
                    continue
                if message[0] == "report":
                    self._check_alive()
                    self.on_report(message[1], message[2], message[3])
            self._check_alive()
