"""OCPP 1.6 security whitepaper certificate management end to end (use cases M03-M05): InstallCertificate,
GetInstalledCertificateIds and DeleteCertificate from the embedded CSMS to the rig in virtual time, with
CA certificates made by trustme. Every frame is validated by the `ocpp` package (station.errors empty);
hash data is checked against cryptography's OCSP CertID, an implementation independent of the firmware's."""

import trustme
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

from tests.e2e.test_stories import booted, run

CSMS_ROOT = "CentralSystemRootCertificate"
MANUFACTURER_ROOT = "ManufacturerRootCertificate"


def pem_of(ca):
    return ca.cert_pem.bytes().decode()


def cert_id(ca):
    """CertificateHashDataType of a root as RFC 6960 CertID computes it (issuer = itself)."""
    cert = cx509.load_pem_x509_certificate(ca.cert_pem.bytes())
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, cert, hashes.SHA256()).build()
    return {"hashAlgorithm": "SHA256", "issuerNameHash": request.issuer_name_hash.hex(),
            "issuerKeyHash": request.issuer_key_hash.hex(), "serialNumber": "%X" % request.serial_number}


def same(a, b):
    return {k: v.upper() for k, v in a.items()} == {k: v.upper() for k, v in b.items()}


def check_frames(rig):
    assert rig.station.errors == []


def test_installed_root_is_listed_with_its_hash_data():
    ca = trustme.CA()

    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        assert await st.install_certificate(CSMS_ROOT, pem_of(ca)) == {"status": "Accepted"}
        listed = await st.get_installed_certificate_ids(CSMS_ROOT)
        assert listed["status"] == "Accepted"
        assert len(listed["certificateHashData"]) == 1
        assert same(listed["certificateHashData"][0], cert_id(ca))
        # The other type is still empty: NotFound, and no hash data list at all (minItems 1).
        assert await st.get_installed_certificate_ids(MANUFACTURER_ROOT) == {"status": "NotFound"}
        check_frames(rig)

    run(story)


def test_garbage_and_non_ca_certificates_are_rejected():
    ca = trustme.CA()
    leaf = ca.issue_cert("example.org")

    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        garbage = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"
        assert await st.install_certificate(CSMS_ROOT, garbage) == {"status": "Rejected"}
        assert await st.install_certificate(CSMS_ROOT, "hello") == {"status": "Rejected"}
        leaf_pem = leaf.cert_chain_pems[0].bytes().decode()
        assert await st.install_certificate(MANUFACTURER_ROOT, leaf_pem) == {"status": "Rejected"}
        assert await st.get_installed_certificate_ids(CSMS_ROOT) == {"status": "NotFound"}
        assert await st.get_installed_certificate_ids(MANUFACTURER_ROOT) == {"status": "NotFound"}
        check_frames(rig)

    run(story)


def test_delete_by_hash_data_then_not_found():
    kept, deleted = trustme.CA(), trustme.CA()

    async def story(rig, clock):
        await booted(rig, clock)
        st = rig.station
        assert await st.install_certificate(MANUFACTURER_ROOT, pem_of(kept)) == {"status": "Accepted"}
        assert await st.install_certificate(MANUFACTURER_ROOT, pem_of(deleted)) == {"status": "Accepted"}
        assert len((await st.get_installed_certificate_ids(MANUFACTURER_ROOT))["certificateHashData"]) == 2
        # Upper-case hex as a CSMS may send it: CiString, compared case-insensitively.
        target = {k: v.upper() for k, v in cert_id(deleted).items()}
        assert await st.delete_certificate(target) == {"status": "Accepted"}
        assert await st.delete_certificate(target) == {"status": "NotFound"}
        listed = await st.get_installed_certificate_ids(MANUFACTURER_ROOT)
        assert listed["status"] == "Accepted" and len(listed["certificateHashData"]) == 1
        assert same(listed["certificateHashData"][0], cert_id(kept))
        check_frames(rig)

    run(story)


def test_a_request_breaking_the_schema_gets_a_callerror():
    async def story(rig, clock):
        await booted(rig, clock)
        frame = '[2,"bad-1","GetInstalledCertificateIds",{"certificateType":"ChargePointCertificate"}]'
        reply = await rig.station.send_raw(frame)
        assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation"
        frame = '[2,"bad-2","DeleteCertificate",{"certificateHashData":{"hashAlgorithm":"SHA256"}}]'
        reply = await rig.station.send_raw(frame)
        assert reply[0] == 4 and reply[2] == "ProtocolError"
        assert [e["code"] for e in rig.station.errors] == ["PropertyConstraintViolation", "ProtocolError"]

    run(story, expect_errors=True)  # the two CALLERRORs are recorded as the CSMS's errors


def test_installed_roots_survive_a_reboot():
    ca = trustme.CA()

    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.install_certificate(CSMS_ROOT, pem_of(ca)) == {"status": "Accepted"}
        await rig.reboot("power")
        await booted(rig, clock)
        listed = await rig.station.get_installed_certificate_ids(CSMS_ROOT)
        assert listed["status"] == "Accepted"
        assert [same(h, cert_id(ca)) for h in listed["certificateHashData"]] == [True]
        check_frames(rig)

    run(story)


def test_the_only_root_a_profile_2_connection_relies_on_is_not_deleted():
    # Real TLS on 127.0.0.1 and the wall clock, as in test_ocpp16_security.py (M04.FR.06).
    from hal.sim import MemoryStorage
    from tests.e2e.test_ocpp16_security import KEY_HEX, run_secure, server_context, trust
    from tests.e2e.test_ocpp16_security import booted as booted_secure

    ca = trustme.CA()
    storage = MemoryStorage()
    trust(storage, ca)

    async def story(rig, clock):
        await booted_secure(rig, clock)
        st = rig.station
        assert await st.delete_certificate(cert_id(ca)) == {"status": "Failed"}
        assert (await st.get_installed_certificate_ids(CSMS_ROOT))["status"] == "Accepted"
        check_frames(rig)

    run_secure(story, {"SecurityProfile": 2, "AuthorizationKey": KEY_HEX}, storage, server_context(ca),
               passwords={"CP1": KEY_HEX})
