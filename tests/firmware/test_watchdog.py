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


def test_every_loop_of_the_safety_link_client_beats_its_supervisor():
    # Its receiving loop did not beat: stopped (a MemoryError), it left the node unheard for good
    # (safety_lost until a reboot) while the heartbeat loop kept the watchdog fed.
    import asyncio

    from firmware.safety.client import SafetyClient
    from hal.loopback import pipe
    from tests.portable import run_async

    async def main():
        clock = Clock()
        sup = Supervisor(None, clock)
        ours, _node_end = pipe()
        client = SafetyClient(ours, clock, 1, lambda *report: None, lambda alive: None, supervisor=sup)
        assert sorted(sup.allowance) == ["safety", "safety link in"]
        heartbeat, receive = [asyncio.create_task(coro) for coro in client.tasks()]
        await asyncio.sleep(0.01)
        receive.cancel()  # the receiving loop stops
        clock.now += 6000
        client._changed.set()  # the heartbeat loop comes round and beats
        await asyncio.sleep(0.01)
        heartbeat.cancel()
        assert not sup.feed() and sup.stalled == "safety link in"

    run_async(main())
