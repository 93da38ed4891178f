"""OCPP 1.6 security whitepaper GetLog / LogStatusNotification (N01) and ExtendedTriggerMessage (F06) end to
end: the firmware on the simulated board against the embedded CSMS (every frame validated by the `ocpp`
package), uploading logs to a real HTTP server on 127.0.0.1 (sim/file_server.py). Real sockets need a real
event loop, so these run on the wall clock (RealClock); no test asserts how long anything took."""

import asyncio

import pytest

from sim.file_server import FileServer
from sim.rig import Rig
from sim.vloop import RealClock
from tests.e2e.test_stories import booted, until

STORY_TIMEOUT_S = 90  # a guard against a hung test, not a performance claim


@pytest.fixture
def server():
    with FileServer(files={}) as srv:
        yield srv


def run_real(story):
    async def main():
        clock = RealClock()
        rig = Rig(clock)
        rig.start()
        try:
            result = await story(rig, clock)
            assert rig.csms.errors == []
            assert rig.station.errors == []
            return result
        finally:
            await rig.stop()

    return asyncio.run(asyncio.wait_for(main(), STORY_TIMEOUT_S))


def log_statuses(station):
    return [(s["status"], s["request_id"]) for s in station.log_statuses]


async def until_log_status(rig, clock, status):
    await until(lambda: log_statuses(rig.station)[-1:][0][0] == status if rig.station.log_statuses else False,
                clock, 30, status)


def test_get_log_uploads_the_diagnostics_log_and_the_statuses_arrive_in_order(server):
    async def story(rig, clock):
        await booted(rig, clock)
        rig.fw.cp.log("test", "a line the log must carry")
        answer = await rig.station.get_log("DiagnosticsLog", 7, server.url("/logs"), retries=2, retry_interval=1)
        assert answer["status"] == "Accepted"
        await until_log_status(rig, clock, "Uploaded")
        assert log_statuses(rig.station) == [("Uploading", 7), ("Uploaded", 7)]
        text = server.uploads["/logs/" + answer["filename"]].decode()
        assert "test: a line the log must carry" in text
        assert "boot: running firmware 0.1.0" in text
        # Once the upload is done a triggered LogStatusNotification says Idle (without a requestId).
        assert await rig.station.extended_trigger_message("LogStatusNotification") == {"status": "Accepted"}
        await until(lambda: len(rig.station.log_statuses) == 3, clock, 10, "triggered status")
        assert log_statuses(rig.station)[-1] == ("Idle", None)

    run_real(story)


def test_security_log_holds_only_the_security_events(server):
    async def story(rig, clock):
        await booted(rig, clock)
        rig.fw.cp.security.event("SettingSystemTime", "clock set by the test")
        rig.fw.cp.log("test", "not a security line")
        answer = await rig.station.get_log("SecurityLog", 8, server.url("/logs"))
        assert answer["status"] == "Accepted"
        assert "-security-" in answer["filename"]
        await until_log_status(rig, clock, "Uploaded")
        text = server.uploads["/logs/" + answer["filename"]].decode()
        assert "security: SettingSystemTime clock set by the test" in text
        assert "not a security line" not in text
        assert all(" security: " in line for line in text.splitlines())
        assert log_statuses(rig.station) == [("Uploading", 8), ("Uploaded", 8)]

    run_real(story)


def test_get_log_to_a_failing_server_reports_upload_failure_after_the_retries(server):
    server.fail_next(10, "500")

    async def story(rig, clock):
        await booted(rig, clock)
        answer = await rig.station.get_log("DiagnosticsLog", 9, server.url("/logs"), retries=2, retry_interval=1)
        assert answer["status"] == "Accepted"
        await until_log_status(rig, clock, "UploadFailure")
        assert log_statuses(rig.station) == [("Uploading", 9), ("UploadFailure", 9)]
        assert len([r for r in server.requests if r[0] == "PUT"]) == 2

    run_real(story)


def test_get_log_to_an_ftp_location_reports_not_supported_operation():
    async def story(rig, clock):
        await booted(rig, clock)
        answer = await rig.station.get_log("DiagnosticsLog", 10, "ftp://127.0.0.1/logs")
        assert answer == {"status": "Accepted"}
        await until_log_status(rig, clock, "NotSupportedOperation")
        assert log_statuses(rig.station) == [("NotSupportedOperation", 10)]

    run_real(story)


def test_a_second_get_log_cancels_the_first(server):
    server.fail_next(10, "500")  # keeps the first upload busy retrying

    async def story(rig, clock):
        await booted(rig, clock)
        first = await rig.station.get_log("DiagnosticsLog", 1, server.url("/logs"), retries=5, retry_interval=2)
        assert first["status"] == "Accepted"
        await until_log_status(rig, clock, "Uploading")
        server.reset()
        second = await rig.station.get_log("DiagnosticsLog", 2, server.url("/logs"))
        assert second["status"] == "AcceptedCanceled"
        await until(lambda: ("Uploaded", 2) in log_statuses(rig.station), clock, 30, "the second upload")
        assert ("UploadFailure", 1) not in log_statuses(rig.station)
        assert log_statuses(rig.station)[-1] == ("Uploaded", 2)

    run_real(story)


TRIGGERED = {  # requestedMessage -> the CALL it makes the charge point send
    "BootNotification": "BootNotification",
    "FirmwareStatusNotification": "FirmwareStatusNotification",
    "Heartbeat": "Heartbeat",
    "LogStatusNotification": "LogStatusNotification",
    "MeterValues": "MeterValues",
    "StatusNotification": "StatusNotification",
}


def test_extended_trigger_message_sends_each_message_after_the_answer():
    async def story(rig, clock):
        await booted(rig, clock)
        counts = rig.station.counts["in"]
        for message, action in sorted(TRIGGERED.items()):
            before = counts[action]
            answer = await rig.station.extended_trigger_message(message)
            assert answer == {"status": "Accepted"}, message
            await until(lambda: counts[action] > before, clock, 10, "triggered " + message)
        assert rig.station.log_statuses[-1]["status"] == "Idle"
        assert rig.station.firmware_statuses[-1]["status"] == "Idle"
        # No CpoName configured (the default ""): no CSR can be made, so Rejected (test_ocpp16_certsign.py).
        assert await rig.station.extended_trigger_message("SignChargePointCertificate") == {
            "status": "Rejected"}
        # A connector this charger does not have: Rejected, as for TriggerMessage.
        assert await rig.station.extended_trigger_message("StatusNotification", 2) == {"status": "Rejected"}

    run_real(story)
