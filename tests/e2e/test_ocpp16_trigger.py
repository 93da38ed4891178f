"""OCPP 1.6 Remote Trigger end to end (TriggerMessage, section 5.17): every requestedMessage of MessageTrigger
(section 7.37), its connectorId rules, and the answer before the message; against the embedded CSMS (every
frame validated by the `ocpp` package), in virtual time, with no CSMS error."""

import asyncio

import pytest

from tests.e2e.test_stories import booted, charging, run, until


def calls(station, action):
    return [f for f in station.frames if f["direction"] == "in" and f["type"] == "CALL" and f["action"] == action]


def answered_before(station, action, first_call_index):
    """The TriggerMessage's CALLRESULT came before the first `action` CALL after first_call_index."""
    frames = station.frames
    answer = max(i for i, f in enumerate(frames) if f["action"] == "TriggerMessage" and f["type"] == "CALLRESULT")
    sent = next(i for i in range(first_call_index, len(frames)) if frames[i]["action"] == action
                and frames[i]["direction"] == "in" and frames[i]["type"] == "CALL")
    return answer < sent


@pytest.mark.parametrize("message, connector_id", [
    ("BootNotification", None), ("Heartbeat", None), ("Heartbeat", 1), ("DiagnosticsStatusNotification", None),
    ("FirmwareStatusNotification", None), ("MeterValues", None), ("StatusNotification", None),
])
def test_every_requested_message_is_accepted_and_sent_after_the_answer(message, connector_id):
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station
        before = len(calls(station, message))
        mark = len(station.frames)
        assert await station.trigger_message(message, connector_id) == {"status": "Accepted"}
        await until(lambda: len(calls(station, message)) > before, clock, 5, message)
        assert answered_before(station, message, mark)
        sent = calls(station, message)[-1]["payload"]
        if message in ("DiagnosticsStatusNotification", "FirmwareStatusNotification"):
            assert sent == {"status": "Idle"}  # nothing uploading or updating
        elif message == "MeterValues":
            assert sent["connectorId"] == 1 and sent["meterValue"][0]["sampledValue"][0]["context"] == "Trigger"

    run(story)


def test_status_notification_for_one_connector_or_all_of_them():
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station

        async def triggered(connector_id):
            before = len(calls(station, "StatusNotification"))
            assert await station.trigger_message("StatusNotification", connector_id) == {"status": "Accepted"}
            await until(lambda: len(calls(station, "StatusNotification")) >= before + (2 if connector_id is None
                                                                                        else 1), clock, 5)
            return [f["payload"]["connectorId"] for f in calls(station, "StatusNotification")[before:]]

        assert await triggered(0) == [0]
        assert await triggered(1) == [1]
        assert sorted(await triggered(None)) == [0, 1]

    run(story)


def test_an_unknown_connector_is_rejected_and_nothing_is_sent():
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station
        await station.wait_for_action("SecurityEventNotification")  # StartupOfTheDevice, sent at every profile
        before = len([f for f in station.frames if f["direction"] == "in" and f["type"] == "CALL"])
        for message in ("StatusNotification", "MeterValues", "Heartbeat"):
            assert await station.trigger_message(message, 2) == {"status": "Rejected"}
        await asyncio.sleep(1)
        assert len([f for f in station.frames if f["direction"] == "in" and f["type"] == "CALL"]) == before

    run(story)


def test_triggered_meter_values_during_a_transaction_carry_its_id_and_the_current():
    async def story(rig, clock):
        tx = await charging(rig, clock)
        station = rig.station
        before = len(calls(station, "MeterValues"))
        assert await station.trigger_message("MeterValues", 1) == {"status": "Accepted"}
        await until(lambda: len(calls(station, "MeterValues")) > before, clock, 5, "MeterValues")
        sent = calls(station, "MeterValues")[-1]["payload"]
        assert sent["transactionId"] == tx["transaction_id"]
        currents = [float(s["value"]) for s in sent["meterValue"][0]["sampledValue"]
                    if s.get("measurand") == "Current.Import"]
        assert currents and max(currents) > 30  # the EV draws the 32 A offered
        assert all(s.get("context") == "Trigger" for s in sent["meterValue"][0]["sampledValue"])

    run(story)


def test_triggered_status_notification_shows_the_reserved_connector():
    async def story(rig, clock):
        from tests.e2e.test_ocpp16_smart import iso, now_s

        await booted(rig, clock)
        station = rig.station
        assert (await station.reserve_now(1, iso(now_s(clock) + 600), "TAG1", 1))["status"] == "Accepted"
        before = len(calls(station, "StatusNotification"))
        assert await station.trigger_message("StatusNotification", 1) == {"status": "Accepted"}
        await until(lambda: len(calls(station, "StatusNotification")) > before, clock, 5)
        assert calls(station, "StatusNotification")[-1]["payload"]["status"] == "Reserved"

    run(story)
