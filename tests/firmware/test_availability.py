# portable
# ChangeAvailability bookkeeping (OCPP 1.6 section 5.2): Accepted / Rejected / Scheduled, connector 0
# covering connector 1, and what survives a reboot.
from firmware.ocpp import availability
from firmware.ocpp.availability import Availability
from hal.memory import MemoryStorage


def test_starts_operative():
    a = Availability()
    assert a.operative(0) and a.operative(1)


def test_inoperative_connector_while_idle_is_accepted_at_once():
    a = Availability()
    assert a.request(1, "Inoperative", False) == "Accepted"
    assert a.operative(0) and not a.operative(1)
    assert a.request(1, "Inoperative", False) == "Accepted"  # already: still Accepted
    assert a.request(1, "Operative", False) == "Accepted"
    assert a.operative(1)


def test_connector_0_takes_the_connector_with_it():
    a = Availability()
    assert a.request(0, "Inoperative", False) == "Accepted"
    assert not a.operative(0) and not a.operative(1)
    assert a.request(1, "Operative", False) == "Accepted"
    assert not a.operative(1)


def test_unknown_connector_or_type_is_rejected():
    a = Availability()
    assert a.request(2, "Inoperative", False) == "Rejected"
    assert a.request(-1, "Inoperative", False) == "Rejected"
    assert a.request(1, "Broken", False) == "Rejected"
    assert a.operative(1)


def test_inoperative_during_a_transaction_is_scheduled_until_it_ends():
    a = Availability()
    assert a.request(0, "Inoperative", True) == "Scheduled"
    assert a.operative(1)
    assert a.tx_ended() is True
    assert not a.operative(1)
    assert a.tx_ended() is False


def test_operative_cancels_a_scheduled_change():
    a = Availability()
    assert a.request(1, "Inoperative", True) == "Scheduled"
    assert a.request(1, "Operative", True) == "Accepted"
    assert a.tx_ended() is False and a.operative(1)


def test_the_wanted_state_survives_a_reboot_and_a_scheduled_change_holds_after_it():
    storage = MemoryStorage()
    Availability(storage).request(1, "Inoperative", True)  # scheduled, then the power goes
    again = Availability(storage)
    assert not again.operative(1) and again.problems == []


def test_a_corrupt_record_is_reported_and_means_operative():
    for raw in (b"junk", b"{}", b'{"v": 1, "0": "Operative"}', b'{"v": 1, "0": "Operative", "1": "Off"}',
                b'{"v": 2, "0": "Operative", "1": "Operative"}'):
        a = Availability(MemoryStorage({availability.KEY: raw}))
        assert a.operative(1) and len(a.problems) == 1, raw
