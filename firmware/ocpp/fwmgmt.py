# Firmware Management profile of OCPP 1.6 (sections 4.4, 4.5, 5.9, 5.12) wired into the charge point:
# UpdateFirmware -> firmware/ocpp/firmware_update.py, GetDiagnostics -> firmware/ocpp/diagnostics.py,
# their status notifications through the charge point's outbox (never replaced there, unlike a stale
# StatusNotification), TriggerMessage for both statuses, and the reboot into the new slot.
#
# Heap: this module is imported with the first command for it, or at boot when storage holds a job or a
# slot record (firmware/ocpp/parts.py); the update and diagnostics machines and the HTTP client are
# imported on first use. FirmwareUpdate is then built at once: it plays the bootloader (the slot it
# committed becomes the running one, and the BootNotification reports that slot's version).
import asyncio
import gc

FW_KEYS = ("fw_job", "fw_slots")  # firmware_update.JOB_KEY, SLOTS_KEY: read here without importing it
REBOOT_POLL_S = 0.5
RESTART_PAUSE_S = 5  # a job task that died (MemoryError) starts again after this


class FirmwareManagement:
    def __init__(self, cp, http=None):
        self.cp = cp
        self.http = http  # hal.http_client.HttpClient-like; made on first use when None
        self.logbook = cp.logbook  # what GetDiagnostics uploads: every line logged since boot (parts.py)
        self.update = None
        self.diagnostics = None
        self.logs = None  # GetLog (firmware/ocpp/log16.py), built on first use
        self.rebooting = False
        self.updated_to = None  # the version this boot switched to, if it did
        self._wake = asyncio.Event()
        storage = cp.storage
        if storage is not None and any(storage.read(key) is not None for key in FW_KEYS):
            self._firmware()  # a job to resume, or a committed slot to start and report

    # Built on first use ------------------------------------------------------------------------

    def http_client(self):
        if self.http is None:
            from hal.http_client import HttpClient

            self.http = HttpClient()
        return self.http

    def _firmware(self):
        if self.update is None:
            from firmware.ocpp.firmware_update import FirmwareUpdate

            cp = self.cp
            before = cp.storage.read(FW_KEYS[1])
            self.update = FirmwareUpdate(cp.storage, LazyHttp(self.http_client), cp.clock, self._notify, self._reboot,
                                         log=cp.log, running_version=cp.info.get("firmware") or "")
            self.update.check_signed = self._check_signed
            version = self.update.running_version()
            if before is not None and cp.storage.read(FW_KEYS[1]) != before:
                self.updated_to = version  # the first boot of a newly installed slot: a security event
            if version and version != cp.info.get("firmware"):
                cp.info = dict(cp.info)  # the board's facts stay; this boot runs the committed slot
                cp.info["firmware"] = version
            self._wake.set()
        return self.update

    def _diagnostics(self):
        if self.diagnostics is None:
            from firmware.ocpp.diagnostics import Diagnostics

            cp = self.cp
            cp_id = cp.link.url.rstrip("/").split("/")[-1]
            self.diagnostics = Diagnostics(LazyHttp(self.http_client), cp.clock, self._notify, self.logbook, cp_id,
                                           log=cp.log)
            self._wake.set()
        return self.diagnostics

    # What the CSMS asks -------------------------------------------------------------------------

    def update_firmware(self, payload):
        """UpdateFirmware.req (5.12) -> {} ; the job then runs in run()."""
        return self._firmware().request(payload)

    async def _check_signed(self, update, job):
        from firmware.ocpp import signed16  # SignedUpdateFirmware, loaded on use

        return await signed16.check_image(self.cp, update, job)

    def get_diagnostics(self, payload):
        """GetDiagnostics.req (5.9) -> {"fileName": ...} or {} when there is no log to send."""
        return self._diagnostics().request(payload)

    def get_log(self, payload):
        """GetLog.req (security whitepaper N01) -> GetLog.conf payload; the upload then runs in run()."""
        if self.logs is None:
            from firmware.ocpp.log16 import LogUpload

            self.logs = LogUpload(self)
            self._wake.set()
        return self.logs.request(payload)

    def trigger_status(self, message):
        """The status a TriggerMessage of message (Firmware/DiagnosticsStatusNotification) reports: Idle
        unless a job is under way (section 7.24 / 7.25)."""
        if message == "FirmwareStatusNotification":
            status = self.update.trigger_status() if self.update is not None else "Idle"
            return _PLAIN.get(status, status)  # a signed job's own statuses are not 1.6 FirmwareStatus
        return self.diagnostics.trigger_status() if self.diagnostics is not None else "Idle"

    def triggered(self, message):
        """(action, payload) for TriggerMessage of message: SignedFirmwareStatusNotification while a
        SignedUpdateFirmware runs."""
        job = self.update.job if self.update is not None else None
        if message == "FirmwareStatusNotification" and job is not None and "signed" in job:
            return self._firmware_status(self.update.trigger_status(), job)
        return message, {"status": self.trigger_status(message)}

    def _firmware_status(self, status, job):
        if job is not None and "signed" in job:
            return "SignedFirmwareStatusNotification", {"status": status, "requestId": job["signed"]["request_id"]}
        return "FirmwareStatusNotification", {"status": status}

    # Tasks --------------------------------------------------------------------------------------

    async def run(self):
        """Runs the jobs' tasks once they exist, and starts a task that died again (run() of either job
        dies only from something like MemoryError: the job record stays, so it resumes)."""
        tasks = {}
        try:
            while True:
                for name in ("update", "diagnostics", "logs"):
                    job = getattr(self, name)
                    if job is not None and name not in tasks:
                        tasks[name] = asyncio.create_task(self._keep(name, job))
                self._wake.clear()
                await self._wake.wait()
        finally:
            for name in tasks:
                tasks[name].cancel()

    async def _keep(self, name, job):
        while True:
            try:
                await job.run()
            except Exception as exc:  # CancelledError is a BaseException: a reset still ends it
                self.cp.log(name, "task died (%s: %s); starting it again" % (type(exc).__name__, exc))
                gc.collect()
                await asyncio.sleep(RESTART_PAUSE_S)

    def _notify(self, status):
        if status in _DIAG:
            self.cp._send("DiagnosticsStatusNotification", {"status": status})
        else:
            self.cp._send(*self._firmware_status(status, self.update.job if self.update is not None else None))

    def _reboot(self):
        if not self.rebooting:
            self.rebooting = True
            self.cp.spawn(self._reboot_when_idle())

    async def _reboot_when_idle(self):
        # 5.12: install "when no transaction is running"; the new image is committed, so restarting
        # into it waits for the transaction to end and for Installed to reach the CSMS.
        cp = self.cp
        while cp.tx is not None or any(e[0] in _FW_STATUS for e in cp.outbox):
            await asyncio.sleep(REBOOT_POLL_S)
        cp.log("firmware", "restarting into the new firmware")
        if cp.restart is not None:
            await cp.restart("firmware")  # the board restarts: nothing after this runs
            return
        # No way to restart the board (a bare test rig): play the bootloader and boot the session again.
        self.update = None
        self._firmware()
        self.rebooting = False
        cp.booted = False
        await cp.link.stop_connection()


_DIAG = ("Uploading", "Uploaded", "UploadFailed")  # DiagnosticsStatus (7.24) apart from Idle
_FW_STATUS = ("FirmwareStatusNotification", "SignedFirmwareStatusNotification")
# A signed job's statuses (whitepaper FirmwareStatusEnumType) as a plain 1.6 FirmwareStatus (7.25)
_PLAIN = {"DownloadScheduled": "Idle", "SignatureVerified": "Downloaded", "InstallScheduled": "Downloaded"}


class LazyHttp:
    """Stands for the HTTP client until the first request: importing it costs heap."""

    def __init__(self, make):
        self._make = make

    async def get(self, url, sink, headers=None):
        return await self._make().get(url, sink, headers)

    async def put(self, url, body, length=None, content_type="application/octet-stream", headers=None):
        return await self._make().put(url, body, length, content_type, headers)

    async def post(self, url, body, length=None, content_type="application/octet-stream", headers=None):
        return await self._make().post(url, body, length, content_type, headers)
