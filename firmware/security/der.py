# A small strict DER reader and writer (ITU-T X.690 section 10, the Distinguished Encoding Rules).
#
# Reading: Element(data) takes one whole TLV and refuses trailing bytes; .children() walks a constructed
# value one level at a time, so nesting depth costs no recursion. Everything DER forbids is refused with
# DerError: truncated values, indefinite lengths (X.690 10.1), lengths not in their shortest form
# (X.690 10.1 / 8.1.3.5), non-minimal INTEGERs (8.3.2), BOOLEANs other than 00/FF (11.1), BIT STRINGs
# with set padding bits (11.2.1), and time strings other than the RFC 5280 4.1.2.5 forms.
# Writing: just what a PKCS#10 request needs (csr.py).
from firmware import timefmt

LENGTH_BYTES_MAX = 4  # a length of up to 4 GB: far beyond any certificate

# Universal tags (X.680 8.4); a constructed SEQUENCE / SET carries bit 0x20.
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
TELETEX_STRING = 0x14
IA5_STRING = 0x16
UTC_TIME = 0x17
GENERALIZED_TIME = 0x18
BMP_STRING = 0x1E
SEQUENCE = 0x30
SET = 0x31
CONSTRUCTED = 0x20
CONTEXT = 0x80


class DerError(ValueError):
    """The bytes are not valid DER, or not the type the caller expected."""


def context_tag(number, constructed=True):
    """The tag byte of [number] (EXPLICIT and SEQUENCE-like IMPLICIT tags are constructed)."""
    return CONTEXT | (CONSTRUCTED if constructed else 0) | number


def read_header(data, pos, end):
    """(tag, value start, value end) of the TLV at data[pos:]; it must end at or before end."""
    if pos + 2 > end:
        raise DerError("truncated: no tag and length at offset %d" % pos)
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("tag numbers above 30 are not used in X.509 (offset %d)" % pos)
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError("indefinite length is not DER (offset %d)" % (pos - 1))
    else:
        count = first & 0x7F
        if count > LENGTH_BYTES_MAX or pos + count > end:
            raise DerError("length of %d bytes at offset %d is too long or truncated" % (count, pos - 1))
        if data[pos] == 0:
            raise DerError("length with a leading zero byte is not DER (offset %d)" % pos)
        length = 0
        for i in range(count):
            length = (length << 8) | data[pos + i]
        pos += count
        if length < 0x80:
            raise DerError("length %d in long form is not DER (offset %d)" % (length, pos))
    if pos + length > end:
        raise DerError("truncated: value of %d bytes at offset %d runs past the end" % (length, pos))
    return tag, pos, pos + length


class Element:
    """One TLV inside data. Element(data) checks that data is exactly one TLV."""

    def __init__(self, data, start=0, end=None):
        whole = end is None
        if whole:
            data = bytes(data)
            end = len(data)
        self.data = data
        self.start = start
        self.tag, self.value_start, self.end = read_header(data, start, end)
        if whole and self.end != end:
            raise DerError("%d trailing bytes after the DER value" % (end - self.end))

    def raw(self):
        """The whole TLV (tag, length and value) as bytes: what signatures and hashes cover."""
        return self.data[self.start:self.end]

    def value(self):
        return self.data[self.value_start:self.end]

    def expect(self, tag, what):
        if self.tag != tag:
            raise DerError("%s: expected tag 0x%02x, found 0x%02x" % (what, tag, self.tag))
        return self

    def children(self):
        """The elements inside a constructed value, in order."""
        if not self.tag & CONSTRUCTED:
            raise DerError("tag 0x%02x is not constructed" % self.tag)
        found = []
        pos = self.value_start
        while pos < self.end:
            child = Element(self.data, pos, self.end)
            found.append(child)
            pos = child.end
        return found

    def sequence(self, what, count_min=0, count_max=1000):
        items = self.expect(SEQUENCE, what).children()
        if not count_min <= len(items) <= count_max:
            raise DerError("%s: %d elements, expected %d..%d" % (what, len(items), count_min, count_max))
        return items

    def integer(self):
        """The INTEGER's value (two's complement, X.690 8.3)."""
        raw = self.expect(INTEGER, "INTEGER").value()
        if not raw:
            raise DerError("empty INTEGER")
        if len(raw) > 1 and ((raw[0] == 0 and raw[1] < 0x80) or (raw[0] == 0xFF and raw[1] >= 0x80)):
            raise DerError("INTEGER not in its shortest form")
        number = int.from_bytes(raw, "big")
        if raw[0] >= 0x80:
            number -= 1 << (8 * len(raw))
        return number

    def boolean(self):
        raw = self.expect(BOOLEAN, "BOOLEAN").value()
        if raw not in (b"\x00", b"\xff"):
            raise DerError("BOOLEAN must be one byte 00 or FF in DER")
        return raw == b"\xff"

    def null(self):
        if self.expect(NULL, "NULL").end != self.value_start:
            raise DerError("NULL with content")

    def oid(self):
        """The OBJECT IDENTIFIER in dotted form, e.g. "1.2.840.10045.2.1" (X.690 8.19)."""
        raw = self.expect(OID, "OID").value()
        if not raw or raw[-1] & 0x80:
            raise DerError("OID empty or truncated")
        arcs = []
        value = 0
        fresh = True
        for byte in raw:
            if fresh and byte == 0x80:
                raise DerError("OID arc with a leading 0x80 is not minimal")
            value = (value << 7) | (byte & 0x7F)
            fresh = not byte & 0x80
            if fresh:
                arcs.append(value)
                value = 0
        first = min(arcs[0] // 40, 2)
        return ".".join(str(a) for a in [first, arcs[0] - 40 * first] + arcs[1:])

    def bit_string(self):
        """The BIT STRING's bytes; only whole octets (no unused bits) are accepted."""
        raw = self.expect(BIT_STRING, "BIT STRING").value()
        if not raw or raw[0] != 0:
            raise DerError("BIT STRING with unused bits where whole octets are expected")
        return raw[1:]

    def bit_flags(self):
        """A named-bit BIT STRING (e.g. keyUsage) as an int, bit 0 = the first (leftmost) bit."""
        raw = self.expect(BIT_STRING, "BIT STRING").value()
        if not raw or raw[0] > 7 or (len(raw) == 1 and raw[0]):
            raise DerError("bad BIT STRING padding")
        if len(raw) > 1 and raw[-1] & ((1 << raw[0]) - 1):
            raise DerError("BIT STRING padding bits must be zero in DER")
        flags = 0
        for i, byte in enumerate(raw[1:]):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    flags |= 1 << (8 * i + bit)
        return flags

    def octets(self):
        return self.expect(OCTET_STRING, "OCTET STRING").value()

    def text(self):
        """A directory string (UTF8, Printable, IA5, Teletex or BMP) as str, for reading only."""
        raw = self.value()
        try:
            if self.tag in (UTF8_STRING, PRINTABLE_STRING, IA5_STRING):
                return raw.decode()
            if self.tag == TELETEX_STRING:  # treated as Latin-1, as most software does
                return "".join(chr(b) for b in raw)
            if self.tag == BMP_STRING and len(raw) % 2 == 0:  # UCS-2 big endian
                return "".join(chr((raw[i] << 8) | raw[i + 1]) for i in range(0, len(raw), 2))
        except ValueError:  # UnicodeError on both runtimes
            raise DerError("string with invalid characters")
        raise DerError("tag 0x%02x is not a supported string type" % self.tag)

    def time(self):
        """UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280 4.1.2.5) -> epoch s."""
        raw = self.value()
        if self.tag == UTC_TIME and len(raw) == 13:
            year = _digits(raw, 0, 2)
            year += 1900 if year >= 50 else 2000  # RFC 5280 4.1.2.5.1
            rest = 2
        elif self.tag == GENERALIZED_TIME and len(raw) == 15:
            year = _digits(raw, 0, 4)
            rest = 4
        else:
            raise DerError("time must be UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ")
        if raw[-1] != 0x5A:  # "Z"
            raise DerError("time must be in UTC (end in Z)")
        month, day, hour, minute, second = [_digits(raw, rest + 2 * i, 2) for i in range(5)]
        if not 1 <= month <= 12 or not 1 <= day <= timefmt.days_in_month(year, month):
            raise DerError("no such date")
        if hour > 23 or minute > 59 or second > 59:
            raise DerError("no such time of day")
        days = timefmt.days_from_civil(year, month, day)
        return days * timefmt.DAY_S + hour * 3600 + minute * 60 + second


def _digits(raw, pos, count):
    number = 0
    for byte in raw[pos:pos + count]:
        if not 0x30 <= byte <= 0x39:
            raise DerError("time with a non-digit")
        number = number * 10 + byte - 0x30
    return number


# Writer -------------------------------------------------------------------------------------------

def encode(tag, content):
    """One TLV with the length in its shortest form."""
    size = len(content)
    if size < 0x80:
        head = bytes((tag, size))
    else:
        digits = []
        while size:
            digits.insert(0, size & 0xFF)
            size >>= 8
        head = bytes([tag, 0x80 | len(digits)] + digits)
    return head + bytes(content)


def encode_integer(number):
    if number < 0:
        raise ValueError("only non-negative INTEGERs are written")
    size = 1
    while number >> (8 * size - 1):  # room for a clear sign bit
        size += 1
    return encode(INTEGER, number.to_bytes(size, "big"))


def encode_oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39):
        raise ValueError("bad OID %r" % dotted)
    out = []
    for arc in [40 * arcs[0] + arcs[1]] + arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.insert(0, 0x80 | (arc & 0x7F))
            arc >>= 7
        out += chunk
    return encode(OID, bytes(out))


def encode_sequence(*parts):
    return encode(SEQUENCE, b"".join(parts))


def encode_set(*parts):
    return encode(SET, b"".join(sorted(parts)))  # SET OF sorts its encodings (X.690 11.6)


def encode_bit_string(octets):
    return encode(BIT_STRING, b"\x00" + bytes(octets))
