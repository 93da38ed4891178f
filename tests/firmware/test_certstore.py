# portable
# The trust store (InstallCertificate, DeleteCertificate, GetInstalledCertificateIds) and the charge point
# certificate (CertificateSigned) over Storage; a reopen stands for a reboot.
import binascii
import os

from firmware.security import certstore, cpcert, csr, ecdsa, pem, x509
from firmware.security.certstore import CENTRAL_SYSTEM_ROOT as CSR_ROOT, MANUFACTURER_ROOT as MFR
from firmware.security.certstore import CertStore
from firmware.security.cpcert import ChargePointCertificate
from hal.file_storage import FileStorage
from hal.memory import MemoryStorage
from tests.firmware import security_vectors as v
from tests.portable import raises

NOW = v.NOW_S


class FailingStorage(MemoryStorage):
    """Writes and deletes raise OSError once fail is set (a full or worn-out flash)."""

    def __init__(self):
        super().__init__()
        self.fail = False

    def write(self, key, data):
        if self.fail:
            raise OSError(28)  # ENOSPC
        super().write(key, data)

    def delete(self, key):
        if self.fail:
            raise OSError(5)  # EIO
        super().delete(key)


def store_with(*pems, storage=None, **options):
    store = CertStore(storage or MemoryStorage(), **options)
    for kind, text in pems:
        assert store.install(kind, text, NOW) == "Accepted"
    return store


def test_installed_roots_are_listed_by_type_and_survive_a_reboot():
    storage = MemoryStorage()
    store = store_with((CSR_ROOT, v.CS_ROOT), (MFR, v.MFR_ROOT), storage=storage)
    assert store.installed_ids(CSR_ROOT) == ("Accepted", [v.CS_ROOT_HASH])
    again = CertStore(storage)
    assert again.problems == []
    assert again.installed_ids(CSR_ROOT) == ("Accepted", [v.CS_ROOT_HASH])
    assert [c.subject["CN"] for c in again.roots(MFR)] == ["Example Manufacturer Root CA"]
    assert again.installed_ids(MFR)[1][0]["serialNumber"] == "2001"


def test_nothing_installed_is_not_found():
    store = CertStore(MemoryStorage())
    assert store.installed_ids(MFR) == ("NotFound", [])
    raises(ValueError, store.installed_ids, "ChargePointCertificate")
    raises(ValueError, store.install, "V2GRootCertificate", v.CS_ROOT, NOW)


def test_invalid_certificates_are_rejected():
    store = CertStore(MemoryStorage())
    for text in ("garbage", v.CP_LEAF, v.EXPIRED_ROOT, v.CS_ROOT.replace("MII", "MIJ", 1), "",
                 v.SHA384_ROOT):  # the last: a root whose self-signature cannot be checked here
        assert store.install(CSR_ROOT, text, NOW) == "Rejected"  # M05.FR.06
    forged = bytearray(x509.load_pem(v.CS_ROOT).der)
    forged[forged.rfind(b"Root CA")] = ord("B")  # subject "Boot CA": parses, but cannot be its own issuer
    store.install(MFR, v.CS_ROOT, NOW)
    assert x509.Certificate(bytes(forged)).subject["CN"] == "Example CPO Boot CA"
    assert store.install(CSR_ROOT, pem.encode(forged, pem.CERTIFICATE), NOW) == "Rejected"
    assert store.storage.writes == 1  # only the real root


def test_installing_the_same_certificate_twice_keeps_one():
    store = store_with((CSR_ROOT, v.CS_ROOT), (CSR_ROOT, v.CS_ROOT))
    assert len(store.installed_ids(CSR_ROOT)[1]) == 1
    assert store.install(MFR, v.CS_ROOT, NOW) == "Accepted"  # the same certificate, another use
    assert len(store.storage.keys(certstore.PREFIX)) == 2


def test_a_full_store_rejects_and_a_storage_failure_fails():
    store = store_with((CSR_ROOT, v.CS_ROOT), (MFR, v.MFR_ROOT), max_certificates=2)
    assert store.install(CSR_ROOT, v.CS_ROOT2_SELF, NOW) == "Rejected"  # M05.FR.03
    storage = FailingStorage()
    store = CertStore(storage)
    storage.fail = True
    assert store.install(CSR_ROOT, v.CS_ROOT, NOW) == "Failed"  # M05.FR.04
    assert store.installed_ids(CSR_ROOT) == ("NotFound", [])


def test_delete_by_hash_data():
    store = store_with((CSR_ROOT, v.CS_ROOT), (MFR, v.MFR_ROOT))
    wanted = dict(v.CS_ROOT_HASH, issuerNameHash=v.CS_ROOT_HASH["issuerNameHash"].upper())
    assert store.delete(wanted, in_use=[x509.load_pem(v.CS_ROOT).der]) == "Failed"  # M04.FR.06
    assert store.delete(wanted) == "Accepted"
    assert store.delete(wanted) == "NotFound"
    assert store.installed_ids(CSR_ROOT) == ("NotFound", [])
    assert CertStore(store.storage).installed_ids(MFR)[0] == "Accepted"
    assert store.delete(v.CP_LEAF_HASH) == "NotFound"  # M04.FR.05: never the charge point certificate
    assert store.delete({"hashAlgorithm": "SHA256"}) == "NotFound"


def test_a_failed_delete_keeps_the_certificate():
    storage = FailingStorage()
    store = store_with((MFR, v.MFR_ROOT), storage=storage)
    wanted = store.installed_ids(MFR)[1][0]
    storage.fail = True
    assert store.delete(wanted) == "Failed"  # M04.FR.03
    assert store.installed_ids(MFR) == ("Accepted", [wanted])


def test_a_sub_ca_without_its_issuer_can_still_be_listed_and_deleted():
    store = store_with((CSR_ROOT, v.CS_SUB))
    listed = store.installed_ids(CSR_ROOT)[1][0]
    assert listed["issuerNameHash"] == v.CS_SUB_HASH["issuerNameHash"]
    assert listed["serialNumber"] == v.CS_SUB_HASH["serialNumber"]
    assert store.install(CSR_ROOT, v.CS_ROOT, NOW) == "Accepted"
    assert store.installed_ids(CSR_ROOT)[1][0] == v.CS_SUB_HASH  # its issuer is here now
    assert store.delete(v.CS_SUB_HASH) == "Accepted"


def test_damaged_records_are_reported_and_dropped_at_start():
    storage = MemoryStorage()
    store_with((CSR_ROOT, v.CS_ROOT), (MFR, v.MFR_ROOT), storage=storage)
    first = storage.keys(certstore.PREFIX)[0]
    storage.records[first] = storage.records[first][:-10]
    storage.records["sec_ca_9"] = b"CA1\x07\x00" + b"\x30\x00"  # an unknown type code
    again = CertStore(storage)
    assert len(again.problems) == 2
    assert again.installed_ids(CSR_ROOT) == ("NotFound", [])
    assert again.installed_ids(MFR)[0] == "Accepted"
    assert len(storage.keys(certstore.PREFIX)) == 1  # both damaged records deleted
    assert again.install(CSR_ROOT, v.CS_ROOT, NOW) == "Accepted"
    assert "sec_ca_10" in storage.keys(certstore.PREFIX)  # numbers are not reused


def test_additional_root_check_replaces_the_root_only_by_one_it_signed():
    store = store_with((CSR_ROOT, v.CS_ROOT), additional_root_check=True)
    assert store.install(CSR_ROOT, v.CS_ROOT2_SELF, NOW) == "Rejected"  # M05.FR.10
    assert store.install(CSR_ROOT, v.CS_ROOT2_CROSS, NOW) == "Accepted"  # M05.FR.11
    assert len(store.roots(CSR_ROOT)) == 2  # the old one stays as a fallback
    reopened = CertStore(store.storage, additional_root_check=True)
    assert [e.fallback for e in reopened.entries] == [True, False]
    reopened.drop_fallback_roots()  # M05.FR.12
    assert [c.subject["CN"] for c in reopened.roots(CSR_ROOT)] == ["Example CPO Root CA 2"]


# CertificateSigned ----------------------------------------------------------------------------------

def signed_setup(storage=None):
    """A store trusting the CPO root, and the pending key CP_KEY as if a CSR had been sent with it."""
    storage = storage or MemoryStorage()
    store = store_with((CSR_ROOT, v.CS_ROOT), storage=storage)
    storage.write(csr.PENDING_KEY, csr.private_key_der(ecdsa.PrivateKey(v.CP_KEY_D)))
    return storage, ChargePointCertificate(storage, store)


def sign_in(cp, chain_pem, **overrides):
    args = {"now_s": NOW, "serial_number": v.SERIAL_NUMBER, "cpo_name": v.CPO_NAME}
    args.update(overrides)
    return cp.certificate_signed(chain_pem, **args)


def test_a_valid_chain_for_our_key_is_accepted_and_kept():
    storage, cp = signed_setup()
    assert cp.credentials(NOW) is None
    assert sign_in(cp, v.CP_LEAF + v.CS_SUB) == ("Accepted", None)
    creds = cp.credentials(NOW)
    assert creds.leaf.serial == 0xABC and creds.chain_pem == v.CP_LEAF + v.CS_SUB
    assert csr.load_private_key_der(creds.key_der).d == v.CP_KEY_D
    assert storage.read(csr.PENDING_KEY) is None
    again = ChargePointCertificate(storage, CertStore(storage))
    assert again.problems == [] and again.credentials(NOW).leaf.serial == 0xABC


def test_certificates_that_fail_a02_fr_06_are_rejected_with_a_reason():
    cases = [
        (v.CP_LEAF_WRONG_CN + v.CS_SUB, {}, "wrong_subject"),
        (v.CP_LEAF + v.CS_SUB, {"cpo_name": "Other CPO"}, "wrong_subject"),
        (v.CP_LEAF_OTHER_KEY + v.CS_SUB, {}, "key_mismatch"),
        (v.CP_LEAF_EXPIRED + v.CS_SUB, {}, "expired"),
        (v.CP_LEAF, {}, "untrusted"),  # the sub-CA left out
        (v.CP_LEAF + v.ROGUE_SUB, {}, "untrusted"),
        ("not a certificate", {}, "malformed"),
        (v.CP_LEAF + v.CS_SUB, {"max_chain_chars": 1000}, "too_large"),  # CertificateSignedMaxChainSize
        (None, {}, "too_large"),
    ]
    for chain_pem, overrides, why in cases:
        storage, cp = signed_setup()
        assert sign_in(cp, chain_pem, **overrides) == ("Rejected", why), why
        assert cp.credentials(NOW) is None and storage.read(csr.PENDING_KEY) is not None


def test_without_a_pending_csr_nothing_is_accepted():
    storage, cp = signed_setup()
    storage.delete(csr.PENDING_KEY)
    assert sign_in(cp, v.CP_LEAF + v.CS_SUB) == ("Rejected", "no_pending_key")
    storage.write(csr.PENDING_KEY, b"damaged")
    assert sign_in(cp, v.CP_LEAF + v.CS_SUB) == ("Rejected", "no_pending_key")
    assert len(cp.problems) == 1


def test_a_certificate_valid_later_takes_over_when_its_time_comes():
    storage, cp = signed_setup()
    assert sign_in(cp, v.CP_LEAF + v.CS_SUB)[0] == "Accepted"
    storage.write(csr.PENDING_KEY, csr.private_key_der(ecdsa.PrivateKey(v.CP_KEY_D)))
    assert sign_in(cp, v.CP_LEAF_FUTURE + v.CS_SUB) == ("Accepted", None)  # A02.FR.08
    assert cp.credentials(NOW).leaf.serial == 0xABC  # the old one until the new one is valid
    later = NOW + 250 * 86400  # 2026-02-06
    assert cp.credentials(later).leaf.serial == 0xABD
    reopened = ChargePointCertificate(storage, CertStore(storage))
    assert reopened.credentials(NOW).leaf.serial == 0xABC
    assert reopened.credentials(later).leaf.serial == 0xABD


def test_a_damaged_certificate_record_is_reported_and_storage_failure_rejects():
    storage, cp = signed_setup(FailingStorage())
    storage.fail = True
    assert sign_in(cp, v.CP_LEAF + v.CS_SUB) == ("Rejected", "not_stored")
    storage.fail = False
    assert sign_in(cp, v.CP_LEAF + v.CS_SUB)[0] == "Accepted"
    storage.records[cpcert.CURRENT] = storage.records[cpcert.CURRENT][:200]
    again = ChargePointCertificate(storage, CertStore(storage))
    assert len(again.problems) == 1 and again.credentials(NOW) is None


def test_on_files_a_flipped_bit_is_caught_and_the_rest_survives():
    path = "/tmp/evse_certs_" + binascii.hexlify(os.urandom(6)).decode()
    try:
        storage = FileStorage(path)
        store = store_with((CSR_ROOT, v.CS_ROOT), (MFR, v.MFR_ROOT), storage=storage)
        storage.write(csr.PENDING_KEY, csr.private_key_der(ecdsa.PrivateKey(v.CP_KEY_D)))
        assert sign_in(ChargePointCertificate(storage, store), v.CP_LEAF + v.CS_SUB)[0] == "Accepted"
        victim = storage.path(storage.keys(certstore.PREFIX)[1])
        with open(victim, "rb") as f:
            raw = bytearray(f.read())
        raw[300] ^= 0x10
        with open(victim, "wb") as f:
            f.write(raw)
        rebooted = FileStorage(path)
        store = CertStore(rebooted)
        assert len(store.problems) == 1 and rebooted.corrupt == 1
        assert store.installed_ids(CSR_ROOT)[0] == "Accepted" and store.installed_ids(MFR)[0] == "NotFound"
        assert ChargePointCertificate(rebooted, store).credentials(NOW).leaf.serial == 0xABC
    finally:
        for name in os.listdir(path):
            os.remove(path + "/" + name)
        os.rmdir(path)
