# portable
# The payloads of the safety link (firmware/safety/messages.py).
from firmware.safety import messages
from tests.portable import raises


def test_command_and_report_round_trip():
    assert messages.parse(messages.command(True, 300)) == ("command", True, 300 % 256)
    payload = messages.report(messages.PERMITS | messages.SELFTEST_OK, ["estop", "rcd_dc"],
                              {"ambient": 31.25, "connector": None})
    kind, flags, codes, temps = messages.parse(payload)
    assert kind == "report" and flags == messages.PERMITS | messages.SELFTEST_OK
    assert sorted(codes) == ["estop", "rcd_dc"]
    assert temps == {"ambient": 31.2, "connector": None} or temps == {"ambient": 31.3, "connector": None}


def test_malformed_messages_are_refused_with_a_reason():
    good = messages.report(0, [], {"ambient": 20.0})
    for bad, words in ((b"", "empty"), (b"\x09", "unknown"), (b"\x01\x01", "malformed"),
                       (good[:-1], "length"), (good[:-3] + b"\x09\x00\x00", "place")):
        exc = raises(messages.BadMessage, messages.parse, bad)
        assert words in str(exc), (bad, str(exc))
