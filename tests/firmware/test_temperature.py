# portable
# PT1000 conversion, broken sensors and the derating steps (firmware/temperature.py).
from firmware import temperature as t
from tests.portable import raises


def test_pt1000_reads_1000_ohm_at_0c_and_round_trips():
    assert abs(t.celsius(1000.0)) < 1e-9
    for temp_c in (-40.0, 0.0, 25.0, 65.0, 90.0, 150.0):
        assert abs(t.celsius(t.ohms(temp_c)) - temp_c) < 1e-6
    assert abs(t.ohms(100.0) - 1385.05) < 0.01  # IEC 60751 table: 1385.1 ohm at 100 C


def test_open_and_shorted_sensors_are_errors_not_temperatures():
    assert "open" in str(raises(ValueError, t.celsius, 1.0e6))
    assert "short" in str(raises(ValueError, t.celsius, 0.5))
    raises(ValueError, t.celsius, None)


def test_steps_go_up_at_each_threshold_and_down_with_hysteresis():
    step = t.FULL
    path = []
    for temp_c in (60, 65, 67, 68, 71, 69, 67.9, 65.5, 64.9, 62.1, 61.9):
        step = t.step("ambient", temp_c, step)
        path.append(step)
    assert path == [0, 1, 1, 2, 3, 3, 2, 2, 1, 1, 0]


def test_derated_current_never_below_6a_unless_stopped():
    assert t.derated_a(32, t.FULL) == 32
    assert t.derated_a(32, t.HALF) == 16
    assert t.derated_a(32, t.QUARTER) == 8
    assert t.derated_a(16, t.QUARTER) == 6
    assert t.derated_a(32, t.STOP) == 0


def test_thermal_reports_the_worst_step_and_broken_sensors():
    thermal = t.Thermal()
    worst, broken, temps = thermal.update({"ambient": t.ohms(30), "connector": t.ohms(81), "power_path": 1.0e6})
    assert worst == t.QUARTER and broken == ["power_path"] and temps["power_path"] is None
