# portable
# Feeding the watchdog only while every task shows progress (firmware/watchdog.py).
from firmware.watchdog import Supervisor


class Clock:
    now = 0

    def ms(self):
        return self.now


class Wdt:
    fed = 0

    def feed(self):
        self.fed += 1


def test_the_watchdog_is_fed_while_every_task_beats_and_starved_when_one_stalls():
    clock, wdt = Clock(), Wdt()
    sup = Supervisor(wdt, clock)
    beat_a = sup.register("a", 5000)
    beat_b = sup.register("b", 2000)
    for t in range(0, 10000, 1000):
        clock.now = t
        beat_a()
        if t < 4000:
            beat_b()
        sup.feed()
    assert sup.stalled == "b"
    assert wdt.fed == 6  # 0..5 s: b's last beat at 3 s is within 2 s until 5 s
