"""UpdateFirmware end to end over real HTTP: hal/http_client.py against sim/file_server.py on 127.0.0.1,
slot records in hal/file_storage.py files. Waits (retrieveDate, retryInterval) run in virtual time."""

import asyncio
import hashlib
import json

import pytest

from firmware import timefmt
from firmware.ocpp import firmware_update as fw
from hal.file_storage import FileStorage
from hal.http_client import HttpClient
from sim.file_server import FileServer
from tests.firmware.fwmgmt_fakes import START_S, Clock

PAYLOAD = hashlib.sha256(b"firmware").digest() * 1500  # 48 kB: twelve 4 kB records
IMAGE = fw.make_image(PAYLOAD, "2.0.0")
DAMAGED = IMAGE[:5000] + bytes([IMAGE[5000] ^ 0x40]) + IMAGE[5001:]


class TimedHttp(HttpClient):
    """The real client, noting the virtual time of each request."""

    def __init__(self, clock):
        super().__init__(timeout_ms=5000)
        self.clock = clock
        self.times = []

    async def get(self, url, sink, headers=None):
        self.times.append(self.clock.now_s())
        return await super().get(url, sink, headers)


class Charger:
    def __init__(self, tmp_path):
        self.clock = Clock()
        self.http = TimedHttp(self.clock)
        self.storage = FileStorage(str(tmp_path / "flash"))
        self.reboots = 0
        self.boot()

    def boot(self):
        self.statuses = []
        self.updater = fw.FirmwareUpdate(self.storage, self.http, self.clock, self.statuses.append, self._reboot,
                                         sleep_ms=self.clock.sleep_ms, running_version="1.0.0")
        return self.updater

    def _reboot(self):
        self.reboots += 1

    def update(self, url, retrieve_s=START_S, **fields):
        payload = {"location": url, "retrieveDate": timefmt.format_utc(retrieve_s)}
        payload.update(fields)
        assert self.updater.request(payload) == {}

    def run(self, until=None, timeout_s=20):
        until = until or (lambda: self.statuses and self.statuses[-1] in
                          ("DownloadFailed", "Installed", "InstallationFailed"))

        async def go():
            task = asyncio.create_task(self.updater.run())
            try:
                await asyncio.wait_for(_poll(until), timeout_s)
            finally:
                # Python 3.11's wait_for can swallow a cancellation that meets a finished read
                # (gh-86296, fixed in 3.12): cancel until the task has really stopped.
                while not task.done():
                    task.cancel()
                    await asyncio.wait({task}, timeout=0.05)

        asyncio.run(go())


async def _poll(until):
    while not until():
        await asyncio.sleep(0.002)


@pytest.fixture
def server():
    with FileServer(files={"/fw.bin": IMAGE, "/bad.bin": DAMAGED}, chunk_bytes=1500) as s:
        yield s


@pytest.fixture
def charger(tmp_path):
    return Charger(tmp_path)


@pytest.mark.parametrize("chunked", [False, True])
def test_update_succeeds_and_the_next_boot_runs_the_new_slot(server, charger, tmp_path, chunked):
    server.chunked = chunked
    charger.update(server.url("/fw.bin"))
    charger.run()
    assert charger.statuses == ["Downloading", "Downloaded", "Installing", "Installed"] and charger.reboots == 1
    again = Charger(tmp_path)  # power up from the same flash
    assert again.updater.active() == "b" and again.updater.running_version() == "2.0.0"
    assert json.loads(again.storage.read(fw.SLOTS_KEY))["b"]["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()


@pytest.mark.parametrize("fault", ["500", "drop", "truncate", "404"])
def test_server_faults_are_retried_retry_interval_apart_until_one_works(server, charger, fault):
    server.fail_next(2, fault)
    charger.update(server.url("/fw.bin"), retries=3, retryInterval=45)
    charger.run()
    assert charger.statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert [t - START_S for t in charger.http.times] == [0, 45, 90] and len(server.requests) == 3


def test_all_retries_failing_is_download_failed(server, charger):
    server.fail_next(5, "drop")
    charger.update(server.url("/fw.bin"), retries=3, retryInterval=10)
    charger.run()
    assert charger.statuses == ["Downloading", "DownloadFailed"] and len(server.requests) == 3
    assert charger.storage.keys("fwimg.") == [] and charger.reboots == 0


def test_a_damaged_image_is_installation_failed(server, charger):
    charger.update(server.url("/bad.bin"))
    charger.run()
    assert charger.statuses == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    assert charger.storage.read(fw.SLOTS_KEY) is None and charger.reboots == 0


def test_retrieve_date_in_the_future_is_waited_for(server, charger):
    charger.update(server.url("/fw.bin"), retrieve_s=START_S + 7200)
    charger.run()
    assert charger.http.times == [START_S + 7200] and charger.statuses[-1] == "Installed"


def test_a_reboot_mid_download_restarts_it_cleanly(server, charger, tmp_path):
    server.fail_next(1, "stall")  # half the image, then silence: the power goes meanwhile
    charger.update(server.url("/fw.bin"))
    charger.run(until=lambda: len(charger.storage.keys("fwimg.b.")) >= 5)
    assert charger.statuses == ["Downloading"]
    again = Charger(tmp_path)
    again.run()
    assert again.statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert b"".join(again.updater.images.chunks("b")) == IMAGE and len(server.requests) == 2
