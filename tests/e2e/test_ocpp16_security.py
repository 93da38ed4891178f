"""OCPP 1.6 security whitepaper end to end: security profiles 1, 2 and 3 over real WebSockets and real TLS
on 127.0.0.1 (hal/ws_cpython.py in the rig), with certificates the tests create (trustme for the CSMS's CA
and server certificate; the charge point's own certificate from its CSR, signed by that CA), and the
SecurityEventNotifications the firmware raises. Wall clock; no test asserts how long anything took."""

import asyncio
import datetime
import ssl

import trustme
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization

from firmware import timefmt
from firmware.security import csr
from firmware.security.certstore import CertStore
from firmware.security.cpcert import ChargePointCertificate
from hal.sim import MemoryStorage
from hal.ws_cpython import WebSocketNetwork
from sim.csms import Csms
from sim.rig import Rig
from sim.vloop import RealClock
from tests.e2e.test_stories import until

STORY_TIMEOUT_S = 60  # a guard against a hung test, not a performance claim
KEY_HEX = "00112233445566778899aabbccddeeff"
SERIAL = "SIM-0001"  # the rig's chargePointSerialNumber: the CN of its certificate
CPO = "Test CPO"


def now_s():
    return timefmt.parse(RealClock().utc())


def server_context(ca, client_ca=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_ca is not None:  # profile 3: a client certificate is required
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def trust(storage, ca):
    status = CertStore(storage).install("CentralSystemRootCertificate", ca.cert_pem.bytes().decode(), now_s())
    assert status == "Accepted"


def sign_csr(ca, csr_pem):
    """What a CSMS's CA does with SignCertificate.req: a one-year leaf for the CSR's key and subject."""
    request = cx509.load_pem_x509_csr(csr_pem.encode())
    issuer = cx509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    cert = (cx509.CertificateBuilder().subject_name(request.subject).issuer_name(issuer.subject)
            .public_key(request.public_key()).serial_number(cx509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def provision_cp_certificate(storage, ca):
    csr_pem = csr.new_request(storage, SERIAL, CPO)
    status = ChargePointCertificate(storage, CertStore(storage)).certificate_signed(
        sign_csr(ca, csr_pem), now_s(), SERIAL, CPO)
    assert status == ("Accepted", None)


def run_secure(story, config, storage=None, tls=None, passwords=None, scheme=None):
    async def main():
        clock = RealClock()
        csms = Csms(clock=clock)
        port = await csms.serve_websocket(ssl=tls, passwords=passwords)
        url = "%s://127.0.0.1:%d/ocpp" % (scheme or ("wss" if tls else "ws"), port)
        rig = Rig(clock, csms=csms, csms_url=url, network=WebSocketNetwork(open_timeout_s=5), config=config,
                  storage=storage or MemoryStorage())
        rig.start()
        try:
            await story(rig, clock)
            assert csms.errors == []
        finally:
            await rig.stop()

    asyncio.run(asyncio.wait_for(main(), STORY_TIMEOUT_S))


def pending_events(rig):
    """Events raised and not delivered yet: kept in flash (firmware/ocpp/secevents.py)."""
    return [p["type"] for p in rig.fw.cp.security.events().pending()]


def delivered_events(rig):
    return [e["type"] for e in rig.station.security_events]


async def booted(rig, clock):
    await until(lambda: rig.fw.cp.booted, clock, 20, "BootNotification accepted")


def test_profile_1_sends_basic_auth_and_boots():
    async def story(rig, clock):
        await booted(rig, clock)
        headers = rig.station.connections[0]["headers"]
        assert headers["Authorization"].startswith("Basic ")
        await until(lambda: "StartupOfTheDevice" in delivered_events(rig), clock, 10, "StartupOfTheDevice")
        # Only upward, and only to a profile whose prerequisites are installed (no root certificate yet).
        assert await rig.station.change_configuration("SecurityProfile", "0") == {"status": "Rejected"}
        assert await rig.station.change_configuration("SecurityProfile", "2") == {"status": "Rejected"}
        assert rig.fw.config["SecurityProfile"] == 1

    run_secure(story, {"SecurityProfile": 1, "AuthorizationKey": KEY_HEX}, passwords={"CP1": KEY_HEX})


def test_profile_1_wrong_password_is_refused_and_raises_a_security_event():
    async def story(rig, clock):
        await until(lambda: rig.csms.rejected, clock, 10, "a refused connection")
        await until(lambda: "FailedToAuthenticateAtCentralSystem" in pending_events(rig), clock, 10, "event")
        assert not rig.fw.cp.booted and rig.station.connections == []
        assert rig.csms.rejected[0]["reason"] == "basic auth failed"

    run_secure(story, {"SecurityProfile": 1, "AuthorizationKey": KEY_HEX},
               passwords={"CP1": "ffeeddccbbaa99887766554433221100"})


def test_profile_2_checks_the_server_against_the_installed_root_and_boots():
    ca = trustme.CA()
    storage = MemoryStorage()
    trust(storage, ca)

    async def story(rig, clock):
        await booted(rig, clock)
        assert rig.station.connections[0]["headers"]["Authorization"].startswith("Basic ")
        await until(lambda: "StartupOfTheDevice" in delivered_events(rig), clock, 10, "StartupOfTheDevice")
        assert await rig.station.change_configuration("SecurityProfile", "1") == {"status": "Rejected"}
        assert await rig.station.change_configuration("SecurityProfile", "3") == {"status": "Rejected"}  # no cert

    run_secure(story, {"SecurityProfile": 2, "AuthorizationKey": KEY_HEX}, storage, server_context(ca),
               passwords={"CP1": KEY_HEX})


def test_profile_2_refuses_a_server_certificate_from_an_untrusted_ca():
    storage = MemoryStorage()
    trust(storage, trustme.CA())  # some other CA: the server's certificate does not chain to it

    async def story(rig, clock):
        await until(lambda: "InvalidCentralSystemCertificate" in pending_events(rig), clock, 10, "event")
        await asyncio.sleep(0.5)
        assert not rig.fw.cp.booted and rig.station.connections == []
        assert pending_events(rig).count("InvalidCentralSystemCertificate") == 1  # once, not per retry

    run_secure(story, {"SecurityProfile": 2, "AuthorizationKey": KEY_HEX}, storage, server_context(trustme.CA()),
               passwords={"CP1": KEY_HEX})


def test_profile_2_refuses_a_plain_ws_url():
    storage = MemoryStorage()
    trust(storage, trustme.CA())

    async def story(rig, clock):
        await asyncio.sleep(1)
        assert not rig.fw.cp.booted and rig.station.connections == []

    run_secure(story, {"SecurityProfile": 2, "AuthorizationKey": KEY_HEX}, storage, None, scheme="ws")


def test_profile_3_presents_the_charge_point_certificate():
    ca = trustme.CA()
    storage = MemoryStorage()
    trust(storage, ca)
    provision_cp_certificate(storage, ca)

    async def story(rig, clock):
        await booted(rig, clock)
        headers = rig.station.connections[0]["headers"]
        assert headers[":client-subject"]["commonName"] == SERIAL
        assert headers[":client-subject"]["organizationName"] == CPO
        assert "Authorization" not in headers  # profile 3 authenticates by certificate only

    run_secure(story, {"SecurityProfile": 3}, storage, server_context(ca, client_ca=ca))


def test_profile_3_without_a_charge_point_certificate_does_not_connect_and_says_why():
    ca = trustme.CA()
    storage = MemoryStorage()
    trust(storage, ca)

    async def story(rig, clock):
        await until(lambda: "InvalidChargePointCertificate" in pending_events(rig), clock, 10, "event")
        await asyncio.sleep(0.5)
        assert not rig.fw.cp.booted and rig.station.connections == []

    run_secure(story, {"SecurityProfile": 3}, storage, server_context(ca, client_ca=ca))


def test_server_requiring_a_client_certificate_refuses_a_profile_2_charge_point():
    ca = trustme.CA()
    storage = MemoryStorage()
    trust(storage, ca)

    async def story(rig, clock):
        await asyncio.sleep(1.5)
        assert not rig.fw.cp.booted and rig.station.connections == []

    run_secure(story, {"SecurityProfile": 2, "AuthorizationKey": KEY_HEX}, storage,
               server_context(ca, client_ca=ca), passwords={"CP1": KEY_HEX})
