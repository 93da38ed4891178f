# The charge point's key pair and its PKCS#10 certificate signing request (RFC 2986) for
# SignCertificate.req (OCPP 1.6 security whitepaper ed. 3, use cases A02 / A03).
#
# A02.FR.02: every request comes with a fresh P-256 key pair. A02.FR.03: the CSR goes out PEM encoded.
# A02.FR.13: the subject's O is the CpoName configuration key; A00.FR.511: its CN is the charge point's
# unique serial number (not a URL or IP address). The CSR is signed with ECDSA-SHA256 (A00.FR.505).
# A02.FR.05: the private key never leaves the charger: it is written to Storage (an atomic record) as
# PKCS#8 DER (RFC 5208 / RFC 5915), the form an ssl stack loads for profile 3, and is never logged
# (PrivateKey's repr hides it). The key waits under PENDING_KEY until CertificateSigned brings its
# certificate (certstore.py moves it next to the certificate then).
import hashlib
import os

from firmware.security import der, ecdsa, pem, x509

PENDING_KEY = "sec_cp_key_new"  # Storage key of the private key behind the last CSR
NAME_BYTES_MAX = 64  # RFC 5280 Appendix A: ub-common-name, ub-organization-name (64)
CSR_CHARS_MAX = 5500  # SignCertificate.req csr: string[0..5500]
OID_CN = "2.5.4.3"
OID_O = "2.5.4.10"


def _random_source(random_bytes):
    source = random_bytes or getattr(os, "urandom", None)
    if source is None:  # a port without a hardware RNG behind os.urandom
        raise ValueError("no random source: pass random_bytes")
    return source


def generate_key(random_bytes=None):
    """A new P-256 PrivateKey from random_bytes(count) (default os.urandom)."""
    return ecdsa.PrivateKey(ecdsa.generate_private_key(_random_source(random_bytes)))


def _algorithm_ec():
    return der.encode_sequence(der.encode_oid(x509.EC_PUBLIC_KEY), der.encode_oid(x509.PRIME256V1))


def private_key_der(key):
    """PKCS#8 PrivateKeyInfo DER of key (ECPrivateKey inside, RFC 5915 section 3)."""
    x, y = key.public_point()
    inner = der.encode_sequence(
        der.encode_integer(1),  # ecPrivkeyVer1
        der.encode(der.OCTET_STRING, key.d.to_bytes(ecdsa.SIZE, "big")),
        der.encode(der.context_tag(1), der.encode_bit_string(ecdsa.encode_point(x, y))))
    return der.encode_sequence(der.encode_integer(0), _algorithm_ec(), der.encode(der.OCTET_STRING, inner))


def load_private_key_der(data):
    """The P-256 PrivateKey in PKCS#8 DER (as private_key_der writes it). Raises ValueError."""
    version, algorithm, octets = der.Element(data).sequence("PrivateKeyInfo", 3, 3)
    oid, params = x509.read_algorithm(algorithm)
    if version.integer() != 0 or oid != x509.EC_PUBLIC_KEY or params is None or \
            params.tag != der.OID or params.oid() != x509.PRIME256V1:
        raise der.DerError("not a PKCS#8 P-256 key")
    fields = der.Element(octets.octets()).sequence("ECPrivateKey", 2, 4)
    secret = fields[1].octets()
    if fields[0].integer() != 1 or len(secret) != ecdsa.SIZE:
        raise der.DerError("not an ECPrivateKey version 1 with a 32-byte secret")
    key = ecdsa.PrivateKey(int.from_bytes(secret, "big"))
    for extra in fields[2:]:
        if extra.tag == der.context_tag(1):  # the public key: saves a scalar multiplication
            key._public = ecdsa.decode_point(x509.explicit_inner(extra).bit_string())
    return key


def _check_name(text, what):
    # Counted in UTF-8 bytes, the stricter reading of the bound, so no CA refuses a long non-ASCII name.
    if not isinstance(text, str) or not 0 < len(text.encode()) <= NAME_BYTES_MAX:
        raise ValueError("%s must be 1..%d bytes of UTF-8, not %r" % (what, NAME_BYTES_MAX, text))


def encode_subject(common_name, organization):
    """Name ::= O=organization, CN=common_name, each a UTF8String (RFC 5280 4.1.2.6)."""
    _check_name(common_name, "CN (the charge point serial number)")
    _check_name(organization, "O (CpoName)")
    parts = common_name.split(".")
    if "://" in common_name or (len(parts) == 4 and all(part.isdigit() for part in parts)):
        raise ValueError("CN %r looks like a URL or an IP address (A00.FR.511)" % common_name)
    rdns = []
    for oid, text in ((OID_O, organization), (OID_CN, common_name)):
        atv = der.encode_sequence(der.encode_oid(oid), der.encode(der.UTF8_STRING, text.encode()))
        rdns.append(der.encode_set(atv))
    return der.encode_sequence(*rdns)


def build(key, common_name, organization):
    """PEM text of a CSR for key's public half, subject O=organization, CN=common_name."""
    x, y = key.public_point()
    spki = der.encode_sequence(_algorithm_ec(), der.encode_bit_string(ecdsa.encode_point(x, y)))
    info = der.encode_sequence(
        der.encode_integer(0),  # version v1 (RFC 2986 4.1)
        encode_subject(common_name, organization),
        spki,
        der.encode(der.context_tag(0), b""))  # attributes [0]: none
    signature = key.sign_digest(hashlib.sha256(info).digest())
    request = der.encode_sequence(info, der.encode_sequence(der.encode_oid(x509.ECDSA_WITH_SHA256)),
                                  der.encode_bit_string(signature))
    return pem.encode(request, pem.CERTIFICATE_REQUEST)


def new_request(storage, common_name, organization, random_bytes=None):
    """A fresh key pair, kept in storage under PENDING_KEY, and the PEM CSR for SignCertificate.req."""
    encode_subject(common_name, organization)  # refuse bad names before spending a key generation
    key = generate_key(random_bytes)
    text = build(key, common_name, organization)
    storage.write(PENDING_KEY, private_key_der(key))
    return text


def pending_key(storage):
    """The PrivateKey behind the last CSR, or None. Raises ValueError when the record is damaged."""
    data = storage.read(PENDING_KEY)
    return None if data is None else load_private_key_der(data)
