# portable
# The clock arithmetic of clock-aligned meter values (firmware/ocpp/sampling.py); the sampling itself is
# tested end to end in tests/e2e/test_ocpp16_core.py.
from firmware.ocpp.sampling import wall_ms


class Clock:
    def __init__(self, text):
        self.text = text

    def utc(self):
        return self.text


def test_wall_ms_reads_the_fraction_of_the_utc_text():
    assert wall_ms(Clock("1970-01-01T00:00:01.250Z")) == 1250
    assert wall_ms(Clock("1970-01-01T00:00:01.5Z")) == 1500
    assert wall_ms(Clock("1970-01-01T00:00:01.123456Z")) == 1123
    assert wall_ms(Clock("2025-01-01T00:15:00Z")) == 1735690500000


def test_wall_ms_honours_an_offset():
    assert wall_ms(Clock("1970-01-01T01:00:00.000+01:00")) == 0
