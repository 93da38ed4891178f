# ECDSA on NIST P-256 (secp256r1) with SHA-256, in plain integers: verify (SEC 1 v2 4.1.4), sign with a
# deterministic nonce (RFC 6979 3.2), key generation (FIPS 186-4 B.4.2).
#
# Points are added in Jacobian coordinates (x = X/Z^2, y = Y/Z^3): an affine addition needs a modular
# inverse, which costs ~256 multiplications (Fermat: pow(z, p-2, p)), where a Jacobian addition or
# doubling needs ~12-16. One inverse at the end turns the result back into affine x, y. Verification
# computes u1*G + u2*Q in one pass (Shamir's trick), so it costs about one scalar multiplication.
#
# Not constant-time (Python integers are not): acceptable for verifying public data, and for signing
# the charger's own CSRs (a few signatures per key, nothing a timing attacker could average over).
import hashlib

from firmware.security import der

# SEC 2 v2 section 2.4.2, secp256r1
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
SIZE = 32  # bytes of a coordinate, a scalar, a digest
KEYGEN_TRIES = 64  # FIPS 186-4 B.4.2 rejects a candidate with probability ~2^-32: 64 tries never all fail


def on_curve(x, y):
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def _double(point):
    # dbl-2001-b for a = -3 (Bernstein-Lange, Explicit-Formulas Database)
    if point is None:
        return None
    x1, y1, z1 = point
    if y1 == 0:
        return None
    delta = z1 * z1 % P
    gamma = y1 * y1 % P
    beta = x1 * gamma % P
    alpha = 3 * (x1 - delta) * (x1 + delta) % P
    x3 = (alpha * alpha - 8 * beta) % P
    z3 = ((y1 + z1) * (y1 + z1) - gamma - delta) % P
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % P
    return x3, y3, z3


def _add(p1, p2):
    # add-1998-cmo-2: U1 = X1 Z2^2, U2 = X2 Z1^2, S1 = Y1 Z2^3, S2 = Y2 Z1^3, H = U2 - U1, R = S2 - S1
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1 = z1 * z1 % P
    z2z2 = z2 * z2 % P
    u1 = x1 * z2z2 % P
    u2 = x2 * z1z1 % P
    s1 = y1 * z2 * z2z2 % P
    s2 = y2 * z1 * z1z1 % P
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    if h == 0:
        return _double(p1) if r == 0 else None  # the same point, or P + (-P) = infinity
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    x3 = (r * r - hhh - 2 * v) % P
    y3 = (r * (v - x3) - s1 * hhh) % P
    z3 = h * z1 * z2 % P
    return x3, y3, z3


def _affine(point):
    if point is None:
        return None
    x, y, z = point
    zinv = pow(z, P - 2, P)  # Fermat: P is prime
    zinv2 = zinv * zinv % P
    return x * zinv2 % P, y * zinv2 * zinv % P


def multiply(k, x, y):
    """k * (x, y) as affine (x, y), or None for the point at infinity (left-to-right double-and-add)."""
    result = None
    base = (x, y, 1)
    for i in range(_bits(k) - 1, -1, -1):
        result = _double(result)
        if (k >> i) & 1:
            result = _add(result, base)
    return _affine(result)


def _bits(k):
    # An upper bound of k's bit length (whole hex digits): the extra leading doublings of the point at
    # infinity cost nothing.
    return 4 * len("%x" % k) if k > 0 else 0


def _two_multiply(u1, u2, qx, qy):
    """u1*G + u2*Q in one double-and-add pass (Shamir's trick)."""
    g = (GX, GY, 1)
    q = (qx, qy, 1)
    both = _add(g, q)
    result = None
    for i in range(max(_bits(u1), _bits(u2)) - 1, -1, -1):
        result = _double(result)
        bit_g = (u1 >> i) & 1
        bit_q = (u2 >> i) & 1
        if bit_g and bit_q:
            result = _add(result, both)
        elif bit_g:
            result = _add(result, g)
        elif bit_q:
            result = _add(result, q)
    return _affine(result)


def decode_point(octets):
    """An SEC 1 2.3.4 encoded point (04||X||Y, or compressed 02/03||X) -> (x, y), checked on the curve."""
    octets = bytes(octets)
    if len(octets) == 1 + 2 * SIZE and octets[0] == 4:
        x = int.from_bytes(octets[1:1 + SIZE], "big")
        y = int.from_bytes(octets[1 + SIZE:], "big")
    elif len(octets) == 1 + SIZE and octets[0] in (2, 3):
        x = int.from_bytes(octets[1:], "big")
        y = pow((x * x * x + A * x + B) % P, (P + 1) // 4, P)  # square root: P = 3 (mod 4)
        if y % 2 != octets[0] % 2:
            y = P - y
    else:
        raise ValueError("not an encoded P-256 point (%d bytes)" % len(octets))
    if not on_curve(x, y):  # SEC 1 3.2.2.1: a public key must lie on the curve
        raise ValueError("point is not on the P-256 curve")
    return x, y


def encode_point(x, y):
    return b"\x04" + x.to_bytes(SIZE, "big") + y.to_bytes(SIZE, "big")


def decode_signature(signature):
    """(r, s) of a DER ECDSA-Sig-Value (RFC 3279 2.2.3), or of raw r||s (64 bytes)."""
    signature = bytes(signature)
    if len(signature) == 2 * SIZE and signature[0] != der.SEQUENCE:
        return int.from_bytes(signature[:SIZE], "big"), int.from_bytes(signature[SIZE:], "big")
    r, s = der.Element(signature).sequence("ECDSA-Sig-Value", 2, 2)
    return r.integer(), s.integer()


def encode_signature(r, s):
    return der.encode_sequence(der.encode_integer(r), der.encode_integer(s))


def verify(qx, qy, digest, r, s):
    """True if (r, s) is a valid signature of the SHA-256 digest by public key (qx, qy). SEC 1 4.1.4."""
    if not on_curve(qx, qy):
        return False
    if not (0 < r < N and 0 < s < N):  # step 1
        return False
    e = int.from_bytes(bytes(digest), "big")  # step 3-4: 256-bit digest, 256-bit N: no truncation
    w = pow(s, N - 2, N)  # s^-1 mod N (Fermat: N is prime)
    point = _two_multiply(e * w % N, r * w % N, qx, qy)  # step 5
    if point is None:
        return False
    return point[0] % N == r  # step 6-8


def _hmac(key, data):
    # HMAC-SHA-256 (RFC 2104): MicroPython has no hmac module. Keys here are 32 bytes < the 64-byte block.
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + b"\x36" * (64 - len(key)) + data).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + b"\x5c" * (64 - len(key)) + inner).digest()


def _nonces(d, digest):
    """The RFC 6979 3.2 candidates for k, in order (qlen = hlen = 256 bits, so bits2int is plain)."""
    x = d.to_bytes(SIZE, "big")
    h = int.from_bytes(digest, "big")
    h1 = (h - N if h >= N else h).to_bytes(SIZE, "big")  # bits2octets
    v = b"\x01" * SIZE
    k = b"\x00" * SIZE
    k = _hmac(k, v + b"\x00" + x + h1)  # step d
    v = _hmac(k, v)  # step e
    k = _hmac(k, v + b"\x01" + x + h1)  # step f
    v = _hmac(k, v)  # step g
    while True:  # step h
        v = _hmac(k, v)
        yield int.from_bytes(v, "big")
        k = _hmac(k, v + b"\x00")
        v = _hmac(k, v)


def sign(d, digest):
    """(r, s): an ECDSA signature of the SHA-256 digest with private key d (SEC 1 4.1.3, RFC 6979 k)."""
    if not 0 < d < N or len(digest) != SIZE:
        raise ValueError("bad private key or digest")
    e = int.from_bytes(digest, "big")
    for k in _nonces(d, digest):
        if not 0 < k < N:
            continue
        r = multiply(k, GX, GY)[0] % N
        s = pow(k, N - 2, N) * (e + r * d) % N
        if r and s:
            return r, s


def generate_private_key(random_bytes):
    """A private key d in [1, N-1] from random_bytes(count) (FIPS 186-4 B.4.2, testing candidates)."""
    for _ in range(KEYGEN_TRIES):
        candidate = bytes(random_bytes(SIZE))
        if len(candidate) != SIZE:
            raise ValueError("random source gave %d bytes, not %d" % (len(candidate), SIZE))
        c = int.from_bytes(candidate, "big")
        if c <= N - 2:
            return c + 1
    raise ValueError("random source keeps giving out-of-range numbers: is it broken?")


class PrivateKey:
    """A P-256 private key. Its repr never shows the secret (A02.FR.05: it never leaves the charger)."""

    def __init__(self, d):
        if not isinstance(d, int) or not 0 < d < N:
            raise ValueError("P-256 private key out of range")
        self.d = d
        self._public = None

    def public_point(self):
        if self._public is None:
            self._public = multiply(self.d, GX, GY)
        return self._public

    def sign_digest(self, digest):
        return encode_signature(*sign(self.d, digest))

    def __repr__(self):
        return "<P-256 private key>"
