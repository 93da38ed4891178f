# portable
# Judging meter readings (firmware/metering.py): silent, frozen, grid voltage, over-current.
from firmware import metering as m


class Reading:
    def __init__(self, energy_wh, power_w=0.0, volts=230.0, amps=0.0):
        self.energy_wh = energy_wh
        self.power_w = power_w
        self.voltage_v = (volts, volts, volts)
        self.current_a = (amps, amps, amps)


def test_a_meter_that_stops_answering_is_silent_after_the_limit():
    watch = m.MeterWatch()
    watch.feed(Reading(1000.0), 0, 0, False)
    assert not watch.feed(None, m.SILENT_MS - 1, 0, False)["meter_silent"]
    assert watch.feed(None, m.SILENT_MS, 0, False)["meter_silent"]
    assert not watch.feed(Reading(1000.0), m.SILENT_MS + 1, 0, False)["meter_silent"]


def test_a_frozen_energy_register_under_load_is_stale_and_a_moving_one_is_not():
    watch = m.MeterWatch()
    t = 0
    wh = 1000.0
    while t <= m.STALE_WINDOW_MS:
        assert not watch.feed(Reading(wh, 7000.0), t, 32, True)["meter_stale"]
        t += 5000
        wh += 7000.0 * 5000 / 3600000
    frozen = m.MeterWatch()
    t = 0
    while t < m.STALE_WINDOW_MS:
        frozen.feed(Reading(1000.0, 7000.0), t, 32, True)
        t += 5000
    assert frozen.feed(Reading(1000.0, 7000.0), t, 32, True)["meter_stale"]
    assert not frozen.feed(Reading(1000.0, 0.0), t + 5000, 32, False)["meter_stale"]  # no power: no verdict


def test_grid_voltage_limits_with_hysteresis():
    watch = m.MeterWatch()
    assert watch.feed(Reading(0, volts=190.0), 0, 0, False)["grid_undervoltage"]
    assert watch.feed(Reading(0, volts=198.0), 1, 0, False)["grid_undervoltage"]  # not yet 200 V
    assert not watch.feed(Reading(0, volts=201.0), 2, 0, False)["grid_undervoltage"]
    assert watch.feed(Reading(0, volts=265.0), 3, 0, False)["grid_overvoltage"]
    assert watch.feed(Reading(0, volts=260.0), 4, 0, False)["grid_overvoltage"]
    assert not watch.feed(Reading(0, volts=258.0), 5, 0, False)["grid_overvoltage"]


def test_over_current_needs_the_margin_and_the_grace_time():
    watch = m.MeterWatch()
    limit = (16 + m.OVERCURRENT_MARGIN_A) * m.OVERCURRENT_FACTOR
    assert not watch.feed(Reading(0, amps=limit - 0.01), 0, 16, True)["overcurrent"]
    assert not watch.feed(Reading(0, amps=limit + 1), 1000, 16, True)["overcurrent"]
    assert not watch.feed(Reading(0, amps=limit + 1), 1000 + m.OVERCURRENT_GRACE_MS - 1, 16, True)["overcurrent"]
    assert watch.feed(Reading(0, amps=limit + 1), 1000 + m.OVERCURRENT_GRACE_MS, 16, True)["overcurrent"]
    assert not watch.feed(Reading(0, amps=limit + 1), 9000, 16, False)["overcurrent"]  # contactor meant open
