"""OCPP 1.6 Firmware Management end to end (sections 4.4, 4.5, 5.9, 5.12): the firmware on the simulated
board against the embedded CSMS (every frame validated by the `ocpp` package), downloading images from and
uploading diagnostics to a real HTTP server on 127.0.0.1 (sim/file_server.py). Real sockets need a real
event loop, so these run on the wall clock (RealClock); no test asserts how long anything took."""

import asyncio

import pytest

from firmware.ocpp.firmware_update import make_image
from sim.file_server import FileServer
from sim.rig import Rig
from sim.vloop import RealClock
from tests.e2e.test_stories import booted, statuses, stopped, until

STORY_TIMEOUT_S = 90  # a guard against a hung test, not a performance claim
GOOD = make_image(b"new firmware " * 2000, "0.2.0")
FULL = ["Downloading", "Downloaded", "Installing", "Installed"]


@pytest.fixture
def server():
    with FileServer(files={"/fw.bin": GOOD}) as srv:
        yield srv


def run_real(story, **rig_options):
    async def main():
        clock = RealClock()
        rig = Rig(clock, **rig_options)
        rig.start()
        try:
            result = await story(rig, clock)
            assert rig.csms.errors == []
            return result
        finally:
            await rig.stop()

    return asyncio.run(asyncio.wait_for(main(), STORY_TIMEOUT_S))


def firmware_statuses(station):
    return [s["status"] for s in station.firmware_statuses]


def boot_versions(station):
    return [f["payload"].get("firmwareVersion") for f in station.frames
            if f["direction"] == "in" and f["type"] == "CALL" and f["action"] == "BootNotification"]


def gets(server, path="/fw.bin"):
    return [r for r in server.requests if r[0] == "GET" and r[1] == path]


def test_update_downloads_installs_reboots_into_the_new_slot_and_boots_with_its_version(server):
    async def story(rig, clock):
        await booted(rig, clock)
        assert boot_versions(rig.station) == ["0.1.0"]
        assert await rig.station.update_firmware(server.url("/fw.bin"), clock.utc()) == {}
        await until(lambda: len(boot_versions(rig.station)) == 2, clock, 30, "the second BootNotification")
        assert firmware_statuses(rig.station) == FULL
        assert [cause for _ms, cause in rig.resets] == ["firmware"]
        assert boot_versions(rig.station) == ["0.1.0", "0.2.0"]
        assert rig.fw.cp.fwmgmt.update.running_version() == "0.2.0"
        # After the reboot nothing is under way: a triggered status says Idle.
        await until(lambda: rig.fw.cp.booted, clock, 30, "booted again")
        assert await rig.station.trigger_message("FirmwareStatusNotification") == {"status": "Accepted"}
        await until(lambda: len(firmware_statuses(rig.station)) == 5, clock, 10, "triggered status")
        assert firmware_statuses(rig.station)[-1] == "Idle"

    run_real(story)


def test_failed_downloads_are_retried_then_the_image_installs(server):
    server.fail_next(2, "500")

    async def story(rig, clock):
        await booted(rig, clock)
        await rig.station.update_firmware(server.url("/fw.bin"), clock.utc(), retries=3, retry_interval=1)
        await until(lambda: len(boot_versions(rig.station)) == 2, clock, 30, "the reboot")
        assert len(gets(server)) == 3
        assert firmware_statuses(rig.station) == FULL
        assert boot_versions(rig.station)[-1] == "0.2.0"

    run_real(story)


def test_download_that_keeps_failing_reports_download_failed_and_keeps_the_running_firmware(server):
    server.fail_next(10, "404")

    async def story(rig, clock):
        await booted(rig, clock)
        await rig.station.update_firmware(server.url("/fw.bin"), clock.utc(), retries=2, retry_interval=1)
        await until(lambda: firmware_statuses(rig.station)[-1:] == ["DownloadFailed"], clock, 30, "DownloadFailed")
        assert firmware_statuses(rig.station) == ["Downloading", "DownloadFailed"]
        assert len(gets(server)) == 2
        await asyncio.sleep(1)
        assert rig.resets == [] and boot_versions(rig.station) == ["0.1.0"]

    run_real(story)


def test_damaged_image_is_not_installed(server):
    damaged = bytearray(GOOD)
    damaged[-1] ^= 0xFF  # the payload no longer matches the SHA-256 in its header
    server.files["/bad.bin"] = bytes(damaged)

    async def story(rig, clock):
        await booted(rig, clock)
        await rig.station.update_firmware(server.url("/bad.bin"), clock.utc())
        await until(lambda: firmware_statuses(rig.station)[-1:] == ["InstallationFailed"], clock, 30,
                    "InstallationFailed")
        assert firmware_statuses(rig.station) == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
        await asyncio.sleep(1)
        assert rig.resets == [] and rig.fw.cp.fwmgmt.update.running_version() == "0.1.0"

    run_real(story)


def test_install_during_a_transaction_reboots_only_after_it_ended(server):
    async def story(rig, clock):
        await booted(rig, clock)
        rig.plant.plug()
        await asyncio.sleep(0.5)
        assert await rig.fw.present_token("TAG1")
        await until(lambda: rig.plant.current_a > 0 and len(rig.station.transactions) == 1, clock, 30, "charging")
        tx = next(iter(rig.station.transactions.values()))
        await rig.station.update_firmware(server.url("/fw.bin"), clock.utc())
        await until(lambda: firmware_statuses(rig.station)[-1:] == ["Installed"], clock, 30, "Installed")
        await asyncio.sleep(1.5)
        assert rig.resets == [] and rig.plant.current_a > 0  # still charging on the old firmware
        assert await rig.station.remote_stop(tx["transaction_id"]) == {"status": "Accepted"}
        await stopped(rig, clock)
        await until(lambda: len(boot_versions(rig.station)) == 2, clock, 30, "the reboot")
        assert boot_versions(rig.station)[-1] == "0.2.0"
        calls = [f["action"] for f in rig.station.frames if f["direction"] == "in" and f["type"] == "CALL"]
        assert calls.index("StopTransaction") < len(calls) - 1 - calls[::-1].index("BootNotification")
        assert "Charging" in statuses(rig.station)
        assert firmware_statuses(rig.station) == FULL

    run_real(story)


def test_diagnostics_are_uploaded_and_the_server_receives_the_log(server):
    async def story(rig, clock):
        await booted(rig, clock)
        rig.fw.cp.log("test", "a line the diagnostics must carry")
        answer = await rig.station.get_diagnostics(server.url("/upload"), retries=2, retry_interval=1)
        name = answer["fileName"]
        await until(lambda: [s["status"] for s in rig.station.diagnostics_statuses][-1:] == ["Uploaded"], clock, 30,
                    "Uploaded")
        assert [s["status"] for s in rig.station.diagnostics_statuses] == ["Uploading", "Uploaded"]
        text = server.uploads["/upload/" + name].decode()
        assert "test: a line the diagnostics must carry" in text
        assert "boot: running firmware 0.1.0" in text
        assert await rig.station.trigger_message("DiagnosticsStatusNotification") == {"status": "Accepted"}
        await until(lambda: len(rig.station.diagnostics_statuses) == 3, clock, 10, "triggered status")
        assert rig.station.diagnostics_statuses[-1]["status"] == "Idle"

    run_real(story)


def test_diagnostics_upload_failing_every_time_reports_upload_failed(server):
    server.fail_next(10, "500")

    async def story(rig, clock):
        await booted(rig, clock)
        await rig.station.get_diagnostics(server.url("/upload"), retries=2, retry_interval=1)
        await until(lambda: [s["status"] for s in rig.station.diagnostics_statuses][-1:] == ["UploadFailed"],
                    clock, 30, "UploadFailed")
        assert [s["status"] for s in rig.station.diagnostics_statuses] == ["Uploading", "UploadFailed"]
        assert len([r for r in server.requests if r[0] == "PUT"]) == 2

    run_real(story)
