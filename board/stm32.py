# STM32 dev board (ST NUCLEO-F429ZI, MicroPython's NUCLEO_F429ZI build): pin map, CP and PT1000
# scaling, meter UART, watchdog, and build() -> (main_board, safety_board) for one MCU running both
# nodes. The pilot PWM and its sampling share one pyb.Timer (pyb is the STM32 port's own module).
# Wiring tables and bring-up: docs/boards.md. Portable subset; machine and pyb come in as parameters.
from firmware import watchdog
from hal import machine_board
from hal.machine_adc import AdcIn, CpDivider
from hal.machine_hal import make_pin
from hal.machine_net import uplink
from hal.machine_pilot import PwmPilotOut, TimerSampler

MODEL = "NUCLEO-F429ZI"
NETWORK = "lan"  # on-board Ethernet (LAN8742A, RMII)
RTC_WEEKDAY_BASE = 1  # pyb.RTC.datetime(): Monday = 1
WDT_TIMEOUT_MS = watchdog.WDT_TIMEOUT_MS  # 8 s: the IWDG allows up to ~32 s

# CPU pin names (as in the port's pins.csv); the Zio/Arduino header labels are in docs/boards.md.
# Avoided: the RMII Ethernet pins (PA1, PA2, PA7, PB13, PC1, PC4, PC5, PG11, PG13), USART3 PD8/PD9
# (ST-LINK virtual COM port: the REPL), the LEDs PB0/PB7/PB14, USB OTG PA11/PA12.
PINS = {
    "cp_pwm": "PD12",  # TIM4_CH1 -> op-amp driver -> R1 1 kOhm -> CP
    "cp_adc": "PA3",  # ADC123_IN3 (A0), from the CP divider
    "contactor": "PF13",  # D7: main controller's switch in the coil circuit (relay driver)
    "relay": "PF12",  # D8: safety node's switch, in series
    "contactor_feedback": "PE13",  # D3: auxiliary contact via optocoupler, active low
    "rcd_ac": "PF14",  # D4: residual current monitor trip outputs (open collector, active low)
    "rcd_dc": "PE11",  # D5
    "rcd_test": "PE9",  # D6: the monitor's TEST input
    "estop": "PF15",  # D2: NC contact to GND: pressed (or a broken wire) reads high
    "pe_fault": "PD15",  # D9: PE check optocoupler pulls low while PE is present
    "temp_ambient": "PC0",  # A1, ADC123_IN10
    "temp_power_path": "PC3",  # A2, ADC123_IN13
    "temp_connector": "PB1",  # ADC12_IN9
    "meter_de": "PD4",  # RS-485 DE and /RE tied: high while sending (USART2 is PD5 TX / PD6 RX)
    "safe_boot": "PC13",  # blue USER button (pressed = high): held at reset, the firmware does not start
}
ACTIVE_LOW = ("contactor_feedback", "rcd_ac", "rcd_dc")
PULL_UP = ("contactor_feedback", "rcd_ac", "rcd_dc", "estop", "pe_fault")

# The pilot timer: TIM4 (84 MHz timer clock on APB1 x2); channel 1 drives PD12, channels 2 and 3
# run in OC_TIMING (no pin) and sample the CP in the middle of the high and of the low phase.
# Timers 2, 3, 5 and 6 are left to the port (LED intensity, servo, timed ADC).
PILOT_TIMER = {"id": 4, "pwm_channel": 1, "high_channel": 2, "low_channel": 3}
PILOT_INVERTED = False  # True if the op-amp stage inverts (then the channel runs PWM_INVERTED)

# CP -> ADC: 100 k from CP, 22.6 k to 3.3 V, 28.7 k to GND (all 1 %). With G = 1/100k + 1/22.6k +
# 1/28.7k = 89.1 uS: adc = cp * (10 uS / G) + 3300 mV * (44.2 uS / G) = 0.1122 * cp + 1639 mV,
# so -12 V -> 292 mV and +12 V -> 2986 mV: most of the 0..3.3 V range, with margin at both rails.
CP_DIVIDER = {"top_ohms": 100000, "bias_ohms": 22600, "ground_ohms": 28700, "vref_mv": 3300}
ADC = {"use_uv": False, "full_scale_mv": 3300, "atten": None}  # read_u16(): 12 bits, VDDA = 3.3 V

# PT1000 from the ADC node to GND, 4.7 k from 3.3 V (as on the ESP32 board).
PT1000 = {"top_ohms": 4700, "vref_mv": 3300}
TEMPERATURES = {"ambient": "temp_ambient", "power_path": "temp_power_path", "connector": "temp_connector"}

# Energy meter (Eastron SDM630, Modbus RTU): USART2 on PD5/PD6 (fixed by the board's build),
# 9600 baud 8N1 (the meter's factory setting).
METER_UART = {"id": 2, "baud": 9600}


def build(machine_module=None, settings=None, pyb_module=None, time_module=None, schedule=None):
    """(main_board, safety_board) on this board's pins. settings: a dict as in settings.json."""
    if machine_module is None:
        import machine as machine_module
    if pyb_module is None:
        import pyb as pyb_module
    machine = machine_module
    settings = machine_board.check_settings(settings or {})
    pins = machine_board.pin_map(PINS, settings["pins"])
    cp_adc = AdcIn(machine, pins["cp_adc"], "cp_adc", ADC["use_uv"], ADC["full_scale_mv"], ADC["atten"])
    divider = CpDivider(CP_DIVIDER["top_ohms"], CP_DIVIDER["bias_ohms"], CP_DIVIDER["ground_ohms"],
                        CP_DIVIDER["vref_mv"])
    timer = PILOT_TIMER
    try:
        sampler = TimerSampler(pyb_module, cp_adc, divider, timer["id"], timer["pwm_channel"],
                               make_pin(machine, pins["cp_pwm"], "cp_pwm"), timer["high_channel"],
                               timer["low_channel"], inverted=PILOT_INVERTED)
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError("pilot timer %d on pin %r: %s" % (timer["id"], pins["cp_pwm"], exc))
    network = uplink(NETWORK, settings)
    return machine_board.build_boards(_this(), machine, settings, pins, PwmPilotOut(sampler), sampler,
                                      network, time_module, schedule)


def _this():
    import sys

    return sys.modules[__name__]
