# portable
# The strict DER reader/writer and PEM (firmware/security/der.py, pem.py).
import binascii

from firmware.security import der, pem
from firmware.security.der import DerError, Element
from tests.firmware import security_vectors as v
from tests.portable import raises


def h(text):
    return binascii.unhexlify(text.replace(" ", ""))


def test_a_sequence_is_read_one_level_at_a_time():
    seq = Element(h("30 0b 02 01 05 06 06 2a 86 48 ce 3d 01"))
    first, second = seq.sequence("test", 2, 2)
    assert first.integer() == 5
    assert second.oid() == "1.2.840.10045.1"
    assert seq.raw() == h("30 0b 02 01 05 06 06 2a 86 48 ce 3d 01")
    assert second.raw() == h("06 06 2a 86 48 ce 3d 01")


def test_long_form_lengths_round_trip():
    for size in (0, 1, 127, 128, 255, 256, 70000):
        encoded = der.encode(der.OCTET_STRING, bytes(size))
        assert Element(encoded).octets() == bytes(size)
    assert der.encode(der.OCTET_STRING, bytes(128))[:3] == h("04 81 80")
    assert der.encode(der.OCTET_STRING, bytes(256))[:4] == h("04 82 01 00")


def test_malformed_encodings_are_refused():
    bad = [
        "",  # nothing
        "30",  # no length
        "30 03 02 01",  # value runs past the end
        "30 00 00",  # trailing byte
        "30 80 02 01 05 00 00",  # indefinite length (BER only)
        "04 81 05 00 00 00 00 00",  # long form for a short length
        "04 82 00 80" + " 00" * 128,  # length with a leading zero byte
        "04 85 01 00 00 00 00",  # a 5-byte length
        "1f 20 00",  # high tag number form
    ]
    for text in bad:
        raises(DerError, Element, h(text))


def test_integers_are_minimal_twos_complement():
    assert Element(h("02 01 00")).integer() == 0
    assert Element(h("02 01 7f")).integer() == 127
    assert Element(h("02 02 00 80")).integer() == 128
    assert Element(h("02 01 80")).integer() == -128
    assert Element(h("02 02 ff 7f")).integer() == -129
    for text in ("02 00", "02 02 00 01", "02 02 ff 80"):
        raises(DerError, Element(h(text)).integer)
    raises(DerError, Element(h("04 01 00")).integer)  # not an INTEGER at all


def test_booleans_bit_strings_and_null_follow_der():
    assert Element(h("01 01 ff")).boolean() is True
    assert Element(h("01 01 00")).boolean() is False
    raises(DerError, Element(h("01 01 01")).boolean)
    assert Element(h("03 03 00 ab cd")).bit_string() == h("ab cd")
    raises(DerError, Element(h("03 02 04 f0")).bit_string)  # unused bits where octets are expected
    assert Element(h("03 02 01 06")).bit_flags() == 0b1100000  # keyCertSign + cRLSign
    raises(DerError, Element(h("03 02 01 07")).bit_flags)  # a padding bit set
    raises(DerError, Element(h("03 01 01")).bit_flags)
    Element(h("05 00")).null()
    raises(DerError, Element(h("05 01 00")).null)


def test_object_identifiers():
    assert Element(h("06 03 55 04 03")).oid() == "2.5.4.3"
    assert Element(h("06 09 2a 86 48 86 f7 0d 01 01 0b")).oid() == "1.2.840.113549.1.1.11"
    assert Element(h("06 03 88 37 03")).oid() == "2.999.3"
    for text in ("06 00", "06 02 2a 86", "06 03 2a 80 01"):
        raises(DerError, Element(h(text)).oid)
    for dotted in ("2.5.4.3", "1.2.840.113549.1.1.11", "2.999.3", "1.2.840.10045.3.1.7"):
        assert Element(der.encode_oid(dotted)).oid() == dotted


def test_times_follow_rfc_5280():
    assert Element(b"\x17\x0d" + b"491231235959Z").time() == 2524607999  # 2049-12-31T23:59:59Z
    assert Element(b"\x17\x0d" + b"500101000000Z").time() == -631152000  # 1950-01-01
    assert Element(b"\x18\x0f" + b"20600101000000Z").time() == 2840140800
    assert Element(b"\x18\x0f" + b"20240229120000Z").time() == 1709208000  # a leap day
    bad = [b"\x17\x0b" + b"2401010000Z", b"\x17\x0d" + b"240230000000Z", b"\x17\x0d" + b"240101000000+",
           b"\x18\x13" + b"20240101000000.123Z", b"\x17\x0d" + b"24010100000aZ", b"\x17\x0d" + b"240101240000Z",
           b"\x04\x0d" + b"240101000000Z"]
    for raw in bad:
        raises(DerError, Element(raw).time)


def test_directory_strings_read_as_text():
    assert Element(h("0c 03") + "é!".encode()).text() == "é!"
    assert Element(h("13 02") + b"AB").text() == "AB"
    assert Element(h("1e 04 00 41 00 e9")).text() == "Aé"
    raises(DerError, Element(h("0c 01 ff")).text)
    raises(DerError, Element(h("02 01 00")).text)


def test_writer_makes_what_the_reader_accepts():
    assert der.encode_integer(0) == h("02 01 00")
    assert der.encode_integer(127) == h("02 01 7f")
    assert der.encode_integer(128) == h("02 02 00 80")
    big = (1 << 255) + 12345
    assert Element(der.encode_integer(big)).integer() == big
    raises(ValueError, der.encode_integer, -1)
    assert der.encode_set(h("02 01 02"), h("02 01 01")) == h("31 06 02 01 01 02 01 02")
    assert der.context_tag(0) == 0xA0 and der.context_tag(1, False) == 0x81
    assert Element(der.encode_bit_string(b"\x04\x05")).bit_string() == b"\x04\x05"
    nested = der.encode_sequence(der.encode_integer(1), der.encode_sequence(der.encode_oid("2.5.4.3")))
    assert Element(nested).children()[1].children()[0].oid() == "2.5.4.3"


def test_pem_round_trip_and_chains_keep_their_order():
    chain_text = "intro text\n" + v.CP_LEAF + v.CS_SUB + "trailer\n"
    leaf, sub = pem.decode_all(chain_text, pem.CERTIFICATE)
    assert pem.encode(leaf, pem.CERTIFICATE) == v.CP_LEAF
    assert pem.encode(sub, pem.CERTIFICATE) == v.CS_SUB
    one_line = v.CS_ROOT.replace("\n", "")
    assert pem.decode(one_line, pem.CERTIFICATE) == pem.decode(v.CS_ROOT, pem.CERTIFICATE)
    assert pem.decode(v.CS_ROOT.replace("\n", "\r\n").encode(), pem.CERTIFICATE)[:1] == b"\x30"
    assert all(len(line) <= pem.LINE_CHARS for line in v.CS_SUB.splitlines())


def test_bad_pem_is_refused():
    body = v.CS_ROOT.splitlines()[1:-1]
    cases = [
        "",
        "no pem here",
        v.CS_ROOT.replace("CERTIFICATE", "PRIVATE KEY"),  # another label
        v.CS_ROOT.replace("-----END CERTIFICATE-----", ""),  # no END
        "-----BEGIN CERTIFICATE-----\n" + "\n".join(body) + "\n" + v.CS_SUB,  # BEGIN inside a block
        v.CS_ROOT.replace(body[1], body[1][:10] + "*" + body[1][11:]),  # a character outside base64
        v.CS_ROOT.replace(body[-1], body[-1] + "A"),  # wrong length
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",  # empty
        None,
    ]
    for text in cases:
        raises(ValueError, pem.decode_all, text, pem.CERTIFICATE)
    raises(pem.PemError, pem.decode, v.CP_LEAF + v.CS_SUB, pem.CERTIFICATE)  # two where one is wanted
    raises(pem.PemError, pem.decode_base64, "QUJD=")
    assert pem.decode_base64("QUJD\nREVG") == b"ABCDEF"
