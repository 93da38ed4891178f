# OCPP 1.6 firmware update (section 5.12 UpdateFirmware, 4.5 FirmwareStatusNotification) into the
# inactive slot of a simple A/B scheme. Portable; http, clock, sleep, storage and the callbacks are
# injected, so a test drives it without a network or real time.
#
# Flow of one job: wait for retrieveDate; download (Downloading) with up to `retries` attempts,
# retryInterval apart, into the inactive slot (Downloaded or DownloadFailed); verify and commit
# (Installing, then Installed or InstallationFailed); then ask the caller to reboot. A signed job
# (SignedUpdateFirmware, firmware/ocpp/signed16.py) also reports DownloadScheduled / InstallScheduled while
# it waits and has its stored image checked by check_signed() (SignatureVerified or InvalidSignature).
#
# Image format and the slot images: firmware/ocpp/fw_image.py.
#
# Power cuts: the job ("fw_job") and the slot record ("fw_slots") are single Storage records, written
# atomically. A job cut short restarts at its phase: a download starts over from an erased slot; an
# install verifies again; an install whose commit landed only reports Installed. The slot record's
# "boot" is what a bootloader starts next; this simple scheme plays the bootloader at construction
# (active := boot). Trial boots with rollback come with the real OTA partition (a later issue).
import asyncio
import binascii
import hashlib
import json

from firmware import timefmt
from firmware.ocpp.fw_image import (  # noqa: F401 (the image API, also reached through this module)
    CAPACITY_BYTES, HEADER_BYTES, RECORD_BYTES, ImageError, ImageSink, StorageImages, make_image, read_header,
)
from firmware.ocpp.rpc import RpcError

STATUSES = ("Downloaded", "DownloadFailed", "Downloading", "Idle", "InstallationFailed", "Installing",
            "Installed")  # FirmwareStatus, OCPP 1.6 section 7.25
DEFAULT_ATTEMPTS = 3  # UpdateFirmware.req without retries: "left to the Charge Point"
DEFAULT_RETRY_INTERVAL_S = 60
SLICE_MS = 10000  # a long wait is cut in slices, so a newer request takes over within one
SLOTS_KEY = "fw_slots"
JOB_KEY = "fw_job"


class _Superseded(Exception):
    pass


def _number(payload, name):
    value = payload.get(name)
    if value is None:
        return None
    if value is True or value is False or not isinstance(value, (int, float)):
        raise RpcError("TypeConstraintViolation", "%s must be a number" % name)
    if value < 0:
        raise RpcError("PropertyConstraintViolation", "%s must not be negative" % name)
    return int(value)


async def _sleep_ms(ms):
    await asyncio.sleep(ms / 1000)


class FirmwareUpdate:
    """notify(status) sends a FirmwareStatusNotification (see notification()); reboot() asks the caller
    to restart into the new slot once it may (1.6 section 5.12: best when no transaction runs)."""

    def __init__(self, storage, http, clock, notify, reboot, images=None, sleep_ms=None, log=None,
                 running_version="", attempts=DEFAULT_ATTEMPTS, retry_interval_s=DEFAULT_RETRY_INTERVAL_S):
        self.storage, self.http, self.clock = storage, http, clock
        self.notify_cb, self.reboot = notify, reboot
        self.images = images or StorageImages(storage)
        self.sleep_ms = sleep_ms or _sleep_ms
        self.log = log or (lambda *args: None)
        self.attempts, self.retry_interval_s = attempts, retry_interval_s
        self.status = None  # the last status of the job in hand
        # async check_signed(self, job) -> bool: a signed job's image checked in its slot after the
        # download (firmware/ocpp/signed16.py); the caller sets it
        self.check_signed = None
        self._gen = 0  # bumped by each request; a job of an older one stops
        self._wake = None  # made by run(), on the loop that runs it
        self.slots = self._boot(running_version)
        self.job = self._load(JOB_KEY)
        job = self.job
        if job is not None and not (isinstance(job, dict) and job.get("phase") in ("download", "install")
                                    and job.get("slot") in ("a", "b")):
            self.log("firmware", "job record malformed, dropped")
            self.storage.delete(JOB_KEY)
            self.job = None

    # --- what the charge point calls ---------------------------------------------------------------

    def request(self, payload, signed=None):
        """UpdateFirmware.req -> UpdateFirmware.conf payload ({}). Raises RpcError for a bad request.
        A request replaces a job not yet committed (the newest location wins). signed: what a
        SignedUpdateFirmware adds to the job (firmware/ocpp/signed16.py), kept in its record."""
        location, retrieve = payload.get("location"), payload.get("retrieveDate")
        if not isinstance(location, str) or not isinstance(retrieve, str):
            raise RpcError("TypeConstraintViolation", "location and retrieveDate must be strings")
        try:
            retrieve_s = timefmt.parse(retrieve)
        except ValueError as exc:
            raise RpcError("PropertyConstraintViolation", str(exc))
        retries, interval_s = _number(payload, "retries"), _number(payload, "retryInterval")
        if self.slots["boot"] != self.slots["active"]:  # an install waits for its reboot: the newer wins
            self.slots["boot"] = self.slots["active"]
            self.storage.write(SLOTS_KEY, json.dumps(self.slots).encode())
        job = {"location": location, "retrieve_s": retrieve_s, "phase": "download", "slot": self.inactive(),
               "attempts": self.attempts if retries is None else max(retries, 1),
               "interval_s": self.retry_interval_s if interval_s is None else interval_s}
        if signed:
            job["signed"] = signed
        self.storage.write(JOB_KEY, json.dumps(job).encode())
        self.job, self.status = job, None
        self._gen += 1
        if self._wake is not None:
            self._wake.set()
        return {}

    def trigger_status(self):
        """The status for TriggerMessage(FirmwareStatusNotification): Idle only then (1.6 section 7.25)."""
        return self.status if self.job is not None and self.status else "Idle"

    def notification(self, status):
        return "FirmwareStatusNotification", {"status": status}

    def active(self):
        return self.slots["active"]

    def inactive(self):
        return "b" if self.slots["active"] == "a" else "a"

    def running_version(self):
        return self.slots[self.active()].get("version", "")

    async def run(self):
        """The update task: carries out each job; runs for the charger's lifetime."""
        self._wake = asyncio.Event()
        while True:
            if self.job is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            gen = self._gen
            try:
                await self._carry_out(self.job, gen)
            except _Superseded:
                self.log("firmware", "update replaced by a newer request for %s" % self.job["location"])

    # --- the job -----------------------------------------------------------------------------------

    def _notify(self, status):
        self.status = status
        self.notify_cb(status)

    def _check(self, gen):
        if gen != self._gen:
            raise _Superseded()

    def _end(self, status):
        self._notify(status)
        self.storage.delete(JOB_KEY)
        self.job, self.status = None, None

    async def _wait(self, ms, gen):
        while ms > 0:
            await self.sleep_ms(min(ms, SLICE_MS))
            ms -= SLICE_MS
            self._check(gen)

    async def _carry_out(self, job, gen):
        signed = job.get("signed")
        if job["phase"] == "download":
            await self._until(job["retrieve_s"], gen, "DownloadScheduled" if signed else None)
            if not await self._download(job, gen):
                return self._end("DownloadFailed")
            if signed:  # whitepaper L01: SignatureVerified before the install, else nothing installs
                good = self.check_signed is not None and await self.check_signed(self, job)
                self._check(gen)
                if not good:
                    self.images.erase(job["slot"])
                    return self._end("InvalidSignature")
                self._notify("SignatureVerified")
            job["phase"] = "install"
            self.storage.write(JOB_KEY, json.dumps(job).encode())
        if signed and signed.get("install_s"):
            await self._until(signed["install_s"], gen, "InstallScheduled")
        await self._install(job, gen)

    async def _until(self, at_s, gen, status):
        told = False
        while True:  # the wall clock may be set meanwhile: read it again after each slice
            left_s = at_s - timefmt.parse(self.clock.utc())
            if left_s <= 0:
                return
            if status and not told:
                self._notify(status)
                told = True
            await self._wait(min(left_s * 1000, SLICE_MS), gen)

    async def _download(self, job, gen):
        self._notify("Downloading")
        location, slot = job["location"], job["slot"]
        if not (location.startswith("http://") or location.startswith("https://")):
            self.log("firmware", "cannot download %s: only http:// and https:// are supported" % location)
            return False
        for attempt in range(1, job["attempts"] + 1):
            self.images.erase(slot)
            done, why = False, None
            try:
                sink = ImageSink(self.images.writer(slot), self.images.capacity_bytes, lambda: self._check(gen))
                await self.http.get(location, sink)
                sink.finish()
                done = True
            except Exception as exc:  # HttpError, OSError, a short image: worth another attempt
                why = exc
            self._check(gen)  # a request that came meanwhile takes over (after every await, before a write)
            if done:
                self._notify("Downloaded")
                return True
            if isinstance(why, ImageError):  # fetching it again cannot help
                self.log("firmware", "%s is no image for this charger: %s" % (location, why))
                break
            self.log("firmware", "download %d of %d failed: %s" % (attempt, job["attempts"], why))
            if attempt < job["attempts"]:
                await self._wait(job["interval_s"] * 1000, gen)
        self.images.erase(slot)
        return False

    async def _install(self, job, gen):
        slot = job["slot"]
        if self.slots["boot"] != slot:  # else the commit landed before a power cut: only report it
            self._notify("Installing")
            try:
                info = await self._verify(slot)
            except ImageError as exc:
                info = exc
            self._check(gen)
            if isinstance(info, ImageError):
                self.log("firmware", "slot %s not installed: %s" % (slot, info))
                self.images.erase(slot)
                return self._end("InstallationFailed")
            slots = dict(self.slots)
            slots[slot], slots["boot"] = info, slot
            self.storage.write(SLOTS_KEY, json.dumps(slots).encode())  # the commit point
            self.slots = slots
            self.log("firmware", "slot %s holds version %s; boot from it next" % (slot, info["version"]))
        self._end("Installed")
        if self.slots["boot"] != self.slots["active"]:
            self.reboot()

    async def _verify(self, slot):
        digest, size, want, version, total = hashlib.sha256(), None, None, None, 0
        for data in self.images.chunks(slot):
            if size is None:
                size, want, version = read_header(data)
                data = data[HEADER_BYTES:]
            digest.update(data)
            total += len(data)
            await self.sleep_ms(0)  # hashing a whole slot must not starve the charger's other tasks
        if size is None:
            raise ImageError("slot %s is empty" % slot)
        got = digest.digest()  # once: MicroPython's hash objects are final after digest()
        if total != size or got != want:
            raise ImageError("stored image fails its check (%d of %d bytes, SHA-256 %s)"
                             % (total, size, "matches" if got == want else "differs"))
        return {"version": version, "sha256": binascii.hexlify(want).decode(), "bytes": size}

    # --- records -----------------------------------------------------------------------------------

    def _load(self, key):
        raw = self.storage.read(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            self.log("firmware", "record %s unreadable, dropped" % key)
            self.storage.delete(key)
            return None

    def _boot(self, running_version):
        slots = self._load(SLOTS_KEY)
        if not isinstance(slots, dict) or slots.get("boot") not in ("a", "b"):
            slots = {"active": "a", "boot": "a", "a": {"version": running_version}, "b": {}}
        elif slots["boot"] != slots["active"]:  # what the bootloader does: start the committed slot
            slots["active"] = slots["boot"]
            self.storage.write(SLOTS_KEY, json.dumps(slots).encode())
            self.log("firmware", "running slot %s, version %s" % (slots["active"], slots[slots["active"]]["version"]))
        return slots
