"""OCPP 1.6 Local Auth List Management and local authorization end to end (sections 3.5, 5.10, 5.15):
SendLocalList and GetLocalListVersion from the embedded CSMS, and what the Local Authorization List, the
Authorization Cache, LocalPreAuthorize, LocalAuthorizeOffline and AllowOfflineTxForUnknownId do when a
tag is presented online and offline. Virtual time; every frame validated by the `ocpp` package."""

import asyncio

import pytest

from sim.csms import Csms
from tests.e2e.test_stories import booted, calls_in, only_transaction, run, statuses, stopped, until


def entry(id_tag, status="Accepted", expiry=None, parent=None):
    info = {"status": status}
    if expiry:
        info["expiryDate"] = expiry
    if parent:
        info["parentIdTag"] = parent
    return {"idTag": id_tag, "idTagInfo": info}


async def go_offline(rig, clock):
    rig.network.set_online(False)
    await until(lambda: not rig.fw.cp.link.online.is_set(), clock, 5, "link down")


async def plugged(rig, clock):
    rig.plant.plug()
    await until(lambda: rig.fw.charger.session.cp == "B", clock, 5, "EV plugged")


async def charges(rig, clock):
    await until(lambda: rig.plant.current_a > 0, clock, 10, "current flowing")


# SendLocalList / GetLocalListVersion ---------------------------------------------------------------


def test_full_update_sets_the_list_and_its_version():
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station
        assert await station.get_local_list_version() == {"listVersion": 0}  # empty
        reply = await station.send_local_list(3, "Full", [entry("CARD1"), entry("CARD2", "Blocked")])
        assert reply == {"status": "Accepted"}
        assert await station.get_local_list_version() == {"listVersion": 3}
        assert await station.send_local_list(1, "Full", [entry("CARD3")]) == {"status": "Accepted"}
        assert await station.get_local_list_version() == {"listVersion": 1}  # a Full update may go back
        assert rig.fw.cp.auth.lookup("CARD1") is None and rig.fw.cp.auth.lookup("CARD3") == {"status": "Accepted"}
        assert await station.send_local_list(5, "Full", []) == {"status": "Accepted"}
        assert await station.get_local_list_version() == {"listVersion": 0}  # an empty list is version 0

    run(story)


def test_differential_update_adds_changes_deletes_and_refuses_an_old_version():
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station
        auth = rig.fw.cp.auth
        assert await station.send_local_list(1, "Full", [entry("A"), entry("B")]) == {"status": "Accepted"}
        reply = await station.send_local_list(2, "Differential", [entry("C"), entry("B", "Blocked"), {"idTag": "A"}])
        assert reply == {"status": "Accepted"}
        assert auth.lookup("A") is None and auth.lookup("B") == {"status": "Blocked"}
        assert auth.lookup("C") == {"status": "Accepted"}
        assert await station.send_local_list(2, "Differential", [entry("D")]) == {"status": "VersionMismatch"}
        assert await station.send_local_list(1, "Differential", [entry("D")]) == {"status": "VersionMismatch"}
        assert auth.lookup("D") is None
        assert await station.get_local_list_version() == {"listVersion": 2}

    run(story)


def test_an_update_too_long_or_overfilling_the_list_fails_and_changes_nothing():
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station
        too_many = [entry("T%d" % i) for i in range(101)]  # SendLocalListMaxLength is 100
        assert await station.send_local_list(1, "Full", too_many) == {"status": "Failed"}
        assert await station.send_local_list(1, "Full", [entry("F%d" % i) for i in range(60)]) == {"status": "Accepted"}
        more = [entry("G%d" % i) for i in range(60)]  # 120 > LocalAuthListMaxLength 100
        assert await station.send_local_list(2, "Differential", more) == {"status": "Failed"}
        assert await station.get_local_list_version() == {"listVersion": 1}
        assert rig.fw.cp.auth.lookup("G0") is None
        got = await station.get_configuration(["LocalAuthListMaxLength", "SendLocalListMaxLength"])
        assert [e["value"] for e in got["configurationKey"]] == ["100", "100"]

    run(story)


def test_a_disabled_list_reports_minus_one_and_refuses_updates():
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station
        assert await station.change_configuration("LocalAuthListEnabled", "false") == {"status": "Accepted"}
        assert await station.get_local_list_version() == {"listVersion": -1}
        assert await station.send_local_list(1, "Full", [entry("CARD1")]) == {"status": "NotSupported"}

    run(story)


def test_the_local_list_survives_a_reboot():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.send_local_list(7, "Full", [entry("CARD1")]) == {"status": "Accepted"}
        await rig.reboot("power")
        await until(lambda: rig.fw.cp.booted, clock, 60, "booted again")
        assert await rig.station.get_local_list_version() == {"listVersion": 7}
        assert rig.fw.cp.auth.lookup("CARD1") == {"status": "Accepted"}

    run(story)


# Presenting a tag ------------------------------------------------------------------------------------


def test_local_pre_authorize_starts_a_listed_tag_without_asking_the_csms():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.send_local_list(1, "Full", [entry("CARD1")]) == {"status": "Accepted"}
        assert await rig.station.change_configuration("LocalPreAuthorize", "true") == {"status": "Accepted"}
        await plugged(rig, clock)
        assert await rig.fw.present_token("CARD1")
        await charges(rig, clock)
        await until(lambda: rig.station.transactions, clock, 10)
        assert "Authorize" not in calls_in(rig.station)
        assert only_transaction(rig.station)["id_tag"] == "CARD1"

    run(story, csms=Csms(tokens={"CARD1": {}}))


def test_without_local_pre_authorize_a_listed_tag_is_still_asked():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.send_local_list(1, "Full", [entry("CARD1")]) == {"status": "Accepted"}
        await plugged(rig, clock)
        assert await rig.fw.present_token("CARD1")
        assert [a["id_tag"] for a in rig.station.authorizations] == ["CARD1"]

    run(story, csms=Csms(tokens={"CARD1": {}}))


def test_local_authorize_offline_starts_a_listed_tag_and_the_csms_hears_of_it_later():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.send_local_list(1, "Full", [entry("CARD1")]) == {"status": "Accepted"}
        await go_offline(rig, clock)
        await plugged(rig, clock)
        assert await rig.fw.present_token("CARD1")
        await charges(rig, clock)
        await asyncio.sleep(60)
        rig.plant.unplug()
        await asyncio.sleep(5)
        rig.network.set_online(True)
        tx = await stopped(rig, clock, timeout_s=120)
        assert tx["id_tag"] == "CARD1" and tx["reason"] == "EVDisconnected"
        assert rig.station.authorizations == []

    run(story, csms=Csms(tokens={"CARD1": {}}))


def test_without_local_authorize_offline_a_listed_tag_is_refused_offline():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.send_local_list(1, "Full", [entry("CARD1")]) == {"status": "Accepted"}
        assert await rig.station.change_configuration("LocalAuthorizeOffline", "false") == {"status": "Accepted"}
        await go_offline(rig, clock)
        await plugged(rig, clock)
        assert not await rig.fw.present_token("CARD1")
        await asyncio.sleep(10)
        assert rig.plant.generator == "x1"

    run(story)


def test_the_cache_lets_a_known_tag_charge_offline_unless_it_is_disabled():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.fw.present_token("TAG1")  # Accepted online: cached
        rig.fw.charger.stop("Local")
        assert await rig.station.change_configuration("AuthorizationCacheEnabled", "false") == {"status": "Accepted"}
        await go_offline(rig, clock)
        await plugged(rig, clock)
        assert not await rig.fw.present_token("TAG1")  # the cache is not consulted
        rig.fw.config.set("AuthorizationCacheEnabled", "true")  # the local maintenance menu, say
        assert await rig.fw.present_token("TAG1")
        await charges(rig, clock)

    run(story)


@pytest.mark.parametrize("allow, starts", [(True, True), (False, False)])
def test_an_unknown_tag_offline_follows_allow_offline_tx_for_unknown_id(allow, starts):
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.change_configuration("AllowOfflineTxForUnknownId", str(allow).lower()) == {
            "status": "Accepted"}
        await go_offline(rig, clock)
        await plugged(rig, clock)
        assert await rig.fw.present_token("STRANGER") is starts
        await asyncio.sleep(10)
        assert (rig.plant.current_a > 0) is starts

    run(story)


def test_an_unknown_tag_let_in_offline_is_stopped_when_the_csms_refuses_its_start():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.change_configuration("AllowOfflineTxForUnknownId", "true") == {"status": "Accepted"}
        await go_offline(rig, clock)
        await plugged(rig, clock)
        assert await rig.fw.present_token("STRANGER")
        await charges(rig, clock)
        rig.network.set_online(True)
        tx = await stopped(rig, clock, timeout_s=120)
        assert tx["id_tag_status"] == "Invalid" and tx["reason"] == "DeAuthorized"  # StopTransactionOnInvalidId
        assert rig.fw.cp.auth.lookup("STRANGER") == {"status": "Invalid"}  # learnt from StartTransaction.conf

    run(story)


@pytest.mark.parametrize("listed", [entry("CARD1", "Blocked"), entry("CARD1", expiry="2024-12-31T23:59:59Z")])
def test_a_listed_tag_that_is_blocked_or_expired_is_refused_offline_even_if_unknown_ids_are_allowed(listed):
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.send_local_list(1, "Full", [listed]) == {"status": "Accepted"}
        assert await rig.station.change_configuration("AllowOfflineTxForUnknownId", "true") == {"status": "Accepted"}
        await go_offline(rig, clock)
        await plugged(rig, clock)
        assert not await rig.fw.present_token("CARD1")

    run(story)


def test_the_list_takes_precedence_over_the_cache():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.fw.present_token("TAG1")  # cached Accepted
        rig.fw.charger.stop("Local")
        assert await rig.station.send_local_list(1, "Full", [entry("TAG1", "Blocked")]) == {"status": "Accepted"}
        await go_offline(rig, clock)
        await plugged(rig, clock)
        assert not await rig.fw.present_token("TAG1")

    run(story)


def test_a_csms_answer_that_contradicts_the_list_is_reported_as_local_list_conflict():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.send_local_list(1, "Full", [entry("CARD1")]) == {"status": "Accepted"}
        await plugged(rig, clock)
        assert not await rig.fw.present_token("CARD1")  # the CSMS says Blocked, and it has the last word
        await until(lambda: any(s["error_code"] == "LocalListConflict" for s in rig.station.statuses), clock, 5)
        conflict = [s for s in rig.station.statuses if s["error_code"] == "LocalListConflict"][0]
        assert conflict["connector_id"] == 0 and conflict["status"] == "Available"
        assert statuses(rig.station)[-1] == "Preparing" and rig.plant.generator == "x1"

    run(story, csms=Csms(tokens={"CARD1": {"status": "Blocked"}}))
