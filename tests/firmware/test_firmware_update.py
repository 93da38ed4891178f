# portable
# The UpdateFirmware flow with a fake HTTP client and a virtual wall clock: statuses, retries, image
# checks, A/B slot record, and power cuts (a new FirmwareUpdate on the same storage is a reboot).
import json

from firmware import timefmt
from firmware.ocpp import firmware_update as fw
from firmware.ocpp.rpc import RpcError
from hal.memory import MemoryStorage
from tests.firmware.fwmgmt_fakes import START_S, Clock, CutStorage, Http, PowerCut, drive
from tests.portable import raises, run_async

URL = "http://files.example/fw-1.1.0.bin"
PAYLOAD = bytes(range(256)) * 40  # 10 kB: three 4 kB records
IMAGE = fw.make_image(PAYLOAD, "1.1.0")
TERMINAL = ("DownloadFailed", "Installed", "InstallationFailed")


class Rig:
    """One charger's firmware updater; reboot() builds the next one on the same storage."""

    def __init__(self, storage=None, files=None, **options):
        self.clock = Clock()
        self.http = Http(self.clock, {URL: IMAGE} if files is None else files)
        self.storage = storage if storage is not None else MemoryStorage()
        self.options = options
        self.statuses = []
        self.reboots = 0
        self.updater = self.boot()

    def boot(self):
        self.statuses = []
        self.updater = fw.FirmwareUpdate(self.storage, self.http, self.clock, self.statuses.append, self._reboot,
                                         sleep_ms=self.clock.sleep_ms, running_version="1.0.0", **self.options)
        return self.updater

    def _reboot(self):
        self.reboots += 1

    def request(self, retrieve_s=START_S, **fields):
        payload = {"location": URL, "retrieveDate": timefmt.format_utc(retrieve_s)}
        payload.update(fields)
        return self.updater.request(payload)

    def run(self, until=None):
        return run_async(drive(self.updater, until or (lambda: self.statuses and self.statuses[-1] in TERMINAL)))

    def slots(self):
        return json.loads(self.storage.read(fw.SLOTS_KEY))


def test_update_downloads_installs_into_the_inactive_slot_and_asks_for_a_reboot():
    rig = Rig()
    assert rig.updater.active() == "a" and rig.updater.running_version() == "1.0.0"
    assert rig.request(retries=2, retryInterval=30) == {}
    rig.run()
    assert rig.statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert rig.reboots == 1 and rig.updater.trigger_status() == "Idle"
    assert rig.slots()["boot"] == "b" and rig.slots()["active"] == "a"
    assert rig.slots()["b"]["version"] == "1.1.0" and rig.slots()["b"]["bytes"] == len(PAYLOAD)
    assert b"".join(rig.updater.images.chunks("b")) == IMAGE
    assert rig.storage.read(fw.JOB_KEY) is None
    after = rig.boot()  # the reboot: the committed slot runs
    assert after.active() == "b" and after.running_version() == "1.1.0" and rig.slots()["active"] == "b"
    assert after.inactive() == "a"


def test_failed_attempts_are_retried_retry_interval_apart_then_succeed():
    rig = Rig()
    rig.http.plan = [OSError("refused"), ("cut", 5000), None]
    rig.request(retries=3, retryInterval=30)
    rig.run()
    assert rig.statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert [call[2] - START_S for call in rig.http.calls] == [0, 30, 60]


def test_all_attempts_failing_is_download_failed_and_leaves_nothing_behind():
    rig = Rig()
    rig.http.plan = [OSError("refused")] * 5
    rig.request(retries=4, retryInterval=10)
    rig.run()
    assert rig.statuses == ["Downloading", "DownloadFailed"]
    assert len(rig.http.calls) == 4 and rig.reboots == 0
    assert rig.storage.keys("fwimg.") == [] and rig.storage.read(fw.JOB_KEY) is None
    assert rig.updater.trigger_status() == "Idle"


def test_without_retries_the_charger_tries_its_default_number_of_times():
    rig = Rig(files={})
    rig.request()
    rig.run()
    assert rig.statuses == ["Downloading", "DownloadFailed"] and len(rig.http.calls) == fw.DEFAULT_ATTEMPTS


def test_damaged_payload_is_installation_failed_and_the_slot_record_is_untouched():
    damaged = IMAGE[:-1] + bytes([IMAGE[-1] ^ 1])
    rig = Rig(files={URL: damaged})
    rig.request()
    rig.run()
    assert rig.statuses == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    assert rig.reboots == 0 and rig.storage.read(fw.SLOTS_KEY) is None and rig.storage.keys("fwimg.") == []


def test_a_file_that_is_no_image_or_too_big_stops_at_once_without_retries():
    for content, capacity_bytes in ((b"<html>Not here</html>" * 10, fw.CAPACITY_BYTES), (IMAGE, len(IMAGE) - 1)):
        rig = Rig(files={URL: content})
        rig.updater.images.capacity_bytes = capacity_bytes
        rig.request(retries=5)
        rig.run()
        assert rig.statuses == ["Downloading", "DownloadFailed"] and len(rig.http.calls) == 1
        assert rig.storage.keys("fwimg.") == []


def test_download_waits_for_retrieve_date_and_reports_idle_meanwhile():
    rig = Rig()
    rig.request(retrieve_s=START_S + 3600)
    rig.run(until=lambda: rig.clock.now_s() >= START_S + 1800)
    assert rig.statuses == [] and rig.http.calls == [] and rig.updater.trigger_status() == "Idle"
    rig.run()
    assert rig.statuses[-1] == "Installed" and rig.http.calls[0][2] == START_S + 3600


def test_trigger_reports_the_status_of_the_job_in_hand():
    rig = Rig()
    seen = []
    rig.http.on_piece = lambda: seen.append(rig.updater.trigger_status())
    rig.request()
    rig.run()
    assert set(seen) == {"Downloading"}


def test_power_cut_mid_download_starts_the_download_over_after_the_reboot():
    rig = Rig()
    rig.http.plan = [("power", 5600)]
    rig.request()
    rig.run(until=lambda: rig.http.power_cut)
    assert rig.statuses == ["Downloading"] and json.loads(rig.storage.read(fw.JOB_KEY))["phase"] == "download"
    rig.boot()
    rig.run()
    assert rig.statuses == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert b"".join(rig.updater.images.chunks("b")) == IMAGE and rig.reboots == 1


def test_power_cut_after_the_commit_only_reports_installed_from_the_new_firmware():
    memory = MemoryStorage()
    rig = Rig(storage=CutStorage(memory, ("delete", fw.JOB_KEY)))
    rig.request()
    assert isinstance(rig.run(), PowerCut)
    assert rig.statuses == ["Downloading", "Downloaded", "Installing", "Installed"] and rig.reboots == 0
    rig.storage = memory
    after = rig.boot()
    assert after.active() == "b" and after.running_version() == "1.1.0"
    rig.run()
    assert rig.statuses == ["Installed"] and rig.reboots == 0 and memory.read(fw.JOB_KEY) is None  # told again


def test_power_cut_before_the_commit_installs_again():
    memory = MemoryStorage()
    rig = Rig(storage=CutStorage(memory, ("write", fw.SLOTS_KEY)))
    rig.request()
    assert isinstance(rig.run(), PowerCut)
    rig.storage = memory
    assert rig.boot().active() == "a"
    rig.run()
    assert rig.statuses == ["Installing", "Installed"] and rig.reboots == 1


def test_a_newer_request_replaces_one_still_waiting():
    newer = "http://files.example/fw-1.2.0.bin"
    rig = Rig(files={URL: IMAGE, newer: fw.make_image(b"new" * 100, "1.2.0")})
    rig.request(retrieve_s=START_S + 86400)
    rig.run(until=lambda: rig.clock.now_s() > START_S + 600)
    rig.updater.request({"location": newer, "retrieveDate": rig.clock.utc()})
    rig.run()
    assert [call[1] for call in rig.http.calls] == [newer] and rig.slots()["b"]["version"] == "1.2.0"


def test_a_request_while_a_reboot_is_pending_cancels_the_pending_boot():
    rig = Rig()
    rig.request()
    rig.run()
    assert rig.slots()["boot"] == "b"
    rig.http.plan = [OSError("refused")]
    rig.request(retries=1)
    assert rig.slots()["boot"] == "a"  # slot b is about to be overwritten: never boot it half-written
    rig.run(until=lambda: rig.statuses[-1] == "DownloadFailed")
    assert rig.boot().active() == "a"


def test_ftp_locations_fail_without_a_download():
    rig = Rig()
    rig.updater.request({"location": "ftp://files.example/fw.bin", "retrieveDate": rig.clock.utc()})
    rig.run()
    assert rig.statuses == ["Downloading", "DownloadFailed"] and rig.http.calls == []


def test_bad_requests_are_rpc_errors():
    rig = Rig()
    date = rig.clock.utc()
    cases = (({"retrieveDate": date}, "TypeConstraintViolation"),
             ({"location": URL, "retrieveDate": "tomorrow"}, "PropertyConstraintViolation"),
             ({"location": URL, "retrieveDate": date, "retries": -1}, "PropertyConstraintViolation"),
             ({"location": URL, "retrieveDate": date, "retryInterval": True}, "TypeConstraintViolation"))
    for payload, code in cases:
        assert raises(RpcError, rig.updater.request, payload).code == code
    assert rig.storage.read(fw.JOB_KEY) is None


def test_image_header_round_trip_and_its_checks():
    assert fw.read_header(IMAGE[:64])[0] == len(PAYLOAD) and fw.read_header(IMAGE[:64])[2] == "1.1.0"
    damaged = IMAGE[:10] + b"\xff" + IMAGE[11:64]
    assert "CRC-32" in str(raises(fw.ImageError, fw.read_header, damaged))
    assert "not a firmware image" in str(raises(fw.ImageError, fw.read_header, b"x" * 64))
    raises(fw.ImageError, fw.read_header, IMAGE[:63])
    raises(ValueError, fw.make_image, b"", "a-version-longer-than-16")


def test_a_malformed_job_record_is_dropped_at_start():
    storage = MemoryStorage({fw.JOB_KEY: b'{"phase": "dance"}'})
    rig = Rig(storage=storage)
    assert rig.updater.job is None and storage.read(fw.JOB_KEY) is None
    storage.write(fw.JOB_KEY, b"{not json")
    assert rig.boot().job is None


def test_a_request_during_the_last_piece_of_a_download_takes_over():
    newer = "http://files.example/fw-1.2.0.bin"
    rig = Rig(files={URL: IMAGE, newer: fw.make_image(b"new" * 100, "1.2.0")})
    pieces = []

    def on_piece():
        pieces.append(1)
        if len(pieces) * rig.http.piece_bytes >= len(IMAGE) and len(rig.http.calls) == 1:
            rig.updater.request({"location": newer, "retrieveDate": rig.clock.utc()})

    rig.http.on_piece = on_piece
    rig.request()
    rig.run()
    assert rig.statuses == ["Downloading", "Downloading", "Downloaded", "Installing", "Installed"]
    assert rig.slots()["b"]["version"] == "1.2.0" and rig.storage.read(fw.JOB_KEY) is None
