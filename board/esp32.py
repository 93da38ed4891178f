# ESP32 dev board (ESP32-DevKitC, ESP32-WROOM-32): pin map, CP and PT1000 scaling, meter UART,
# watchdog, and build() -> (main_board, safety_board) for one MCU running both nodes.
# Wiring tables and bring-up: docs/boards.md. Portable subset; `machine` comes in as a parameter.
from firmware import watchdog
from hal import machine_board
from hal.machine_adc import AdcIn, CpDivider
from hal.machine_hal import make_pin
from hal.machine_net import uplink
from hal.machine_pilot import PWM_FREQ_HZ, BurstSampler, PwmPilotOut

MODEL = "DevKitC-ESP32"
NETWORK = "wifi"
RTC_WEEKDAY_BASE = 0  # ESP32 RTC.datetime(): Monday = 0
WDT_TIMEOUT_MS = watchdog.WDT_TIMEOUT_MS  # 8 s: the ESP32 allows >= 1 s

# GPIO numbers. Avoided: 6-11 (SPI flash), 1/3 (UART0: USB serial, REPL), strapping pins 2, 5, 12, 15,
# and 14 (puts out a PWM at boot). 34-39 are input-only without pull-ups: ADC use only.
PINS = {
    "cp_pwm": 26,  # LEDC PWM -> op-amp driver -> R1 1 kOhm -> CP
    "cp_adc": 36,  # SENSOR_VP, ADC1_CH0, from the CP divider (ADC2 is unusable while Wi-Fi is on)
    "contactor": 25,  # main controller's switch in the coil circuit (relay driver)
    "relay": 33,  # safety node's switch, in series
    "contactor_feedback": 13,  # auxiliary contact via optocoupler, active low
    "rcd_ac": 18,  # residual current monitor trip outputs (open collector, active low)
    "rcd_dc": 19,
    "rcd_test": 32,  # the monitor's TEST input
    "estop": 21,  # NC contact to GND: pressed (or a broken wire) reads high
    "pe_fault": 22,  # PE check optocoupler pulls low while PE is present
    "temp_ambient": 39,  # SENSOR_VN, ADC1_CH3
    "temp_power_path": 34,  # ADC1_CH6
    "temp_connector": 35,  # ADC1_CH7
    "meter_tx": 17,  # UART2 -> RS-485 transceiver DI
    "meter_rx": 16,  # UART2 <- RO
    "meter_de": 4,  # DE and /RE tied: high while sending
    "safe_boot": 0,  # BOOT button: held at reset, the firmware does not start (REPL stays free)
}
ACTIVE_LOW = ("contactor_feedback", "rcd_ac", "rcd_dc", "safe_boot")
PULL_UP = ("contactor_feedback", "rcd_ac", "rcd_dc", "estop", "pe_fault")
INPUT_ONLY = (34, 35, 36, 37, 38, 39)
ADC1_PINS = (32, 33, 34, 35, 36, 37, 38, 39)
OUTPUT_ROLES = ("cp_pwm", "contactor", "relay", "rcd_test", "meter_tx", "meter_de")
ADC_ROLES = ("cp_adc", "temp_ambient", "temp_power_path", "temp_connector")

# CP -> ADC: 100 k from CP, 22.1 k to 3.3 V, 16.2 k to GND (all 1 %). With G = 1/100k + 1/22.1k +
# 1/16.2k = 117.0 uS: adc = cp * (10 uS / G) + 3300 mV * (45.2 uS / G) = 0.0855 * cp + 1276 mV,
# so -12 V -> 251 mV and +12 V -> 2302 mV (-12.6..+12.6 V: 199..2354 mV), inside the 150..2450 mV
# the ESP32 reads accurately at 11 dB.
CP_DIVIDER = {"top_ohms": 100000, "bias_ohms": 22100, "ground_ohms": 16200, "vref_mv": 3300}
ADC = {"use_uv": True, "full_scale_mv": 3300, "atten": "ATTN_11DB"}  # read_uv(): eFuse-calibrated
PILOT_INVERTED = False  # True if the op-amp stage inverts (then the LEDC output is inverted too)
BURST_US = 2200  # 2.2 PWM periods per CP reading

# PT1000 from the ADC node to GND, 4.7 k from 3.3 V: 1000 ohm -> 581 mV, 1900 ohm (open limit) -> 950 mV;
# 0.58 mA through the sensor keeps self-heating near 0.3 mW.
PT1000 = {"top_ohms": 4700, "vref_mv": 3300}
TEMPERATURES = {"ambient": "temp_ambient", "power_path": "temp_power_path", "connector": "temp_connector"}

# Energy meter (Eastron SDM630, Modbus RTU): UART2, 9600 baud 8N1 (the meter's factory setting).
METER_UART = {"id": 2, "baud": 9600}


def check_pins(pins):
    """The ESP32's own rules: ADC roles on ADC1, outputs not on input-only pins."""
    for role in ADC_ROLES:
        if pins[role] not in ADC1_PINS:
            raise ValueError("pin %s=%r: needs an ADC1 pin (%s); ADC2 stops working with Wi-Fi on"
                             % (role, pins[role], ", ".join([str(p) for p in ADC1_PINS])))
    for role in OUTPUT_ROLES:
        if pins[role] in INPUT_ONLY:
            raise ValueError("pin %s=%r is input-only on the ESP32 (34..39)" % (role, pins[role]))


def _machine(machine_module):
    if machine_module is not None:
        return machine_module
    import machine

    return machine


def build(machine_module=None, settings=None, time_module=None, schedule=None):
    """(main_board, safety_board) on this board's pins. settings: a dict as in settings.json."""
    machine = _machine(machine_module)
    settings = machine_board.check_settings(settings or {})
    pins = machine_board.pin_map(PINS, settings["pins"])
    check_pins(pins)
    options = {"freq": PWM_FREQ_HZ, "duty_u16": 65535}
    if PILOT_INVERTED:
        options["invert"] = True
    try:
        pwm = machine.PWM(make_pin(machine, pins["cp_pwm"], "cp_pwm"), **options)
    except (ValueError, TypeError, OSError) as exc:
        raise ValueError("pilot PWM on pin %r: %s" % (pins["cp_pwm"], exc))
    cp_adc = AdcIn(machine, pins["cp_adc"], "cp_adc", ADC["use_uv"], ADC["full_scale_mv"], ADC["atten"])
    divider = CpDivider(CP_DIVIDER["top_ohms"], CP_DIVIDER["bias_ohms"], CP_DIVIDER["ground_ohms"],
                        CP_DIVIDER["vref_mv"])
    sampler = BurstSampler(cp_adc, divider, time_module, BURST_US)
    network = uplink(NETWORK, settings)
    return machine_board.build_boards(_this(), machine, settings, pins, PwmPilotOut(pwm), sampler,
                                      network, time_module, schedule)


def _this():
    import sys

    return sys.modules[__name__]
