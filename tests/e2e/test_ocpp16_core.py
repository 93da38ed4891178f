"""OCPP 1.6 Core profile end to end: the firmware on the simulated board against the embedded CSMS (the
`ocpp` package, every frame validated against the OCA schemas), in virtual time. One test per behaviour;
each checks what the CSMS recorded and, unless it says otherwise, that the CSMS saw no error at all.
Section numbers are OCPP 1.6 edition 2."""

import asyncio

import pytest

from firmware.config import KEYS
from sim.csms import Csms
from tests.e2e.test_stories import booted, calls_in, charging, only_transaction, run, statuses, stopped, until, utc_ms

# Core keys every 1.6 charge point must have (section 9.1, fact sheet 4.3 "req").
REQUIRED_CORE = ("AuthorizeRemoteTxRequests", "ClockAlignedDataInterval", "ConnectionTimeOut",
                 "ConnectorPhaseRotation", "GetConfigurationMaxKeys", "HeartbeatInterval", "LocalAuthorizeOffline",
                 "LocalPreAuthorize", "MeterValuesAlignedData", "MeterValuesSampledData", "MeterValueSampleInterval",
                 "NumberOfConnectors", "ResetRetries", "StopTransactionOnEVSideDisconnect",
                 "StopTransactionOnInvalidId", "StopTxnAlignedData", "StopTxnSampledData", "SupportedFeatureProfiles",
                 "TransactionMessageAttempts", "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect")
READ_ONLY = ("GetConfigurationMaxKeys", "NumberOfConnectors", "SupportedFeatureProfiles", "LocalAuthListMaxLength",
             "SendLocalListMaxLength", "MeterValuesSampledDataMaxLength")
KEY_HEX = "00112233445566778899aabbccddeeff"  # 16 bytes as 32 hex digits


def connector0(station):
    return [(s["status"], s["error_code"]) for s in station.statuses if s["connector_id"] == 0]


def frames_out(station, action):
    return [f for f in station.frames if f["direction"] == "in" and f["type"] == "CALL" and f["action"] == action]


# Configuration -------------------------------------------------------------------------------------


def test_get_configuration_has_every_required_core_key_with_its_accessibility():
    async def story(rig, clock):
        await booted(rig, clock)
        entries = {e["key"]: e for e in (await rig.station.get_configuration())["configurationKey"]}
        assert set(REQUIRED_CORE) <= set(entries)
        for key in READ_ONLY:
            assert entries[key]["readonly"] is True, key
        assert entries["HeartbeatInterval"]["readonly"] is False
        profiles = set(entries["SupportedFeatureProfiles"]["value"].split(","))
        assert {"Core", "LocalAuthListManagement", "RemoteTrigger"} <= profiles
        assert sorted(entries) == sorted(KEYS)

    run(story)


def test_authorization_key_is_write_only_and_never_read_back():
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station
        assert await station.change_configuration("AuthorizationKey", KEY_HEX) == {"status": "Accepted"}
        assert await station.change_configuration("AuthorizationKey", "not hex at all, no") == {"status": "Rejected"}
        assert await station.change_configuration("AuthorizationKey", "00ff") == {"status": "Rejected"}  # < 16 bytes
        everything = await station.get_configuration()
        assert "AuthorizationKey" not in [e["key"] for e in everything["configurationKey"]]
        asked = await station.get_configuration(["AuthorizationKey", "HeartbeatInterval"])
        assert [e["key"] for e in asked["configurationKey"]] == ["HeartbeatInterval"]
        assert "unknownKey" not in asked  # not even as an unknown key
        assert KEY_HEX not in "".join(f["text"] for f in station.frames if f["direction"] == "in")
        assert rig.fw.config["AuthorizationKey"] == KEY_HEX

    run(story)


@pytest.mark.parametrize("key, value, expected", [
    ("StopTransactionOnEVSideDisconnect", "false", "Rejected"),  # the session always stops on unplug
    ("StopTransactionOnEVSideDisconnect", "true", "Accepted"),
    ("ConnectorPhaseRotation", "0.RST,1.RST", "Accepted"),
    ("ConnectorPhaseRotation", "2.RST", "Rejected"),  # no connector 2
    ("ConnectorPhaseRotation", "1.XYZ", "Rejected"),
    ("MeterValuesSampledData", "Voltage,Voltage", "Rejected"),  # each measurand once (MaxLength 5)
    ("StopTxnAlignedData", "Energy.Active.Import.Register", "Accepted"),
    ("LocalAuthListMaxLength", "5", "Rejected"),  # read-only
    ("SupportedFeatureProfiles", "Core", "Rejected"),  # read-only
    ("ClockAlignedDataInterval", "-1", "Rejected"),
    ("LocalAuthListEnabled", "yes", "Rejected"),
    ("HeartbeatInterval", "1.5", "Rejected"),
])
def test_change_configuration_checks_type_range_and_accessibility(key, value, expected):
    async def story(rig, clock):
        await booted(rig, clock)
        before = await rig.station.get_configuration([key])
        assert await rig.station.change_configuration(key, value) == {"status": expected}
        after = await rig.station.get_configuration([key])
        assert (after == before) == (expected == "Rejected" or before["configurationKey"][0]["value"] == value)

    run(story)


def test_reboot_required_key_is_stored_and_applies_after_a_reboot():
    async def story(rig, clock):
        await booted(rig, clock)
        assert rig.fw.charger.session.timers["timer_plug"] == 60000
        assert await rig.station.change_configuration("ConnectionTimeOut", "25") == {"status": "RebootRequired"}
        assert rig.fw.charger.session.timers["timer_plug"] == 60000  # the running power path keeps its value
        await rig.reboot("power")
        await until(lambda: rig.fw.cp.booted, clock, 60, "booted again")
        assert rig.fw.charger.session.timers["timer_plug"] == 25000
        got = await rig.station.get_configuration(["ConnectionTimeOut"])
        assert got["configurationKey"][0]["value"] == "25"

    run(story)


def test_changed_configuration_survives_a_reboot():
    changes = {"MeterValueSampleInterval": "17", "LocalPreAuthorize": "true", "StopTxnSampledData": "Voltage",
               "ConnectorPhaseRotation": "1.RTS", "AllowOfflineTxForUnknownId": "true"}

    async def story(rig, clock):
        await booted(rig, clock)
        for key, value in changes.items():
            assert await rig.station.change_configuration(key, value) == {"status": "Accepted"}
        await rig.reboot("power")
        await until(lambda: rig.fw.cp.booted, clock, 60, "booted again")
        got = await rig.station.get_configuration(sorted(changes))
        assert {e["key"]: e["value"] for e in got["configurationKey"]} == changes

    run(story)


def test_get_configuration_with_more_keys_than_allowed_is_an_occurence_constraint_violation():
    async def story(rig, clock):
        await booted(rig, clock)
        reply = await rig.station.send_raw('[2,"many","GetConfiguration",{"key":%s}]'
                                           % str(["HeartbeatInterval"] * 51).replace("'", '"'))
        assert reply[:3] == [4, "many", "OccurenceConstraintViolation"]
        assert await rig.station.get_configuration(["HeartbeatInterval"] * 50)  # the limit itself is fine
        return True

    run(story, expect_errors=True)


def test_heartbeat_interval_change_takes_effect_at_once():
    async def story(rig, clock):
        await booted(rig, clock)  # the CSMS said 300 s at boot
        assert await rig.station.change_configuration("HeartbeatInterval", "20") == {"status": "Accepted"}
        changed_ms = utc_ms(rig.csms.utc())
        await asyncio.sleep(70)
        beats = [utc_ms(b) for b in rig.station.heartbeats]
        assert len(beats) >= 3
        assert beats[0] - changed_ms <= 20000 + 1000  # not 300 s after the last message
        assert all(abs(b - a - 20000) <= 1000 for a, b in zip(beats, beats[1:])), beats

    run(story)


# ChangeAvailability (section 5.2) ----------------------------------------------------------------


def test_connector_made_inoperative_reports_unavailable_and_refuses_to_start():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.change_availability(1, "Inoperative") == {"status": "Accepted"}
        await until(lambda: statuses(rig.station)[-1] == "Unavailable", clock, 5)
        rig.plant.plug()
        await asyncio.sleep(2)
        assert not await rig.fw.present_token("TAG1")
        assert await rig.station.remote_start("TAG1") == {"status": "Rejected"}
        await asyncio.sleep(10)
        assert rig.station.transactions == {} and rig.plant.generator == "x1"
        assert statuses(rig.station)[-1] == "Unavailable"
        assert await rig.station.change_availability(1, "Inoperative") == {"status": "Accepted"}  # already
        assert await rig.station.change_availability(1, "Operative") == {"status": "Accepted"}
        await until(lambda: statuses(rig.station)[-1] == "Preparing", clock, 5)
        assert await rig.fw.present_token("TAG1")
        await until(lambda: rig.plant.current_a > 0, clock, 10, "charging")

    run(story)


def test_charge_point_made_inoperative_reports_connector_0_and_1_unavailable():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.change_availability(0, "Inoperative") == {"status": "Accepted"}
        await until(lambda: connector0(rig.station)[-1:] == [("Unavailable", "NoError")], clock, 5)
        await until(lambda: statuses(rig.station)[-1] == "Unavailable", clock, 5)
        assert await rig.station.change_availability(1, "Operative") == {"status": "Accepted"}
        await asyncio.sleep(5)
        assert statuses(rig.station)[-1] == "Unavailable"  # the charge point as a whole still is
        assert await rig.station.change_availability(0, "Operative") == {"status": "Accepted"}
        await until(lambda: statuses(rig.station)[-1] == "Available", clock, 5)
        assert connector0(rig.station) == [("Unavailable", "NoError"), ("Available", "NoError")]
        assert await rig.station.change_availability(2, "Inoperative") == {"status": "Rejected"}

    run(story)


def test_inoperative_during_a_transaction_is_scheduled_until_it_ends():
    async def story(rig, clock):
        await charging(rig, clock)
        assert await rig.station.change_availability(1, "Inoperative") == {"status": "Scheduled"}
        await asyncio.sleep(30)
        assert rig.plant.current_a > 0 and statuses(rig.station)[-1] == "Charging"
        rig.plant.unplug()
        tx = await stopped(rig, clock)
        assert tx["reason"] == "EVDisconnected"
        await until(lambda: statuses(rig.station)[-1] == "Unavailable", clock, 5)
        assert "Available" not in statuses(rig.station)[statuses(rig.station).index("Charging"):]

    run(story)


def test_unavailable_persists_across_a_reboot():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.change_availability(0, "Inoperative") == {"status": "Accepted"}
        await until(lambda: statuses(rig.station)[-1] == "Unavailable", clock, 5)
        await rig.reboot("power")
        await until(lambda: len(rig.station.boot_notifications) == 2 and rig.fw.cp.booted, clock, 60)
        boot_utc = rig.station.boot_notifications[-1]["utc"]
        await until(lambda: rig.station.statuses[-1]["utc"] > boot_utc and statuses(rig.station)[-1] == "Unavailable",
                    clock, 5)
        assert connector0(rig.station)[-1] == ("Unavailable", "NoError")
        rig.plant.plug()
        await asyncio.sleep(2)
        assert not await rig.fw.present_token("TAG1")

    run(story)


# ClearCache, DataTransfer, UnlockConnector -------------------------------------------------------


def test_clear_cache_forgets_what_the_cache_knew():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.fw.present_token("TAG1")  # Authorize: Accepted -> cached
        rig.fw.charger.stop("Local")  # withdraw the authorization (no EV came)
        rig.network.set_online(False)
        await asyncio.sleep(1)
        assert rig.fw.cp.auth.lookup("TAG1") == {"status": "Accepted"}
        rig.network.set_online(True)
        await until(lambda: rig.station.connected and rig.fw.cp.link.online.is_set(), clock, 10)
        assert await rig.station.clear_cache() == {"status": "Accepted"}
        rig.network.set_online(False)
        await asyncio.sleep(1)
        assert not await rig.fw.present_token("TAG1")  # offline and unknown now

    run(story)


def test_data_transfer_both_ways():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.data_transfer("com.example", "Ping", "x") == {"status": "UnknownVendorId"}
        assert await rig.fw.cp.data_transfer("com.example", "Hello", "{}") == {"status": "Accepted"}
        assert await rig.fw.cp.data_transfer("org.other") == {"status": "UnknownVendorId"}
        assert [d["status"] for d in rig.station.data_transfers] == ["Accepted", "UnknownVendorId"]
        assert rig.station.data_transfers[0]["payload"] == {"vendorId": "com.example", "messageId": "Hello",
                                                            "data": "{}"}

    run(story, csms=Csms(vendor_ids=("com.example",)))


def test_unlock_connector_is_not_supported_and_leaves_the_transaction_running():
    async def story(rig, clock):
        await charging(rig, clock)
        assert await rig.station.unlock_connector(1) == {"status": "NotSupported"}
        assert await rig.station.unlock_connector(7) == {"status": "NotSupported"}
        await asyncio.sleep(10)
        assert rig.plant.current_a > 0
        assert only_transaction(rig.station)["meter_stop_wh"] is None

    run(story)


# Reset (section 5.14) ------------------------------------------------------------------------------


def test_reset_while_idle_boots_again_without_a_transaction():
    async def story(rig, clock):
        await booted(rig, clock)
        assert await rig.station.reset("Hard") == {"status": "Accepted"}
        await until(lambda: len(rig.station.boot_notifications) == 2 and rig.fw.cp.booted, clock, 60)
        assert rig.station.transactions == {}
        assert "StopTransaction" not in calls_in(rig.station)

    run(story)


def test_reset_uses_the_board_restart_when_the_app_gives_one():
    async def story(rig, clock):
        await charging(rig, clock)
        restarted = []

        async def restart(kind):
            restarted.append((kind, len(frames_out(rig.station, "StopTransaction"))))
            await rig.reboot(kind.lower())

        rig.fw.cp.restart = restart
        assert await rig.station.reset("Soft") == {"status": "Accepted"}
        await until(lambda: restarted, clock, 60, "restart")
        assert restarted == [("Soft", 1)]  # StopTransaction reached the CSMS first
        await until(lambda: len(rig.station.boot_notifications) == 2 and rig.fw.cp.booted, clock, 60)
        assert only_transaction(rig.station)["reason"] == "SoftReset"
        assert rig.resets[-1][1] == "soft"

    run(story)


# TriggerMessage (Remote Trigger profile, section 5.17) ------------------------------------------


def test_trigger_message_sends_what_was_asked_after_the_answer():
    async def story(rig, clock):
        await booted(rig, clock)
        station = rig.station
        assert await station.trigger_message("StatusNotification") == {"status": "Accepted"}
        await until(lambda: connector0(station) and len(statuses(station)) == 2, clock, 5)
        assert statuses(station) == ["Available", "Available"]
        assert await station.trigger_message("Heartbeat") == {"status": "Accepted"}
        await until(lambda: len(station.heartbeats) == 1, clock, 5)
        assert await station.trigger_message("MeterValues", 1) == {"status": "Accepted"}
        await until(lambda: station.meter_values, clock, 5)
        sample = station.meter_values[0]["meter_value"][0]["sampledValue"][0]
        assert sample["context"] == "Trigger" and station.meter_values[0]["transaction_id"] is None
        assert await station.trigger_message("BootNotification") == {"status": "Accepted"}
        await until(lambda: len(station.boot_notifications) == 2, clock, 5)
        assert await station.trigger_message("StatusNotification", 2) == {"status": "Rejected"}
        answers = [i for i, f in enumerate(station.frames) if f["action"] == "TriggerMessage" and f["type"] == "CALLRESULT"]
        first_status = next(i for i, f in enumerate(station.frames) if f["action"] == "StatusNotification"
                            and f["direction"] == "in" and f["type"] == "CALL" and f["payload"]["connectorId"] == 0)
        assert answers[0] < first_status  # the answer first, then the message

    run(story)


def test_pending_boot_answers_the_csms_and_a_triggered_boot_notification_comes_at_once():
    async def story(rig, clock):
        station = rig.station
        await until(lambda: station.boot_notifications, clock, 10)
        got = await station.get_configuration(["NumberOfConnectors"])  # Pending: the CSMS may ask
        assert got["configurationKey"][0]["value"] == "1"
        assert await station.change_configuration("MeterValueSampleInterval", "30") == {"status": "Accepted"}
        asked_ms = clock.ms()
        assert await station.trigger_message("BootNotification") == {"status": "Accepted"}
        await until(lambda: len(station.boot_notifications) == 2, clock, 5)
        assert clock.ms() - asked_ms < 1000  # not after the 600 s interval
        await until(lambda: rig.fw.cp.booted, clock, 1300, "accepted")
        boots = [b["status"] for b in station.boot_notifications]
        assert boots == ["Pending", "Pending", "Accepted"]
        accepted_at = max(i for i, f in enumerate(station.frames) if f["action"] == "BootNotification"
                          and f["type"] == "CALLRESULT")
        assert {f["action"] for f in station.frames[:accepted_at] if f["direction"] == "in" and f["type"] == "CALL"} \
            == {"BootNotification"}

    run(story, csms=Csms(boot_statuses=("Pending", "Pending", "Accepted"), heartbeat_interval_s=600))


# Authorization with the CSMS's token rules ----------------------------------------------------------


def test_presenting_the_same_tag_stops_the_transaction_with_reason_local():
    async def story(rig, clock):
        await charging(rig, clock)
        authorizations = len(rig.station.authorizations)
        assert await rig.fw.present_token("tag1")  # idTags compare case-insensitively
        tx = await stopped(rig, clock)
        assert tx["reason"] == "Local" and tx["stop_id_tag"] == "TAG1"
        assert len(rig.station.authorizations) == authorizations  # no Authorize needed

    run(story)


def test_a_tag_of_the_same_group_stops_the_transaction_a_stranger_does_not():
    csms = Csms(tokens={"TAG1": {"parent_id_tag": "FAMILY"}, "TAG2": {"parent_id_tag": "FAMILY"},
                        "TAG3": {"parent_id_tag": "OTHER"}})

    async def story(rig, clock):
        await charging(rig, clock)
        assert not await rig.fw.present_token("TAG3")
        assert not await rig.fw.present_token("NOBODY")
        await asyncio.sleep(5)
        assert only_transaction(rig.station)["meter_stop_wh"] is None
        assert await rig.fw.present_token("TAG2")
        tx = await stopped(rig, clock)
        assert tx["reason"] == "Local"

    run(story, csms=csms)


@pytest.mark.parametrize("status", ["Blocked", "Expired", "Invalid", "ConcurrentTx"])
def test_a_token_the_csms_does_not_accept_starts_nothing(status):
    async def story(rig, clock):
        await booted(rig, clock)
        rig.plant.plug()
        await asyncio.sleep(1)
        assert not await rig.fw.present_token("TAG9")
        await asyncio.sleep(30)
        assert rig.station.authorizations[-1]["status"] == status
        assert rig.station.transactions == {} and rig.plant.generator == "x1"

    run(story, csms=Csms(tokens={"TAG9": {"status": status}}))


def test_start_transaction_refused_by_the_csms_stops_with_reason_deauthorized():
    async def story(rig, clock):
        await booted(rig, clock)
        rig.plant.plug()
        await asyncio.sleep(1)
        assert await rig.fw.present_token("TAG1")
        rig.csms.set_token("TAG1", "Blocked")  # between Authorize and StartTransaction
        tx = await stopped(rig, clock)
        assert tx["id_tag_status"] == "Blocked" and tx["reason"] == "DeAuthorized"

    run(story)


def test_an_expired_token_from_the_csms_is_refused_and_remembered_as_expired():
    async def story(rig, clock):
        await booted(rig, clock)
        assert not await rig.fw.present_token("OLD")
        assert rig.fw.cp.auth.lookup("OLD")["status"] == "Expired"

    run(story, csms=Csms(tokens={"OLD": {"status": "Expired", "expiry_date": "2024-01-01T00:00:00Z"}}))


# The CSMS goes away -------------------------------------------------------------------------------


def test_a_transaction_ended_while_the_csms_is_down_reaches_it_when_it_is_back():
    async def story(rig, clock):
        await charging(rig, clock)
        rig.csms.offline = True
        await until(lambda: not rig.fw.cp.link.online.is_set(), clock, 5)
        rig.plant.unplug()
        await asyncio.sleep(120)
        assert only_transaction(rig.station)["meter_stop_wh"] is None
        assert any(r["reason"] == "offline" for r in rig.csms.rejected)
        rig.csms.offline = False
        tx = await stopped(rig, clock, timeout_s=120)
        assert tx["reason"] == "EVDisconnected"
        await until(lambda: statuses(rig.station)[-1] == "Available", clock, 10)

    run(story)


def test_csms_commands_on_a_schedule_run_at_their_time():
    csms = Csms()

    async def story(rig, clock):
        csms.schedule(100, rig.station.change_configuration, "MeterValueSampleInterval", "20")
        csms.schedule(200, rig.station.get_configuration, ["MeterValueSampleInterval"])
        await until(lambda: all(s["done"] for s in csms.scheduled), clock, 300)
        assert [s["result"] for s in csms.scheduled] == [
            {"status": "Accepted"},
            {"configurationKey": [{"key": "MeterValueSampleInterval", "readonly": False, "value": "20"}]}]
        sent = [f for f in rig.station.frames if f["direction"] == "out" and f["type"] == "CALL"]
        assert [f["utc"][11:19] for f in sent] == ["00:01:40", "00:03:20"]  # the clock starts at 00:00:00

    run(story, csms=csms)


# Clock-aligned meter values (section 9.1 ClockAlignedDataInterval) ----------------------------------


def test_clock_aligned_meter_values_land_on_the_interval_and_in_stop_transaction():
    async def story(rig, clock):
        tx = await charging(rig, clock)
        station = rig.station
        for key, value in (("ClockAlignedDataInterval", "300"), ("StopTxnAlignedData", "Energy.Active.Import.Register"),
                           ("MeterValuesAlignedData", "Energy.Active.Import.Register,Voltage")):
            assert await station.change_configuration(key, value) == {"status": "Accepted"}
        await asyncio.sleep(1000)
        aligned = [mv for mv in station.meter_values if mv["meter_value"][0]["sampledValue"][0]["context"] == "Sample.Clock"]
        assert len(aligned) == 3
        stamps = [utc_ms(mv["meter_value"][0]["timestamp"].replace("Z", ".000Z")) for mv in aligned]
        assert all(stamp % 300000 == 0 for stamp in stamps)
        assert all(mv["transaction_id"] == tx["transaction_id"] for mv in aligned)
        assert {s["measurand"] for s in aligned[0]["meter_value"][0]["sampledValue"]} == {
            "Energy.Active.Import.Register", "Voltage"}
        rig.plant.unplug()
        tx = await stopped(rig, clock)
        contexts = [v["sampledValue"][0]["context"] for v in tx["transaction_data"]]
        assert contexts == ["Transaction.Begin", "Sample.Clock", "Sample.Clock", "Sample.Clock", "Transaction.End"]

    run(story)
