# portable
# X.509 parsing, OCPP CertificateHashData, signatures on certificates and chain validation
# (firmware/security/x509.py, chain.py) on the fixed vectors of tests/firmware/security_vectors.py.
from firmware import timefmt
from firmware.security import chain, pem, x509
from firmware.security.chain import CertError, verify_chain
from tests.firmware import security_vectors as v
from tests.portable import raises

NOW = v.NOW_S


def load(text):
    return x509.load_pem(text)


def reason(fn, *args, **kwargs):
    return raises(CertError, fn, *args, **kwargs).reason


def test_a_root_reads_as_a_self_issued_ca_with_an_ec_key():
    root = load(v.CS_ROOT)
    assert root.version == 3 and root.serial == 0x1001
    assert root.subject == {"O": "Example CPO", "CN": "Example CPO Root CA"}
    assert root.self_issued() and root.is_ca and root.can_sign_certificates()
    assert root.key_type == "ec" and len(root.key_bits) == 65
    assert root.not_before == timefmt.parse("2024-01-01T00:00:00Z")
    assert root.not_after == timefmt.parse("2060-01-01T00:00:00Z")  # a GeneralizedTime
    assert root.signature_scheme == ("ecdsa", None)
    assert root.pem() == v.CS_ROOT


def test_sub_ca_and_leaf_fields():
    sub = load(v.CS_SUB)
    leaf = load(v.CP_LEAF)
    assert sub.key_type == "rsa" and sub.public_key[1] == 65537 and sub.path_len == 0
    assert sub.issuer_der == load(v.CS_ROOT).subject_der and not sub.self_issued()
    assert leaf.subject["CN"] == v.SERIAL_NUMBER and leaf.subject["O"] == v.CPO_NAME
    assert not leaf.is_ca and not leaf.can_sign_certificates()
    assert leaf.signature_scheme == ("pss", 32)
    assert leaf.public_key == v.CP_KEY_XY
    assert "%X" % leaf.serial == "ABC"


def test_hash_data_matches_the_ocsp_cert_id_computed_by_cryptography():
    root, sub, leaf = load(v.CS_ROOT), load(v.CS_SUB), load(v.CP_LEAF)
    assert x509.hash_data(root) == v.CS_ROOT_HASH
    assert x509.hash_data(sub, root) == v.CS_SUB_HASH
    assert x509.hash_data(leaf, sub) == v.CP_LEAF_HASH
    assert v.CP_LEAF_HASH["serialNumber"] == "ABC"  # hex, no leading zeros (whitepaper ed. 3, 6.1)
    raises(ValueError, x509.hash_data, leaf)  # not self-issued: the issuer's key is needed
    raises(ValueError, x509.hash_data, leaf, root)  # not its issuer


def test_hash_data_comparison_is_case_insensitive_and_ignores_leading_zeros():
    mine = v.CP_LEAF_HASH
    theirs = dict(mine, issuerKeyHash=mine["issuerKeyHash"].upper(), serialNumber="0abc")
    assert x509.same_hash_data(mine, theirs)
    assert not x509.same_hash_data(mine, dict(mine, serialNumber="ABD"))
    assert not x509.same_hash_data(mine, dict(mine, hashAlgorithm="SHA384"))
    assert not x509.same_hash_data(mine, {"hashAlgorithm": "SHA256"})
    assert not x509.same_hash_data(mine, dict(mine, serialNumber="xyz"))


def test_signatures_verify_with_the_issuer_key_only():
    root, sub, leaf = load(v.CS_ROOT), load(v.CS_SUB), load(v.CP_LEAF)
    chain.verify_signed_by(sub, root)  # ECDSA P-256
    chain.verify_signed_by(leaf, sub)  # RSA-PSS
    chain.verify_signed_by(root, root)
    chain.verify_signed_by(load(v.FW_RSA), load(v.MFR_ROOT))  # RSA PKCS#1 v1.5
    assert reason(chain.verify_signed_by, leaf, root) == chain.UNTRUSTED  # names do not chain
    # The rogue sub-CA copies the real one's name and key, so one step verifies; only the path to an
    # installed root tells them apart (test_chain_failures_name_their_reason).
    chain.verify_signed_by(leaf, load(v.ROGUE_SUB))


def test_a_changed_byte_breaks_the_signature():
    der_bytes = bytearray(load(v.CP_LEAF).der)
    at = der_bytes.find(b"CP-0001")
    der_bytes[at + 6] = ord("2")  # CN=CP-0002
    forged = x509.Certificate(bytes(der_bytes))
    assert forged.subject["CN"] == "CP-0002"
    assert reason(chain.verify_signed_by, forged, load(v.CS_SUB)) == chain.BAD_SIGNATURE


def test_a_chain_validates_up_to_an_installed_root():
    root, sub, leaf = load(v.CS_ROOT), load(v.CS_SUB), load(v.CP_LEAF)
    assert verify_chain([leaf, sub], [load(v.MFR_ROOT), root], NOW) is root
    assert verify_chain([leaf, sub, root], [root], NOW) is root  # the root sent along is matched
    assert verify_chain([sub], [root], NOW) is root


def test_chain_failures_name_their_reason():
    root, sub = load(v.CS_ROOT), load(v.CS_SUB)
    leaf = load(v.CP_LEAF)
    assert reason(verify_chain, [leaf], [root], NOW) == chain.UNTRUSTED  # the sub-CA is missing
    assert reason(verify_chain, [leaf, sub], [load(v.MFR_ROOT)], NOW) == chain.UNTRUSTED
    assert reason(verify_chain, [leaf, load(v.ROGUE_SUB)], [root], NOW) == chain.UNTRUSTED
    assert reason(verify_chain, [load(v.CP_LEAF_EXPIRED), sub], [root], NOW) == chain.EXPIRED
    assert reason(verify_chain, [leaf, sub], [root], timefmt.parse("2027-06-01T00:00:00Z")) == chain.EXPIRED
    future = load(v.CP_LEAF_FUTURE)
    assert reason(verify_chain, [future, sub], [root], NOW) == chain.NOT_YET_VALID
    assert verify_chain([future, sub], [root], NOW, leaf_may_be_future=True) is root
    assert reason(verify_chain, [sub, leaf], [root], NOW) == chain.NOT_CA  # a leaf cannot issue
    assert reason(verify_chain, [], [root], NOW) == chain.MALFORMED
    assert reason(verify_chain, [leaf] * 7, [root], NOW) == chain.MALFORMED
    expired_root = load(v.EXPIRED_ROOT)
    assert reason(verify_chain, [expired_root], [expired_root], NOW) == chain.EXPIRED


def test_an_unsupported_algorithm_parses_but_never_verifies():
    root = load(v.SHA384_ROOT)  # ecdsa-with-SHA384: no SHA-384 in MicroPython's hashlib
    assert root.signature_scheme == ("unsupported", "1.2.840.10045.4.3.3")
    assert reason(chain.verify_signed_by, root, root) == chain.UNSUPPORTED
    x509.hash_data(root)  # it can still be listed and deleted


def test_malformed_certificates_raise_value_errors():
    good = load(v.CS_SUB).der
    raises(ValueError, x509.load_pem, "garbage")
    raises(ValueError, x509.Certificate, good[:-1])
    raises(ValueError, x509.Certificate, good + b"\x00")
    raises(ValueError, x509.Certificate, b"\x30\x03\x02\x01\x00")
    raises(ValueError, x509.load_pem, pem.encode(b"\x30\x00", pem.CERTIFICATE))
    assert len(x509.load_pem_chain(v.CP_LEAF + v.CS_SUB)) == 2
