# X.509 v1/v3 certificates (RFC 5280 section 4) read with der.py, and the OCPP CertificateHashDataType.
#
# Certificate(der_bytes) keeps the raw parts that signatures and hashes cover (the tbsCertificate, the
# issuer and subject Names, the public key bits) next to readable values (serial, CN / O, validity as
# epoch seconds, the public key as integers, the CA flag). Malformed DER raises DerError; a key or
# signature algorithm this charger cannot use does not (key_type or signature_scheme "unsupported"):
# such a certificate can be read and reported, but verifies nothing here. Chains: chain.py.
import binascii
import hashlib

from firmware.security import der, ecdsa, pem, rsa

# OIDs (RFC 3279, RFC 4055, RFC 5480, RFC 5758, RFC 5280 4.2.1)
RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
SHA256_WITH_RSA = "1.2.840.113549.1.1.11"
RSASSA_PSS = "1.2.840.113549.1.1.10"
MGF1 = "1.2.840.113549.1.1.8"
SHA256 = "2.16.840.1.101.3.4.2.1"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
PRIME256V1 = "1.2.840.10045.3.1.7"
ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2"
BASIC_CONSTRAINTS = "2.5.29.19"
KEY_USAGE = "2.5.29.15"
# Extensions whose meaning this code knows well enough to accept them when marked critical.
UNDERSTOOD = (BASIC_CONSTRAINTS, KEY_USAGE, "2.5.29.14", "2.5.29.35", "2.5.29.17", "2.5.29.37")
NAMES = {"2.5.4.3": "CN", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.6": "C", "2.5.4.5": "serialNumber",
         "2.5.4.7": "L", "2.5.4.8": "ST", "0.9.2342.19200300.100.1.25": "DC"}
KEY_CERT_SIGN = 1 << 5  # keyUsage bit 5 (RFC 5280 4.2.1.3)
SERIAL_BYTES_MAX = 20  # RFC 5280 4.1.2.2


def read_name(element):
    """{short name: text} of an X.501 Name (first value of each kind); values that are not text skipped."""
    readable = {}
    for rdn in element.sequence("Name"):
        for atv in rdn.expect(der.SET, "RDN").children():
            kind, value = atv.sequence("AttributeTypeAndValue", 2, 2)
            oid = kind.oid()
            short = NAMES.get(oid, oid)
            if short not in readable:
                try:
                    readable[short] = value.text()
                except der.DerError:
                    pass
    return readable


def read_algorithm(element):
    """(OID, parameters Element or None) of an AlgorithmIdentifier."""
    parts = element.sequence("AlgorithmIdentifier", 1, 2)
    return parts[0].oid(), (parts[1] if len(parts) == 2 else None)


def _pss_salt_bytes(params):
    # RSASSA-PSS-params (RFC 4055 3.1): only SHA-256 with MGF1-SHA-256 is usable here; None otherwise.
    if params is None:
        return None
    found = {}
    for field in params.sequence("RSASSA-PSS-params", 0, 4):
        if field.tag & 0xE0 != 0xA0:
            raise der.DerError("RSASSA-PSS-params field is not an EXPLICIT [n] tag")
        found[field.tag & 0x1F] = explicit_inner(field)
    if 0 not in found or read_algorithm(found[0])[0] != SHA256 or 1 not in found:
        return None
    mgf, mgf_hash = read_algorithm(found[1])
    if mgf != MGF1 or mgf_hash is None or read_algorithm(mgf_hash)[0] != SHA256:
        return None
    salt = found[2].integer() if 2 in found else 20  # RFC 4055: saltLength DEFAULT 20
    return salt if salt >= 0 else None


def explicit_inner(explicit):
    """The one element inside an EXPLICIT [n] tag."""
    inner = explicit.children()
    if len(inner) != 1:
        raise der.DerError("EXPLICIT tag holds %d elements" % len(inner))
    return inner[0]


def signature_scheme(element):
    """("ecdsa" | "pkcs1v15" | "pss", PSS salt length or None), or ("unsupported", OID)."""
    oid, params = read_algorithm(element)
    if oid == ECDSA_WITH_SHA256 and params is None:  # RFC 5758 3.2: parameters absent
        return "ecdsa", None
    if oid == SHA256_WITH_RSA and (params is None or params.tag == der.NULL):
        return rsa.PKCS1V15, None
    if oid == RSASSA_PSS:
        salt = _pss_salt_bytes(params)
        if salt is not None:
            return rsa.PSS, salt
    return "unsupported", oid


class Certificate:
    def __init__(self, der_bytes):
        self.der = bytes(der_bytes)
        top = der.Element(self.der).sequence("Certificate", 3, 3)
        tbs_el, outer_alg, sig_el = top
        self.tbs = tbs_el.raw()
        self.signature_scheme = signature_scheme(outer_alg)
        self.signature = sig_el.bit_string()
        fields = tbs_el.sequence("TBSCertificate", 6, 10)
        self.version = 1
        if fields[0].tag == der.context_tag(0):
            self.version = explicit_inner(fields.pop(0)).integer() + 1
            if self.version not in (2, 3):  # DER leaves a v1 version out (DEFAULT)
                raise der.DerError("certificate version %d" % self.version)
        if len(fields) < 6:
            raise der.DerError("TBSCertificate too short")
        self.serial = fields[0].integer()
        if not 0 <= self.serial < 1 << (8 * SERIAL_BYTES_MAX):
            raise der.DerError("serial number must be non-negative and at most 20 bytes")
        if fields[1].raw() != outer_alg.raw():  # RFC 5280 4.1.1.2
            raise der.DerError("signature algorithm differs inside and outside the tbsCertificate")
        self.issuer_der = fields[2].raw()
        self.issuer = read_name(fields[2])
        not_before, not_after = fields[3].sequence("Validity", 2, 2)
        self.not_before = not_before.time()
        self.not_after = not_after.time()
        self.subject_der = fields[4].raw()
        self.subject = read_name(fields[4])
        self._read_public_key(fields[5])
        self.is_ca = False
        self.path_len = None
        self.key_usage = None
        self.unknown_critical = []
        # issuerUniqueID [1], subjectUniqueID [2] (v2, v3; skipped), extensions [3] (v3): each once, in order
        extensions_tag = der.context_tag(3)
        allowed = [der.context_tag(1, False), der.context_tag(2, False), extensions_tag]
        for extra in fields[6:]:
            if extra.tag not in allowed or self.version < (3 if extra.tag == extensions_tag else 2):
                raise der.DerError("unexpected field 0x%02x in TBSCertificate" % extra.tag)
            allowed = allowed[allowed.index(extra.tag) + 1:]
            if extra.tag == extensions_tag:
                self._read_extensions(explicit_inner(extra))

    def _read_public_key(self, spki):
        algorithm, key = spki.sequence("SubjectPublicKeyInfo", 2, 2)
        oid, params = read_algorithm(algorithm)
        self.key_bits = key.bit_string()  # what issuerKeyHash covers (RFC 6960 4.1.1)
        self.key_type = "unsupported"
        self.public_key = None
        if oid == RSA_ENCRYPTION:
            n, e = der.Element(self.key_bits).sequence("RSAPublicKey", 2, 2)
            n, e = n.integer(), e.integer()
            try:
                rsa.check_public_key(n, e)
            except ValueError:  # too short, even...: unusable, not malformed
                return
            self.key_type, self.public_key = "rsa", (n, e)
        elif oid == EC_PUBLIC_KEY and params is not None and params.tag == der.OID:
            if params.oid() == PRIME256V1:
                try:
                    self.public_key = ecdsa.decode_point(self.key_bits)
                except ValueError as exc:
                    raise der.DerError("EC public key: %s" % exc)
                self.key_type = "ec"

    def _read_extensions(self, extensions):
        seen = []
        for ext in extensions.sequence("Extensions", 1):
            parts = ext.sequence("Extension", 2, 3)
            oid = parts[0].oid()
            critical = parts[1].boolean() if len(parts) == 3 else False
            if oid in seen:
                raise der.DerError("extension %s appears twice (RFC 5280 4.2)" % oid)
            seen.append(oid)
            value = parts[-1].octets()  # only the extensions read below must hold DER
            if oid == BASIC_CONSTRAINTS:
                items = der.Element(value).sequence("BasicConstraints", 0, 2)
                if items and items[0].tag == der.BOOLEAN:
                    self.is_ca = items.pop(0).boolean()
                if items:
                    self.path_len = items[0].integer()
            elif oid == KEY_USAGE:
                self.key_usage = der.Element(value).bit_flags()
            elif critical and oid not in UNDERSTOOD:
                self.unknown_critical.append(oid)

    def self_issued(self):
        return self.issuer_der == self.subject_der

    def can_sign_certificates(self):
        """A CA per basicConstraints (RFC 5280 4.2.1.9) whose keyUsage, if any, allows keyCertSign.
        An X.509 v1 certificate has no extensions; only a v1 trust anchor is taken as a CA."""
        if self.version < 3:
            return self.self_issued()
        return self.is_ca and (self.key_usage is None or bool(self.key_usage & KEY_CERT_SIGN))

    def pem(self):
        return pem.encode(self.der, pem.CERTIFICATE)

    def __repr__(self):
        return "<Certificate CN=%r serial=%X>" % (self.subject.get("CN"), self.serial)


def load_pem(text):
    """The one certificate in PEM text. Raises ValueError (PemError, DerError) when it is not one."""
    return Certificate(pem.decode(text, pem.CERTIFICATE))


def load_pem_chain(text):
    """Every certificate in PEM text, in order (OCPP chains are leaf first)."""
    return [Certificate(block) for block in pem.decode_all(text, pem.CERTIFICATE)]


def _hex(data):
    return binascii.hexlify(data).decode()


def hash_data(cert, issuer_cert=None):
    """OCPP CertificateHashDataType of cert (whitepaper ed. 3, section 6.1; RFC 6960 4.1.1 CertID):
    SHA-256 of the DER issuer Name, SHA-256 of the issuer's public key bits (the BIT STRING value
    without tag, length and unused-bits octet), and the serial as upper-case hex without leading
    zeros ("FFF" for 4095). issuer_cert may be left out for a self-issued (root) certificate."""
    if issuer_cert is None:
        if not cert.self_issued():
            raise ValueError("the issuer's certificate is needed for issuerKeyHash")
        issuer_cert = cert
    elif issuer_cert.subject_der != cert.issuer_der:
        raise ValueError("issuer_cert is not the issuer of cert")
    return hash_data_with_key(cert, issuer_cert.key_bits)


def hash_data_with_key(cert, issuer_key_bits):
    """hash_data() when only the issuer's public key bits are at hand."""
    return {
        "hashAlgorithm": "SHA256",
        "issuerNameHash": _hex(hashlib.sha256(cert.issuer_der).digest()),
        "issuerKeyHash": _hex(hashlib.sha256(issuer_key_bits).digest()),
        "serialNumber": "%X" % cert.serial,
    }


def same_hash_data(a, b):
    """Whether two CertificateHashDataType dicts name the same certificate (CiString: case-insensitive;
    a serial with leading zeros still matches)."""
    try:
        if a["hashAlgorithm"] != b["hashAlgorithm"]:
            return False
        for key in ("issuerNameHash", "issuerKeyHash"):
            if a[key].lower() != b[key].lower():
                return False
        return int(a["serialNumber"], 16) == int(b["serialNumber"], 16)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
