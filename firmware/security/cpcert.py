# The charge point's own certificate (OCPP 1.6 security whitepaper ed. 3, use cases A02 / A03):
# CertificateSigned.req checks and stores it, credentials() hands key and chain to the TLS client
# (security profile 3). The CSR and its pending key come from csr.py.
#
# CertificateSigned (A02.FR.06-07): the chain (PEM, leaf first) is refused ("Rejected", with a reason
# for the InvalidChargePointCertificate security event) unless
#   - it fits CertificateSignedMaxChainSize and parses,
#   - the leaf carries the public half of the key behind our last CSR,
#   - the leaf's subject has CN = the charge point serial number and O = CpoName (A00.FR.509 / 511),
#   - it is not expired, and chains to an installed CentralSystemRootCertificate (the CPO hierarchy,
#     2.6.2). A leaf not valid yet is kept: it takes over once valid (A02.FR.08).
# Storage: "sec_cp_cur" (the newest accepted) and "sec_cp_old" (the one before: a fallback, A02.FR.10),
# each one atomic record: RECORD_MAGIC, key length (2 bytes), the PKCS#8 key, the PEM chain.
import struct

from firmware.security import chain, csr, x509
from firmware.security.certstore import CENTRAL_SYSTEM_ROOT

CURRENT = "sec_cp_cur"
PREVIOUS = "sec_cp_old"
RECORD_MAGIC = b"CP1"
CERTIFICATE_SIGNED_MAX_CHAIN_SIZE = 10000  # CertificateSigned.req certificateChain: string[0..10000]
ACCEPTED = "Accepted"
REJECTED = "Rejected"
# Reasons beyond chain.py's
TOO_LARGE = "too_large"
NO_PENDING_KEY = "no_pending_key"
KEY_MISMATCH = "key_mismatch"
WRONG_SUBJECT = "wrong_subject"
NOT_STORED = "not_stored"


class Credentials:
    """One accepted certificate chain with its private key. key_der (PKCS#8) and chain_pem are what an
    ssl context loads; leaf is the parsed certificate (expiry: leaf.not_after, for A03)."""

    def __init__(self, key_der, chain_pem):
        self.key_der = key_der
        self.chain_pem = chain_pem
        self.leaf = x509.load_pem_chain(chain_pem)[0]

    def __repr__(self):
        return "<Credentials %r>" % (self.leaf,)


def _encode(key_der, chain_pem):
    return RECORD_MAGIC + struct.pack("<H", len(key_der)) + key_der + chain_pem.encode()


def _decode(raw):
    if raw[:3] != RECORD_MAGIC or len(raw) < 5:
        raise ValueError("not a charge point certificate record")
    size = struct.unpack("<H", raw[3:5])[0]
    key_der = raw[5:5 + size]
    csr.load_private_key_der(key_der)  # a damaged key shows now, not in the TLS handshake
    return Credentials(key_der, raw[5 + size:].decode())


class ChargePointCertificate:
    def __init__(self, storage, certstore):
        self.storage = storage
        self.certstore = certstore
        self.problems = []  # damaged records found, for the log and a security event
        self.current = self._read(CURRENT)
        self.previous = self._read(PREVIOUS)

    def _read(self, key):
        raw = self.storage.read(key)
        if raw is None:
            return None
        try:
            return _decode(raw)
        except ValueError as exc:
            self.problems.append("charge point certificate record %s unusable: %s" % (key, exc))
            return None

    def certificate_signed(self, chain_pem, now_s, serial_number, cpo_name,
                           max_chain_chars=CERTIFICATE_SIGNED_MAX_CHAIN_SIZE):
        """CertificateSigned.req -> (CertificateSignedStatusEnumType, reason or None)."""
        if not isinstance(chain_pem, str) or len(chain_pem) > max_chain_chars:
            return REJECTED, TOO_LARGE
        try:
            certs = x509.load_pem_chain(chain_pem)
        except ValueError:
            return REJECTED, chain.MALFORMED
        try:
            key = csr.pending_key(self.storage)
        except ValueError as exc:
            self.problems.append("pending key record unusable: %s" % exc)
            key = None
        if key is None:
            return REJECTED, NO_PENDING_KEY
        leaf = certs[0]
        if leaf.key_type != "ec" or leaf.public_key != key.public_point():
            return REJECTED, KEY_MISMATCH
        if leaf.subject.get("CN") != serial_number or leaf.subject.get("O") != cpo_name:
            return REJECTED, WRONG_SUBJECT
        try:
            chain.verify_chain(certs, self.certstore.roots(CENTRAL_SYSTEM_ROOT), now_s,
                               leaf_may_be_future=True)
        except chain.CertError as exc:
            return REJECTED, exc.reason
        fresh = Credentials(csr.private_key_der(key), chain_pem)
        try:
            if self.current is not None:
                self.storage.write(PREVIOUS, _encode(self.current.key_der, self.current.chain_pem))
            self.storage.write(CURRENT, _encode(fresh.key_der, fresh.chain_pem))
            self.storage.delete(csr.PENDING_KEY)  # a cut before this only leaves a spare copy
        except OSError:
            return REJECTED, NOT_STORED
        self.previous, self.current = self.current, fresh
        return ACCEPTED, None

    def credentials(self, now_s):
        """The Credentials to present at now_s: the newest valid one (A02.FR.08-09), else None."""
        for candidate in (self.current, self.previous):
            if candidate is not None and candidate.leaf.not_before <= now_s <= candidate.leaf.not_after:
                return candidate
        return None
