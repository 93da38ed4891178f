# portable
# hal/machine_pilot.py against the fake machine and pyb: the 1 kHz pilot PWM and its duty, and the CP
# plateaus recovered from ADC samples (ESP32 burst sampling, STM32 timer-triggered sampling).
from firmware import pilot
from hal.machine_adc import AdcIn, CpDivider
from hal.machine_hal import MachineClock
from hal.machine_pilot import BurstSampler, PwmPilotOut, SampledPilotIn, TimerSampler, compare_points, plateaus
from tests.board.fake_pyb import make_pyb
from tests.board.fakes import cp_wave, make_machine
from tests.portable import raises, run_async

ESP32_DIVIDER = (100000, 22100, 16200, 3300)
STM32_DIVIDER = (100000, 22600, 28700, 3300)
TOLERANCE_MV = 150  # ADC quantisation and rounding, far inside the 1.5 V between bands

# (high_mv, low_mv) on the CP for each state with PWM on (fact sheet 1.2), and a C without EV diode.
STATES = {"B": (9000, -12000), "C": (6000, -12000), "D": (3000, -12000)}
DIODE_MISSING_C = (6000, -6400)  # no diode: the negative half goes through R1 and the EV's 882 ohm


def esp32_rig():
    m = make_machine()
    pwm = m.PWM(m.Pin(26), freq=1000, duty_u16=65535)
    out = PwmPilotOut(pwm)
    divider = CpDivider(*ESP32_DIVIDER)
    adc = AdcIn(m, 36, "cp_adc", use_uv=True, atten="ATTN_11DB")
    sampler = BurstSampler(adc, divider, m.time, max_age_ms=0)
    return m, out, divider, sampler


def stm32_rig():
    m = make_machine()
    pyb = make_pyb(m)
    divider = CpDivider(*STM32_DIVIDER)
    adc = AdcIn(m, "PA3", "cp_adc", use_uv=False)
    m.adcs["PA3"].level(divider.adc_mv(12000))
    sampler = TimerSampler(pyb, adc, divider, 4, 1, m.Pin("PD12"), 2, 3)
    return m, pyb, PwmPilotOut(sampler), divider, sampler


def close(levels, expected):
    return abs(levels[0] - expected[0]) <= TOLERANCE_MV and abs(levels[1] - expected[1]) <= TOLERANCE_MV


# --- generator -----------------------------------------------------------------------------------

def test_pwm_duty_u16_for_6_16_32_amps():
    m, out, _, _ = esp32_rig()
    pwm = m.pwms[26]
    assert pwm.freqs == [1000]
    expected = {6: 6553, 16: 17432, 32: 34930}  # permille 100, 266, 533 times 65535 // 1000
    for amps in (6, 16, 32):
        permille = pilot.duty_for_current(amps)
        out.pwm(permille)
        assert pwm.duties[-1] == permille * 65535 // 1000 == expected[amps]
        # rounded down: never more current than asked
        assert pilot.current_for_duty(pwm.duties[-1] * 1000 // 65535) <= amps


def test_x1_is_constant_high_and_f_constant_low():
    m, out, _, _ = esp32_rig()
    assert m.pwms[26].duties[-1] == 65535  # a board comes up in X1
    out.f()
    assert m.pwms[26].duties[-1] == 0
    out.x1()
    assert m.pwms[26].duties[-1] == 65535


def test_bad_duty_is_refused():
    _, out, _, _ = esp32_rig()
    for bad in (-1, 1001, 26.7, None):
        assert "duty_permille" in str(raises(ValueError, out.pwm, bad))


def test_divider_maps_the_cp_range_into_the_adc_range():
    esp32 = CpDivider(*ESP32_DIVIDER)
    assert 150 < esp32.adc_mv(-12600) and esp32.adc_mv(12600) < 2450  # ESP32 at 11 dB reads well here
    stm32 = CpDivider(*STM32_DIVIDER)
    assert 0 < stm32.adc_mv(-13500) and stm32.adc_mv(13500) < 3300
    for cp in (-12000, 0, 9000):
        assert esp32.cp_mv(esp32.adc_mv(cp)) == cp
    assert "top_ohms" in str(raises(ValueError, CpDivider, 0, 1, 1, 3300))


# --- ESP32: burst sampling -----------------------------------------------------------------------

def test_plateaus_of_a_recorded_burst():
    # raw values as recorded: low plateau ~100, high ~900, two edge samples in between
    burst = [100, 102, 98, 500, 900, 905, 898, 101, 99, 300, 903, 100]
    high, low = plateaus(burst, len(burst), 50)
    assert abs(high - 901.5) < 0.01 and abs(low - 100) < 0.01
    assert plateaus([400, 401, 399], 3, 50) == (400, 400)  # one level: no PWM


def test_burst_recovers_both_plateaus_for_each_state_with_pwm():
    m, out, divider, sampler = esp32_rig()
    for amps in (6, 16, 32):
        out.pwm(pilot.duty_for_current(amps))
        for state in STATES:
            high, low = STATES[state]
            m.adcs[36].wave(cp_wave(divider, high, low, m.pwms[26].duty_fraction))
            levels = sampler.levels()
            assert close(levels, STATES[state]), (amps, state, levels)
            assert pilot.classify(levels[0]) == state
            assert not pilot.diode_fault(levels[1])
    assert sampler.samples >= 2000 // 23  # the burst covered two periods


def test_burst_plays_back_recorded_samples():
    m, out, divider, sampler = esp32_rig()
    recorded = [divider.adc_mv(-12000)] * 8 + [divider.adc_mv(9000)] * 3 + [divider.adc_mv(1500)]
    m.adcs[36].play(recorded)  # a 10 % duty burst with one edge sample, round and round
    assert close(sampler.levels(), STATES["B"])


def test_states_a_e_and_f_without_pwm_give_one_level():
    m, out, divider, sampler = esp32_rig()
    for generator, level_mv, state in (("x1", 12000, "A"), ("x1", 0, "E"), ("f", -12000, "F")):
        getattr(out, generator)()
        m.adcs[36].level(divider.adc_mv(level_mv))
        levels = sampler.levels()
        assert close(levels, (level_mv, level_mv)), (state, levels)
        assert pilot.classify(levels[0]) == state


def test_missing_diode_shows_in_the_low_plateau():
    m, out, divider, sampler = esp32_rig()
    out.pwm(pilot.duty_for_current(16))
    m.adcs[36].wave(cp_wave(divider, DIODE_MISSING_C[0], DIODE_MISSING_C[1], m.pwms[26].duty_fraction))
    levels = sampler.levels()
    assert close(levels, DIODE_MISSING_C)
    assert pilot.classify(levels[0]) == "C" and pilot.diode_fault(levels[1])


def test_burst_too_short_for_two_periods_is_refused():
    m = make_machine()
    adc = AdcIn(m, 36, "cp_adc", use_uv=True)
    error = raises(ValueError, BurstSampler, adc, CpDivider(*ESP32_DIVIDER), m.time, 1500)
    assert "two PWM periods" in str(error)


def test_a_fresh_reading_is_shared_by_both_views():
    m = make_machine()
    adc = AdcIn(m, 36, "cp_adc", use_uv=True)
    sampler = BurstSampler(adc, CpDivider(*ESP32_DIVIDER), m.time, max_age_ms=5)
    sampler.levels()
    reads = m.adcs[36].reads
    sampler.levels()  # the safety node's view, within 5 ms
    assert m.adcs[36].reads == reads
    m.time.advance_ms(10)
    sampler.levels()
    assert m.adcs[36].reads > reads


# --- STM32: timer-triggered sampling -------------------------------------------------------------

def test_compare_points_land_in_the_right_phase():
    period = 83999
    for pulse in (8400, 22344, 44772, 80639):  # 10 %, 26.6 %, 53.3 %, 96 %
        high_at, low_at = compare_points(pulse, period)
        assert 0 < high_at < pulse < low_at < period
    assert compare_points(period + 1, period)[1] < period  # X1: the "low" sample reads the high level
    assert compare_points(0, period)[0] >= 1  # F: the "high" sample reads the low level


def test_timer_pwm_runs_at_1khz_with_the_duty_in_timer_counts():
    m, pyb, out, _, _ = stm32_rig()
    timer = pyb.timers[4]
    assert timer.freq == 1000
    pwm = timer.channels[1]
    assert pwm.value == 84000 and pwm.pin.id == "PD12"  # X1 at start
    out.pwm(pilot.duty_for_current(16))
    assert pwm.value == 17432 * 84000 // 65535
    out.f()
    assert pwm.value == 0


def test_timer_sampling_recovers_the_plateaus_in_every_state():
    m, pyb, out, divider, sampler = stm32_rig()
    timer = pyb.timers[4]
    out.pwm(pilot.duty_for_current(16))
    for state in STATES:
        high, low = STATES[state]
        m.adcs["PA3"].wave(cp_wave(divider, high, low, timer.pwm_fraction))
        timer.run(periods=8)  # fills the rings
        levels = sampler.levels()
        assert close(levels, STATES[state]), (state, levels)
        assert pilot.classify(levels[0]) == state and not pilot.diode_fault(levels[1])
    m.adcs["PA3"].wave(cp_wave(divider, DIODE_MISSING_C[0], DIODE_MISSING_C[1], timer.pwm_fraction))
    timer.run(periods=8)
    assert pilot.diode_fault(sampler.levels()[1])


def test_timer_sampling_without_pwm_reads_one_level():
    m, pyb, out, divider, sampler = stm32_rig()
    timer = pyb.timers[4]
    out.x1()
    m.adcs["PA3"].wave(cp_wave(divider, 12000, -12000, timer.pwm_fraction))  # duty 100 %: never low
    timer.run(periods=8)
    assert close(sampler.levels(), (12000, 12000))
    out.f()
    timer.run(periods=8)
    assert close(sampler.levels(), (-12000, -12000))


# --- PilotIn.wait --------------------------------------------------------------------------------

class Script:
    """A sampler playing a list of (high_mv, low_mv), holding the last one."""

    def __init__(self, levels):
        self.levels_list = list(levels)
        self.calls = 0

    def levels(self):
        i = min(self.calls, len(self.levels_list) - 1)
        self.calls += 1
        return self.levels_list[i]


def test_wait_returns_on_a_change_beyond_the_noise_threshold():
    m = make_machine()
    script = Script([(9000, -12000)] * 4 + [(6000, -12000)])
    pilot_in = SampledPilotIn(script, MachineClock(m.time), noise_mv=200, poll_ms=1)
    assert pilot_in.read() == (9000, -12000)
    assert run_async(pilot_in.wait(100000)) == (6000, -12000)
    assert script.calls == 5  # the read, then polls until the change: not the whole timeout


def test_noise_below_the_threshold_does_not_wake_the_firmware():
    m = make_machine()
    noisy = [(9000, -12000), (9150, -11880), (8860, -12120), (9100, -11900)] * 3
    script = Script(noisy)
    pilot_in = SampledPilotIn(script, MachineClock(m.time), noise_mv=200, poll_ms=1)
    pilot_in.read()
    levels = run_async(pilot_in.wait(5))
    assert abs(levels[0] - 9000) <= 200 and abs(levels[1] + 12000) <= 200
    assert script.calls >= 3  # it kept polling until the timeout


def test_a_change_made_before_wait_is_news_at_once():
    m = make_machine()
    script = Script([(12000, 12000), (9000, -12000)])
    pilot_in = SampledPilotIn(script, MachineClock(m.time), poll_ms=1)
    pilot_in.read()
    assert run_async(pilot_in.wait(0)) == (9000, -12000)
    assert script.calls == 2


def test_wait_over_the_burst_sampler_sees_the_ev_plug_in():
    m, out, divider, sampler = esp32_rig()
    m.adcs[36].level(divider.adc_mv(12000))
    pilot_in = SampledPilotIn(sampler, MachineClock(m.time), poll_ms=1)
    assert close(pilot_in.read(), (12000, 12000))
    out.pwm(pilot.duty_for_current(32))
    m.adcs[36].wave(cp_wave(divider, 9000, -12000, m.pwms[26].duty_fraction))  # EV plugged in, state B
    assert close(run_async(pilot_in.wait(1000)), STATES["B"])


# --- hard-IRQ rules, checked for real under the micropython binary (skipped under CPython) --------

def heap_locked(fn, arg):
    """Call fn(arg) with the heap locked, as in a hard IRQ: any allocation raises MemoryError."""
    import micropython

    micropython.heap_lock()
    try:
        fn(arg)
    finally:
        micropython.heap_unlock()


def test_timer_callbacks_do_not_allocate():
    try:
        import micropython

        micropython.heap_lock
    except (ImportError, AttributeError):
        return  # CPython: nothing to check
    m, pyb, out, divider, sampler = stm32_rig()
    sampler._read = lambda: 1234  # a native read_u16 returns a small int; the fake ADC would allocate
    for _ in range(20):  # round the rings more than once
        heap_locked(sampler._on_high, None)
        heap_locked(sampler._on_low, None)
    assert sampler._high[0] == 1234 and sampler._low[7] == 1234
