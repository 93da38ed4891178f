# OCPP 1.6 GetDiagnostics (section 5.9) and DiagnosticsStatusNotification (4.4). Portable; http, clock
# and sleep are injected.
#
# request() takes the log lines of the asked time range from the log source (any object with
# lines(start_s, stop_s), e.g. firmware/logbook.py) as a snapshot, and returns the file name at once: it
# is the CALLRESULT's fileName (absent when there is nothing to send, as 5.9 says). run() then uploads
# the file to <location>/<fileName> by HTTP PUT (or POST), with up to `retries` attempts retryInterval
# apart, and reports Uploading, then Uploaded or UploadFailed. Only http:// and https:// locations:
# an ftp:// one (common in 1.6 deployments) reports UploadFailed. A newer request replaces the one in
# hand. Nothing is persisted: after a reboot the CSMS asks again.
import asyncio

from firmware import timefmt
from firmware.ocpp.rpc import RpcError
from firmware.waiting import sleep_s

STATUSES = ("Idle", "Uploaded", "UploadFailed", "Uploading")  # DiagnosticsStatus, OCPP 1.6 section 7.24
FILE_NAME_MAX = 255  # GetDiagnostics.conf fileName is a CiString255Type
DEFAULT_ATTEMPTS = 3  # GetDiagnostics.req without retries: "left to the Charge Point"
DEFAULT_RETRY_INTERVAL_S = 60
PIECE_BYTES = 1024  # the upload goes out in pieces of about this size
_NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"


class _Superseded(Exception):
    pass


def _time(payload, name):
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RpcError("TypeConstraintViolation", "%s must be a dateTime string" % name)
    try:
        return timefmt.parse(value)
    except ValueError as exc:
        raise RpcError("PropertyConstraintViolation", str(exc))


def _count(payload, name):
    value = payload.get(name)
    if value is None:
        return None
    if value is True or value is False or not isinstance(value, int):
        raise RpcError("TypeConstraintViolation", "%s must be an integer" % name)
    if value < 0:
        raise RpcError("PropertyConstraintViolation", "%s must not be negative" % name)
    return value


def upload_url(location, file_name):
    """location (a directory, says GetDiagnostics.req) joined with file_name, keeping a query string."""
    query = ""
    if "?" in location:
        location, query = location.split("?", 1)
        query = "?" + query
    if not location.endswith("/"):
        location += "/"
    return location + file_name + query


def _pieces(lines):
    def pieces():
        buf = b""
        for line in lines:
            buf += line.encode() + b"\n"
            if len(buf) >= PIECE_BYTES:
                yield buf
                buf = b""
        if buf:
            yield buf
    return pieces


async def _sleep_ms(ms):
    await sleep_s(ms / 1000)  # a retryInterval from the CSMS may be days


class Diagnostics:
    """notify(status) sends a DiagnosticsStatusNotification (see notification()); cp_id names the file."""

    def __init__(self, http, clock, notify, source, cp_id="cp", sleep_ms=None, log=None, method="PUT",
                 attempts=DEFAULT_ATTEMPTS, retry_interval_s=DEFAULT_RETRY_INTERVAL_S):
        if method not in ("PUT", "POST"):
            raise ValueError("diagnostics upload method must be PUT or POST, not %r" % (method,))
        self.http, self.clock, self.notify_cb, self.source = http, clock, notify, source
        self.cp_id = "".join(c if c in _NAME_CHARS else "_" for c in cp_id)[:64]  # a safe file name
        self.sleep_ms = sleep_ms or _sleep_ms
        self.log = log or (lambda *args: None)
        self.method = method
        self.attempts, self.retry_interval_s = attempts, retry_interval_s
        self.job = None
        self.status = None
        self._gen = 0
        self._wake = None  # made by run(), on the loop that runs it

    def request(self, payload):
        """GetDiagnostics.req -> GetDiagnostics.conf payload. Raises RpcError for a bad request."""
        location = payload.get("location")
        if not isinstance(location, str):
            raise RpcError("TypeConstraintViolation", "location must be a string")
        start_s, stop_s = _time(payload, "startTime"), _time(payload, "stopTime")
        retries, interval_s = _count(payload, "retries"), _count(payload, "retryInterval")
        lines = list(self.source.lines(start_s, stop_s))
        if not lines:
            return {}  # 5.9: no fileName when no diagnostic information is available
        stamp = timefmt.format_utc(timefmt.parse(self.clock.utc())).replace("-", "").replace(":", "")
        name = ("%s-diagnostics-%s.log" % (self.cp_id, stamp))[:FILE_NAME_MAX]
        self.job = {"location": location, "name": name, "lines": lines,
                    "attempts": self.attempts if retries is None else max(retries, 1),
                    "interval_s": self.retry_interval_s if interval_s is None else interval_s}
        self.status = None
        self._gen += 1
        if self._wake is not None:
            self._wake.set()
        return {"fileName": name}

    def cancel(self):
        """Drop the upload under way, if any, without a word (a newer request answers for it)."""
        self.job = None
        self._gen += 1

    def trigger_status(self):
        """The status for TriggerMessage(DiagnosticsStatusNotification): Idle when no upload is under way."""
        return self.status if self.job is not None and self.status else "Idle"

    def notification(self, status):
        return "DiagnosticsStatusNotification", {"status": status}

    async def run(self):
        """The upload task; runs for the charger's lifetime."""
        self._wake = asyncio.Event()
        while True:
            if self.job is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            job, gen = self.job, self._gen
            try:
                status = await self._upload(job, gen)
            except _Superseded:
                continue
            self.status = status
            self.notify_cb(status)
            self.job, self.status = None, None

    async def _upload(self, job, gen):
        self.status = "Uploading"
        self.notify_cb("Uploading")
        url = upload_url(job["location"], job["name"])
        if not (url.startswith("http://") or url.startswith("https://")):
            self.log("diagnostics", "cannot upload to %s: only http:// and https:// are supported" % job["location"])
            return "UploadFailed"
        length = sum(len(line.encode()) + 1 for line in job["lines"])
        send = self.http.put if self.method == "PUT" else self.http.post
        for attempt in range(1, job["attempts"] + 1):
            why = None
            try:
                await send(url, _pieces(job["lines"]), length, "text/plain; charset=utf-8")
            except Exception as exc:  # HttpError, OSError: worth another attempt
                why = exc
            if gen != self._gen:  # a newer request came meanwhile: it alone is reported
                raise _Superseded()
            if why is None:
                return "Uploaded"
            self.log("diagnostics", "upload %d of %d failed: %s" % (attempt, job["attempts"], why))
            if attempt < job["attempts"]:
                await self.sleep_ms(job["interval_s"] * 1000)
                if gen != self._gen:
                    raise _Superseded()
        return "UploadFailed"
