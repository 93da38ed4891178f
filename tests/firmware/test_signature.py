# portable
# RSA and ECDSA P-256 maths (firmware/security/rsa.py, ecdsa.py) and the SignedUpdateFirmware checks
# (signature.py) on fixed vectors.
import binascii
import hashlib

from firmware.security import ecdsa, rsa, signature, x509
from firmware.security.signature import FirmwareSignatureError, FirmwareVerifier, verify_firmware
from tests.firmware import security_vectors as v
from tests.portable import raises

NOW = v.NOW_S


def roots():
    return [x509.load_pem(v.CS_ROOT), x509.load_pem(v.MFR_ROOT)]


def chunks(data, size):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def refusal(*args):
    return raises(FirmwareSignatureError, verify_firmware, *args)


def test_rfc_6979_p256_sha256_vectors():
    # RFC 6979 A.2.5: the private key and the signatures of "sample" and "test" with SHA-256
    x = 0xC9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721
    r, s = ecdsa.sign(x, hashlib.sha256(b"sample").digest())
    assert r == 0xEFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716
    assert s == 0xF7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8
    r, s = ecdsa.sign(x, hashlib.sha256(b"test").digest())
    assert r == 0xF1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367
    assert s == 0x019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083
    ux, uy = ecdsa.multiply(x, ecdsa.GX, ecdsa.GY)
    assert ux == 0x60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6
    assert uy == 0x7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299
    assert ecdsa.verify(ux, uy, hashlib.sha256(b"test").digest(), r, s)


def test_ecdsa_refuses_what_sec1_refuses():
    digest = hashlib.sha256(b"msg").digest()
    qx, qy = v.CP_KEY_XY
    r, s = ecdsa.sign(v.CP_KEY_D, digest)
    assert ecdsa.verify(qx, qy, digest, r, s)
    assert not ecdsa.verify(qx, qy, hashlib.sha256(b"other").digest(), r, s)
    assert not ecdsa.verify(qx, qy, digest, r, (s + 1) % ecdsa.N)
    assert not ecdsa.verify(qx, qy, digest, 0, s)
    assert not ecdsa.verify(qx, qy, digest, r, ecdsa.N)
    assert not ecdsa.verify(qx, qy + 1, digest, r, s)  # not on the curve
    assert ecdsa.verify(qx, qy, digest, r, ecdsa.N - s)  # (r, -s) is valid too: ECDSA is malleable
    assert ecdsa.decode_signature(ecdsa.encode_signature(r, s)) == (r, s)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert ecdsa.decode_signature(raw) == (r, s)


def test_points_decode_compressed_and_uncompressed():
    qx, qy = v.CP_KEY_XY
    assert ecdsa.decode_point(ecdsa.encode_point(qx, qy)) == (qx, qy)
    assert ecdsa.decode_point(bytes((2 + qy % 2,)) + qx.to_bytes(32, "big")) == (qx, qy)
    raises(ValueError, ecdsa.decode_point, b"\x04" + bytes(64))
    raises(ValueError, ecdsa.decode_point, b"\x05" + bytes(32))


def test_key_generation_rejects_out_of_range_candidates():
    given = [b"\xff" * 32, b"\x00" * 31 + b"\x05"]
    d = ecdsa.generate_private_key(lambda count: given.pop(0))
    assert d == 6 and given == []
    raises(ValueError, ecdsa.generate_private_key, lambda count: b"\xff" * 32)
    raises(ValueError, ecdsa.generate_private_key, lambda count: b"\x01")
    key = ecdsa.PrivateKey(v.CP_KEY_D)
    assert key.public_point() == v.CP_KEY_XY
    assert "%x" % v.CP_KEY_D not in repr(key) and str(v.CP_KEY_D) not in repr(key)
    raises(ValueError, ecdsa.PrivateKey, ecdsa.N)


def test_rsa_checks_length_range_and_key_size():
    n, e = x509.load_pem(v.FW_RSA).public_key
    digest = hashlib.sha256(v.firmware_image()).digest()
    sig = binascii.a2b_base64(v.FW_SIG_RSA_PKCS1)
    assert rsa.verify(n, e, digest, sig)
    assert rsa.verify(n, e, digest, sig, (rsa.PKCS1V15,))
    assert not rsa.verify(n, e, digest, sig, (rsa.PSS,))
    assert not rsa.verify(n, e, digest, sig[1:])  # RFC 8017 8.2.2 step 1: length k
    assert not rsa.verify(n, e, digest, n.to_bytes(256, "big"))  # s >= n
    pss = binascii.a2b_base64(v.FW_SIG_RSA_PSS)
    assert rsa.verify(n, e, digest, pss, (rsa.PSS,))
    assert not rsa.verify(n, e, digest, pss, (rsa.PSS,), salt_bytes=32)  # signed with the maximum salt
    raises(ValueError, rsa.check_public_key, (1 << 1023) + 1, 65537)  # A00.FR.502: 2048 bits at least
    raises(ValueError, rsa.check_public_key, n, 4)
    assert rsa.bit_length(n) == 2048 and rsa.bit_length(1) == 1 and rsa.bit_length(0) == 0


def test_signed_firmware_verifies_with_rsa_and_ec_signing_certificates():
    image = v.firmware_image()
    assert hashlib.sha256(image).digest() == binascii.unhexlify(v.IMAGE_SHA256)
    assert verify_firmware(image, v.FW_SIG_RSA_PKCS1, v.FW_RSA, roots(), NOW)
    assert verify_firmware(image, v.FW_SIG_RSA_PSS, v.FW_RSA, roots(), NOW)
    assert verify_firmware(image, v.FW_SIG_EC, v.FW_EC, roots(), NOW)
    assert verify_firmware(chunks(image, 1000), v.FW_SIG_EC, v.FW_EC, roots(), NOW)
    assert verify_firmware(memoryview(image), v.FW_SIG_RSA_PKCS1, v.FW_RSA, roots(), NOW)


def test_streaming_reads_the_image_chunk_by_chunk():
    cert = signature.check_signing_certificate(v.FW_EC, roots(), NOW)
    verifier = FirmwareVerifier(cert, v.FW_SIG_EC)
    for part in chunks(v.firmware_image(), 333):
        verifier.update(part)
    assert verifier.size_bytes == 5000 and verifier.finish()


def test_a_tampered_image_or_signature_is_invalid_signature():
    image = bytearray(v.firmware_image())
    image[4000] ^= 1
    for sig, cert in ((v.FW_SIG_RSA_PKCS1, v.FW_RSA), (v.FW_SIG_RSA_PSS, v.FW_RSA), (v.FW_SIG_EC, v.FW_EC)):
        exc = refusal(bytes(image), sig, cert, roots(), NOW)
        assert exc.reason == "bad_signature" and exc.ocpp_status == "InvalidSignature"
        assert exc.security_event == "InvalidFirmwareSignature"
    wrong_key = refusal(v.firmware_image(), v.FW_SIG_RSA_PKCS1, v.FW_EC, roots(), NOW)
    assert wrong_key.ocpp_status == "InvalidSignature"
    for garbage in ("", "not base64!", "QUJD=", "A" * 804, None):
        exc = refusal(v.firmware_image(), garbage, v.FW_RSA, roots(), NOW)
        assert exc.reason == "malformed_signature" and exc.ocpp_status == "InvalidSignature"


def test_an_untrusted_expired_or_unreadable_certificate_is_invalid_certificate():
    image = v.firmware_image()
    cases = [
        (v.FW_RSA, [x509.load_pem(v.CS_ROOT)], "untrusted"),  # not under a manufacturer root
        (v.FW_RSA, [], "untrusted"),  # no ManufacturerRootCertificate installed
        (v.FW_EXPIRED, roots(), "expired"),
        (v.MFR_ROOT.replace("M", "N", 1), roots(), "malformed_certificate"),
        ("", roots(), "malformed_certificate"),
        (v.CP_LEAF, roots(), "untrusted"),  # a CPO certificate, not a manufacturer one
    ]
    for cert, trusted, why in cases:
        exc = refusal(image, v.FW_SIG_RSA_PKCS1, cert, trusted, NOW)
        assert exc.reason == why, (exc.reason, why)
        assert exc.ocpp_status == "InvalidCertificate"
        assert exc.security_event == "InvalidFirmwareSigningCertificate"
    later = refusal(image, v.FW_SIG_RSA_PKCS1, v.FW_RSA, roots(), NOW + 20 * 365 * 86400)
    assert later.reason == "expired"
