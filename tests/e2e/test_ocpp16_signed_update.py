"""SignedUpdateFirmware end to end (OCPP 1.6 security whitepaper, secure firmware update; firmware/ocpp/
signed16.py): a manufacturer root and signing certificates made here with `cryptography` (EC P-256 and
RSA-2048), the root installed with InstallCertificate(ManufacturerRootCertificate), images signed with
SHA-256 and served by sim/file_server.py on 127.0.0.1. Every frame is validated by the `ocpp` package
(station.errors empty). Wall clock; no test asserts how long anything took."""

import asyncio
import base64
import datetime

import pytest
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from firmware.ocpp.firmware_update import make_image
from sim.file_server import FileServer
from tests.e2e.test_ocpp16_firmware import boot_versions, run_real
from tests.e2e.test_stories import booted, until

GOOD = make_image(b"signed firmware " * 2000, "0.3.0")
FULL = ["Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"]
MANUFACTURER_ROOT = "ManufacturerRootCertificate"


def _name(cn):
    return cx509.Name([cx509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Maker"),
                       cx509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject_key, subject, issuer_key, issuer, ca):
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    builder = (cx509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(subject_key.public_key()).serial_number(cx509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=365))
               .add_extension(cx509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(cx509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                        critical=True)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


class Maker:
    """A manufacturer: a root CA (EC P-256) and a firmware signing certificate (EC or RSA) under it."""

    def __init__(self, name="Maker", signer="ec"):
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root_pem = _cert(self.root_key, name + " Root", self.root_key, name + " Root", True)
        self.key = ec.generate_private_key(ec.SECP256R1()) if signer == "ec" else \
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.cert_pem = _cert(self.key, name + " Firmware Signing", self.root_key, name + " Root", False)

    def sign(self, image):
        if isinstance(self.key, ec.EllipticCurvePrivateKey):
            raw = self.key.sign(image, ec.ECDSA(hashes.SHA256()))
        else:
            raw = self.key.sign(image, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()


@pytest.fixture(scope="module")
def maker():
    return Maker()


@pytest.fixture
def server():
    with FileServer(files={"/fw.bin": GOOD}) as srv:
        yield srv


def signed_statuses(station, request_id=None):
    return [s["status"] for s in station.signed_firmware_statuses
            if request_id is None or s["request_id"] == request_id]


def firmware(server, clock, maker, path="/fw.bin", image=GOOD, signature=None, cert=None):
    return {"location": server.url(path), "retrieveDateTime": clock.utc(),
            "signingCertificate": cert or maker.cert_pem, "signature": signature or maker.sign(image)}


async def trust(rig, maker):
    assert await rig.station.install_certificate(MANUFACTURER_ROOT, maker.root_pem) == {"status": "Accepted"}


def events(rig):
    return [e["type"] for e in rig.station.security_events]


@pytest.mark.parametrize("signer", ["ec", "rsa"])
def test_a_signed_image_is_verified_installed_and_booted(server, signer):
    maker = Maker(signer=signer)

    async def story(rig, clock):
        await booted(rig, clock)
        await trust(rig, maker)
        answer = await rig.station.signed_update_firmware(11, firmware(server, clock, maker))
        assert answer == {"status": "Accepted"}
        await until(lambda: len(boot_versions(rig.station)) == 2, clock, 30, "the second BootNotification")
        assert signed_statuses(rig.station) == FULL
        assert {s["request_id"] for s in rig.station.signed_firmware_statuses} == {11}
        assert rig.station.firmware_statuses == []  # a signed job speaks SignedFirmwareStatusNotification only
        assert boot_versions(rig.station) == ["0.1.0", "0.3.0"]
        await until(lambda: "FirmwareUpdated" in events(rig), clock, 10, "FirmwareUpdated")

    run_real(story)


def test_a_tampered_image_is_invalid_signature_and_nothing_is_installed(server, maker):
    server.files["/bad.bin"] = make_image(b"signed firmware " * 1999 + b"evil firmware!! ", "0.3.0")

    async def story(rig, clock):
        await booted(rig, clock)
        await trust(rig, maker)
        # Signed over GOOD, served something else (a valid image on its own: only the signature tells)
        answer = await rig.station.signed_update_firmware(12, firmware(server, clock, maker, "/bad.bin",
                                                                       signature=maker.sign(GOOD)))
        assert answer == {"status": "Accepted"}
        await until(lambda: signed_statuses(rig.station)[-1:] == ["InvalidSignature"], clock, 30, "InvalidSignature")
        assert signed_statuses(rig.station) == ["Downloading", "Downloaded", "InvalidSignature"]
        await until(lambda: "InvalidFirmwareSignature" in events(rig), clock, 10, "the security event")
        await asyncio.sleep(1)
        assert rig.resets == [] and rig.fw.cp.fwmgmt.update.running_version() == "0.1.0"
        # Nothing runs now: a triggered status is the plain Idle.
        assert await rig.station.extended_trigger_message("FirmwareStatusNotification") == {"status": "Accepted"}
        await until(lambda: rig.station.firmware_statuses, clock, 10, "triggered status")
        assert rig.station.firmware_statuses[-1]["status"] == "Idle"

    run_real(story)


def test_a_signing_certificate_from_an_unknown_root_is_invalid_certificate(server, maker):
    stranger = Maker("Stranger")

    async def story(rig, clock):
        await booted(rig, clock)
        await trust(rig, maker)
        answer = await rig.station.signed_update_firmware(13, firmware(server, clock, stranger))
        assert answer == {"status": "InvalidCertificate"}
        await until(lambda: "InvalidFirmwareSigningCertificate" in events(rig), clock, 10, "the security event")
        await asyncio.sleep(0.5)
        assert signed_statuses(rig.station) == [] and server.requests == []

    run_real(story)


def test_without_a_manufacturer_root_every_signing_certificate_is_invalid(server, maker):
    async def story(rig, clock):
        await booted(rig, clock)
        answer = await rig.station.signed_update_firmware(14, firmware(server, clock, maker))
        assert answer == {"status": "InvalidCertificate"}

    run_real(story)


def test_a_signature_that_is_not_base64_is_rejected(server, maker):
    async def story(rig, clock):
        await booted(rig, clock)
        await trust(rig, maker)
        answer = await rig.station.signed_update_firmware(15, firmware(server, clock, maker, signature="not*base64!"))
        assert answer == {"status": "Rejected"}
        await asyncio.sleep(0.5)
        assert signed_statuses(rig.station) == [] and server.requests == []

    run_real(story)


def test_a_second_request_cancels_the_first_and_a_trigger_reports_the_signed_status(server, maker):
    async def story(rig, clock):
        await booted(rig, clock)
        await trust(rig, maker)
        later = dict(firmware(server, clock, maker))
        later["retrieveDateTime"] = "2099-01-01T00:00:00Z"  # waits: DownloadScheduled
        assert await rig.station.signed_update_firmware(21, later) == {"status": "Accepted"}
        await until(lambda: signed_statuses(rig.station) == ["DownloadScheduled"], clock, 10, "DownloadScheduled")
        assert await rig.station.extended_trigger_message("FirmwareStatusNotification") == {"status": "Accepted"}
        await until(lambda: len(signed_statuses(rig.station)) == 2, clock, 10, "triggered signed status")
        assert rig.station.signed_firmware_statuses[-1]["status"] == "DownloadScheduled"
        assert rig.station.signed_firmware_statuses[-1]["request_id"] == 21
        answer = await rig.station.signed_update_firmware(22, firmware(server, clock, maker))
        assert answer == {"status": "AcceptedCanceled"}
        await until(lambda: len(boot_versions(rig.station)) == 2, clock, 30, "the reboot")
        assert signed_statuses(rig.station, 22) == FULL
        assert signed_statuses(rig.station, 21) == ["DownloadScheduled", "DownloadScheduled"]
        assert boot_versions(rig.station)[-1] == "0.3.0"

    run_real(story)
