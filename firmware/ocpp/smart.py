# OCPP 1.6 Smart Charging (section 3.13; messages 5.5, 5.7, 5.16; types of section 7), sans-I/O: the
# installed charging profiles, the composite limit they give at an instant, the GetCompositeSchedule
# answer, and the spacing of PWM changes. Times are integer UTC epoch seconds; profiles are the JSON
# dicts of SetChargingProfile.csChargingProfiles.
#
# Choices where the spec is silent or loose, following libocpp (lib/ocpp/v16/profile.cpp):
# - Stacking (3.13.2): per purpose, at each instant the highest stackLevel profile that gives a limit
#   at that instant wins; where it gives none (before its start, after its duration, outside
#   validFrom..validTo) the next lower level applies. At equal stackLevel a TxDefaultProfile set on the
#   connector wins over one set on connector 0 (which applies to every connector).
# - TxProfile replaces TxDefaultProfile wherever it gives a limit; ChargePointMaxProfile caps both.
# - Relative profiles, and Absolute ones without startSchedule (ChargingSchedule: "relative to start of
#   charging"), run from the transaction start; without a transaction, as if one started at the queried
#   instant (now_s for limit_at, start_s for composite).
# - Recurring schedules repeat every day/week from startSchedule, also backwards: at 07:00 a daily
#   profile starting 08:00 is 23 h into yesterday's occurrence. An occurrence ends at the next one.
# - Where no profile gives a limit, limit_at answers None and composite() uses the caller's default.
import json

from firmware import pilot, timefmt

CP_MAX = "ChargePointMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
PURPOSES = (CP_MAX, TX_DEFAULT, TX)  # ChargingProfilePurposeType
KINDS = ("Absolute", "Recurring", "Relative")  # ChargingProfileKindType
RECURRENCE_S = {"Daily": 86400, "Weekly": 7 * 86400}  # RecurrencyKindType
UNITS = ("A", "W")  # ChargingRateUnitType
WEEK_S = 7 * 86400  # every recurrence repeats within a week
MAX_EDGES = 2000  # edges limit_at walks looking for the next change before it settles for a re-check time
PWM_MIN_INTERVAL_MS = 5000  # IEC 61851-1: duty changed at most every 5 s (EVerest IEC_PWM_MAX_UPDATE_INTERVAL)
VERSION = 1  # of the stored record's layout


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _int(d, key, low, required=True):
    value = d.get(key)
    if value is None and not required:
        return None
    if not _is_int(value) or value < low:
        raise ValueError("%s must be an integer >= %d, not %r" % (key, low, value))
    return value


def _choice(d, key, allowed):
    value = d.get(key)
    if value not in allowed:
        raise ValueError("%s must be one of %s, not %r" % (key, "/".join(allowed), value))
    return value


def _time(d, key):
    value = d.get(key)
    return None if value is None else timefmt.parse(value)


def _rate(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e9:
        raise ValueError("%s must be a number >= 0, not %r" % (what, value))  # also refuses NaN
    return value


class _Entry:
    """One installed profile, checked and with its times parsed."""

    def __init__(self, connector_id, tx_id, raw):
        if not isinstance(raw, dict):
            raise ValueError("csChargingProfiles must be an object")
        self.connector_id, self.tx_id, self.raw = connector_id, tx_id, raw
        self.id = _int(raw, "chargingProfileId", -2 ** 31)
        self.stack = _int(raw, "stackLevel", 0)
        self.purpose = _choice(raw, "chargingProfilePurpose", PURPOSES)
        self.kind = _choice(raw, "chargingProfileKind", KINDS)
        self.valid_from, self.valid_to = _time(raw, "validFrom"), _time(raw, "validTo")
        if self.valid_to is not None and self.valid_from is not None and self.valid_to <= self.valid_from:
            raise ValueError("validTo is not after validFrom")
        sched = raw.get("chargingSchedule")
        if not isinstance(sched, dict):
            raise ValueError("chargingSchedule must be an object")
        self.start = _time(sched, "startSchedule")
        self.duration = _int(sched, "duration", 1, required=False)
        self.unit = _choice(sched, "chargingRateUnit", UNITS)
        if sched.get("minChargingRate") is not None:
            _rate(sched["minChargingRate"], "minChargingRate")
        self.recur_s = 0
        if self.kind == "Recurring":
            self.recur_s = RECURRENCE_S.get(raw.get("recurrencyKind"), 0)
            if not self.recur_s or self.start is None:
                raise ValueError("a Recurring profile needs recurrencyKind Daily/Weekly and startSchedule")
        elif self.kind == "Relative" and self.start is not None:
            raise ValueError("a Relative profile has no startSchedule")
        periods = sched.get("chargingSchedulePeriod")
        if not isinstance(periods, list) or not periods:
            raise ValueError("chargingSchedulePeriod must be a non-empty list")
        self.periods = []
        for p in periods:
            if not isinstance(p, dict):
                raise ValueError("a chargingSchedulePeriod must be an object")
            start = _int(p, "startPeriod", 0)
            if start <= (self.periods[-1][0] if self.periods else -1):
                raise ValueError("startPeriod values must increase")
            phases = _int(p, "numberPhases", 1, required=False)
            if phases is not None and phases > 3:
                raise ValueError("numberPhases must be 1..3, not %d" % phases)
            self.periods.append((start, _rate(p.get("limit"), "limit"), phases))
        if self.periods[0][0] != 0:
            raise ValueError("the first startPeriod must be 0")

    def _origin(self, t, anchor_s):
        if self.recur_s:
            return self.start + (t - self.start) // self.recur_s * self.recur_s
        return anchor_s if self.start is None else self.start

    def at(self, t, anchor_s, voltage_v, phases):
        """(limit_a, numberPhases or None, unit, limit) at instant t, or None where this gives no limit."""
        if (self.valid_from is not None and t < self.valid_from) or (
                self.valid_to is not None and t >= self.valid_to):
            return None
        offset = t - self._origin(t, anchor_s)
        if offset < 0 or (self.duration is not None and offset >= self.duration):
            return None
        found = self.periods[0]
        for period in self.periods:
            if period[0] > offset:
                break
            found = period
        limit, n = found[1], found[2]
        return (limit if self.unit == "A" else limit / (voltage_v * (n or phases))), n, self.unit, limit

    def next_edge(self, t, anchor_s):
        """The first instant after t at which at() may answer differently, or None."""
        origin = self._origin(t, anchor_s)
        edges = [self.valid_from, self.valid_to, origin + self.recur_s if self.recur_s else None]
        if self.duration is not None:
            edges.append(origin + self.duration)
        for period in self.periods:
            edges.append(origin + period[0])
        return _first_after(edges, t)

    def settle_s(self, anchor_s):
        """After this instant only recurrences change what at() answers (so it repeats weekly)."""
        edges = [self.valid_from, self.valid_to]
        if not self.recur_s:
            origin = self._origin(0, anchor_s)
            edges.append(origin + max(self.periods[-1][0], self.duration or 0))
        return max(e for e in edges + [anchor_s] if e is not None)


def _first_after(edges, t):
    best = None
    for e in edges:
        if e is not None and e > t and (best is None or e < best):
            best = e
    return best


def _floor_tenth(x):
    return int(x * 10 + 1e-6) / 10  # limits have one decimal (multipleOf 0.1); rounding down never offers more


def _in_unit(value, unit, voltage_v, phases):
    limit_a, n, own_unit, own_limit = value
    if unit == own_unit:
        return _floor_tenth(own_limit)
    if unit == "A":
        return _floor_tenth(limit_a)
    return _floor_tenth(limit_a * voltage_v * (n or phases))


class Profiles:
    """The installed charging profiles of a charge point with connectors 1..connector_count."""

    def __init__(self, connector_count=1, max_stack_level=8, max_periods=24, max_installed=16):
        # The limits are what the charge point reports as ChargeProfileMaxStackLevel,
        # ChargingScheduleMaxPeriods and MaxChargingProfilesInstalled (OCPP 1.6 section 9.4).
        self.connector_count = connector_count
        self.max_stack_level = max_stack_level
        self.max_periods = max_periods
        self.max_installed = max_installed
        self.entries = []

    def _check_connector(self, connector_id):
        if not _is_int(connector_id) or not 0 <= connector_id <= self.connector_count:
            raise ValueError("no connector %r" % (connector_id,))

    def _entry(self, connector_id, profile, tx_id):
        self._check_connector(connector_id)
        e = _Entry(connector_id, tx_id, profile)
        if e.stack > self.max_stack_level:
            raise ValueError("stackLevel %d is above ChargeProfileMaxStackLevel %d" % (e.stack, self.max_stack_level))
        if len(e.periods) > self.max_periods:
            raise ValueError("%d periods, ChargingScheduleMaxPeriods is %d" % (len(e.periods), self.max_periods))
        given_tx = profile.get("transactionId")
        if e.purpose == TX:  # 3.13.1: a TxProfile belongs to a running transaction
            if connector_id == 0 or tx_id is None:
                raise ValueError("TxProfile without a transaction on connector %d" % connector_id)
            if given_tx is not None and given_tx != tx_id:
                raise ValueError("transactionId %r is not the transaction %r on the connector" % (given_tx, tx_id))
        else:
            e.tx_id = None
            if given_tx is not None:
                raise ValueError("transactionId is only valid in a TxProfile")
        if e.purpose == CP_MAX and (connector_id != 0 or e.kind == "Relative" or e.start is None):
            # No transaction to start from at charge point level: the schedule needs its own start.
            raise ValueError("ChargePointMaxProfile only on connector 0 and with a startSchedule")
        return e

    def _add(self, e):
        kept = [o for o in self.entries if o.id != e.id and not (
            o.connector_id == e.connector_id and o.purpose == e.purpose and o.stack == e.stack)]
        if len(kept) >= self.max_installed:
            raise ValueError("MaxChargingProfilesInstalled (%d) reached" % self.max_installed)
        self.entries = kept + [e]

    def set(self, connector_id, profile, tx_id=None):
        """SetChargingProfile: -> ("Accepted", "") or ("Rejected", why). tx_id: the transaction running on
        the connector, if any. A profile with the same id, or the same purpose and stackLevel on the same
        connector, is replaced (5.16)."""
        try:
            self._add(self._entry(connector_id, profile, tx_id))
        except ValueError as exc:
            return "Rejected", str(exc)
        return "Accepted", ""

    def clear(self, id=None, connector_id=None, purpose=None, stack_level=None):
        """ClearChargingProfile (5.5): the profile with that id if an id is given (the other criteria are
        then not used), else every profile matching all the criteria given (all, if none is)."""
        if id is not None:
            gone = [e for e in self.entries if e.id == id]
        else:
            gone = [e for e in self.entries if (connector_id is None or e.connector_id == connector_id)
                    and (purpose is None or e.purpose == purpose)
                    and (stack_level is None or e.stack == stack_level)]
        if not gone:
            return "Unknown"
        self.entries = [e for e in self.entries if e not in gone]
        return "Accepted"

    def tx_ended(self, connector_id):
        """The transaction on the connector ended: its TxProfiles cease to be valid
        (ChargingProfilePurposeType). -> how many."""
        before = len(self.entries)
        self.entries = [e for e in self.entries if not (e.purpose == TX and e.connector_id == connector_id)]
        return before - len(self.entries)

    def drop_expired(self, now_s):
        """Forget profiles that can never give a limit again (validTo passed, or an Absolute schedule
        whose duration ended). -> how many."""
        before = len(self.entries)
        self.entries = [e for e in self.entries if not (
            (e.valid_to is not None and e.valid_to <= now_s) or (
                e.kind == "Absolute" and e.start is not None and e.duration is not None
                and e.start + e.duration <= now_s))]
        return before - len(self.entries)

    def _stacks(self, connector_id):
        self._check_connector(connector_id)
        order = sorted(self.entries, key=lambda e: (-e.stack, e.connector_id == 0))
        cap = [e for e in order if e.purpose == CP_MAX]
        if connector_id == 0:
            return [], [], cap
        tx = [e for e in order if e.purpose == TX and e.connector_id == connector_id]
        default = [e for e in order if e.purpose == TX_DEFAULT and e.connector_id in (0, connector_id)]
        return tx, default, cap

    def _value(self, stacks, t, anchor_s, voltage_v, phases):
        won = []
        for stack in stacks:  # the highest level giving a limit at t wins (3.13.2)
            hit = None
            for e in stack:
                hit = e.at(t, anchor_s, voltage_v, phases)
                if hit is not None:
                    break
            won.append(hit)
        tx, default, cap = won
        base = tx if tx is not None else default  # 3.13.3: TxProfile overrides TxDefaultProfile
        if base is None or (cap is not None and cap[0] < base[0]):
            return cap  # ChargePointMaxProfile caps the result
        return base

    def _next_edge(self, stacks, t, anchor_s):
        return _first_after([e.next_edge(t, anchor_s) for stack in stacks for e in stack], t)

    def limit_at(self, connector_id, now_s, tx_start_s=None, voltage_v=230, phases=3):
        """-> (limit_a or None, next_change_s or None): the composite current limit at now_s (None: no
        profile limits it) and when it next changes (None: never). The limit holds on
        [now_s, next_change_s); beyond MAX_EDGES profile edges without a change, next_change_s is only a
        time to ask again. W limits become A over voltage_v and numberPhases (else `phases`)."""
        if not voltage_v > 0 or phases not in (1, 2, 3):
            raise ValueError("voltage_v must be > 0 and phases 1..3")
        stacks = self._stacks(connector_id)
        anchor_s = now_s if tx_start_s is None else tx_start_s
        here = self._value(stacks, now_s, anchor_s, voltage_v, phases)
        limit_a = None if here is None else here[0]
        settle_s = max([now_s] + [e.settle_s(anchor_s) for stack in stacks for e in stack])
        t = now_s
        for _ in range(MAX_EDGES):
            t = self._next_edge(stacks, t, anchor_s)
            if t is None or t > settle_s + WEEK_S:  # from settle_s on, everything repeats weekly
                return limit_a, None
            there = self._value(stacks, t, anchor_s, voltage_v, phases)
            if (None if there is None else there[0]) != limit_a:
                return limit_a, t
        return limit_a, t

    def composite(self, connector_id, start_s, duration_s, unit="A", tx_start_s=None, voltage_v=230,
                  phases=3, default_limit_a=pilot.MAX_CURRENT_A):
        """GetCompositeSchedule (5.7): the chargingSchedule from start_s for duration_s in `unit`, periods
        relative to start_s and merged when equal. Where no profile limits, default_limit_a (the charge
        point's own limit) is given. Connector 0 answers the ChargePointMaxProfile alone."""
        if unit not in UNITS or not _is_int(duration_s) or duration_s < 0:
            raise ValueError("unit must be A or W and duration_s an integer >= 0")
        stacks = self._stacks(connector_id)
        anchor_s = start_s if tx_start_s is None else tx_start_s
        default = (default_limit_a, None, "A", default_limit_a)
        periods = []
        t = start_s
        while t is not None and t < start_s + duration_s or not periods:
            value = self._value(stacks, t, anchor_s, voltage_v, phases) or default
            period = {"startPeriod": t - start_s, "limit": _in_unit(value, unit, voltage_v, phases)}
            if value[1]:
                period["numberPhases"] = value[1]
            if not periods or (periods[-1]["limit"], periods[-1].get("numberPhases")) != (
                    period["limit"], value[1]):
                periods.append(period)
            t = self._next_edge(stacks, t, anchor_s)
        return {"duration": duration_s, "startSchedule": timefmt.format_utc(start_s),
                "chargingRateUnit": unit, "chargingSchedulePeriod": periods}

    def to_record(self):
        items = [{"connector_id": e.connector_id, "tx_id": e.tx_id, "profile": e.raw} for e in self.entries]
        return json.dumps({"version": VERSION, "profiles": items}).encode()

    def from_record(self, raw):
        """Replace the installed profiles by a stored record; ValueError (and nothing changed) if bad."""
        saved = self.entries
        try:
            record = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
            if not isinstance(record, dict) or record.get("version") != VERSION:
                raise ValueError("not a version %d record" % VERSION)
            self.entries = []
            for item in record["profiles"]:
                self._add(self._entry(item["connector_id"], item["profile"], item["tx_id"]))
        except Exception as exc:  # ValueError, KeyError, TypeError, UnicodeError...
            self.entries = saved
            raise ValueError("charging profile record unreadable (%s: %s)" % (type(exc).__name__, exc))


class PwmLimiter:
    """What current the PWM offers, changed at most every PWM_MIN_INTERVAL_MS. A decrease (or suspending)
    is applied at once: the limit is a grid or contract constraint, and offering more than allowed for up
    to 5 s would break it; the EV has to follow a lower duty anyway. An increase (or resuming) waits until
    the interval since the last change has passed. Under 6 A no duty is legal (10 % = 6 A is the lowest,
    fact sheet 1.3), so the answer is "suspend" (SuspendedEVSE), never a duty."""

    def __init__(self, interval_ms=PWM_MIN_INTERVAL_MS):
        self.interval_ms = interval_ms
        self.offered_a = None  # None: nothing offered (suspended)
        self.changed_ms = None  # when the offer last changed; None before the first

    @staticmethod
    def _duty(current_a):
        return pilot.NO_CHARGING_PERMILLE if current_a is None else pilot.duty_for_current(current_a)

    def update(self, limit_a, now_ms):
        """limit_a: what may be offered now (composite limit capped by the charger's own maximum).
        -> (offered_a or None, suspend, recheck_ms or None: when to call again for a held-back increase)."""
        if isinstance(limit_a, bool) or not isinstance(limit_a, (int, float)) or limit_a != limit_a:
            raise ValueError("limit_a must be a number, not %r" % (limit_a,))
        want = limit_a if limit_a >= pilot.MIN_CURRENT_A else None
        if self.changed_ms is not None and self._duty(want) == self._duty(self.offered_a):
            self.offered_a = want  # the same duty: no change the EV could see, so no waiting either
            return want, want is None, None
        lower = want is None or (self.offered_a is not None and want < self.offered_a)
        if lower or self.changed_ms is None or now_ms - self.changed_ms >= self.interval_ms:
            self.offered_a, self.changed_ms = want, now_ms
            return want, want is None, None
        return self.offered_a, self.offered_a is None, self.changed_ms + self.interval_ms
