# OCPP 1.6 security whitepaper (ed. 3) log upload and ExtendedTriggerMessage, CSMS -> CP:
# GetLog (use case N01) -> LogStatusNotification, and ExtendedTriggerMessage (F06).
#
# GetLog reuses the GetDiagnostics machine (firmware/ocpp/diagnostics.py): a second Diagnostics object,
# with this module as its log source and a notify that speaks LogStatusNotification (UploadFailed ->
# UploadFailure, and the requestId of the GetLog). Its task runs in FirmwareManagement.run().
# SecurityLog: the security events kept in flash (firmware/ocpp/secevents.py, the last 32, delivered or
# not); without storage, the logbook lines of the topic "security" (Security.event logs each there too).
# Loaded only when one of these CALLs arrives (core16.py / fwmgmt.py import it on use).
from firmware.ocpp.diagnostics import Diagnostics
from firmware.ocpp.fwmgmt import LazyHttp

LOG_TYPES = ("DiagnosticsLog", "SecurityLog")  # LogEnumType
SECURITY_TOPIC = "security"
# UploadLogStatusEnumType: what a Diagnostics status becomes in a LogStatusNotification
_STATUS = {"Uploading": "Uploading", "Uploaded": "Uploaded", "UploadFailed": "UploadFailure"}


class LogUpload:
    """GetLog.req -> GetLog.conf, and the upload's LogStatusNotifications. fwmgmt: FirmwareManagement."""

    def __init__(self, fwmgmt):
        cp = fwmgmt.cp
        self.cp = cp
        self.logbook = fwmgmt.logbook
        self.log_type = LOG_TYPES[0]
        self.request_id = None
        cp_id = cp.link.url.rstrip("/").split("/")[-1]
        self.upload = Diagnostics(LazyHttp(fwmgmt.http_client), cp.clock, self._notify, self, cp_id, log=cp.log)

    def lines(self, start_s, stop_s):
        """The log source of the upload: every logbook line, or the security events."""
        if self.log_type == "SecurityLog" and self.cp.storage is not None:
            for line in self.cp.security_events().lines(start_s, stop_s):
                yield line
            return
        for line in self.logbook.lines(start_s, stop_s):
            if self.log_type != "SecurityLog" or line.split(" ", 2)[1] == SECURITY_TOPIC + ":":
                yield line

    def request(self, p):
        """GetLog.req -> {"status": Accepted | AcceptedCanceled [, "filename"]}. A GetLog while another
        upload is under way cancels that one (AcceptedCanceled, N01.FR.12); no filename when the log is
        empty (nothing is uploaded then)."""
        log = p["log"]
        location = log["remoteLocation"]
        busy = self.upload.job is not None
        self.log_type, self.request_id = p["logType"], p["requestId"]
        status = "AcceptedCanceled" if busy else "Accepted"
        if not (location.startswith("http://") or location.startswith("https://")):
            # Only HTTP(S) uploads exist here: ftp:// etc. is a protocol this charger does not speak.
            if busy:  # the upload under way ends without a word (as a newer GetDiagnostics ends one)
                self.upload.cancel()
            self.cp.log("log", "GetLog %d: cannot upload to %s" % (self.request_id, location))
            self._send("NotSupportedOperation")
            return {"status": status}
        answer = self.upload.request({"location": location, "startTime": log.get("oldestTimestamp"),
                                      "stopTime": log.get("latestTimestamp"), "retries": p.get("retries"),
                                      "retryInterval": p.get("retryInterval")})
        if "fileName" not in answer:
            return {"status": status}
        job = self.upload.job
        if self.log_type == "SecurityLog":
            job["name"] = job["name"].replace("-diagnostics-", "-security-")
        return {"status": status, "filename": job["name"]}

    async def run(self):
        await self.upload.run()

    def trigger_status(self):
        """(status, requestId or None) for a triggered LogStatusNotification: Idle unless uploading."""
        status = self.upload.trigger_status()
        return (_STATUS.get(status, "Idle"), self.request_id) if status != "Idle" else ("Idle", None)

    def _notify(self, status):
        self._send(_STATUS[status])

    def _send(self, status):
        self.cp._send("LogStatusNotification", {"status": status, "requestId": self.request_id})


def triggered(cp):
    """(action, payload) of a triggered LogStatusNotification (Idle without a GetLog so far)."""
    logs = cp.fwmgmt.logs
    status, request_id = logs.trigger_status() if logs is not None else ("Idle", None)
    payload = {"status": status}
    if request_id is not None:
        payload["requestId"] = request_id
    return "LogStatusNotification", payload


def extended_trigger(cp, p):
    """ExtendedTriggerMessage.req -> {"status": Accepted | Rejected | NotImplemented}, through the
    TriggerMessage path (firmware/ocpp/commands.py); SignChargePointCertificate through
    firmware/ocpp/certsign16.py (a SignCertificate.req follows an Accepted)."""
    message = p["requestedMessage"]
    if message == "SignChargePointCertificate":
        from firmware.ocpp import certsign16

        return {"status": certsign16.trigger(cp)}
    if message == "FirmwareStatusNotification" and cp.fwmgmt.update is not None:
        from firmware.ocpp import signed16  # a signed job reports SignedFirmwareStatusNotification

        status = signed16.extended_trigger(cp, p)
        if status is not None:
            return {"status": status}
    return {"status": cp.trigger(message, p.get("connectorId"))}
