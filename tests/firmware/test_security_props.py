"""The security cores against a real peer, the `cryptography` package (and trustme, built on it):
for fresh keys, certificates and messages, what cryptography signs verifies here and every tampered
byte is refused; what this code signs (ECDSA, CSRs) verifies with cryptography; hash data equals the
OCSP CertID cryptography computes. Then Hypothesis feeds random, truncated and mutated DER and PEM to
every parser and entry point: the only exceptions allowed out are ValueError and its subclasses
(DerError, PemError, CertError, FirmwareSignatureError), and the OCPP-facing calls raise nothing."""

import datetime
import hashlib

import trustme
from cryptography import x509 as cx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware.security import certstore, chain, csr, der, ecdsa, pem, signature, x509
from firmware.security import rsa as my_rsa
from firmware.security.cpcert import ChargePointCertificate
from hal.memory import MemoryStorage
from tests.firmware import security_vectors as v

UTC = datetime.timezone.utc
START = datetime.datetime(2024, 1, 1, tzinfo=UTC)
NOW_S = v.NOW_S
RSA_KEYS = [rsa.generate_private_key(65537, bits) for bits in (2048, 2057, 3072)]  # 2057: emLen < k in PSS
EC_KEY = ec.generate_private_key(ec.SECP256R1())
PSS_SALTS = [0, 20, 32, padding.PSS.MAX_LENGTH]
scalars = st.integers(1, ecdsa.N - 1)
messages = st.binary(max_size=300)
FEW = settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])


def der_of(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def flip(data, index, bit=0):
    data = bytearray(data)
    data[index % len(data)] ^= 1 << bit
    return bytes(data)


# Signatures -----------------------------------------------------------------------------------------

@FEW
@given(d=scalars, message=messages, bit=st.integers(0, 7), index=st.integers(0, 1000))
def test_ecdsa_agrees_with_cryptography(d, message, bit, index):
    key = ec.derive_private_key(d, ec.SECP256R1())
    pub = key.public_key().public_numbers()
    assert ecdsa.PrivateKey(d).public_point() == (pub.x, pub.y)
    digest = hashlib.sha256(message).digest()
    theirs = key.sign(message, ec.ECDSA(hashes.SHA256()))
    assert ecdsa.verify(pub.x, pub.y, digest, *ecdsa.decode_signature(theirs))
    assert not ecdsa.verify(pub.x, pub.y, hashlib.sha256(message + b"!").digest(),
                            *ecdsa.decode_signature(theirs))
    try:
        assert not ecdsa.verify(pub.x, pub.y, digest, *ecdsa.decode_signature(flip(theirs, index, bit)))
    except ValueError:
        pass  # the flip broke the DER: refused before any maths
    mine = ecdsa.encode_signature(*ecdsa.sign(d, digest))
    key.public_key().verify(mine, message, ec.ECDSA(hashes.SHA256()))
    assert mine == key.sign(message, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))  # RFC 6979


@FEW
@given(which=st.sampled_from(range(len(RSA_KEYS))), message=messages, salt=st.sampled_from(PSS_SALTS),
       index=st.integers(0, 1000), bit=st.integers(0, 7))
def test_rsa_verifies_what_cryptography_signs_and_nothing_else(which, message, salt, index, bit):
    key = RSA_KEYS[which]
    numbers = key.public_key().public_numbers()
    digest = hashlib.sha256(message).digest()
    pkcs1 = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    pss = key.sign(message, padding.PSS(padding.MGF1(hashes.SHA256()), salt), hashes.SHA256())
    for sig, scheme in ((pkcs1, my_rsa.PKCS1V15), (pss, my_rsa.PSS)):
        assert my_rsa.verify(numbers.n, numbers.e, digest, sig)
        assert my_rsa.verify(numbers.n, numbers.e, digest, sig, (scheme,))
        assert not my_rsa.verify(numbers.n, numbers.e, digest, flip(sig, index, bit))
        assert not my_rsa.verify(numbers.n, numbers.e, hashlib.sha256(message + b"!").digest(), sig)
    assert not my_rsa.verify(numbers.n, numbers.e, digest, pkcs1, (my_rsa.PSS,))
    assert not my_rsa.verify(numbers.n, numbers.e, digest, pss, (my_rsa.PKCS1V15,))


# Certificates ---------------------------------------------------------------------------------------

def name(cn, org="Test Org"):
    return cx.Name([cx.NameAttribute(NameOID.ORGANIZATION_NAME, org), cx.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(subject, key, issuer, issuer_key, ca, serial=1, path_len=None, days=3650, pss=False):
    builder = (cx.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(serial).not_valid_before(START).not_valid_after(START + datetime.timedelta(days))
               .add_extension(cx.BasicConstraints(ca=ca, path_length=path_len if ca else None), critical=True))
    if pss:
        return builder.sign(issuer_key, hashes.SHA256(), rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), 32))
    return builder.sign(issuer_key, hashes.SHA256())


@FEW
# Names in ASCII here: cryptography counts the 64-character limit of a name in its own units (an astral
# character counts twice), which is not what this test is about (test_our_csr_... covers Unicode names).
@given(serial=st.integers(1, 2 ** 159 - 1),
       cn=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 -.", min_size=1, max_size=30),
       root_rsa=st.booleans(), pss=st.booleans())
def test_hash_data_equals_the_ocsp_cert_id_and_chains_verify(serial, cn, root_rsa, pss):
    root_key = RSA_KEYS[0] if root_rsa else EC_KEY
    root = make_cert(name("Root " + cn), root_key, name("Root " + cn), root_key, True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = make_cert(name(cn), leaf_key, name("Root " + cn), root_key, False, serial, pss=pss and root_rsa)
    mine_root, mine_leaf = x509.Certificate(der_of(root)), x509.Certificate(der_of(leaf))
    cert_id = ocsp.OCSPRequestBuilder().add_certificate(leaf, root, hashes.SHA256()).build()
    assert x509.hash_data(mine_leaf, mine_root) == {
        "hashAlgorithm": "SHA256", "issuerNameHash": cert_id.issuer_name_hash.hex(),
        "issuerKeyHash": cert_id.issuer_key_hash.hex(), "serialNumber": "%X" % serial}
    assert mine_leaf.subject["CN"] == cn and mine_leaf.serial == serial
    assert chain.verify_chain([mine_leaf], [mine_root], NOW_S) is mine_root


def test_path_length_constraint_is_enforced():
    root_key, sub_key, sub2_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    root = make_cert(name("R"), root_key, name("R"), root_key, True, path_len=0)
    sub = make_cert(name("S"), sub_key, name("R"), root_key, True)
    sub2 = make_cert(name("S2"), sub2_key, name("S"), sub_key, True)
    leaf = make_cert(name("L"), leaf_key, name("S2"), sub2_key, False)
    mine = [x509.Certificate(der_of(c)) for c in (leaf, sub2, sub, root)]
    assert chain.verify_chain(mine[2:3], mine[3:], NOW_S)  # one sub-CA below the root: allowed
    try:
        chain.verify_chain(mine[:3], mine[3:], NOW_S)
        raise AssertionError("pathLenConstraint 0 let two sub-CAs through")
    except chain.CertError as exc:
        assert exc.reason == chain.NOT_CA


def test_trustme_certificates_chain_to_their_ca():
    for key_type in (trustme.KeyType.ECDSA, trustme.KeyType.RSA):
        ca = trustme.CA(key_type=key_type)
        server = ca.issue_cert("csms.example.com")
        root = x509.load_pem(ca.cert_pem.bytes().decode())
        leaf_chain = x509.load_pem_chain("".join(b.bytes().decode() for b in server.cert_chain_pems))
        assert not leaf_chain[0].can_sign_certificates() and root.can_sign_certificates()
        now = int(datetime.datetime.now(UTC).timestamp())
        assert chain.verify_chain(leaf_chain, [root], now) is root
        store = certstore.CertStore(MemoryStorage())
        assert store.install(certstore.CENTRAL_SYSTEM_ROOT, root.pem(), now) == "Accepted"


# CSR ------------------------------------------------------------------------------------------------

names = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=1, max_size=64)


@FEW
@given(cn=names, org=names, seed=st.binary(min_size=32, max_size=32))
def test_our_csr_verifies_with_cryptography(cn, org, seed):
    parts = cn.split(".")
    if "://" in cn or (len(parts) == 4 and all(p.isdigit() for p in parts)):
        return  # refused on purpose (A00.FR.511)
    if len(cn.encode()) > csr.NAME_BYTES_MAX or len(org.encode()) > csr.NAME_BYTES_MAX:
        return  # refused on purpose: the upper bound is counted in bytes
    storage = MemoryStorage()
    text = csr.new_request(storage, cn, org, lambda count: seed)
    request = cx.load_pem_x509_csr(text.encode())
    assert request.is_signature_valid
    assert request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
    assert request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == org
    key = serialization.load_der_private_key(storage.read(csr.PENDING_KEY), None)
    assert key.public_key().public_numbers() == request.public_key().public_numbers()
    try:
        key.public_key().verify(request.signature, request.tbs_certrequest_bytes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise AssertionError("cryptography refuses our CSR signature")


# Malformed input ------------------------------------------------------------------------------------

SAMPLES = [x509.load_pem(text).der for text in (v.CS_ROOT, v.CS_SUB, v.CP_LEAF, v.MFR_ROOT, v.SHA384_ROOT)]
SAMPLES.append(pem.decode(v.CP_KEY_PEM, pem.PRIVATE_KEY))


def walk(element, depth=0):
    """Read every element the generic way, as a parser of unknown input would."""
    if element.tag & der.CONSTRUCTED and depth < 20:
        for child in element.children():
            walk(child, depth + 1)
    for reader in (element.integer, element.oid, element.bit_string, element.bit_flags, element.octets,
                   element.text, element.time, element.boolean, element.null):
        try:
            reader()
        except der.DerError:
            pass


def parse_everything(data):
    for parse in (lambda: walk(der.Element(data)), lambda: x509.Certificate(data),
                  lambda: csr.load_private_key_der(data), lambda: ecdsa.decode_signature(data)):
        try:
            parse()
        except ValueError:
            pass
    try:
        cert = x509.Certificate(data)
    except ValueError:
        return
    x509.hash_data_with_key(cert, cert.key_bits)
    try:
        chain.verify_chain([cert], [x509.load_pem(v.CS_ROOT), cert], NOW_S)
    except chain.CertError:
        pass


mutations = st.tuples(st.sampled_from(range(len(SAMPLES))), st.integers(0, 2000), st.integers(0, 255),
                      st.integers(0, 2000))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_value_errors(data):
    parse_everything(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutations)
def test_mutated_and_truncated_der_only_raise_value_errors(mutation):
    which, index, value, cut = mutation
    sample = bytearray(SAMPLES[which])
    sample[index % len(sample)] = value
    parse_everything(bytes(sample))
    parse_everything(SAMPLES[which][:cut % len(SAMPLES[which])])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, 3000), char=st.sampled_from("A/+=-\n x\x00é"), cut=st.integers(0, 3000))
def test_ocpp_entry_points_never_raise_on_mutated_pem(index, char, cut):
    text = v.CP_LEAF + v.CS_SUB
    where = index % len(text)
    mutated = (text[:where] + char + text[where + 1:])[:max(cut, 50)]
    store = certstore.CertStore(MemoryStorage())
    assert store.install(certstore.CENTRAL_SYSTEM_ROOT, v.CS_ROOT, NOW_S) == "Accepted"
    assert store.install(certstore.MANUFACTURER_ROOT, mutated, NOW_S) in ("Accepted", "Rejected")
    storage = store.storage
    storage.write(csr.PENDING_KEY, csr.private_key_der(ecdsa.PrivateKey(v.CP_KEY_D)))
    status, _ = ChargePointCertificate(storage, store).certificate_signed(mutated, NOW_S, v.SERIAL_NUMBER,
                                                                           v.CPO_NAME)
    assert status in ("Accepted", "Rejected")
    try:
        signature.verify_firmware(v.firmware_image(), v.FW_SIG_EC[:where % 96] + char, mutated,
                                  store.roots(certstore.MANUFACTURER_ROOT), NOW_S)
    except signature.FirmwareSignatureError:
        pass
