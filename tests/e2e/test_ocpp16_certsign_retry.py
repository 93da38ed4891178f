"""SignCertificate.req resends (security whitepaper CertSigningWaitMinimum / CertSigningRepeatTimes,
firmware/ocpp/certsign16.py) in virtual time: a CSMS that answers Accepted and never signs gets the request
again after W, 2W, 4W, ... seconds, RepeatTimes more times, then no more; an accepted CertificateSigned
ends the resends; a new trigger starts them again; Firmware.stop cancels the waiting task; both keys are
RW within their ranges and kept across a reboot. Times are the CSMS's receive stamps on the virtual clock."""

import asyncio
import time

import trustme

from firmware.ocpp import certsign16
from firmware.security import csr
from hal.sim import MemoryStorage
from sim import vloop
from sim.rig import Rig
from tests.e2e.test_ocpp16_security import CPO, sign_csr, trust
from tests.e2e.test_stories import until, utc_ms

SLACK_MS = 500  # the SignCertificate.conf's trip back: the wait starts when the answer is in


def run(story, config, storage=None, start_epoch=vloop.DEFAULT_START_EPOCH):
    async def main(clock):
        rig = Rig(clock, config=config, storage=storage)
        rig.start()
        try:
            await story(rig, clock)
            assert rig.csms.errors == [] and rig.station.errors == []
        finally:
            await rig.stop()

    vloop.run(main, start_epoch)


async def trigger(rig, clock):
    await until(lambda: rig.fw.cp.booted, clock, 60, "BootNotification accepted")
    before = len(rig.station.sign_requests)
    assert await rig.station.extended_trigger_message("SignChargePointCertificate") == {"status": "Accepted"}
    await until(lambda: len(rig.station.sign_requests) > before, clock, 10, "SignCertificate.req")


def gaps_s(requests):
    """Milliseconds between consecutive SignCertificate.req, as the CSMS received them."""
    stamps = [utc_ms(r["utc"]) for r in requests]
    return [b - a for a, b in zip(stamps, stamps[1:])]


def near(gaps_ms, expected_s):
    assert len(gaps_ms) == len(expected_s), (gaps_ms, expected_s)
    for got, want in zip(gaps_ms, expected_s):
        assert want * 1000 <= got <= want * 1000 + SLACK_MS, (gaps_ms, expected_s)


def test_without_certificate_signed_the_request_is_resent_with_doubling_waits_then_stops():
    async def story(rig, clock):
        st = rig.station
        await trigger(rig, clock)
        # Defaults: CertSigningWaitMinimum 60 s, CertSigningRepeatTimes 3 -> resends 60, 120, 240 s apart.
        await asyncio.sleep(59)
        assert len(st.sign_requests) == 1  # nothing before the wait is over
        await asyncio.sleep(3 * 3600)  # far longer than the next wait (480 s) would have been
        assert len(st.sign_requests) == 4
        near(gaps_s(st.sign_requests), [60, 120, 240])
        csrs = [r["csr"] for r in st.sign_requests]
        assert len(set(csrs)) == 4  # a fresh key and CSR each time (A02.FR.02)
        assert certsign16.signing(rig.fw.cp) is None  # the schedule is over: nothing kept
        assert all(t.done() for t in rig.fw.cp.spawned)  # its task ended with it

    run(story, {"CpoName": CPO})


def test_changed_keys_set_the_schedule_and_zero_repeats_sends_once():
    async def story(rig, clock):
        st = rig.station
        await until(lambda: rig.fw.cp.booted, clock, 60, "BootNotification accepted")
        assert await st.change_configuration("CertSigningWaitMinimum", "7") == {"status": "Accepted"}
        assert await st.change_configuration("CertSigningRepeatTimes", "2") == {"status": "Accepted"}
        await trigger(rig, clock)
        await asyncio.sleep(600)
        near(gaps_s(st.sign_requests), [7, 14])
        assert await st.change_configuration("CertSigningRepeatTimes", "0") == {"status": "Accepted"}
        await trigger(rig, clock)
        await asyncio.sleep(600)
        assert len(st.sign_requests) == 4  # one request for that trigger, no resend

    run(story, {"CpoName": CPO})


def test_a_new_trigger_restarts_the_schedule():
    async def story(rig, clock):
        st = rig.station
        await trigger(rig, clock)
        await until(lambda: len(st.sign_requests) == 2, clock, 70, "first resend")
        await asyncio.sleep(10)
        await trigger(rig, clock)  # 10 s after the first resend: the old schedule (next at +120 s) ends
        await asyncio.sleep(3 * 3600)
        assert [r["status"] for r in st.sign_requests] == ["Accepted"] * 6
        near(gaps_s(st.sign_requests[2:]), [60, 120, 240])
        assert 10000 <= gaps_s(st.sign_requests)[1] <= 10000 + SLACK_MS

    run(story, {"CpoName": CPO})


def test_a_rejected_sign_certificate_ends_the_resends():
    async def story(rig, clock):
        rig.station.sign_certificate_status = "Rejected"
        await trigger(rig, clock)
        await asyncio.sleep(3600)
        assert len(rig.station.sign_requests) == 1

    run(story, {"CpoName": CPO})


def test_an_accepted_certificate_signed_ends_the_resends_and_a_rejected_one_does_not():
    ca = trustme.CA()
    storage = MemoryStorage()
    trust(storage, ca)

    async def story(rig, clock):
        st = rig.station
        await trigger(rig, clock)
        assert await st.certificate_signed("garbage") == {"status": "Rejected"}  # not a certificate: goes on
        await until(lambda: len(st.sign_requests) == 2, clock, 70, "resend after a rejected chain")
        chain = sign_csr(ca, st.sign_requests[-1]["csr"])  # the last CSR's key is the pending one
        assert await st.certificate_signed(chain) == {"status": "Accepted"}
        assert storage.read(csr.PENDING_KEY) is None
        await asyncio.sleep(3600)
        assert len(st.sign_requests) == 2
        assert certsign16.signing(rig.fw.cp) is None

    # Certificates are made for the real now: the virtual clock starts there.
    run(story, {"CpoName": CPO}, storage, start_epoch=int(time.time()))


def test_firmware_stop_cancels_the_waiting_task():
    async def story(rig, clock):
        await trigger(rig, clock)
        running = certsign16.signing(rig.fw.cp)
        assert running is not None and running.task in rig.fw.cp.spawned
        await rig.fw.stop()
        await until(running.task.done, clock, 1, "the task ended")
        assert running.task.cancelled()
        assert certsign16.signing(rig.fw.cp) is None

    run(story, {"CpoName": CPO})


def test_the_keys_are_rw_within_their_ranges_and_kept_across_a_reboot():
    async def story(rig, clock):
        st = rig.station
        await until(lambda: rig.fw.cp.booted, clock, 60, "BootNotification accepted")
        got = await st.get_configuration(["CertSigningWaitMinimum", "CertSigningRepeatTimes"])
        assert {(k["key"], k["value"], k["readonly"]) for k in got["configurationKey"]} == {
            ("CertSigningWaitMinimum", "60", False), ("CertSigningRepeatTimes", "3", False)}
        for key, bad in (("CertSigningWaitMinimum", "0"), ("CertSigningWaitMinimum", "86401"),
                         ("CertSigningWaitMinimum", "-5"), ("CertSigningRepeatTimes", "11"),
                         ("CertSigningRepeatTimes", "-1"), ("CertSigningRepeatTimes", "x")):
            assert await st.change_configuration(key, bad) == {"status": "Rejected"}, (key, bad)
        for key, good in (("CertSigningWaitMinimum", "1"), ("CertSigningRepeatTimes", "0"),
                          ("CertSigningWaitMinimum", "86400"), ("CertSigningRepeatTimes", "10")):
            assert await st.change_configuration(key, good) == {"status": "Accepted"}, (key, good)
        connections = len(st.connections)
        await rig.reboot("test")
        await until(lambda: rig.fw.cp.booted and len(st.connections) > connections, clock, 60, "booted again")
        assert rig.fw.config["CertSigningWaitMinimum"] == 86400
        assert rig.fw.config["CertSigningRepeatTimes"] == 10

    run(story, {})
