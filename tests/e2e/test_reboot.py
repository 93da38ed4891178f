"""Resets in the middle of a transaction (the watchdog biting a stalled task): the board comes up safe
and the transaction ends at the CSMS exactly once, with the energy the meter recorded."""

import asyncio

from firmware.charger import PILOT_IDLE_WAIT_MS
from firmware.watchdog import DEFAULT_ALLOWANCE_MS, FEED_MS, WDT_TIMEOUT_MS
from tests.e2e.test_stories import charging, only_transaction, run, until


def calls(station, action):
    return [f for f in station.frames if f["direction"] == "in" and f["type"] == "CALL" and f["action"] == action]


def test_a_stalled_task_resets_the_board_which_comes_up_safe_and_stops_the_transaction_once():
    async def story(rig, clock):
        await charging(rig, clock)
        await asyncio.sleep(60)
        rig.board.pilot_in.stalled = True  # the CP sampler's driver hangs
        stalled_ms = clock.ms()
        await until(lambda: rig.resets, clock, 30, "a watchdog reset")
        reset_ms, cause = rig.resets[0]
        assert cause == "watchdog"
        assert reset_ms - stalled_ms <= PILOT_IDLE_WAIT_MS + DEFAULT_ALLOWANCE_MS + FEED_MS + WDT_TIMEOUT_MS
        assert not rig.plant.contactor.coil  # a reset drops the outputs
        await until(lambda: calls(rig.station, "StopTransaction"), clock, 30, "StopTransaction")
        tx = only_transaction(rig.station)
        assert tx["reason"] == "Reboot"
        assert abs(tx["meter_stop_wh"] - rig.meter_model.energy_wh) <= 1
        await asyncio.sleep(120)
        assert len(rig.station.transactions) == 1
        assert len(calls(rig.station, "StopTransaction")) == 1
        assert len(calls(rig.station, "StartTransaction")) == 1
        assert rig.plant.generator == "x1" and not rig.plant.contactor.closed
        assert rig.fw.reset_cause == "watchdog"
        told = [st for st in rig.station.statuses if st.get("connector_id") == 0]
        assert told and told[-1]["error_code"] == "InternalError" and "stalled: pilot" in told[-1]["info"]

    run(story)


def test_a_power_cut_while_charging_stops_the_transaction_with_reason_power_loss():
    async def story(rig, clock):
        await charging(rig, clock)
        await asyncio.sleep(60)
        await rig.reboot("power")
        await until(lambda: calls(rig.station, "StopTransaction"), clock, 30, "StopTransaction")
        tx = only_transaction(rig.station)
        assert tx["reason"] == "PowerLoss"
        assert abs(tx["meter_stop_wh"] - rig.meter_model.energy_wh) <= 1

    run(story)


def test_a_stop_queued_offline_survives_a_power_cut_with_its_own_reason():
    async def story(rig, clock):
        await charging(rig, clock)
        await asyncio.sleep(60)
        rig.network.set_online(False)
        rig.plant.unplug()  # the transaction ends while the CSMS cannot hear it
        await asyncio.sleep(5)
        energy_wh = rig.meter_model.energy_wh
        await rig.reboot("power")
        await asyncio.sleep(5)
        rig.network.set_online(True)
        await until(lambda: calls(rig.station, "StopTransaction"), clock, 120, "StopTransaction")
        await asyncio.sleep(60)
        tx = only_transaction(rig.station)
        assert tx["reason"] == "EVDisconnected"
        assert abs(tx["meter_stop_wh"] - energy_wh) <= 1
        assert len(calls(rig.station, "StopTransaction")) == 1

    run(story)


def test_samples_queued_offline_keep_their_transaction_after_it_ended():
    # Found by the fault campaign (evse faults --replay 810448082): a queued MeterValues was built from
    # the sampling loop's variables after the loop had moved on to "no transaction".
    async def story(rig, clock):
        await charging(rig, clock)
        rig.network.set_online(False)
        await asyncio.sleep(35)  # three samples at 10 s wait in the outbox
        rig.plant.unplug()
        await asyncio.sleep(5)
        rig.network.set_online(True)
        await until(lambda: calls(rig.station, "StopTransaction"), clock, 120, "StopTransaction")
        tx = only_transaction(rig.station)
        samples = calls(rig.station, "MeterValues")
        assert len(samples) >= 3
        assert all(f["payload"]["transactionId"] == tx["transaction_id"] for f in samples)

    run(story, config={"MeterValueSampleInterval": 10})
