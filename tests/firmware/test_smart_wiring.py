# portable
# firmware/ocpp/smart_charging.py and firmware/ocpp/reservation.py on a fake charge point: what limit the
# charger is given and when the task must wake (never a deadline in the past), the reservation rules.
# The end-to-end behaviour is tests/e2e/test_ocpp16_smart.py and test_ocpp16_reservation.py.
from firmware import timefmt
from firmware.ocpp import smart_charging
from firmware.ocpp.reservation import Reservations
from firmware.ocpp.smart_charging import SmartCharging
from tests.portable import run_async

T0 = 1735689600  # 2025-01-01T00:00:00Z


class Clock:
    def __init__(self):
        self.now_ms = 0

    def ms(self):
        return self.now_ms

    def utc(self):
        return timefmt.format_utc(T0 + self.now_ms // 1000)


class Storage:
    def __init__(self):
        self.data = {}

    def read(self, key):
        return self.data.get(key)

    def write(self, key, value):
        self.data[key] = value


class Charger:
    def __init__(self):
        self.limit_a = 32
        self.given = []

    def set_limit(self, limit_a):
        self.given.append(limit_a)


class Tx:
    def __init__(self, id_tag, start_ts, transaction_id=None):
        self.id_tag, self.start_ts, self.transaction_id = id_tag, start_ts, transaction_id


class Auth:
    def __init__(self, infos):
        self.infos = infos

    def lookup(self, id_tag):
        return self.infos.get(id_tag)

    def online(self):
        return False


class Cp:
    def __init__(self, storage=None):
        self.clock = Clock()
        self.storage = storage or Storage()
        self.charger = Charger()
        self.info = {"phases": 3}
        self.config = {"ChargeProfileMaxStackLevel": 8, "ChargingScheduleMaxPeriods": 24,
                       "MaxChargingProfilesInstalled": 16}
        self.tx = None
        self.pending_id_tag = None
        self.status = "Available"
        self.logs = []
        self.statuses = 0
        self.auth = Auth({"KID": {"status": "Accepted", "parentIdTag": "FAMILY"}})

    def log(self, topic, text):
        self.logs.append((topic, text))

    def connector_status(self):
        return self.status, "NoError", None

    def status_changed(self):
        self.statuses += 1


def tx_default(periods, profile_id=1, unit="A"):
    return {"chargingProfileId": profile_id, "stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Relative", "chargingSchedule": {"chargingRateUnit": unit,
                                                                    "chargingSchedulePeriod": periods}}


def test_no_profile_leaves_the_charger_alone_and_sleeps_until_told():
    cp = Cp()
    smart = SmartCharging(cp)
    assert smart.apply() is None and cp.charger.given == []
    assert smart.profiles is None  # smart.py not even imported for it


def test_the_limit_and_the_wait_until_the_next_boundary():
    cp = Cp()
    smart = SmartCharging(cp)
    assert smart.set_profile(1, tx_default([{"startPeriod": 0, "limit": 10}, {"startPeriod": 60, "limit": 40}]))\
        == "Accepted"
    cp.tx = Tx("A", cp.clock.utc(), 5)
    wait_ms = smart.apply()
    assert cp.charger.given == [10] and wait_ms == 60000
    cp.clock.now_ms = 60000
    smart.apply()
    assert cp.charger.given == [10, 32]  # 40 A capped by the charger's own 32 A


def test_under_6_amps_gives_0_and_an_increase_waits_5_s():
    cp = Cp()
    smart = SmartCharging(cp)
    smart.set_profile(1, tx_default([{"startPeriod": 0, "limit": 4}]))
    smart.apply()
    assert cp.charger.given == [0]  # suspended
    cp.clock.now_ms = 1000
    smart.set_profile(1, tx_default([{"startPeriod": 0, "limit": 16}]))
    wait_ms = smart.apply()
    assert cp.charger.given == [0] and wait_ms == 4000  # held back until 5 s after the last change
    cp.clock.now_ms = 5000
    assert smart.apply() > 0 and cp.charger.given == [0, 16]


def test_watts_become_amps_over_230_v_and_the_phases():
    cp = Cp()
    smart = SmartCharging(cp)
    smart.set_profile(1, tx_default([{"startPeriod": 0, "limit": 6900}], unit="W"))
    smart.apply()
    assert cp.charger.given == [10]
    smart.set_profile(1, tx_default([{"startPeriod": 0, "limit": 2300, "numberPhases": 1}], unit="W"))
    smart.apply()
    assert cp.charger.given == [10]  # 2300 W on 1 phase is 10 A too


def test_profiles_are_stored_and_tx_profiles_do_not_outlive_a_reboot():
    cp = Cp()
    smart = SmartCharging(cp)
    cp.tx = Tx("A", cp.clock.utc(), 5)
    smart.set_profile(1, tx_default([{"startPeriod": 0, "limit": 10}]))
    tx = tx_default([{"startPeriod": 0, "limit": 8}], profile_id=2)
    tx["chargingProfilePurpose"] = "TxProfile"
    assert smart.set_profile(1, tx) == "Accepted"
    again = SmartCharging(Cp(cp.storage))
    assert [e.id for e in again.profiles.entries] == [1]


def test_a_broken_record_is_logged_and_ignored():
    storage = Storage()
    storage.write("profiles", b"{not json")
    cp = Cp(storage)
    smart = SmartCharging(cp)
    assert smart.profiles.entries == [] and cp.logs[0][0] == "smart"


def test_reservation_admits_its_tag_or_its_parent_and_expires():
    cp = Cp()
    r = Reservations(cp)
    expiry = timefmt.format_utc(T0 + 60)
    assert r.reserve(0, expiry, "MUM", "FAMILY", 1) == "Rejected"
    assert r.reserve(1, expiry, "MUM", "FAMILY", 1) == "Accepted"
    assert r.reserve(1, expiry, "DAD", None, 2) == "Occupied"
    assert run_async(r.admits("mum")) and run_async(r.admits("KID"))  # CiString; parent from the cache
    assert not run_async(r.admits("STRANGER"))  # offline: nothing more to ask
    assert Reservations(Cp(cp.storage)).current["tag"] == "MUM"  # stored
    cp.clock.now_ms = 60000
    assert r.active() is None and run_async(r.admits("STRANGER"))
    assert cp.storage.read("reservation") == b""


def test_reservation_ends_with_the_transaction_and_refuses_a_busy_connector():
    cp = Cp()
    r = Reservations(cp)
    assert r.reserve(1, timefmt.format_utc(T0 + 600), "MUM", None, 4) == "Accepted"
    assert r.tx_started(Tx("MUM", cp.clock.utc())) == 4
    assert r.cancel(4) == "Rejected"
    cp.status = "Preparing"
    assert r.reserve(1, timefmt.format_utc(T0 + 600), "MUM", None, 5) == "Occupied"
    cp.status = "Faulted"
    assert r.reserve(1, timefmt.format_utc(T0 + 600), "MUM", None, 5) == "Faulted"


def test_composite_schedule_is_bounded_in_time_and_periods():
    cp = Cp()
    smart = SmartCharging(cp)
    periods = [{"startPeriod": i * 600, "limit": 10 + i % 2} for i in range(24)]  # 24 changes every day
    daily = tx_default(periods)
    daily["chargingProfileKind"] = "Recurring"
    daily["recurrencyKind"] = "Daily"
    daily["chargingSchedule"]["startSchedule"] = timefmt.format_utc(T0)
    assert smart.set_profile(1, daily) == "Accepted"
    schedule = smart.composite(1, 30 * 86400, "A")["chargingSchedule"]
    assert schedule["duration"] == 2 * 86400 and len(schedule["chargingSchedulePeriod"]) == 48  # 2 days
    smart_charging.COMPOSITE_MAX_PERIODS = 10
    try:
        schedule = smart.composite(1, 86400, "W")["chargingSchedule"]
    finally:
        smart_charging.COMPOSITE_MAX_PERIODS = 48
    assert len(schedule["chargingSchedulePeriod"]) == 10 and schedule["duration"] == 6000  # the 11th's start
    assert smart.composite(2, 60, "A") == {"status": "Rejected"}
    assert smart.composite(1, -1, "A") == {"status": "Rejected"}
