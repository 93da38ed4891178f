# PEM (RFC 7468) <-> DER: "-----BEGIN <LABEL>-----", base64 of the DER, "-----END <LABEL>-----".
#
# OCPP carries certificates, chains (leaf first) and CSRs as PEM text inside JSON strings (security
# whitepaper ed. 3, A00.FR.507). Text outside the blocks is ignored, as RFC 7468 section 2 allows;
# whitespace inside a block is ignored too, so a chain squeezed onto one line still reads. Anything
# else is refused with PemError: a BEGIN without its END, a label other than the one asked for,
# characters outside the base64 alphabet, bad padding, an empty block.
import binascii

CERTIFICATE = "CERTIFICATE"
CERTIFICATE_REQUEST = "CERTIFICATE REQUEST"
PRIVATE_KEY = "PRIVATE KEY"
EC_PRIVATE_KEY = "EC PRIVATE KEY"
LINE_CHARS = 64  # RFC 7468 section 2: lines of exactly 64 characters, the last one shorter
_BEGIN = "-----BEGIN "
_END = "-----END "
_DASHES = "-----"
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class PemError(ValueError):
    """The text is not the PEM the caller asked for."""


def decode_base64(body):
    """Bytes of strict base64 text (RFC 4648 section 4); whitespace is ignored. Raises PemError."""
    if not isinstance(body, str):
        raise PemError("base64 must be text, not %s" % type(body).__name__)
    text = "".join(body.split())  # whitespace out, without a list of single characters
    stripped = text.rstrip("=")
    if not stripped or len(text) % 4 or len(text) - len(stripped) > 2:
        raise PemError("base64 text is empty or its length/padding is wrong")
    for c in stripped:
        if c not in _ALPHABET:
            raise PemError("a character outside base64: %r" % c)
    try:
        return binascii.a2b_base64(text)
    except ValueError:
        raise PemError("not valid base64")


def decode_all(text, label):
    """The DER bytes of every "label" block in text, in order. Raises PemError if there is none."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode()
        except ValueError:
            raise PemError("PEM text is not UTF-8")
    if not isinstance(text, str):
        raise PemError("PEM must be text, not %s" % type(text).__name__)
    blocks = []
    pos = 0
    while True:
        begin = text.find(_BEGIN, pos)
        if begin < 0:
            break
        head_end = text.find(_DASHES, begin + len(_BEGIN))
        if head_end < 0:
            raise PemError("PEM BEGIN line is not closed with -----")
        found = text[begin + len(_BEGIN):head_end]
        if found != label:
            raise PemError("PEM block is %r, expected %r" % (found, label))
        footer = _END + label + _DASHES
        end = text.find(footer, head_end + len(_DASHES))
        if end < 0:
            raise PemError("PEM block %r has no END line" % label)
        body = text[head_end + len(_DASHES):end]
        if _DASHES in body:
            raise PemError("PEM block %r is not closed before the next one" % label)
        blocks.append(decode_base64(body))
        pos = end + len(footer)
    if not blocks:
        raise PemError("no PEM %r block found" % label)
    return blocks


def decode(text, label):
    """The DER bytes of the one "label" block in text."""
    blocks = decode_all(text, label)
    if len(blocks) != 1:
        raise PemError("expected one PEM %r block, found %d" % (label, len(blocks)))
    return blocks[0]


def encode(der, label):
    """PEM text of der, base64 in 64-character lines, ending with a newline."""
    b64 = binascii.b2a_base64(bytes(der)).decode().replace("\n", "")
    lines = [_BEGIN + label + _DASHES]
    for i in range(0, len(b64), LINE_CHARS):
        lines.append(b64[i:i + LINE_CHARS])
    lines.append(_END + label + _DASHES)
    return "\n".join(lines) + "\n"
