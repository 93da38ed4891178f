# OCPP 1.6 Smart Charging wired to the charger (section 3.13; SetChargingProfile 5.16,
# ClearChargingProfile 5.5, GetCompositeSchedule 5.7): the installed profiles (firmware/ocpp/smart.py,
# imported on first use: it is big and most chargers never get a profile), kept in storage across a
# reboot, and one task that applies their composite limit to the charger's current limit.
#
# - The limit offered is min(the charger's own limit (MaxCurrent, the board's rating), the composite
#   limit). W limits become A over NOMINAL_V per phase and the schedule period's numberPhases, else the
#   board's phases (info["phases"], 3 by default).
# - PWM changes are spaced by smart.PwmLimiter (IEC 61851-1: at most one duty change per 5 s; a lower
#   limit applies at once, a higher one waits out the interval).
# - A limit under 6 A has no legal duty: the charger is given 0 A, its session goes to X1 (+12 V, "no
#   charging available", state B1/C1) and the connector reports SuspendedEVSE; a limit of 6 A or more
#   gives the PWM back (firmware/session.py rows limit_low / limit_ok).
# - The task sleeps until the next schedule boundary, a held-back increase or a change (set, clear,
#   transaction start/end); never with a deadline in the past. At most MAX_WAIT_MS, so a wall clock set
#   by the CSMS after boot cannot leave it asleep for long.
# - TxProfiles belong to the running transaction: removed when it ends, and at boot (the transaction of
#   the last boot is over). A RemoteStartTransaction's chargingProfile waits for its transaction.
import asyncio

from firmware import timefmt
from firmware.waiting import event_or_timeout

KEY = "profiles"  # storage record (smart.Profiles.to_record)
CONNECTOR = 1
NOMINAL_V = 230  # phase-to-neutral, IEC 60038; the W <-> A conversion of schedules
MAX_WAIT_MS = 900000  # the task re-reads the wall clock at least this often while profiles exist
# GetCompositeSchedule answers at most this far ahead and with at most this many periods (the answer's
# duration says how far it reaches): a week of daily profiles would not fit a microcontroller's heap.
COMPOSITE_MAX_S = 2 * 86400
COMPOSITE_MAX_PERIODS = 48


class SmartCharging:
    def __init__(self, cp):
        self.cp = cp
        self.own_max_a = cp.charger.limit_a  # MaxCurrent and the board's rating, set at boot
        self.phases = cp.info.get("phases", 3) if isinstance(cp.info, dict) else 3
        self.profiles = None  # smart.Profiles once anything was installed or stored
        self.limiter = None
        self.pending = None  # (idTag, chargingProfile) of an accepted RemoteStartTransaction
        self.applied_a = None  # what the charger was last given
        self._changed = asyncio.Event()
        raw = cp.storage.read(KEY) if cp.storage is not None else None
        if raw:
            try:
                self._load().from_record(raw)
            except ValueError as exc:
                cp.log("smart", str(exc))
            if self.profiles.tx_ended(CONNECTOR):  # the last boot's transaction is over
                self._save()

    def _load(self):
        if self.profiles is None:
            from firmware.ocpp import smart

            config = self.cp.config
            self.profiles = smart.Profiles(1, config["ChargeProfileMaxStackLevel"],
                                           config["ChargingScheduleMaxPeriods"],
                                           config["MaxChargingProfilesInstalled"])
            self.limiter = smart.PwmLimiter()
        return self.profiles

    def _save(self):
        if self.cp.storage is not None:
            self.cp.storage.write(KEY, self.profiles.to_record())
        self._changed.set()

    def _tx_id(self):
        tx = self.cp.tx
        if tx is None:
            return None
        return -1 if tx.transaction_id is None else tx.transaction_id  # running, id not known yet

    def _now_s(self):
        return timefmt.parse(self.cp.clock.utc())

    def _tx_start_s(self):
        tx = self.cp.tx
        return None if tx is None else timefmt.parse(tx.start_ts)

    # The CSMS's requests -----------------------------------------------------------------------

    def set_profile(self, connector_id, profile):
        """SetChargingProfile.req -> "Accepted" / "Rejected" (why, in the log)."""
        tx_id = self._tx_id() if connector_id == CONNECTOR else None
        status, why = self._load().set(connector_id, profile, tx_id)
        if status == "Accepted":
            self._save()
        else:
            self.cp.log("smart", "SetChargingProfile rejected: " + why)
        return status

    def clear(self, profile_id=None, connector_id=None, purpose=None, stack_level=None):
        """ClearChargingProfile.req -> "Accepted" / "Unknown"."""
        if self.profiles is None:
            return "Unknown"
        status = self.profiles.clear(profile_id, connector_id, purpose, stack_level)
        if status == "Accepted":
            self._save()
        return status

    def composite(self, connector_id, duration_s, unit):
        """GetCompositeSchedule.req -> the .conf payload. unit None: A."""
        if connector_id not in (0, CONNECTOR) or duration_s < 0:
            return {"status": "Rejected"}
        now_s = self._now_s()
        unit = unit or "A"
        tx_start_s = self._tx_start_s() if connector_id == CONNECTOR else None
        schedule = self._load().composite(connector_id, now_s, min(duration_s, COMPOSITE_MAX_S), unit,
                                          tx_start_s, NOMINAL_V, self.phases, self.own_max_a)
        periods = schedule["chargingSchedulePeriod"]
        if len(periods) > COMPOSITE_MAX_PERIODS:
            schedule["duration"] = periods[COMPOSITE_MAX_PERIODS]["startPeriod"]
            del periods[COMPOSITE_MAX_PERIODS:]
        return {"status": "Accepted", "connectorId": connector_id, "scheduleStart": schedule["startSchedule"],
                "chargingSchedule": schedule}

    def remote_start_profile(self, id_tag, profile):
        """A RemoteStartTransaction's chargingProfile: checked now, installed when the transaction starts.
        -> False if it cannot be (not a TxProfile, or invalid): the request is then Rejected."""
        if profile is None:
            self.pending = None
            return True
        if profile.get("chargingProfilePurpose") != "TxProfile" or "transactionId" in profile:
            return False  # section 5.11: purpose SHALL be TxProfile; no transaction to name yet
        from firmware.ocpp import smart

        trial = smart.Profiles(1, self.cp.config["ChargeProfileMaxStackLevel"],
                               self.cp.config["ChargingScheduleMaxPeriods"])
        if trial.set(CONNECTOR, profile, -1)[0] != "Accepted":
            return False
        self.pending = (id_tag, profile)
        return True

    # The transaction's life --------------------------------------------------------------------

    def tx_started(self, tx):
        pending, self.pending = self.pending, None
        if pending is not None and pending[0] == tx.id_tag:
            status, why = self._load().set(CONNECTOR, pending[1], -1)
            if status == "Accepted":
                self._save()
            else:
                self.cp.log("smart", "RemoteStartTransaction profile not installed: " + why)
        self._changed.set()  # relative schedules start now

    def tx_ended(self):
        if self.profiles is not None and self.profiles.tx_ended(CONNECTOR):
            self._save()
        self._changed.set()

    # Applying the limit ------------------------------------------------------------------------

    def limit_now(self):
        """(limit_a the composite allows now (own maximum if none), next_change_s or None)."""
        if self.profiles is None or not self.profiles.entries:
            return self.own_max_a, None
        limit_a, next_s = self.profiles.limit_at(CONNECTOR, self._now_s(), self._tx_start_s(), NOMINAL_V,
                                                 self.phases)
        return (self.own_max_a if limit_a is None else min(limit_a, self.own_max_a)), next_s

    def apply(self):
        """Give the charger the limit in force now; -> ms until this must run again, or None."""
        if self.profiles is None:
            return None
        now_s = self._now_s()
        limit_a, next_s = self.limit_now()
        now_ms = self.cp.clock.ms()
        offered_a, suspend, recheck_ms = self.limiter.update(limit_a, now_ms)
        give_a = 0 if suspend else offered_a
        if give_a != self.applied_a:
            self.applied_a = give_a
            self.cp.log("smart", "limit %s A (composite %s A)" % (give_a, limit_a))
            self.cp.charger.set_limit(give_a)
        if self.profiles.drop_expired(now_s):
            self._save()
        waits = [MAX_WAIT_MS]
        if next_s is not None:
            waits.append((next_s - now_s) * 1000)  # next_s > now_s: wakes at the boundary or just after
        if recheck_ms is not None:
            waits.append(recheck_ms - now_ms)
        return max(min(waits), 1)

    async def run(self):
        while True:
            self._changed.clear()
            await event_or_timeout(self._changed, self.apply())
