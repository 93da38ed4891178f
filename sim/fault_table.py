"""The faults sim/injector.py can put into a simulated charger (CPython): every fault of the catalogue
(firmware/faults.py) by name, plus a few of the surroundings (link noise, the CSMS offline, a task stall).

FAULTS maps a name to a Fault: how to inject it (parameters drawn from a seeded random.Random), how to
clear it, and `present`: whether the condition is there now in a form the firmware can sense (the RCD
monitor's output asserted, a temperature above its stop threshold, the link silent). The Monitor
(sim/invariants.py) evaluates `present` at every change of the plant; the first moment it holds is the
injection's knowable_ms, from which reaction times are measured. open_ms bounds how long the coil may
stay energized while the condition is present; detect_ms how long the firmware may take to name it
(one of `codes` raised, or "watchdog": a watchdog reset). Each bound says where it comes from.
"""

from firmware.charger import METER_IDLE_POLL_MS, METER_POLL_MS, PILOT_IDLE_WAIT_MS
from firmware.contactor import CONFIRM_MS
from firmware.metering import (OVERCURRENT_FACTOR, OVERCURRENT_GRACE_MS, OVERCURRENT_MARGIN_A, OVERVOLTAGE_V,
                               SILENT_MS, STALE_MIN_W, STALE_WINDOW_MS, UNDERVOLTAGE_V)
from firmware.safety.node import LINK_HEARTBEAT_MS, LINK_TIMEOUT_MS, TEMP_POLL_MS
from firmware.safety.selftest import TIMEOUT_MS as SELFTEST_TIMEOUT_MS
from firmware.temperature import THRESHOLDS_C
from firmware.watchdog import DEFAULT_ALLOWANCE_MS, FEED_MS, WDT_TIMEOUT_MS
from sim.meter import REG_POWER_TOTAL

SAFETY_LOOP_MS = 10  # issue #3: a critical fault opens within one safety-loop period, aim <= 10 ms
OFF_WITHIN_MS = 100  # IEC 61851-1 Table A.6 seq. 8.1 / 2.2: open within 100 ms of leaving C or pilot loss
METER_READ_MS = 1000  # one meter read: three Modbus requests (~120 ms), or their retries when it is silent
LINK_MS = LINK_TIMEOUT_MS + LINK_HEARTBEAT_MS + SAFETY_LOOP_MS  # brief: link timeout plus a heartbeat
TEMP_MS = TEMP_POLL_MS + SAFETY_LOOP_MS  # the safety node reads temperatures once a second
METER_MS = METER_IDLE_POLL_MS + METER_READ_MS  # a poll may be sleeping its idle interval
SILENT_BOUND_MS = SILENT_MS + METER_MS  # silence counted from the last good reading, judged at a poll
STALE_BOUND_MS = 2 * STALE_WINDOW_MS + 2 * METER_IDLE_POLL_MS + METER_READ_MS  # a window half spent
# The first sample over is at most one plugged poll away (a plug-in ends the idle wait), then the grace,
# then the poll that judges it.
OVERCURRENT_MS = METER_POLL_MS + OVERCURRENT_GRACE_MS + METER_POLL_MS + 2 * METER_READ_MS
STALL_MS = PILOT_IDLE_WAIT_MS + DEFAULT_ALLOWANCE_MS + FEED_MS + WDT_TIMEOUT_MS + SAFETY_LOOP_MS  # last beat,
# allowance, the feed that is not made, the watchdog's timeout
CONTACTOR_MS = CONFIRM_MS + LINK_HEARTBEAT_MS  # the confirm window after the relay report (or its repeat)
DIODE_MS = OFF_WITHIN_MS  # the diode is judged in the PWM's first samples (debounce 30 ms)
OVERCURRENT_SLACK_A = 0.5  # a draw this close to the firmware's limit may be judged either way


class Fault:
    def __init__(self, name, inject, clear, present, codes=None, open_ms=None, detect_ms=None, group=None,
                 meter=False, lasting=False, nameable=None):
        self.name = name
        self.inject = inject  # fn(rig, rng) -> params (dict of plain values); applies the fault
        self.clear = clear  # fn(rig, params)
        self.present = present  # fn(injector, injection) -> bool
        self.codes = (name,) if codes is None else tuple(codes)  # any of these names it
        self.open_ms = open_ms  # None: the coil need not open for it
        self.detect_ms = detect_ms if codes != () else None
        self.group = group or name  # faults of one group act on the same knob: never two at once
        self.meter = meter  # billing may be lost while it lasts: "data lost", not a violation
        self.lasting = lasting  # only a repair (clear_all) or a reset of the controller ends it
        # fn(injector, injection) -> bool: the node that names it can see it now (default: always)
        self.nameable = nameable or (lambda inj, injection: True)


# The safety link's directions: the main controller is end a, the safety node end b.
LINK_CUTS = {"both": ("a_to_b", "b_to_a"), "to_safety": ("a_to_b",), "to_main": ("b_to_a",)}


def _cut_now(inj, direction):
    return any(i.active and direction in LINK_CUTS.get(i.params.get("direction"), ()) for i in inj.injections
               if i.fault.group == "link")


def _main_hears_safety(inj, injection=None):
    # The main controller learns temperatures and the relay's state from the safety node's reports.
    return not _cut_now(inj, "b_to_a")


def _main_samples_cp(inj, injection=None):
    # A stalled CP sampler (task_stall) sees nothing until the watchdog's reset restarts it.
    return not inj.rig.board.pilot_in.stalled


def _input(getter):
    # A safety input the node watches with an interrupt: it reacts in the input's own callback.
    def inject(rig, rng):
        getter(rig).set(True)
        return {}

    return dict(inject=inject, clear=lambda rig, p: getter(rig).set(False),
                present=lambda inj, i: getter(inj.rig).value(), open_ms=SAFETY_LOOP_MS, detect_ms=SAFETY_LOOP_MS)


def _rcd(kind, low_ma, high_ma):
    def inject(rig, rng):
        ma = round(rng.uniform(low_ma, high_ma), 1)
        rig.plant.rcd.set_residual(**{kind + "_ma": ma})
        return {"residual_ma": ma}

    def present(inj, injection):
        # During the node's self-test the test current asserts both outputs: nothing can be told apart.
        rig = inj.rig
        return (getattr(rig.plant.rcd, kind).value() and not rig.plant.rcd.testing
                and not rig.safety_node.selftest.running)

    return dict(inject=inject, clear=lambda rig, p: rig.plant.rcd.set_residual(**{kind + "_ma": 0.0}),
                present=present, open_ms=SAFETY_LOOP_MS, detect_ms=SAFETY_LOOP_MS, group="rcd_" + kind)


def _blind(rig, rng):
    rig.plant.rcd.blind = True
    return {}


def _unblind(rig, params):
    rig.plant.rcd.blind = False
    rig.plant.rcd.set_residual()  # outputs follow the residual current again


def _blind_known(inj, injection):
    # Known when a self-test started while blind ran out without seeing its test current.
    now = inj.clock.ms()
    return inj.rig.plant.rcd.blind and any(p >= injection.injected_ms and now >= p + SELFTEST_TIMEOUT_MS
                                           for p in inj.test_pulses_ms)


def _temperature(kind):
    def inject(rig, rng):
        place = rng.choice(sorted(rig.plant.temperatures))
        sensor = rig.plant.temperatures[place]
        half_c, _, stop_c = THRESHOLDS_C[place]
        params = {"place": place, "was_c": sensor.temp_c}
        if kind == "broken":
            sensor.broken = params["broken"] = rng.choice(("open", "short"))
        else:
            low, high = (stop_c + 1.0, stop_c + 20.0) if kind == "stop" else (half_c + 0.5, stop_c - 0.5)
            sensor.temp_c = params["temp_c"] = round(rng.uniform(low, high), 1)
        return params

    def clear(rig, params):
        sensor = rig.plant.temperatures[params["place"]]
        sensor.temp_c, sensor.broken = params["was_c"], None

    def present(inj, injection):
        place = injection.params["place"]
        sensor = inj.rig.plant.temperatures[place]
        half_c, _, stop_c = THRESHOLDS_C[place]
        if kind == "broken":
            return sensor.broken is not None
        hot = sensor.broken is None and sensor.temp_c >= (stop_c if kind == "stop" else half_c)
        return hot and (kind == "stop" or sensor.temp_c < stop_c)

    if kind == "derate":  # the main controller derates from the temperatures the safety node reports
        return dict(inject=inject, clear=clear, present=present, group="temperature", nameable=_main_hears_safety,
                    detect_ms=TEMP_MS + LINK_HEARTBEAT_MS)
    return dict(inject=inject, clear=clear, present=present, group="temperature", open_ms=TEMP_MS, detect_ms=TEMP_MS)


def _contactor(knob):
    def inject(rig, rng):
        setattr(rig.plant.contactor, knob, True)
        return {}

    def clear(rig, params):
        contactor = rig.plant.contactor
        setattr(contactor, knob, False)
        contactor._move()  # repaired: the contacts go where the coil says (a sim-internal step)

    def present(inj, injection):
        c = inj.rig.plant.contactor
        if knob == "stuck_open":  # judged by the main controller against the relay state reported to it
            return c.stuck_open and c.coil and not c.closed and _main_hears_safety(inj)
        if c.welded and c.closed and not c.coil:
            injection.state["stuck_closed"] = True  # the coil let go and the contacts did not follow
        return c.welded and c.closed and injection.state.get("stuck_closed", False)

    bound = CONTACTOR_MS if knob == "stuck_open" else SAFETY_LOOP_MS
    return dict(inject=inject, clear=clear, present=present, open_ms=bound, group="contactor",
                detect_ms=CONTACTOR_MS, lasting=knob == "welded")


def _ev(attr, value_fn, normal, present, bound=OFF_WITHIN_MS):
    def inject(rig, rng):
        value = value_fn(rng)
        setattr(rig.ev, attr, value)
        return {attr: value}

    return dict(inject=inject, clear=lambda rig, p: setattr(rig.ev, attr, normal), present=present,
                open_ms=bound, detect_ms=bound, nameable=_main_samples_cp)


def _diode_seen(inj, injection):
    rig = inj.rig
    ev, plant = rig.ev, rig.plant
    pwm = plant.generator == "pwm" and plant.duty_permille is not None and 0 < plant.duty_permille < 1000
    # Only the main controller checks the diode: nothing to know while its sampler hangs.
    return (not ev.diode_ok and ev.plugged and pwm and not ev.cp_shorted and ev.cp_stuck_mv is None
            and _main_samples_cp(inj))


def _meter_reads(rig):
    # What the firmware learns of the grid and the current comes through the meter.
    return not rig.meter.silent and not rig.meter.frozen


def _overdrawing(inj, injection):
    plant = inj.rig.plant
    if not _meter_reads(inj.rig):
        return False
    limit_a = (plant.offered_a() + OVERCURRENT_MARGIN_A) * OVERCURRENT_FACTOR
    return plant.current_a > limit_a + OVERCURRENT_SLACK_A


def _grid(low, high, is_off):
    def inject(rig, rng):
        volts = round(rng.uniform(low, high), 1)
        rig.plant.set_grid_voltage(volts)
        return {"voltage_v": volts}

    return dict(inject=inject, clear=lambda rig, p: rig.plant.set_grid_voltage(230.0), group="grid",
                present=lambda inj, i: is_off(inj.rig.plant.voltage_v) and _meter_reads(inj.rig), open_ms=METER_MS,
                detect_ms=METER_MS)


def _meter(knob, present, bound):
    def inject(rig, rng):
        setattr(rig.meter, knob, True)
        return {}

    return dict(inject=inject, clear=lambda rig, p: setattr(rig.meter, knob, False), present=present,
                open_ms=bound, detect_ms=bound, group="meter", meter=True)


def _cut(choices):
    def inject(rig, rng):
        direction = rng.choice(choices)
        for name in LINK_CUTS[direction]:
            getattr(rig.safety_pipe, name).cut(True)
        return {"direction": direction}

    def clear(rig, params):
        for name in LINK_CUTS[params["direction"]]:
            getattr(rig.safety_pipe, name).cut(False)

    return dict(inject=inject, clear=clear, present=lambda inj, i: i.cleared_ms is None, group="link",
                open_ms=LINK_MS, detect_ms=LINK_MS)


def _noise(rig, rng):
    direction, knob, count = rng.choice(("a_to_b", "b_to_a")), rng.choice(("drop", "corrupt", "duplicate",
                                                                          "reorder")), rng.randint(1, 4)
    getattr(getattr(rig.safety_pipe, direction), knob)(count)
    return {"direction": direction, "knob": knob, "count": count}


def _stall(rig, rng):
    rig.board.pilot_in.stalled = True
    return {}


def _never(inj, injection):
    return False


def _faults():
    table = {
        "rcd_ac": _rcd("ac", 25.0, 200.0),  # trips from 22.5 mA (sim/sensors.py)
        "rcd_dc": _rcd("dc", 6.0, 250.0),
        "rcd_selftest": dict(inject=_blind, clear=_unblind, present=_blind_known, group="rcd_blind",
                             detect_ms=SAFETY_LOOP_MS, open_ms=SAFETY_LOOP_MS),
        "pe_loss": _input(lambda rig: rig.plant.pe_fault),
        "estop": _input(lambda rig: rig.plant.estop),
        "contactor_welded": _contactor("welded"),
        "contactor_stuck_open": _contactor("stuck_open"),
        "over_temperature": _temperature("stop"),
        "temp_sensor": _temperature("broken"),
        "temp_derate": _temperature("derate"),
        "link_lost": dict(_cut(("both", "to_safety")), codes=("link_lost", "safety_lost")),
        "safety_lost": _cut(("to_main",)),
        "link_noise": dict(inject=_noise, clear=lambda rig, p: None, present=_never, codes=(), group="link"),
        "overcurrent": _ev("overdraw_a", lambda rng: round(rng.uniform(4.0, 12.0), 1), 0.0, _overdrawing,
                           OVERCURRENT_MS),
        "pilot_diode": dict(_ev("diode_ok", lambda rng: False, True, _diode_seen), detect_ms=DIODE_MS),
        "pilot_short": _ev("cp_shorted", lambda rng: True, False,
                           lambda inj, i: inj.rig.ev.cp_shorted and inj.rig.ev.cp_stuck_mv is None),
        # Between E and F, or above A: no EV presents these (firmware/pilot.py bands).
        "pilot_invalid": _ev("cp_stuck_mv", lambda rng: rng.choice((-5000, 14000)), None,
                             lambda inj, i: inj.rig.ev.cp_stuck_mv is not None),
        "grid_undervoltage": _grid(150.0, UNDERVOLTAGE_V - 5.0, lambda v: v < UNDERVOLTAGE_V),
        "grid_overvoltage": _grid(OVERVOLTAGE_V + 5.0, 290.0, lambda v: v > OVERVOLTAGE_V),
        "meter_silent": _meter("silent", lambda inj, i: inj.rig.meter.silent, SILENT_BOUND_MS),
        "meter_stale": _meter("frozen", lambda inj, i: (inj.rig.meter.frozen and
                                                        inj.rig.meter.shown[REG_POWER_TOTAL] >= STALE_MIN_W),
                              STALE_BOUND_MS),
        # Nothing but the watchdog's reset wakes the hung task (rig.reboot clears the knob then).
        "task_stall": dict(inject=_stall, clear=lambda rig, p: None, codes=("watchdog",), detect_ms=STALL_MS,
                           present=lambda inj, i: inj.rig.board.pilot_in.stalled, lasting=True),
        "csms_offline": dict(inject=lambda rig, rng: rig.network.set_online(False) or {}, codes=(),
                             clear=lambda rig, p: rig.network.set_online(True), present=_never),
    }
    return {name: Fault(name, **spec) for name, spec in table.items()}


FAULTS = _faults()
