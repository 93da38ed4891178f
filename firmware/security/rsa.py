# RSA signature verification with SHA-256 (RFC 8017), in plain integers: one pow(s, e, n) and a
# check of the encoded message. Two encodings are recognised:
#   RSASSA-PKCS1-v1_5 (RFC 8017 8.2.2): EM = 00 01 FF..FF 00 || DigestInfo(SHA-256) || H, rebuilt
#     and compared in full (constant in the data, so no padding-oracle style shortcuts);
#   RSASSA-PSS (RFC 8017 9.1.2, EMSA-PSS-VERIFY with MGF1-SHA-256, trailer BC); the salt length is
#     read from the encoding unless the caller pins it.
# Keys are held to the whitepaper's floor (A00.FR.502: at least 2048 bits).
import binascii
import hashlib

MODULUS_BITS_MIN = 2048  # OCPP 1.6 security whitepaper ed. 3, A00.FR.502
MODULUS_BITS_MAX = 4096  # a bound on the work one signature check can cost a small MCU
HASH_BYTES = 32  # SHA-256
# DigestInfo for SHA-256 up to the digest (RFC 8017 9.2, note 1)
SHA256_DIGEST_INFO = binascii.unhexlify("3031300d060960864801650304020105000420")
PSS_TRAILER = 0xBC  # RFC 8017 9.1.1 step 12
PKCS1V15 = "pkcs1v15"
PSS = "pss"


def bit_length(number):
    """Bits needed for a non-negative int (MicroPython ints have no bit_length())."""
    if number <= 0:
        return 0
    digits = "%x" % number
    return 4 * (len(digits) - 1) + len("{:b}".format(int(digits[0], 16)))


def check_public_key(n, e):
    """Raise ValueError unless (n, e) is a usable RSA public key of 2048..4096 bits."""
    bits = bit_length(n)
    if not MODULUS_BITS_MIN <= bits <= MODULUS_BITS_MAX or n % 2 == 0:
        raise ValueError("RSA modulus of %d bits: %d..%d bits, odd, expected"
                         % (bits, MODULUS_BITS_MIN, MODULUS_BITS_MAX))
    if e < 3 or e % 2 == 0 or e >= n:
        raise ValueError("RSA public exponent %d is not usable" % e)


def equal(a, b):
    """Compare two byte strings in time that depends only on their lengths."""
    if len(a) != len(b):
        return False
    diff = 0
    for x, y in zip(a, b):
        diff |= x ^ y
    return diff == 0


def mgf1(seed, length):
    """MGF1 with SHA-256 (RFC 8017 B.2.1)."""
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def _pkcs1v15_matches(encoded, digest):
    """RFC 8017 8.2.2 step 3-4: rebuild EM' = EMSA-PKCS1-v1_5-ENCODE(M) and compare."""
    tail = SHA256_DIGEST_INFO + digest
    pad = len(encoded) - len(tail) - 3
    if pad < 8:  # RFC 8017 9.2 step 5: PS is at least 8 octets
        return False
    return equal(encoded, b"\x00\x01" + b"\xff" * pad + b"\x00" + tail)


def _pss_matches(message_rep, mod_bits, digest, salt_bytes):
    """RFC 8017 9.1.2 EMSA-PSS-VERIFY, from the integer m = s^e mod n."""
    em_bits = mod_bits - 1
    em_len = (em_bits + 7) // 8
    if message_rep >> (8 * em_len) or em_len < HASH_BYTES + 2:
        return False
    encoded = message_rep.to_bytes(em_len, "big")
    if encoded[-1] != PSS_TRAILER:
        return False
    masked_db = encoded[:em_len - HASH_BYTES - 1]
    h = encoded[em_len - HASH_BYTES - 1:-1]
    top_mask = 0xFF >> (8 * em_len - em_bits)  # the leftmost 8*emLen - emBits bits must be zero
    if masked_db[0] & ~top_mask & 0xFF:
        return False
    db = bytearray(x ^ y for x, y in zip(masked_db, mgf1(h, len(masked_db))))
    db[0] &= top_mask
    one = 0
    while one < len(db) and db[one] == 0:
        one += 1
    if one >= len(db) or db[one] != 0x01:
        return False
    salt = bytes(db[one + 1:])
    if salt_bytes is not None and len(salt) != salt_bytes:
        return False
    return equal(h, hashlib.sha256(b"\x00" * 8 + digest + salt).digest())


def verify(n, e, digest, signature, schemes=(PKCS1V15, PSS), salt_bytes=None):
    """True if signature is a valid RSA signature of the SHA-256 digest under (n, e), encoded with
    one of schemes. False for any wrong signature; ValueError for an unusable key."""
    check_public_key(n, e)
    if len(digest) != HASH_BYTES:
        raise ValueError("a SHA-256 digest is 32 bytes, not %d" % len(digest))
    size = (bit_length(n) + 7) // 8
    if len(signature) != size:  # RFC 8017 8.2.2 step 1
        return False
    s = int.from_bytes(bytes(signature), "big")
    if s >= n:  # RFC 8017 5.2.2 step 1: "signature representative out of range"
        return False
    m = pow(s, e, n)  # RSAVP1
    if PKCS1V15 in schemes and _pkcs1v15_matches(m.to_bytes(size, "big"), digest):
        return True
    return PSS in schemes and _pss_matches(m, bit_length(n), digest, salt_bytes)
