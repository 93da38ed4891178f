# The charger's trust store (OCPP 1.6 security whitepaper ed. 3, use cases M03-M05): the installed
# CentralSystemRootCertificates and ManufacturerRootCertificates, one Storage record each, kept across
# reboots. Sans-I/O: the caller passes the request fields and the time, and sends back the status.
#
#   InstallCertificate.req          install(type, pem, now_s)  -> "Accepted" | "Rejected" | "Failed"
#   DeleteCertificate.req           delete(hash_data, in_use)   -> "Accepted" | "Failed" | "NotFound"
#   GetInstalledCertificateIds.req  installed_ids(type)         -> ("Accepted", [hash data]) | ("NotFound", [])
#
# install() takes a PEM CA certificate (basicConstraints cA, keyUsage keyCertSign) that is not expired and
# whose signature verifies wherever its issuer is at hand: itself for a root, an installed certificate for
# a sub-CA. Anything else is Rejected (M05.FR.06), and so is a certificate beyond max_certificates
# (M05.FR.03 says Rejected, not Failed); Failed is left for a storage error (M05.FR.04).
# Records "sec_ca_<n>": RECORD_MAGIC, the type code, flags (bit 0: fallback root), then the DER. A record
# that cannot be read or parsed at start is reported in .problems and dropped; it never stops the charger.
# The charge point's own certificate (CertificateSigned) lives in cpcert.py.
from firmware.security import chain, x509

CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate"  # CertificateUseEnumType (whitepaper 6.4)
MANUFACTURER_ROOT = "ManufacturerRootCertificate"
TYPE_CODES = {CENTRAL_SYSTEM_ROOT: 1, MANUFACTURER_ROOT: 2}
CERTIFICATE_STORE_MAX_LENGTH = 10  # default of the CertificateStoreMaxLength key (whitepaper 7.4)
PREFIX = "sec_ca_"
RECORD_MAGIC = b"CA1"
FALLBACK = 0x01
ACCEPTED = "Accepted"
REJECTED = "Rejected"
FAILED = "Failed"
NOT_FOUND = "NotFound"


class Entry:
    def __init__(self, key, kind, cert, fallback):
        self.key = key
        self.kind = kind
        self.cert = cert
        self.fallback = fallback
        self.hash_data = None


def _type_name(code):
    for name in TYPE_CODES:
        if TYPE_CODES[name] == code:
            return name
    raise ValueError("unknown certificate type code %d" % code)


def _check_type(kind):
    if kind not in TYPE_CODES:
        raise ValueError("certificateType %r is not one of %s" % (kind, sorted(TYPE_CODES)))


class CertStore:
    def __init__(self, storage, max_certificates=CERTIFICATE_STORE_MAX_LENGTH,
                 additional_root_check=False):
        """max_certificates: CertificateStoreMaxLength. additional_root_check:
        AdditionalRootCertificateCheck (M05.FR.08-13: one CentralSystemRoot, replaced only by a
        certificate the old one signed, which stays as a fallback until drop_fallback_roots())."""
        self.storage = storage
        self.max_certificates = max_certificates
        self.additional_root_check = additional_root_check
        self.problems = []  # what loading found wrong, for the log and a security event
        self.entries = []
        self._next = 0
        for key in storage.keys(PREFIX):
            number = key[len(PREFIX):]
            if number.isdigit():
                self._next = max(self._next, int(number) + 1)
            try:
                self.entries.append(self._load(key))
            except (ValueError, KeyError) as exc:  # DerError, PemError are ValueErrors
                self.problems.append("certificate record %s dropped: %s" % (key, exc))
                self._forget(key)
        self._rehash()

    def _load(self, key):
        raw = self.storage.read(key)
        if raw is None:
            raise ValueError("unreadable (corrupt in storage)")
        if raw[:3] != RECORD_MAGIC or len(raw) < 6:
            raise ValueError("not a certificate record")
        return Entry(key, _type_name(raw[3]), x509.Certificate(raw[5:]), bool(raw[4] & FALLBACK))

    def _forget(self, key):
        try:
            self.storage.delete(key)
        except OSError as exc:
            self.problems.append("certificate record %s not deleted: %s" % (key, exc))

    def _save(self, entry):
        flags = FALLBACK if entry.fallback else 0
        self.storage.write(entry.key, RECORD_MAGIC + bytes((TYPE_CODES[entry.kind], flags)) + entry.cert.der)

    def _verify_by_any(self, cert, issuers):
        for issuer in issuers[:-1]:
            try:
                return chain.verify_signed_by(cert, issuer)
            except chain.CertError:
                pass
        chain.verify_signed_by(cert, issuers[-1])

    def _issuer_of(self, cert):
        if cert.self_issued():
            return cert
        named = [e.cert for e in self.entries if e.cert.subject_der == cert.issuer_der]
        if len(named) == 1:
            return named[0]
        for candidate in named:  # several (a root rollover): the one whose key signed it
            try:
                chain.verify_signed_by(cert, candidate)
                return candidate
            except chain.CertError:
                pass
        return None

    def _rehash(self):
        for entry in self.entries:
            issuer = self._issuer_of(entry.cert)
            # A sub-CA installed without its issuer: its own key stands in for the issuer's, so the
            # CSMS can still address it with the hash data it reads from GetInstalledCertificateIds.
            key_bits = entry.cert.key_bits if issuer is None else issuer.key_bits
            entry.hash_data = x509.hash_data_with_key(entry.cert, key_bits)

    def roots(self, kind):
        """The installed certificates of kind (a CertificateUseEnumType), fallbacks included."""
        _check_type(kind)
        return [entry.cert for entry in self.entries if entry.kind == kind]

    def install(self, kind, pem_text, now_s):
        """InstallCertificate.req -> CertificateStatusEnumType (M05)."""
        _check_type(kind)
        try:
            cert = x509.load_pem(pem_text)
            chain.check_validity(cert, now_s, allow_future=True)
            if not cert.can_sign_certificates():
                raise chain.CertError(chain.NOT_CA, "not a CA certificate")
            issuers = [cert] if cert.self_issued() else \
                [e.cert for e in self.entries if e.cert.subject_der == cert.issuer_der]
            if issuers:  # a root, or a sub-CA whose issuer is here: its signature must verify
                self._verify_by_any(cert, issuers)
        except ValueError:  # M05.FR.06: invalid and/or incorrect
            return REJECTED
        for entry in self.entries:
            if entry.kind == kind and entry.cert.der == cert.der:
                return ACCEPTED  # already there: nothing to add
        replaced = []
        if kind == CENTRAL_SYSTEM_ROOT and self.additional_root_check:
            current = [e for e in self.entries if e.kind == kind and not e.fallback]
            for old in current:  # M05.FR.09-10: the old root must have signed the new one
                try:
                    chain.verify_signed_by(cert, old.cert)
                except chain.CertError:
                    return REJECTED
            replaced = current
        dropped = [e for e in self.entries if e.kind == kind and e.fallback and replaced]
        if len(self.entries) - len(dropped) >= self.max_certificates:
            return REJECTED  # M05.FR.03: no room
        entry = Entry(PREFIX + str(self._next), kind, cert, False)
        try:
            self._save(entry)
            self._next += 1
            for old in replaced:  # M05.FR.11: kept as a fallback
                old.fallback = True
                self._save(old)
            for old in dropped:
                self.storage.delete(old.key)
                self.entries.remove(old)
        except OSError:  # M05.FR.04: valid, but storing it failed
            return FAILED
        self.entries.append(entry)
        self._rehash()
        return ACCEPTED

    def drop_fallback_roots(self):
        """M05.FR.12: the new CentralSystemRoot worked for a connection; forget the old one."""
        for entry in [e for e in self.entries if e.fallback]:
            self._forget(entry.key)
            self.entries.remove(entry)

    def installed_ids(self, kind):
        """GetInstalledCertificateIds.req -> (GetInstalledCertificateStatusEnumType, hash data list)."""
        _check_type(kind)
        found = [dict(entry.hash_data) for entry in self.entries if entry.kind == kind]
        return (ACCEPTED, found) if found else (NOT_FOUND, [])

    def delete(self, hash_data, in_use=()):
        """DeleteCertificate.req -> DeleteCertificateStatusEnumType (M04). in_use: DER of the roots
        the current CSMS connection was validated with (M04.FR.06: those are not deleted)."""
        for entry in self.entries:
            if x509.same_hash_data(entry.hash_data, hash_data):
                if entry.cert.der in in_use:
                    return FAILED
                try:
                    self.storage.delete(entry.key)
                except OSError:  # M04.FR.03
                    return FAILED
                self.entries.remove(entry)
                self._rehash()
                return ACCEPTED
        return NOT_FOUND  # M04.FR.04; the charge point certificate is never matched (M04.FR.05)
