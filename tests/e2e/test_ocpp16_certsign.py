"""OCPP 1.6 security whitepaper use cases A02/A03 end to end: ExtendedTriggerMessage(SignChargePointCertificate)
-> SignCertificate.req with a CSR, the CSMS's CA signs it (cryptography, tests/e2e/test_ocpp16_security.py's
sign_csr), CertificateSigned.req -> Accepted, kept across a reboot and presented at the next profile-3
connection (mutual TLS on 127.0.0.1); bad chains Rejected with InvalidChargePointCertificate; the
CentralSystemRoot rollover (AdditionalRootCertificateCheck) dropping the fallback root once the new one
worked. Wall clock (the certificates are made for now); every frame validated (station errors empty)."""

import asyncio

import trustme
from cryptography import x509 as cx509
from cryptography.x509.oid import NameOID

from firmware.security import csr
from firmware.security.certstore import CertStore
from hal.sim import MemoryStorage
from tests.e2e.test_ocpp16_security import (CPO, KEY_HEX, SERIAL, booted, delivered_events,
                                            provision_cp_certificate, run_secure, server_context, sign_csr,
                                            trust)
from tests.e2e.test_stories import until

PROFILE_1 = {"SecurityProfile": 1, "AuthorizationKey": KEY_HEX, "CpoName": CPO}
PASSWORDS = {"CP1": KEY_HEX}


async def sign_request(rig, clock):
    """Trigger a SignCertificate.req and return its CSR (PEM)."""
    st = rig.station
    before = len(st.sign_requests)
    assert await st.extended_trigger_message("SignChargePointCertificate") == {"status": "Accepted"}
    await until(lambda: len(st.sign_requests) > before, clock, 10, "SignCertificate.req")
    return st.sign_requests[-1]["csr"]


def peer_serial(rig):
    """The serial number of the client certificate the CSMS sees on the open connection."""
    peer = rig.station._wire.connection.transport.get_extra_info("peercert")
    return int(peer["serialNumber"], 16)


def check_csr(csr_pem, storage):
    request = cx509.load_pem_x509_csr(csr_pem.encode())
    assert request.is_signature_valid
    assert request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == SERIAL
    assert request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CPO
    x, y = csr.pending_key(storage).public_point()  # the key it asks for is the one kept for it
    numbers = request.public_key().public_numbers()
    assert (numbers.x, numbers.y) == (x, y)


def test_sign_certificate_then_certificate_signed_is_kept_and_used_for_profile_3():
    ca = trustme.CA()
    storage = MemoryStorage()
    trust(storage, ca)
    provision_cp_certificate(storage, ca)  # profile 3 needs one to start with

    async def story(rig, clock):
        await booted(rig, clock)
        old_serial = peer_serial(rig)
        csr_pem = await sign_request(rig, clock)
        check_csr(csr_pem, storage)
        chain = sign_csr(ca, csr_pem)
        new_serial = cx509.load_pem_x509_certificate(chain.encode()).serial_number
        assert new_serial != old_serial
        assert await rig.station.certificate_signed(chain) == {"status": "Accepted"}
        assert storage.read(csr.PENDING_KEY) is None  # the key moved next to its certificate
        assert peer_serial(rig) == old_serial  # the open connection is left alone
        connections = len(rig.station.connections)
        await rig.reboot("test")
        await until(lambda: rig.fw.cp.booted and rig.station.connected and len(rig.station.connections)
                    > connections, clock, 20, "booted again")
        assert rig.fw.cp.security.cp_certificate().current.chain_pem == chain  # kept in storage
        assert peer_serial(rig) == new_serial  # and presented at the next connection
        assert rig.station.connections[-1]["headers"][":client-subject"]["commonName"] == SERIAL

    run_secure(story, {"SecurityProfile": 3, "CpoName": CPO}, storage, server_context(ca, client_ca=ca))


def test_bad_chains_are_rejected_with_a_security_event():
    ca = trustme.CA()
    storage = MemoryStorage()
    trust(storage, ca)

    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        csr_pem = await sign_request(rig, clock)
        # A chain for another key (someone else's CSR with the same subject).
        other = sign_csr(ca, csr.new_request(MemoryStorage(), SERIAL, CPO))
        assert await st.certificate_signed(other) == {"status": "Rejected"}
        await until(lambda: "InvalidChargePointCertificate" in delivered_events(rig), clock, 10, "event")
        # Garbage, and a PEM block that is no certificate.
        assert await st.certificate_signed("hello") == {"status": "Rejected"}
        garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
        assert await st.certificate_signed(garbage) == {"status": "Rejected"}
        # Signed by a CA the charge point does not trust.
        assert await st.certificate_signed(sign_csr(trustme.CA(), csr_pem)) == {"status": "Rejected"}
        await until(lambda: delivered_events(rig).count("InvalidChargePointCertificate") == 4, clock, 10,
                    "one event per rejected chain")
        assert rig.fw.cp.security.cp_certificate().current is None
        # The right one is still accepted afterwards: the pending key survived the rejections.
        assert await st.certificate_signed(sign_csr(ca, csr_pem)) == {"status": "Accepted"}
        assert st.errors == []

    run_secure(story, PROFILE_1, storage, passwords=PASSWORDS)


def test_a_chain_longer_than_certificate_signed_max_chain_size_is_rejected():
    ca = trustme.CA()
    storage = MemoryStorage()
    trust(storage, ca)

    async def story(rig, clock):
        await booted(rig, clock)
        leaf = sign_csr(ca, await sign_request(rig, clock))
        chain = leaf + ca.cert_pem.bytes().decode()  # leaf + CA: valid, but over the limit below
        assert len(leaf) <= 1000 < len(chain)
        assert await rig.station.certificate_signed(chain) == {"status": "Rejected"}
        await until(lambda: "InvalidChargePointCertificate" in delivered_events(rig), clock, 10, "event")
        assert await rig.station.certificate_signed(leaf) == {"status": "Accepted"}

    config = dict(PROFILE_1, CertificateSignedMaxChainSize=1000)  # a read-only key: the test's firmware value
    run_secure(story, config, storage, passwords=PASSWORDS)


def test_cpo_name_is_set_by_the_csms_and_an_empty_one_refuses_the_trigger():
    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        # No CpoName yet: no CSR can be made (its O would be empty), so the trigger is Rejected.
        assert await st.extended_trigger_message("SignChargePointCertificate") == {"status": "Rejected"}
        await asyncio.sleep(0.2)
        assert st.sign_requests == [] and rig.storage.read(csr.PENDING_KEY) is None
        assert await st.change_configuration("CpoName", "x" * 65) == {"status": "Rejected"}  # over 64 bytes
        assert await st.change_configuration("CpoName", CPO) == {"status": "Accepted"}
        assert (await st.get_configuration(["CpoName"]))["configurationKey"][0]["value"] == CPO
        check_csr(await sign_request(rig, clock), rig.storage)
        # A CSMS that refuses the request: nothing else happens (one request per trigger).
        st.sign_certificate_status = "Rejected"
        await sign_request(rig, clock)
        await asyncio.sleep(0.2)
        assert [r["status"] for r in st.sign_requests] == ["Accepted", "Rejected"]
        assert st.errors == []

    run_secure(story, {"SecurityProfile": 1, "AuthorizationKey": KEY_HEX}, passwords=PASSWORDS)


def test_a_new_root_replaces_the_old_one_once_a_connection_used_it():
    old_ca = trustme.CA()
    new_ca = old_ca.create_child_ca()  # a new root signed by the old one (M05.FR.09-10)
    storage = MemoryStorage()
    trust(storage, old_ca)
    server = server_context(new_ca)  # the CSMS already presents a certificate of the new hierarchy

    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        new_pem = new_ca.cert_pem.bytes().decode()
        assert await st.install_certificate("CentralSystemRootCertificate", new_pem) == {"status": "Accepted"}
        store = rig.fw.cp.security.store()
        assert [e.fallback for e in store.entries] == [True, False]  # the old one kept as the fallback
        connections = len(st.connections)
        await st.disconnect()
        await until(lambda: st.connected and len(st.connections) > connections + 1, clock, 20, "reconnected")
        # M05.FR.12: the new root worked alone (the charge point learns it a moment after the CSMS does)
        await until(lambda: [e.fallback for e in store.entries] == [False], clock, 10, "fallback dropped")
        assert len(CertStore(storage).roots("CentralSystemRootCertificate")) == 1  # and it is gone from storage

    config = {"SecurityProfile": 2, "AuthorizationKey": KEY_HEX, "AdditionalRootCertificateCheck": True}
    run_secure(story, config, storage, server, passwords=PASSWORDS)


def test_a_new_root_that_does_not_verify_the_server_falls_back_to_the_old_one():
    old_ca = trustme.CA()
    new_ca = old_ca.create_child_ca()
    storage = MemoryStorage()
    trust(storage, old_ca)

    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        new_pem = new_ca.cert_pem.bytes().decode()
        assert await st.install_certificate("CentralSystemRootCertificate", new_pem) == {"status": "Accepted"}
        connections = len(st.connections)
        await st.disconnect()  # the server's certificate is from the old CA: the new root alone fails
        await until(lambda: st.connected and len(st.connections) > connections + 1, clock, 30, "reconnected")
        store = rig.fw.cp.security.store()
        assert sorted(e.fallback for e in store.entries) == [False, True]  # both kept

    config = {"SecurityProfile": 2, "AuthorizationKey": KEY_HEX, "AdditionalRootCertificateCheck": True}
    run_secure(story, config, storage, server_context(old_ca), passwords=PASSWORDS)


def test_the_store_limit_is_certificate_store_max_length():
    storage = MemoryStorage()

    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        pems = [trustme.CA().cert_pem.bytes().decode() for _ in range(3)]
        assert await st.install_certificate("ManufacturerRootCertificate", pems[0]) == {"status": "Accepted"}
        assert await st.install_certificate("ManufacturerRootCertificate", pems[1]) == {"status": "Accepted"}
        assert await st.install_certificate("ManufacturerRootCertificate", pems[2]) == {"status": "Rejected"}

    config = dict(PROFILE_1, CertificateStoreMaxLength=2)  # a read-only key: the test's firmware value
    run_secure(story, config, storage, passwords=PASSWORDS)
