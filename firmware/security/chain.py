# Signature checks on certificates and chain validation against trusted roots (a subset of the RFC 5280
# section 6 path validation that the OCPP security whitepaper asks for: A00.FR.307, A02.FR.06, L01.FR.12).
#
# Checked: every signature along the path, issuer/subject name chaining (byte-exact DER, stricter than
# RFC 5280 7.1 which would also match case-folded strings), the validity period of each certificate and
# of the root at the given time, that each issuer is a CA allowed to sign certificates (basicConstraints,
# keyUsage), pathLenConstraint, and no critical extension this code does not understand (RFC 5280 4.2).
# Not checked: revocation (the whitepaper relies on fast expiry, 2.6.3), name constraints and policies
# (their extensions are not "understood", so a critical one makes the path fail, as RFC 5280 asks).
import hashlib

from firmware.security import ecdsa, rsa

CHAIN_CERTIFICATES_MAX = 6  # leaf + sub-CAs; a real CPO or manufacturer hierarchy has 2-4

# Why a check failed (CertError.reason); callers map them to OCPP statuses and security events.
MALFORMED = "malformed"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"
BAD_SIGNATURE = "bad_signature"
UNTRUSTED = "untrusted"
NOT_CA = "not_ca"
UNSUPPORTED = "unsupported"


class CertError(ValueError):
    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def verify_digest(cert_with_key, digest, signature, scheme):
    """True if signature over the SHA-256 digest verifies with the public key of cert_with_key.
    scheme is a Certificate.signature_scheme-like pair: ("ecdsa", None), ("pkcs1v15", None),
    ("pss", salt length or None). Raises CertError(UNSUPPORTED) for a key or scheme not handled here."""
    kind, salt = scheme
    if cert_with_key.key_type == "ec" and kind == "ecdsa":
        try:
            r, s = ecdsa.decode_signature(signature)
        except ValueError:
            return False
        qx, qy = cert_with_key.public_key
        return ecdsa.verify(qx, qy, digest, r, s)
    if cert_with_key.key_type == "rsa" and kind in (rsa.PKCS1V15, rsa.PSS):
        n, e = cert_with_key.public_key
        return rsa.verify(n, e, digest, signature, (kind,), salt)
    raise CertError(UNSUPPORTED, "a %s key cannot check a %s signature" % (cert_with_key.key_type, kind))


def verify_signed_by(cert, issuer):
    """Raise CertError unless cert names issuer as its issuer and issuer's key verifies its signature."""
    if cert.issuer_der != issuer.subject_der:
        raise CertError(UNTRUSTED, "%r was not issued by %r" % (cert, issuer))
    if cert.signature_scheme[0] == "unsupported":
        raise CertError(UNSUPPORTED, "%r uses signature algorithm %s" % (cert, cert.signature_scheme[1]))
    digest = hashlib.sha256(cert.tbs).digest()
    if not verify_digest(issuer, digest, cert.signature, cert.signature_scheme):
        raise CertError(BAD_SIGNATURE, "the signature of %r does not verify with %r" % (cert, issuer))


def check_validity(cert, now_s, allow_future=False):
    """Raise CertError unless now_s (UTC epoch seconds) lies in cert's validity period (RFC 5280 4.1.2.5).
    allow_future: a certificate not valid yet is fine (A02.FR.08: switch to it once valid)."""
    if now_s > cert.not_after:
        raise CertError(EXPIRED, "%r expired" % (cert,))
    if now_s < cert.not_before and not allow_future:
        raise CertError(NOT_YET_VALID, "%r is not valid yet" % (cert,))
    if cert.unknown_critical:
        raise CertError(UNSUPPORTED, "%r has critical extensions %s" % (cert, cert.unknown_critical))


def _check_issuer(issuer, certs_below):
    if not issuer.can_sign_certificates():
        raise CertError(NOT_CA, "%r is not a CA that may sign certificates" % (issuer,))
    if issuer.path_len is not None and certs_below - 1 > issuer.path_len:
        raise CertError(NOT_CA, "%r allows %d sub-CAs below it" % (issuer, issuer.path_len))


def verify_chain(chain, roots, now_s, leaf_may_be_future=False):
    """Validate chain (leaf first, then the sub-CAs that issued it) up to one of roots at now_s.
    Returns the root it chains to; raises CertError with the first reason found otherwise.
    A root may also end the chain itself (as some CAs send it); it is then matched byte for byte."""
    if not chain or len(chain) > CHAIN_CERTIFICATES_MAX:
        raise CertError(MALFORMED, "a chain holds 1..%d certificates, not %d"
                        % (CHAIN_CERTIFICATES_MAX, len(chain)))
    for i, cert in enumerate(chain):
        check_validity(cert, now_s, allow_future=leaf_may_be_future and i == 0)
    for i in range(len(chain) - 1):
        _check_issuer(chain[i + 1], i + 1)
        verify_signed_by(chain[i], chain[i + 1])
    last = chain[-1]
    for root in roots:
        if root.der == last.der:
            return root
    failure = CertError(UNTRUSTED, "no installed root issued %r" % (last,))
    for root in roots:
        if root.subject_der != last.issuer_der:
            continue
        try:
            check_validity(root, now_s)
            _check_issuer(root, len(chain))
            verify_signed_by(last, root)
            return root
        except CertError as exc:  # another root with the same name may still do
            failure = exc
    raise failure
