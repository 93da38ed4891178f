import asyncio
import json
from datetime import datetime

import pytest
from ocpp.exceptions import FormatViolationError, NotImplementedError as OcppNotImplemented
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from hal.interfaces import ConnectionClosed
from hal.ws_cpython import WebSocketNetwork
from sim import vloop
from sim.csms import Csms
from sim.memlink import MemoryNetwork, charge_point_id, pipe

URL = "ws://csms.test/ocpp/CP-1"


class LibraryChargePoint(ChargePoint):
    """The `ocpp` package's own 1.6 client, playing the charge point, answering CSMS commands."""

    def __init__(self, cp_id, connection):
        super().__init__(cp_id, connection)
        self.config = {"HeartbeatInterval": "300"}
        counter = iter(range(1, 10**9))
        self._unique_id_generator = lambda: "cp-%d" % next(counter)  # repeatable message ids

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag, **_):
        self.remote_started = id_tag
        return call_result.RemoteStartTransaction(status="Accepted")

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id, **_):
        return call_result.RemoteStopTransaction(status="Accepted")

    @on(Action.get_configuration)
    def on_get_configuration(self, key=None, **_):
        keys = key or sorted(self.config)
        return call_result.GetConfiguration(
            configuration_key=[{"key": k, "readonly": False, "value": self.config[k]} for k in keys])

    @on(Action.change_configuration)
    def on_change_configuration(self, key, value, **_):
        self.config[key] = value
        return call_result.ChangeConfiguration(status="Accepted")


async def connect_library_cp(csms, cp_id="CP-1", network=None):
    network = network or MemoryNetwork(csms.accept)
    connection = await network.connect("ws://csms.test/ocpp/" + cp_id, "ocpp1.6")
    cp = LibraryChargePoint(cp_id, connection)
    task = asyncio.get_running_loop().create_task(cp.start())
    return cp, connection, task


async def hang_up(connection, task):
    await connection.close()
    with pytest.raises(ConnectionClosed):
        await task


def boot():
    return call.BootNotification(charge_point_model="Wallbox-1", charge_point_vendor="OpenEVSE-Py",
                                 firmware_version="0.1.0")


def meter_value(clock, energy_wh, context="Sample.Periodic"):
    return {"timestamp": clock.utc(), "sampledValue": [
        {"value": str(energy_wh), "context": context, "measurand": "Energy.Active.Import.Register",
         "unit": "Wh"},
        {"value": "16.0", "context": context, "measurand": "Current.Import", "unit": "A", "phase": "L1"}]}


def test_a_whole_charge_session_from_the_library_client_is_recorded():
    async def main(clock):
        csms = Csms(accepted_tokens=("TAG1",), heartbeat_interval_s=120)
        cp, connection, task = await connect_library_cp(csms)

        booted = await cp.call(boot())
        assert (booted.status, booted.interval) == ("Accepted", 120)
        heartbeat = await cp.call(call.Heartbeat())
        await cp.call(call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing",
                                              timestamp=clock.utc()))
        assert (await cp.call(call.Authorize(id_tag="TAG1"))).id_tag_info["status"] == "Accepted"
        assert (await cp.call(call.Authorize(id_tag="STRANGER"))).id_tag_info["status"] == "Invalid"

        start_utc = clock.utc()
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=1000,
                                                      timestamp=start_utc))
        for minute in range(1, 61):
            await asyncio.sleep(60)
            await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                           meter_value=[meter_value(clock, 1000 + 183 * minute)]))
        end_utc = clock.utc()
        await cp.call(call.StopTransaction(
            meter_stop=1000 + 183 * 60, timestamp=end_utc, transaction_id=started.transaction_id,
            reason="EVDisconnected", id_tag="TAG1",
            transaction_data=[meter_value(clock, 1000 + 183 * 60, "Transaction.End")]))
        await hang_up(connection, task)
        await csms.stop()
        return csms, heartbeat, started, start_utc, end_utc

    csms, heartbeat, started, start_utc, end_utc = vloop.run(main)
    station = csms.stations["CP-1"]
    assert csms.errors == []
    assert started.transaction_id == 1 and started.id_tag_info["status"] == "Accepted"
    assert heartbeat.current_time.startswith("2025-01-01T00:00:00")
    assert datetime.fromisoformat(heartbeat.current_time.replace("Z", "+00:00")).year == 2025

    assert station.boot_notifications[0]["payload"]["chargePointVendor"] == "OpenEVSE-Py"
    assert [(s["connector_id"], s["status"], s["error_code"]) for s in station.statuses] == [
        (1, "Preparing", "NoError")]
    assert [(a["id_tag"], a["status"]) for a in station.authorizations] == [
        ("TAG1", "Accepted"), ("STRANGER", "Invalid")]

    tx = csms.transactions[1]
    assert tx is station.transactions[1]
    assert (tx["id_tag"], tx["connector_id"], tx["meter_start_wh"], tx["timestamp_start"]) == (
        "TAG1", 1, 1000, start_utc)
    assert len(tx["meter_values"]) == 60
    assert tx["meter_values"][-1]["sampledValue"][0]["value"] == str(1000 + 183 * 60)
    assert (tx["meter_stop_wh"], tx["reason"], tx["timestamp_stop"]) == (1000 + 183 * 60,
                                                                        "EVDisconnected", end_utc)
    assert tx["transaction_data"][0]["sampledValue"][0]["context"] == "Transaction.End"
    assert end_utc.startswith("2025-01-01T01:00:00")  # an hour of virtual time

    assert station.counts["in"] == {"BootNotification": 1, "Heartbeat": 1, "StatusNotification": 1,
                                    "Authorize": 2, "StartTransaction": 1, "MeterValues": 60,
                                    "StopTransaction": 1}
    ins = [f for f in station.frames if f["direction"] == "in"]
    outs = [f for f in station.frames if f["direction"] == "out"]
    assert len(ins) == len(outs) == 67
    assert all(f["type"] == "CALLRESULT" and f["action"] == i["action"] for i, f in zip(ins, outs))
    assert [c["event"] for c in station.connections] == ["connected", "disconnected"]


def test_a_simulated_session_repeats_exactly():
    async def session(clock):
        csms = Csms()
        network = MemoryNetwork(csms.accept, latency_s=(0.0, 0.005), seed=11)
        cp, connection, task = await connect_library_cp(csms, network=network)
        await cp.call(boot())
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=0,
                                                      timestamp=clock.utc()))
        await asyncio.gather(
            csms.stations["CP-1"].get_configuration(),
            *(cp.call(call.Heartbeat()) for _ in range(3)))
        for step in range(5):
            await asyncio.sleep(10)
            await cp.call(call.MeterValues(connector_id=1, transaction_id=started.transaction_id,
                                           meter_value=[meter_value(clock, 50 * step)]))
        await hang_up(connection, task)
        return [(f["utc"], f["direction"], f["text"]) for f in csms.stations["CP-1"].frames]

    first = vloop.run(session)
    assert len(first) == 2 * 11
    assert vloop.run(session) == first


def test_boot_statuses_follow_the_configured_sequence_then_repeat_the_last():
    async def main(clock):
        csms = Csms(boot_statuses=("Pending", "Pending", "Accepted"), heartbeat_interval_s=30)
        cp, connection, task = await connect_library_cp(csms)
        replies = []
        for _ in range(4):
            reply = await cp.call(boot())
            replies.append((reply.status, reply.interval))
            await asyncio.sleep(reply.interval)
        await hang_up(connection, task)
        return csms, replies

    csms, replies = vloop.run(main)
    assert replies == [("Pending", 30), ("Pending", 30), ("Accepted", 30), ("Accepted", 30)]
    assert [b["status"] for b in csms.stations["CP-1"].boot_notifications] == [
        "Pending", "Pending", "Accepted", "Accepted"]
    assert [b["utc"][11:19] for b in csms.stations["CP-1"].boot_notifications] == [
        "00:00:00", "00:00:30", "00:01:00", "00:01:30"]


async def raw_exchange(connection, frame):
    await connection.send(json.dumps(frame))
    return json.loads(await connection.recv())


def test_schema_invalid_frames_get_a_1_6_callerror_and_are_recorded():
    async def main(clock):
        csms = Csms()
        connection = await MemoryNetwork(csms.accept).connect(URL, "ocpp1.6")
        extra = await raw_exchange(connection, [2, "m1", "Authorize", {"idTag": "TAG1", "colour": "red"}])
        missing = await raw_exchange(connection, [2, "m2", "StartTransaction", {"connectorId": 1}])
        wrong_type = await raw_exchange(connection, [2, "m3", "Authorize", {"idTag": 7}])
        too_long = await raw_exchange(connection, [2, "m4", "Authorize", {"idTag": "X" * 21}])
        bad_enum = await raw_exchange(connection, [2, "m5", "StatusNotification", {
            "connectorId": 1, "errorCode": "NoError", "status": "Sleeping"}])
        unknown = await raw_exchange(connection, [2, "m6", "MakeCoffee", {}])
        await connection.close()
        await csms.stop()
        return csms, [extra, missing, wrong_type, too_long, bad_enum, unknown]

    csms, replies = vloop.run(main)
    assert [(r[0], r[1], r[2]) for r in replies] == [
        (4, "m1", "FormationViolation"), (4, "m2", "ProtocolError"), (4, "m3", "TypeConstraintViolation"),
        (4, "m4", "TypeConstraintViolation"), (4, "m5", "FormationViolation"), (4, "m6", "NotSupported")]
    errors = csms.errors
    assert [(e["direction"], e["kind"], e["unique_id"], e["code"]) for e in errors] == [
        ("out", "callerror", "m%d" % (i + 1), r[2]) for i, r in enumerate(replies)]
    assert [e["remapped_from"] for e in errors] == [
        "FormatViolation", None, None, None, "FormatViolation", None]
    assert errors[0]["action"] == "Authorize"
    assert csms.stations["CP-1"].authorizations == []  # invalid frames never reach the handler


def test_a_frame_that_is_not_ocpp_is_recorded_and_dropped():
    async def main(clock):
        csms = Csms()
        connection = await MemoryNetwork(csms.accept).connect(URL, "ocpp1.6")
        await connection.send("hello")
        reply = await raw_exchange(connection, [2, "ok", "Heartbeat", {}])
        await connection.close()
        return csms, reply

    csms, reply = vloop.run(main)
    assert reply[:2] == [3, "ok"]
    assert [(e["kind"], e["direction"]) for e in csms.errors] == [("frame", "in")]


def test_remote_start_and_other_commands_round_trip():
    async def main(clock):
        csms = Csms()
        cp, connection, task = await connect_library_cp(csms)
        await cp.call(boot())
        station = csms.stations["CP-1"]
        started = await station.remote_start("TAG1", connector_id=1)
        stopped = await station.remote_stop(7)
        changed = await station.change_configuration("HeartbeatInterval", "60")
        config = await station.get_configuration(["HeartbeatInterval"])
        with pytest.raises(OcppNotImplemented):  # the client has no Reset handler
            await station.reset("Hard")
        await hang_up(connection, task)
        return csms, cp, [started, stopped, changed, config]

    csms, cp, replies = vloop.run(main)
    assert replies == [{"status": "Accepted"}, {"status": "Accepted"}, {"status": "Accepted"},
                       {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}]}]
    assert cp.remote_started == "TAG1"
    station = csms.stations["CP-1"]
    assert station.counts["out"] == {"RemoteStartTransaction": 1, "RemoteStopTransaction": 1,
                                     "ChangeConfiguration": 1, "GetConfiguration": 1, "Reset": 1}
    first_out = [f for f in station.frames if f["direction"] == "out" and f["type"] == "CALL"][0]
    assert first_out["payload"] == {"idTag": "TAG1", "connectorId": 1}
    assert [(e["direction"], e["code"], e["action"]) for e in csms.errors] == [
        ("in", "NotImplemented", "Reset")]


def test_an_invalid_response_to_a_csms_call_raises_and_is_recorded():
    async def main(clock):
        csms = Csms()
        connection = await MemoryNetwork(csms.accept).connect(URL, "ocpp1.6")
        await raw_exchange(connection, [2, "b", "BootNotification", {"chargePointVendor": "V",
                                                                     "chargePointModel": "M"}])
        station = csms.stations["CP-1"]
        calling = asyncio.ensure_future(station.remote_start("TAG1"))
        request = json.loads(await connection.recv())
        await connection.send(json.dumps([3, request[1], {"status": "Maybe"}]))
        with pytest.raises(FormatViolationError):
            await calling
        await connection.close()
        return csms

    csms = vloop.run(main)
    assert [(e["direction"], e["kind"], e["action"]) for e in csms.errors] == [
        ("in", "validation", "RemoteStartTransaction")]


def test_a_command_to_a_charge_point_that_hangs_up_fails_at_once():
    async def main(clock):
        csms = Csms(call_timeout_s=30)
        connection = await MemoryNetwork(csms.accept).connect(URL, "ocpp1.6")
        await raw_exchange(connection, [2, "h", "Heartbeat", {}])
        calling = asyncio.ensure_future(csms.stations["CP-1"].remote_start("TAG1"))
        await connection.recv()
        await asyncio.sleep(1)
        await connection.close()
        with pytest.raises(ConnectionClosed):
            await calling
        return clock.now_s, csms.stations["CP-1"].connected

    now_s, connected = vloop.run(main)
    assert now_s < 2 and connected is False


def test_transaction_ids_increase_across_charge_points():
    async def main(clock):
        csms = Csms()
        network = MemoryNetwork(csms.accept)
        ids = []
        for cp_id in ("CP-A", "CP-B", "CP-A"):
            cp, connection, task = await connect_library_cp(csms, cp_id, network)
            reply = await cp.call(call.StartTransaction(connector_id=1, id_tag="UNKNOWN", meter_start=0,
                                                        timestamp=clock.utc()))
            ids.append((cp_id, reply.transaction_id, reply.id_tag_info["status"]))
            await hang_up(connection, task)
        return csms, ids

    csms, ids = vloop.run(main)
    assert ids == [("CP-A", 1, "Invalid"), ("CP-B", 2, "Invalid"), ("CP-A", 3, "Invalid")]
    assert sorted(csms.stations["CP-A"].transactions) == [1, 3]
    assert len(csms.stations["CP-A"].connections) == 4


def test_data_transfer_from_an_unknown_vendor_is_rejected():
    async def main(clock):
        csms = Csms(vendor_ids=("com.example",))
        cp, connection, task = await connect_library_cp(csms)
        unknown = await cp.call(call.DataTransfer(vendor_id="org.other", data="x"))
        known = await cp.call(call.DataTransfer(vendor_id="com.example"))
        await cp.call(call.FirmwareStatusNotification(status="Downloading"))
        await cp.call(call.DiagnosticsStatusNotification(status="Idle"))
        await hang_up(connection, task)
        return csms, unknown.status, known.status

    csms, unknown, known = vloop.run(main)
    station = csms.stations["CP-1"]
    assert (unknown, known) == ("UnknownVendorId", "Accepted")
    assert [f["status"] for f in station.firmware_statuses] == ["Downloading"]
    assert [d["status"] for d in station.diagnostics_statuses] == ["Idle"]
    assert csms.errors == []


def test_memory_network_offline_refuses_connects_and_drops_links():
    async def main(clock):
        csms = Csms()
        network = MemoryNetwork(csms.accept)
        connection = await network.connect(URL, "ocpp1.6")
        network.set_online(False)
        with pytest.raises(ConnectionClosed):
            await connection.recv()
        with pytest.raises(OSError):
            await network.connect(URL, "ocpp1.6")
        with pytest.raises(OSError):
            await MemoryNetwork(csms.accept).connect(URL, "ocpp2.0.1")
        network.set_online(True)
        again = await network.connect(URL, "ocpp1.6")
        reply = await raw_exchange(again, [2, "1", "Heartbeat", {}])
        await again.close()
        await csms.stop()
        return csms, reply

    csms, reply = vloop.run(main)
    assert reply[0] == 3
    assert [c["event"] for c in csms.stations["CP-1"].connections] == [
        "connected", "disconnected", "connected", "disconnected"]


def test_memlink_delivers_in_order_with_latency_then_closes_cleanly():
    async def main(clock):
        a, b = pipe(latency_s=(0.001, 0.005), seed=3)
        for i in range(20):
            await a.send(str(i))
        await a.close()
        received = []
        with pytest.raises(ConnectionClosed):
            while True:
                received.append(await b.recv())
        with pytest.raises(ConnectionClosed):
            await b.send("late")
        return received, clock.now_s

    received, now_s = vloop.run(main)
    assert received == [str(i) for i in range(20)]
    assert 0.001 <= now_s <= 0.005


def test_charge_point_id_is_the_last_path_segment():
    assert charge_point_id("ws://host:9000/ocpp/CP%2F7") == "CP/7"
    assert charge_point_id("wss://host/CP-1/") == "CP-1"
    with pytest.raises(ValueError):
        charge_point_id("ws://host/")


def test_over_a_real_websocket_on_loopback():
    async def main():
        csms = Csms(heartbeat_interval_s=60)
        port = await csms.serve_websocket()
        url = "ws://127.0.0.1:%d/ocpp/CP-WS" % port
        network = WebSocketNetwork(open_timeout_s=5)
        connection = await network.connect(url, "ocpp1.6", headers={"Authorization": "Basic Q1AtV1M6eA=="})
        booted = await raw_exchange(connection, [2, "b1", "BootNotification", {
            "chargePointVendor": "OpenEVSE-Py", "chargePointModel": "Wallbox-1"}])
        invalid = await raw_exchange(connection, [2, "b2", "Heartbeat", {"unexpected": True}])

        calling = asyncio.ensure_future(csms.stations["CP-WS"].remote_start("TAG1", 1))
        request = json.loads(await connection.recv())
        await connection.send(json.dumps([3, request[1], {"status": "Accepted"}]))
        started = await calling

        with pytest.raises(OSError):
            await network.connect(url, "ocpp2.0.1")
        await connection.close()
        await csms.stations["CP-WS"].wait_for(lambda: not csms.stations["CP-WS"].connected, 5)
        await csms.stop()
        return csms, booted, invalid, request, started

    csms, booted, invalid, request, started = asyncio.run(main())
    assert booted[:2] == [3, "b1"] and booted[2]["status"] == "Accepted" and booted[2]["interval"] == 60
    assert invalid[:3] == [4, "b2", "FormationViolation"]
    assert request[2:] == ["RemoteStartTransaction", {"idTag": "TAG1", "connectorId": 1}]
    assert started == {"status": "Accepted"}
    station = csms.stations["CP-WS"]
    assert station.connections[0]["headers"]["Authorization"] == "Basic Q1AtV1M6eA=="
    assert [c["event"] for c in station.connections] == ["connected", "disconnected"]
    assert [(e["code"], e["remapped_from"]) for e in csms.errors] == [("FormationViolation",
                                                                      "FormatViolation")]


def test_the_websocket_server_binds_loopback_only():
    async def main():
        with pytest.raises(ValueError):
            await Csms().serve_websocket(host="0.0.0.0")

    asyncio.run(main())


# Token rules, outages, schedules and raw frames (what the charge point tests need) -----------------


def test_token_rules_answer_authorize_start_and_stop_with_their_id_tag_info():
    async def main(clock):
        csms = Csms(accepted_tokens=("TAG1",), tokens={"KID": {"parent_id_tag": "FAMILY"}})
        csms.set_token("OLD", "Expired", expiry_date="2024-06-01T00:00:00Z")
        csms.set_token("BAD", "Blocked")
        cp, connection, task = await connect_library_cp(csms)
        await cp.call(boot())
        infos = [(await cp.call(call.Authorize(id_tag=t))).id_tag_info for t in ("TAG1", "KID", "OLD", "BAD", "WHO")]
        started = await cp.call(call.StartTransaction(connector_id=1, id_tag="KID", meter_start=0,
                                                      timestamp=clock.utc()))
        stopped = await cp.call(call.StopTransaction(meter_stop=10, timestamp=clock.utc(), id_tag="BAD",
                                                     transaction_id=started.transaction_id))
        await hang_up(connection, task)
        return csms, infos, started, stopped

    csms, infos, started, stopped = vloop.run(main)
    assert infos == [{"status": "Accepted"}, {"status": "Accepted", "parent_id_tag": "FAMILY"},  # the library's
                     {"status": "Expired", "expiry_date": "2024-06-01T00:00:00Z"}, {"status": "Blocked"},  # spelling
                     {"status": "Invalid"}]
    assert started.id_tag_info == {"status": "Accepted", "parent_id_tag": "FAMILY"}
    assert stopped.id_tag_info == {"status": "Blocked"}
    on_wire = [f["payload"] for f in csms.stations["CP-1"].frames if f["action"] == "Authorize" and f["direction"] == "out"]
    assert on_wire[1] == {"idTagInfo": {"status": "Accepted", "parentIdTag": "FAMILY"}}
    assert csms.errors == []
    with pytest.raises(ValueError):
        csms.set_token("X", "Maybe")


def test_an_offline_csms_closes_and_refuses_connections_until_it_is_back():
    async def main(clock):
        csms = Csms()
        network = MemoryNetwork(csms.accept)
        connection = await network.connect(URL, "ocpp1.6")
        await raw_exchange(connection, [2, "1", "Heartbeat", {}])
        csms.offline = True
        with pytest.raises(ConnectionClosed):
            await connection.recv()
        refused = await network.connect(URL, "ocpp1.6")
        with pytest.raises(ConnectionClosed):
            await refused.recv()
        csms.offline = False
        again = await network.connect(URL, "ocpp1.6")
        reply = await raw_exchange(again, [2, "2", "Heartbeat", {}])
        csms.stations["CP-1"].offline = True  # one charge point only
        with pytest.raises(ConnectionClosed):
            await again.recv()
        other = await network.connect("ws://csms.test/ocpp/CP-2", "ocpp1.6")
        other_reply = await raw_exchange(other, [2, "3", "Heartbeat", {}])
        await other.close()
        await csms.stop()
        return csms, reply, other_reply

    csms, reply, other_reply = vloop.run(main)
    assert reply[:2] == [3, "2"] and other_reply[:2] == [3, "3"]
    assert [r["reason"] for r in csms.rejected] == ["offline"]
    assert csms.errors == []


def test_scheduled_commands_run_at_their_time_and_record_what_came_back():
    async def main(clock):
        csms = Csms()
        cp, connection, task = await connect_library_cp(csms)
        await cp.call(boot())
        station = csms.stations["CP-1"]
        csms.schedule(30, station.change_configuration, "HeartbeatInterval", "60")
        csms.schedule(10, station.reset, "Hard")  # the library client has no Reset handler

        def plain(x):
            return x * 2

        csms.schedule(20, plain, 21)
        await asyncio.sleep(40)
        await hang_up(connection, task)
        return csms

    csms = vloop.run(main)
    done = {s["at_s"]: s for s in csms.scheduled}
    assert all(s["done"] for s in csms.scheduled)
    assert done[30]["result"] == {"status": "Accepted"} and done[20]["result"] == 42
    assert isinstance(done[10]["error"], OcppNotImplemented)
    station = csms.stations["CP-1"]
    sent = [f["utc"][11:19] for f in station.frames if f["direction"] == "out" and f["type"] == "CALL"]
    assert sent == ["00:00:10", "00:00:30"]


def test_send_raw_returns_the_reply_to_the_frame_or_none():
    async def main(clock):
        csms = Csms()
        connection = await MemoryNetwork(csms.accept).connect(URL, "ocpp1.6")
        await raw_exchange(connection, [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
        station = csms.stations["CP-1"]

        async def peer():
            request = await connection.recv()
            await connection.send(json.dumps([4, json.loads(request)[1], "NotSupported", "", {}]))
            await connection.recv()  # "not json": no answer
            await connection.recv()
            await connection.send(json.dumps([4, "-1", "FormationViolation", "", {}]))

        answering = asyncio.ensure_future(peer())
        replies = [await station.send_raw('[2,"r1","Fly",{}]'),
                   await station.send_raw("not json", timeout_s=1),
                   await station.send_raw("[2,7]", timeout_s=1)]
        await answering
        await connection.close()
        return replies, station

    replies, station = vloop.run(main)
    assert replies == [[4, "r1", "NotSupported", "", {}], None, [4, "-1", "FormationViolation", "", {}]]
    assert station.raw_replies[1] is None
