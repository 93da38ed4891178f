"""GetDiagnostics end to end over real HTTP: hal/http_client.py uploads to sim/file_server.py."""

import asyncio

import pytest

from firmware.logbook import Logbook
from firmware.ocpp.diagnostics import Diagnostics
from hal.http_client import HttpClient
from sim.file_server import FileServer
from tests.firmware.fwmgmt_fakes import Clock

FILE = "CP1-diagnostics-20240310T120000Z.log"


@pytest.fixture
def server():
    with FileServer() as s:
        yield s


def upload(server, method="PUT", retries=None, lines=300):
    clock = Clock()
    log = Logbook(clock, capacity_lines=lines)
    for i in range(lines):
        log("meter", "reading %d: 230.1 V, 16.0 A, \u00e9t\u00e9" % i)
    statuses = []
    diag = Diagnostics(HttpClient(timeout_ms=5000), clock, statuses.append, log, cp_id="CP1", method=method,
                       sleep_ms=clock.sleep_ms)
    payload = {"location": server.url("/diag/"), "retryInterval": 30}
    if retries is not None:
        payload["retries"] = retries
    assert diag.request(payload) == {"fileName": FILE}

    async def go():
        task = asyncio.create_task(diag.run())
        try:
            while not (statuses and statuses[-1] in ("Uploaded", "UploadFailed")):
                await asyncio.sleep(0.002)
        finally:  # cancel until stopped: 3.11's wait_for can swallow one (gh-86296)
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.05)

    asyncio.run(asyncio.wait_for(go(), 20))
    return statuses, list(log.lines())


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_diagnostics_reach_the_server_line_for_line(server, method):
    statuses, lines = upload(server, method)
    assert statuses == ["Uploading", "Uploaded"]
    assert server.uploads["/diag/" + FILE].decode().splitlines() == lines
    assert server.requests[0][0] == method and server.requests[0][2]["content-type"].startswith("text/plain")


def test_a_failing_server_is_retried_then_the_upload_lands(server):
    server.fail_next(2, "500")
    statuses, _ = upload(server, retries=3)
    assert statuses == ["Uploading", "Uploaded"] and len(server.requests) == 3


def test_a_server_that_never_answers_is_upload_failed(server):
    server.fail_next(4, "drop")
    statuses, _ = upload(server, retries=4)
    assert statuses == ["Uploading", "UploadFailed"] and server.uploads == {}
