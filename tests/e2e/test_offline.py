"""Offline operation that loses nothing (issue #5): the persistent transaction queue across outages and
power cuts, retries per TransactionMessageAttempts, reconnect back-off with jitter, WebSocket pings,
clock-aligned values. In virtual time on the simulated rig (sim/rig.py, sim/powercut.py)."""

import asyncio

from sim import vloop
from sim.powercut import check, default_plan, play
from tests.e2e.test_stories import charging, only_transaction, run, statuses, until, utc_ms


def calls(station, action):
    return [f for f in station.frames if f["direction"] == "in" and f["type"] == "CALL" and f["action"] == action]


async def delivered(rig, clock, timeout_s=600):
    await until(lambda: rig.fw.cp.tx is None and not rig.fw.cp.outbox and len(rig.fw.cp.txq) == 0, clock,
                timeout_s, "the transaction queue delivered")


def short_of_heap_once(real, failed, mark=lambda *args: "once"):
    """A stand-in for real that raises MemoryError (a board's heap short for a moment, issue #4) on the
    first call for each mark(*args) not None, noting the mark in failed; otherwise real's answer."""
    def stand_in(*args):
        name = mark(*args)
        if name is not None and name not in failed:
            failed.append(name)
            raise MemoryError("memory allocation failed, allocating 848 bytes")
        return real(*args)

    return stand_in


def test_a_transaction_started_offline_gets_its_id_and_its_samples_follow_it():
    async def story(rig, clock):
        await until(lambda: rig.fw.cp.booted, clock, 60)
        rig.network.set_online(False)
        rig.plant.plug()
        await asyncio.sleep(1)
        assert await rig.fw.present_token("TAG1")  # from the local cache / offline authorization
        await asyncio.sleep(95)  # nine samples at 10 s wait with the Start
        rig.plant.unplug()
        await asyncio.sleep(5)
        assert len(rig.fw.cp.txq) == 11 and rig.station.transactions == {}
        rig.network.set_online(True)
        await delivered(rig, clock)
        tx = only_transaction(rig.station)
        assert tx["reason"] == "EVDisconnected"
        samples = calls(rig.station, "MeterValues")
        assert len(samples) == 9 and all(f["payload"]["transactionId"] == tx["transaction_id"] for f in samples)
        order = [f["action"] for f in rig.station.frames if f["direction"] == "in" and f["type"] == "CALL"
                 and f["action"] in ("StartTransaction", "MeterValues", "StopTransaction")]
        assert order == ["StartTransaction"] + ["MeterValues"] * 9 + ["StopTransaction"]
        stamps = [utc_ms(f["payload"]["meterValue"][0]["timestamp"]) for f in samples]
        assert stamps == sorted(stamps)
        assert tx["meter_stop_wh"] - tx["meter_start_wh"] > 0

    run(story, config={"MeterValueSampleInterval": 10, "LocalAuthorizeOffline": True,
                       "AllowOfflineTxForUnknownId": True})


def test_a_long_outage_keeps_the_newest_samples_and_every_start_and_stop():
    async def story(rig, clock):
        await charging(rig, clock)
        rig.network.set_online(False)
        await asyncio.sleep(3 * 3600)  # 180 samples at 60 s: more than the queue keeps
        rig.plant.unplug()
        await asyncio.sleep(5)
        queue = rig.fw.cp.txq
        assert queue.dropped > 0 and queue._count("MeterValues") == queue.samples_max
        rig.network.set_online(True)
        await delivered(rig, clock)
        tx = only_transaction(rig.station)
        assert tx["reason"] == "EVDisconnected" and len(calls(rig.station, "StopTransaction")) == 1
        late = [f for f in calls(rig.station, "MeterValues") if utc_ms(f["payload"]["meterValue"][0]["timestamp"])
                > utc_ms(tx["timestamp_start"]) + 3600 * 1000]
        assert len(late) >= queue.samples_max - 60  # the newest ones survived
        assert abs(tx["meter_stop_wh"] - tx["meter_start_wh"]
                   - (rig.meter_model.energy_wh - tx["meter_start_wh"])) <= 1

    run(story, config={"MeterValueSampleInterval": 60})


def test_a_start_the_csms_keeps_refusing_is_retried_per_attempts_then_given_up_with_its_messages():
    async def story(rig, clock):
        await until(lambda: rig.fw.cp.booted, clock, 60)
        refused = []

        def refuse(station, p, status):
            refused.append(clock.ms())
            raise RuntimeError("database down")

        rig.csms._new_transaction = refuse
        rig.plant.plug()
        await asyncio.sleep(1)
        assert await rig.fw.present_token("TAG1")
        await asyncio.sleep(60)
        rig.plant.unplug()
        await until(lambda: not rig.fw.cp.outbox and len(rig.fw.cp.txq) == 0, clock, 120)
        assert len(refused) == 3  # TransactionMessageAttempts
        gaps_s = [round((b - a) / 1000) for a, b in zip(refused, refused[1:])]
        assert gaps_s == [5, 10]  # TransactionMessageRetryInterval x preceding attempts (section 4.10)
        assert calls(rig.station, "StopTransaction") == [] and calls(rig.station, "MeterValues") == []

    run(story, config={"TransactionMessageAttempts": 3, "TransactionMessageRetryInterval": 5,
                       "MeterValueSampleInterval": 10}, expect_errors=True)


def test_reconnects_back_off_with_jitter():
    async def story(rig, clock):
        await until(lambda: rig.fw.cp.booted, clock, 60)
        tries = []
        connect = rig.network.connect

        async def counting(*args, **kwargs):
            tries.append(clock.ms())
            return await connect(*args, **kwargs)

        rig.network.connect = counting
        rig.network.set_online(False)
        await asyncio.sleep(400)
        waits = [b - a for a, b in zip(tries, tries[1:])]
        assert len(waits) >= 5
        for i, wait_ms in enumerate(waits[:6]):
            ceiling_ms = min(1000 * 2 ** (i + 1), 60000)
            assert ceiling_ms // 2 <= wait_ms <= ceiling_ms + 50, (i, waits)
        assert len(set(w * 1000 // min(1000 * 2 ** (i + 1), 60000) for i, w in enumerate(waits[:6]))) > 1
        rig.network.set_online(True)
        await until(lambda: rig.fw.cp.link.online.is_set(), clock, 61)

    run(story)


def test_a_dead_peer_is_found_by_ping_and_the_link_reconnects():
    async def story(rig, clock):
        await until(lambda: rig.fw.cp.booted, clock, 60)
        link = rig.fw.cp.link
        await asyncio.sleep(100)
        assert link.pings_failed == 0 and link._conn.pings >= 3  # pongs came back
        rig.network.set_silent(True)  # half-open: no close, nothing arrives
        silent_ms = clock.ms()
        await until(lambda: link.pings_failed == 1, clock, 60, "ping timeout")
        assert clock.ms() - silent_ms <= 30000 + 10000 + 100
        await until(lambda: link.online.is_set() and rig.network.connects == 2, clock, 10, "reconnected")
        assert (await rig.station.change_configuration("WebSocketPingInterval", "0")) == {"status": "Accepted"}
        pings = link._conn.pings
        await asyncio.sleep(200)
        assert link._conn.pings == pings  # the key applies at once

    run(story, config={"WebSocketPingInterval": 30})


def test_clock_aligned_values_queued_offline_keep_their_transaction():
    async def story(rig, clock):
        await until(lambda: rig.fw.cp.booted, clock, 60)
        rig.network.set_online(False)
        rig.plant.plug()
        await asyncio.sleep(1)
        assert await rig.fw.present_token("TAG1")
        await asyncio.sleep(200)
        rig.plant.unplug()
        rig.network.set_online(True)
        await delivered(rig, clock)
        tx = only_transaction(rig.station)
        aligned = [f["payload"] for f in calls(rig.station, "MeterValues")
                   if f["payload"]["meterValue"][0]["sampledValue"][0]["context"] == "Sample.Clock"]
        assert len(aligned) >= 3
        assert all(p["transactionId"] == tx["transaction_id"] for p in aligned)
        assert all(p["meterValue"][0]["timestamp"].endswith(":00Z") for p in aligned)  # on the minute
        contexts = [v["sampledValue"][0]["context"] for v in tx["transaction_data"]]
        assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
        assert contexts.count("Sample.Clock") >= 3  # StopTxnAlignedData

    run(story, config={"ClockAlignedDataInterval": 60, "StopTxnAlignedData": "Energy.Active.Import.Register",
                       "LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": True})


def _cut_sessions(**plan_changes):
    """Play the session once to count its storage steps, then once per step with the power cut there
    (before and after the write): the exactly-once promise must hold in each."""

    def one(cut_at, mode):
        plan = default_plan()
        plan.update(plan_changes, cut_at=cut_at, cut_mode=mode)

        async def main(clock):
            session = await play(clock, plan)
            return session, check(session)

        return vloop.run(main, check_tasks=False)

    baseline, problems = one(None, "before")
    assert problems == [] and baseline.cuts == []
    steps = baseline.flash.writes + baseline.flash.deletes - baseline.boot_steps
    assert steps > 10
    duplicates = 0
    for mode in ("before", "after"):
        for cut_at in range(steps):
            session, problems = one(cut_at, mode)
            assert len(session.cuts) == 1, (mode, cut_at)
            assert problems == [], (mode, cut_at, problems)
            duplicates += len(session.rig.station.duplicates)
    return duplicates


def test_a_power_cut_at_any_write_of_an_online_session_keeps_every_transaction_exactly_once():
    assert _cut_sessions() > 0  # some cuts lost a reply: the CSMS recognised the message sent again


def test_a_power_cut_at_any_write_of_a_session_started_offline_keeps_every_transaction_exactly_once():
    _cut_sessions(offline_at_ms=1000, offline_ms=150000)


def test_a_power_cut_at_any_write_of_a_session_with_an_outage_keeps_every_transaction_exactly_once():
    _cut_sessions(offline_at_ms=30000, offline_ms=40000)


def test_the_cpython_websocket_answers_pings_on_loopback():
    from hal.interfaces import ConnectionClosed
    from hal.ws_cpython import WebSocketNetwork
    from sim.csms import Csms

    async def main():
        csms = Csms()
        port = await csms.serve_websocket()
        try:
            connection = await WebSocketNetwork(open_timeout_s=5).connect(
                "ws://127.0.0.1:%d/ocpp/CP-PING" % port, "ocpp1.6")
            assert await connection.ping(5000) is True
            await connection.close()
            try:
                await connection.ping(5000)
                raise AssertionError("a ping on a closed connection must raise")
            except ConnectionClosed:
                pass
        finally:
            await csms.stop()

    asyncio.run(main())


def test_a_memory_error_while_sending_loses_nothing_and_the_outbox_goes_on():
    # A board short of heap for a moment (issue #4: seen in a small MicroPython heap) failed to build a
    # frame; the outbox task ended there and nothing was sent again until a reboot.
    async def story(rig, clock):
        await charging(rig, clock)
        link = rig.fw.cp.link
        failed = []
        link._send = short_of_heap_once(link._send, failed, lambda text: "MV" if '"MeterValues"' in text else None)
        await until(lambda: failed, clock, 60, "a MeterValues that failed to go out")
        before = len(calls(rig.station, "MeterValues"))
        await until(lambda: len(calls(rig.station, "MeterValues")) > before, clock, 60, "the next MeterValues")
        assert any("MemoryError" in line for line in rig.fw.cp.logbook.lines(None, None))
        rig.plant.unplug()
        await delivered(rig, clock)
        tx = only_transaction(rig.station)
        assert tx["reason"] == "EVDisconnected" and len(calls(rig.station, "StopTransaction")) == 1
        assert rig.station.errors == []

    run(story)


def test_a_memory_error_while_taking_a_sample_loses_that_sample_only():
    # The sampling task ended on a MemoryError (seen queueing a sample in a small MicroPython heap).
    async def story(rig, clock):
        await charging(rig, clock)
        cp = rig.fw.cp
        failed = []
        cp.queue_sample = short_of_heap_once(cp.queue_sample, failed)
        await until(lambda: failed, clock, 60, "a sample that failed to be queued")
        before = len(calls(rig.station, "MeterValues"))
        await until(lambda: len(calls(rig.station, "MeterValues")) > before, clock, 60, "the next MeterValues")
        assert any("a sample may be lost" in line for line in cp.logbook.lines(None, None))

    run(story)


def test_a_memory_error_while_writing_the_start_or_the_stop_loses_neither():
    # The task that writes a transaction's Start or Stop into the queue once the meter answered ended on
    # a MemoryError (seen in a small MicroPython heap): that message was never sent.
    async def story(rig, clock):
        txq = rig.fw.cp.txq
        failed = []
        txq.add = short_of_heap_once(txq.add, failed,
                                     lambda action, *rest: action if action.endswith("Transaction") else None)
        await charging(rig, clock)
        rig.plant.unplug()
        await delivered(rig, clock)
        assert failed == ["StartTransaction", "StopTransaction"]
        assert len(calls(rig.station, "StartTransaction")) == 1 and len(calls(rig.station, "StopTransaction")) == 1
        tx = only_transaction(rig.station)
        assert tx["reason"] == "EVDisconnected"
        assert sum("MemoryError" in line for line in rig.fw.cp.logbook.lines(None, None)) == 2
        assert rig.station.errors == []

    run(story)


def test_a_memory_error_polling_the_meter_loses_that_poll_only():
    # The meter task ended on a MemoryError (seen creating a read in a small MicroPython heap): the meter
    # then read as silent and the charger stopped charging.
    async def story(rig, clock):
        await charging(rig, clock)
        charger = rig.fw.charger
        failed = []
        charger.read_meter = short_of_heap_once(charger.read_meter, failed)
        await until(lambda: failed, clock, 60, "a meter poll that failed")
        failed_ms = clock.ms()
        await asyncio.sleep(120)  # virtual: past metering.SILENT_MS
        assert charger.last_reading.taken_ms > failed_ms
        assert charger.active_faults() == [] and rig.fw.cp.tx is not None
        assert statuses(rig.station)[-1] == "Charging"

    run(story)
