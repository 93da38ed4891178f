# Firmware signature checks for SignedUpdateFirmware (OCPP 1.6 security whitepaper ed. 3, use case L01).
#
# Two steps, as the whitepaper orders them:
#   1. On SignedUpdateFirmware.req (L01.FR.23-24): check_signing_certificate() parses the PEM signing
#      certificate and validates it against the installed ManufacturerRootCertificates at the current
#      time. The manufacturer uses no intermediate certificates (L01 remark), so the path is one step.
#      Failure: SignedUpdateFirmware.conf InvalidCertificate + InvalidFirmwareSigningCertificate event.
#   2. After the download (L01.FR.04): FirmwareVerifier hashes the image chunk by chunk (SHA-256; a 1 MB
#      image is never held in RAM) and checks the base64 signature with the certificate's key.
#      Failure: SignedFirmwareStatusNotification InvalidSignature + InvalidFirmwareSignature event.
# verify_firmware() does both at once.
#
# Signature schemes by key type: RSA keys accept RSASSA-PSS (what L01.FR.04 names) and RSASSA-PKCS1-v1_5
# (what `openssl dgst -sha256 -sign` writes); EC P-256 keys accept ECDSA-SHA256 as DER or raw r||s.
# ECSchnorr, the whitepaper's other option, has no interoperable definition to implement and is refused.
import hashlib

from firmware.security import chain, pem, rsa, x509

SIGNATURE_CHARS_MAX = 800  # FirmwareType.signature: string[0..800] (whitepaper 6.9)
# OCPP names for the two kinds of failure
INVALID_CERTIFICATE = "InvalidCertificate"  # UpdateFirmwareStatusEnumType (6.18)
INVALID_SIGNATURE = "InvalidSignature"  # FirmwareStatusEnumType (6.8)
EVENT_FOR = {INVALID_CERTIFICATE: "InvalidFirmwareSigningCertificate",  # L01.FR.02
             INVALID_SIGNATURE: "InvalidFirmwareSignature"}  # L01.FR.03
# Reasons beyond chain.py's
MALFORMED_CERTIFICATE = "malformed_certificate"
MALFORMED_SIGNATURE = "malformed_signature"


class FirmwareSignatureError(ValueError):
    """Why a firmware image or its signing certificate is refused.

    reason: chain.py's reasons (expired, not_yet_valid, untrusted, bad_signature, not_ca, unsupported)
    or malformed_certificate / malformed_signature; ocpp_status: InvalidCertificate or InvalidSignature;
    security_event: the SecurityEventNotification type to send."""

    def __init__(self, reason, ocpp_status, message):
        super().__init__(message)
        self.reason = reason
        self.ocpp_status = ocpp_status
        self.security_event = EVENT_FOR[ocpp_status]


def check_signing_certificate(signing_cert_pem, trusted_roots, now_s):
    """The firmware signing Certificate from PEM, valid at now_s and issued by one of trusted_roots
    (Certificates: the installed ManufacturerRootCertificates). Raises FirmwareSignatureError."""
    try:
        cert = x509.load_pem(signing_cert_pem)
    except ValueError as exc:
        raise FirmwareSignatureError(MALFORMED_CERTIFICATE, INVALID_CERTIFICATE,
                                     "signing certificate unreadable: %s" % exc)
    try:
        chain.verify_chain([cert], trusted_roots, now_s)
    except chain.CertError as exc:
        raise FirmwareSignatureError(exc.reason, INVALID_CERTIFICATE, "signing certificate: %s" % exc)
    _check_key(cert)
    return cert


def _check_key(cert):
    if cert.key_type not in ("rsa", "ec"):
        raise FirmwareSignatureError(chain.UNSUPPORTED, INVALID_CERTIFICATE,
                                     "signing certificate has a key this charger cannot use")


def decode_signature(signature_b64):
    """The signature bytes of FirmwareType.signature (base64, at most 800 characters)."""
    if isinstance(signature_b64, str) and len(signature_b64) <= SIGNATURE_CHARS_MAX:
        try:
            return pem.decode_base64(signature_b64)
        except ValueError:
            pass
    raise FirmwareSignatureError(MALFORMED_SIGNATURE, INVALID_SIGNATURE,
                                 "firmware signature is not base64 text of up to %d characters"
                                 % SIGNATURE_CHARS_MAX)


class FirmwareVerifier:
    """Feed the image with update(chunk) as it arrives or is read back, then finish()."""

    def __init__(self, signing_cert, signature_b64):
        _check_key(signing_cert)
        self.cert = signing_cert
        self.signature = decode_signature(signature_b64)
        self.size_bytes = 0
        self._hash = hashlib.sha256()

    def update(self, chunk):
        self._hash.update(chunk)
        self.size_bytes += len(chunk)

    def finish(self):
        """True when the signature verifies over everything fed; else FirmwareSignatureError."""
        digest = self._hash.digest()
        if self.cert.key_type == "ec":
            good = chain.verify_digest(self.cert, digest, self.signature, ("ecdsa", None))
        else:  # one RSA operation, then either encoding is recognised
            n, e = self.cert.public_key
            good = rsa.verify(n, e, digest, self.signature, (rsa.PKCS1V15, rsa.PSS))
        if not good:
            raise FirmwareSignatureError(chain.BAD_SIGNATURE, INVALID_SIGNATURE,
                                         "firmware signature does not match the %d-byte image"
                                         % self.size_bytes)
        return True


def verify_firmware(image, signature_b64, signing_cert_pem, trusted_roots, now_s):
    """Check a whole SignedUpdateFirmware: the signing certificate against trusted_roots at now_s, then
    the signature over image (bytes, or an iterable of byte chunks so a large image streams). Returns
    True or raises FirmwareSignatureError (see its reason, ocpp_status and security_event)."""
    cert = check_signing_certificate(signing_cert_pem, trusted_roots, now_s)
    verifier = FirmwareVerifier(cert, signature_b64)
    if isinstance(image, (bytes, bytearray, memoryview)):
        verifier.update(image)
    else:
        for chunk in image:
            verifier.update(chunk)
    return verifier.finish()
