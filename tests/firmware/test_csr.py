# portable
# The PKCS#10 request for SignCertificate.req and the charge point key in Storage (firmware/security/csr.py).
import hashlib

from firmware.security import csr, der, ecdsa, pem, x509
from hal.memory import MemoryStorage
from tests.firmware import security_vectors as v
from tests.portable import raises


def counting_random(start=1):
    state = [start]

    def random_bytes(count):
        state[0] += 1
        return hashlib.sha256(b"seed %d" % state[0]).digest()[:count]
    return random_bytes


def read_csr(text):
    """(info element, subject dict, public point, signature) of a PEM CSR, read with our own DER."""
    request = der.Element(pem.decode(text, pem.CERTIFICATE_REQUEST))
    info, algorithm, sig = request.sequence("CertificationRequest", 3, 3)
    version, subject, spki, attributes = info.sequence("CertificationRequestInfo", 4, 4)
    assert version.integer() == 0
    assert attributes.tag == der.context_tag(0) and attributes.value() == b""
    assert x509.read_algorithm(algorithm) == (x509.ECDSA_WITH_SHA256, None)
    key_algorithm, key_bits = spki.sequence("SubjectPublicKeyInfo", 2, 2)
    assert key_algorithm.children()[1].oid() == x509.PRIME256V1
    point = ecdsa.decode_point(key_bits.bit_string())
    return info, x509.read_name(subject), point, sig.bit_string()


def test_a_csr_carries_the_serial_the_cpo_name_and_a_valid_signature():
    storage = MemoryStorage()
    text = csr.new_request(storage, v.SERIAL_NUMBER, v.CPO_NAME, counting_random())
    assert text.startswith("-----BEGIN CERTIFICATE REQUEST-----\n") and len(text) < csr.CSR_CHARS_MAX
    info, subject, point, sig = read_csr(text)
    assert subject == {"O": v.CPO_NAME, "CN": v.SERIAL_NUMBER}  # A02.FR.13, A00.FR.511
    key = csr.pending_key(storage)
    assert point == key.public_point()
    r, s = ecdsa.decode_signature(sig)
    assert ecdsa.verify(point[0], point[1], hashlib.sha256(info.raw()).digest(), r, s)


def test_every_request_gets_a_new_key_and_the_same_randomness_the_same_csr():
    first_storage, second_storage = MemoryStorage(), MemoryStorage()
    first = csr.new_request(first_storage, "CP-1", "CPO", counting_random(10))
    again = csr.new_request(second_storage, "CP-1", "CPO", counting_random(10))
    assert first == again  # RFC 6979: no randomness in the signature itself
    other = csr.new_request(first_storage, "CP-1", "CPO", counting_random(20))
    assert other != first  # A02.FR.02: a new key pair for each request
    assert csr.pending_key(first_storage).d != csr.pending_key(second_storage).d


def test_the_key_is_kept_as_pkcs8_and_never_shown():
    storage = MemoryStorage()
    csr.new_request(storage, "CP-1", "CPO", counting_random())
    raw = storage.read(csr.PENDING_KEY)
    key = csr.load_private_key_der(raw)
    assert csr.private_key_der(key) == raw
    assert "%x" % key.d not in repr(key) and "%X" % key.d not in repr(key)
    theirs = csr.load_private_key_der(pem.decode(v.CP_KEY_PEM, pem.PRIVATE_KEY))  # written by cryptography
    assert theirs.d == v.CP_KEY_D and theirs.public_point() == v.CP_KEY_XY
    assert csr.load_private_key_der(csr.private_key_der(theirs)).d == v.CP_KEY_D


def test_bad_subject_names_are_refused_before_anything_is_stored():
    storage = MemoryStorage()
    for cn, org in (("", "CPO"), ("CP-1", ""), ("x" * 65, "CPO"), ("CP-1", "o" * 65),
                    ("wss://cs.example.com", "CPO"), ("192.168.1.20", "CPO"), (None, "CPO"), ("CP", None)):
        raises(ValueError, csr.new_request, storage, cn, org, counting_random())
    assert storage.writes == 0 and csr.pending_key(storage) is None
    csr.new_request(storage, "1234567890", "CPO", counting_random())  # an all-digit serial is fine


def test_a_damaged_key_record_is_reported_not_used():
    storage = MemoryStorage()
    csr.new_request(storage, "CP-1", "CPO", counting_random())
    raw = storage.read(csr.PENDING_KEY)
    for damaged in (raw[:-3], raw[:40], b"", b"\x30\x00", raw.replace(bytes.fromhex("06082a8648ce3d030107"),
                                                                           bytes.fromhex("06082a8648ce3d030108"))):
        storage.write(csr.PENDING_KEY, damaged)
        raises(ValueError, csr.pending_key, storage)


def test_no_random_source_is_a_clear_error():
    raises(ValueError, csr.generate_key, lambda count: b"")
