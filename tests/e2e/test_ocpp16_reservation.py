"""OCPP 1.6 Reservation end to end (section 3.12; ReserveNow 5.13, CancelReservation 5.3): the firmware
on the simulated plant against the embedded CSMS (every frame validated by the `ocpp` package), in
virtual time. Each test checks what the CSMS recorded and that it saw no error."""

import asyncio

from sim.csms import Csms
from tests.e2e.test_ocpp16_smart import iso, now_s
from tests.e2e.test_stories import booted, only_transaction, run, statuses, until

TAGS = ("TAG1", "TAG2", "TAG3")


def csms():
    c = Csms(accepted_tokens=TAGS)
    c.set_token("TAG3", parent_id_tag="GROUP")
    c.set_token("TAG4", parent_id_tag="GROUP")
    return c


async def reserve(rig, clock, reservation_id=1, id_tag="TAG1", in_s=3600, parent=None, connector_id=1):
    return (await rig.station.reserve_now(connector_id, iso(now_s(clock) + in_s), id_tag, reservation_id,
                                          parent))["status"]


async def reserved(rig, clock):
    await until(lambda: statuses(rig.station)[-1:] == ["Reserved"], clock, 5, "Reserved")


async def plugged(rig):
    rig.plant.plug()
    await asyncio.sleep(1)


def test_only_the_reserved_tag_may_start_and_its_start_transaction_ends_the_reservation():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await reserve(rig, clock, 7) == "Accepted"
        await reserved(rig, clock)
        await plugged(rig)
        assert not await rig.fw.present_token("TAG2")  # valid at the CSMS, but not the reserved one
        assert rig.plant.current_a == 0
        assert await rig.fw.present_token("TAG1")
        await until(lambda: rig.station.transactions and rig.plant.current_a > 0, clock, 10, "charging")
        assert only_transaction(rig.station)["reservation_id"] == 7
        assert await rig.station.cancel_reservation(7) == {"status": "Rejected"}  # used up
        assert "Reserved" not in statuses(rig.station)[statuses(rig.station).index("Preparing"):]

    run(story, csms=csms())


def test_a_tag_with_the_reservations_parent_id_tag_may_start_a_stranger_may_not():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await reserve(rig, clock, 2, "TAG1", parent="GROUP") == "Accepted"
        await plugged(rig)
        assert not await rig.fw.present_token("TAG2")  # no parent
        assert await rig.fw.present_token("TAG3")  # parentIdTag GROUP, learnt from Authorize
        await until(lambda: rig.station.transactions, clock, 10, "StartTransaction")
        assert only_transaction(rig.station)["id_tag"] == "TAG3"
        assert only_transaction(rig.station)["reservation_id"] == 2

    run(story, csms=csms())


def test_the_reservation_ends_at_its_expiry_date():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await reserve(rig, clock, 3, in_s=120) == "Accepted"
        expiry_ms = (now_s(clock) + 120 - clock.start_epoch) * 1000
        await reserved(rig, clock)
        await until(lambda: statuses(rig.station)[-1:] == ["Available"], clock, 130, "Available again")
        assert expiry_ms - 1000 <= clock.ms() <= expiry_ms + 1100  # the timer, not a poll
        await plugged(rig)
        assert await rig.fw.present_token("TAG2")  # anyone may charge now
        await until(lambda: rig.station.transactions, clock, 10, "StartTransaction")
        assert only_transaction(rig.station)["reservation_id"] is None

    run(story, csms=csms())


def test_cancel_reservation_frees_the_connector():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await reserve(rig, clock, 4) == "Accepted"
        await reserved(rig, clock)
        assert await rig.station.cancel_reservation(5) == {"status": "Rejected"}  # no such reservation
        assert await rig.station.cancel_reservation(4) == {"status": "Accepted"}
        await until(lambda: statuses(rig.station)[-1:] == ["Available"], clock, 5, "Available")
        await plugged(rig)
        assert await rig.fw.present_token("TAG2")

    run(story, csms=csms())


def test_reserve_now_answers_occupied_unavailable_faulted_and_rejected():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await reserve(rig, clock, 1, connector_id=0) == "Rejected"  # ReserveConnectorZeroSupported false
        assert await reserve(rig, clock, 1, connector_id=2) == "Rejected"  # no such connector
        assert await reserve(rig, clock, 1, in_s=-10) == "Rejected"  # already expired
        assert await reserve(rig, clock, 1) == "Accepted"
        assert await reserve(rig, clock, 2, "TAG2") == "Occupied"  # reserved by another reservation
        assert await reserve(rig, clock, 1, "TAG2") == "Accepted"  # the same id replaces it
        assert rig.fw.cp.reservations.current["tag"] == "TAG2"
        assert await rig.station.cancel_reservation(1) == {"status": "Accepted"}
        await plugged(rig)
        assert await reserve(rig, clock, 3) == "Occupied"  # an EV is plugged (Preparing)
        rig.plant.unplug()
        await asyncio.sleep(1)
        assert await rig.station.change_availability(1, "Inoperative") == {"status": "Accepted"}
        assert await reserve(rig, clock, 3) == "Unavailable"
        assert await rig.station.change_availability(1, "Operative") == {"status": "Accepted"}
        rig.plant.pe_fault.set(True)
        await until(lambda: statuses(rig.station)[-1:] == ["Faulted"], clock, 10, "Faulted")
        assert await reserve(rig, clock, 3) == "Faulted"
        keys = {e["key"]: e["value"] for e in (await rig.station.get_configuration())["configurationKey"]}
        assert "Reservation" in keys["SupportedFeatureProfiles"].split(",")
        assert keys["ReserveConnectorZeroSupported"] == "false"

    run(story, csms=csms())


def test_remote_start_for_another_tag_is_rejected_while_reserved():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await reserve(rig, clock, 1) == "Accepted"
        await plugged(rig)
        assert await rig.station.remote_start("TAG2", 1) == {"status": "Rejected"}
        assert await rig.station.remote_start("TAG1", 1) == {"status": "Accepted"}
        await until(lambda: rig.station.transactions, clock, 10, "StartTransaction")
        assert only_transaction(rig.station)["reservation_id"] == 1

    run(story, csms=csms())


def test_a_reservation_survives_a_reboot():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await reserve(rig, clock, 9) == "Accepted"
        await reserved(rig, clock)
        await rig.reboot("power")
        await until(lambda: rig.fw.cp.booted, clock, 60, "booted again")
        await until(lambda: statuses(rig.station)[-1:] == ["Reserved"] and len(statuses(rig.station)) > 2,
                    clock, 10, "Reserved after the boot")
        await plugged(rig)
        assert not await rig.fw.present_token("TAG2")
        assert await rig.station.cancel_reservation(9) == {"status": "Accepted"}

    run(story, csms=csms())


def test_a_start_queued_offline_still_names_its_reservation_after_a_reboot():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await reserve(rig, clock, 9) == "Accepted"
        await reserved(rig, clock)
        rig.network.set_online(False)
        await plugged(rig)
        assert await rig.fw.present_token("TAG1")  # offline: AllowOfflineTxForUnknownId
        await until(lambda: len(rig.fw.cp.txq) >= 1, clock, 10, "StartTransaction queued")
        await rig.reboot("power")  # the Start is only in the queue on flash now
        rig.network.set_online(True)
        await until(lambda: rig.station.transactions, clock, 120, "StartTransaction")
        assert only_transaction(rig.station)["reservation_id"] == 9
        assert not rig.station.errors

    run(story, csms=csms(), config={"LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": True})
