# portable
# GetDiagnostics with a fake HTTP client and a virtual clock: the file name, the upload, retries.
from firmware import timefmt
from firmware.logbook import Logbook
from firmware.ocpp import diagnostics
from firmware.ocpp.rpc import RpcError
from tests.firmware.fwmgmt_fakes import START_S, Clock, Http, drive
from tests.portable import raises, run_async

LOCATION = "http://csms.example/diag/"
NAME = "CP_1-diagnostics-20240310T120000Z.log"
TERMINAL = ("Uploaded", "UploadFailed")


class Rig:
    def __init__(self, **options):
        self.clock = Clock()
        self.log = Logbook(self.clock)
        for i in range(5):  # one line a minute, from START_S - 4 minutes
            self.clock.epoch_s = START_S - 240 + 60 * i
            self.log("session", "event %d" % i)
        self.clock.epoch_s = START_S
        self.http = Http(self.clock)
        self.statuses = []
        self.diag = diagnostics.Diagnostics(self.http, self.clock, self.statuses.append, self.log, cp_id="CP 1",
                                            sleep_ms=self.clock.sleep_ms, **options)

    def run(self, until=None):
        run_async(drive(self.diag, until or (lambda: self.statuses and self.statuses[-1] in TERMINAL)))


def at(offset_s):
    return timefmt.format_utc(START_S + offset_s)


def test_request_names_the_file_at_once_and_run_uploads_the_asked_range():
    rig = Rig()
    assert rig.diag.request({"location": LOCATION, "startTime": at(-180), "stopTime": at(-60)}) == {"fileName": NAME}
    rig.log("late", "not in the snapshot")
    rig.run()
    assert rig.statuses == ["Uploading", "Uploaded"] and rig.diag.trigger_status() == "Idle"
    assert rig.http.calls == [("PUT", LOCATION + NAME, START_S)]
    assert rig.http.uploads[LOCATION + NAME].decode().splitlines() == [
        "2024-03-10T11:57:00Z session: event 1", "2024-03-10T11:58:00Z session: event 2",
        "2024-03-10T11:59:00Z session: event 3"]


def test_nothing_in_the_range_means_no_file_name_and_no_upload():
    rig = Rig()
    assert rig.diag.request({"location": LOCATION, "startTime": at(60)}) == {}
    rig.run(until=lambda: False)
    assert rig.statuses == [] and rig.http.calls == []


def test_failed_uploads_are_retried_then_reported():
    rig = Rig()
    rig.http.plan = [OSError("refused"), OSError("500")]
    rig.diag.request({"location": LOCATION, "retries": 3, "retryInterval": 20})
    rig.run()
    assert rig.statuses == ["Uploading", "Uploaded"]
    assert [call[2] - START_S for call in rig.http.calls] == [0, 20, 40]
    rig = Rig()
    rig.http.plan = [OSError("refused")] * 3
    rig.diag.request({"location": LOCATION, "retries": 2, "retryInterval": 5})
    rig.run()
    assert rig.statuses == ["Uploading", "UploadFailed"] and len(rig.http.calls) == 2


def test_post_and_a_location_with_a_query_string():
    rig = Rig(method="POST")
    rig.diag.request({"location": "https://csms.example/up?token=abc"})
    rig.run()
    assert rig.http.calls[0][:2] == ("POST", "https://csms.example/up/" + NAME + "?token=abc")
    assert diagnostics.upload_url("http://h/dir", "f.log") == "http://h/dir/f.log"


def test_ftp_location_is_upload_failed_without_trying():
    rig = Rig()
    assert rig.diag.request({"location": "ftp://user:pw@csms.example/diag"}) == {"fileName": NAME}
    rig.run()
    assert rig.statuses == ["Uploading", "UploadFailed"] and rig.http.calls == []


def test_trigger_reports_uploading_while_the_upload_runs():
    rig = Rig()
    seen = []
    rig.http.on_piece = lambda: seen.append(rig.diag.trigger_status())
    rig.diag.request({"location": LOCATION})
    rig.run()
    assert seen == ["Uploading"]


def test_bad_requests_are_rpc_errors():
    rig = Rig()
    cases = (({}, "TypeConstraintViolation"),
             ({"location": LOCATION, "startTime": "yesterday"}, "PropertyConstraintViolation"),
             ({"location": LOCATION, "retries": -2}, "PropertyConstraintViolation"),
             ({"location": LOCATION, "retryInterval": 1.5}, "TypeConstraintViolation"))
    for payload, code in cases:
        assert raises(RpcError, rig.diag.request, payload).code == code
    raises(ValueError, diagnostics.Diagnostics, rig.http, rig.clock, print, rig.log, method="GET")


def test_a_request_during_an_upload_is_the_only_one_reported():
    rig = Rig()

    def on_piece():
        if len(rig.http.calls) == 1:
            rig.diag.request({"location": "http://other.example/"})

    rig.http.on_piece = on_piece
    rig.diag.request({"location": LOCATION})
    rig.run()
    assert rig.statuses == ["Uploading", "Uploading", "Uploaded"]
    assert [call[1] for call in rig.http.calls] == [LOCATION + NAME, "http://other.example/" + NAME]
