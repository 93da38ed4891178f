# Fake pins and a fake safety-node board (portable): what an MCU's pins would be, recorded. A fake is
# right here: they stand for a board's pins. Used by test_charger.py and the safety node tests.
from firmware import pilot, temperature
from firmware.safety import messages
from firmware.safety.link import Peer
from firmware.safety.node import SafetyNode
from hal.interfaces import Board

CP_MV = {"A": (12000, 12000), "B": (9000, -12000), "C": (6000, -12000), "D": (3000, -12000),
         "E": (0, 0), "F": (-12000, -12000)}


class Clock:
    def __init__(self):
        self.now = 0

    def ms(self):
        return self.now


class Pin:
    def __init__(self, value=False):
        self.on = value
        self.callback = None

    def set(self, on):
        self.on = on

    def value(self):
        return self.on

    def on_change(self, callback):
        self.callback = callback

    def change(self, on):
        self.on = on
        if self.callback is not None:
            self.callback(on)


class Temp:
    def __init__(self, temp_c=25.0):
        self.temp_c = temp_c

    def read_ohms(self):
        return temperature.ohms(self.temp_c)


class Wire:
    def __init__(self):
        self.out = []

    def write(self, data):
        self.out.append(bytes(data))


class Bench:
    """A safety node on a fake board, driven by hand: time, CP, inputs and the main controller's
    commands (through a real link Peer, so the node's link accounting is the real one)."""

    def __init__(self, ventilation=False):
        self.clock = Clock()
        self.pins = {name: Pin() for name in ("relay", "feedback", "rcd_ac", "rcd_dc", "rcd_test", "estop", "pe")}
        self.temps = {"ambient": Temp(), "connector": Temp()}
        self.wire = Wire()
        board = Board(clock=self.clock, pilot_in=None, relay=self.pins["relay"],
                      contactor_feedback=self.pins["feedback"], rcd_ac=self.pins["rcd_ac"],
                      rcd_dc=self.pins["rcd_dc"], rcd_test=self.pins["rcd_test"], estop=self.pins["estop"],
                      pe_fault=self.pins["pe"], temperatures=self.temps, link=self.wire, watchdog=None,
                      reset_cause="power", info={"ventilation": ventilation})
        self.node = SafetyNode(board, epoch=7)
        self.main = Peer(3, timeout_ms=10000, heartbeat_ms=100)
        self.resets = 0
        self.allow = False

    def advance(self, ms):
        self.clock.now += ms
        self.node.check()

    def cp(self, state):
        high, low = CP_MV[state]
        for _ in range(2):  # a second sample after the debounce confirms it
            self.node.reader.feed(high, low, self.clock.now, low < 0)
            self.clock.now += pilot.DEBOUNCE_MS
        if state == "A":
            self.node.latches.unplugged(self.clock.now)
        self.node.check()

    def command(self, allow=None, reset=False):
        if allow is not None:
            self.allow = allow
        if reset:
            self.resets += 1
        frame = self.main.send(messages.command(self.allow, self.resets), self.clock.now)
        for payload in self.node.peer.receive(frame, self.clock.now):
            message = messages.parse(payload)
            self.node._command(message[1], message[2])
        self.node.linked = True
        self.node.check()

    def pass_selftest(self):
        test = self.node.selftest
        test.start(self.clock.now)
        for ac_dc in (True, False):
            self.clock.now += 400
            test.poll(self.clock.now, ac_dc, ac_dc)
        assert test.passed
        self.node.check()

    def fail_selftest(self):
        test = self.node.selftest
        test.start(self.clock.now)
        self.clock.now += 3000
        test.poll(self.clock.now, False, False)  # the monitor never answered
        assert test.failed
        self.node.check()

    def ready(self):
        """Linked, self-test passed, EV in C, main controller asking: the relay closes."""
        self.command(allow=True)
        self.pass_selftest()
        self.cp("C")
        self.command()
        return self.pins["relay"].on

    def last_report(self):
        peer = Peer(9)
        payloads = peer.receive(b"".join(self.wire.out[-1:]), self.clock.now)
        return messages.parse(payloads[-1])
