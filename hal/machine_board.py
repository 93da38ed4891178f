# A dev board's two hal Boards from one pin map: what board/esp32.py and board/stm32.py share.
#
# One MCU runs both the main controller and the safety node (see docs/boards.md), so the parts are
# built once and handed out: one clock, one CP sampler seen through two PilotIn views, the contactor
# feedback pin seen by both. Also here: settings.json (the board's own small JSON file), desk mode
# (plant parts from the bridge over USB serial) and the safe state after a crash. Portable subset.
import asyncio
import json

from hal.file_storage import FileStorage
from hal.parts import Board
from hal.machine_adc import AdcIn, Pt1000In
from hal.machine_hal import MachineClock, MachineWatchdog, PinIn, PinOut, make_pin, reset_cause
from hal.machine_net import uplink
from hal.machine_pilot import SampledPilotIn
from hal.machine_uart import MachineUart

FIRMWARE_VERSION = "0.1.0"
VENDOR = "OpenEVSE-Py"

# name: (accepted types, default). Documented in docs/boards.md and board/settings.example.json.
SETTINGS = {
    "board": ((str,), ""),  # "esp32" / "stm32"; empty: from sys.platform
    "csms_url": ((str,), ""),  # ws:// or wss://; the charge point id is appended
    "cp_id": ((str,), ""),
    "wifi_ssid": ((str,), ""),
    "wifi_password": ((str,), ""),
    "ca_file": ((str,), ""),  # CA certificate for wss:// (MicroPython has no system CA store)
    "ntp_host": ((str,), "pool.ntp.org"),  # empty: do not set the RTC from NTP
    "desk_mode": ((bool,), False),  # plant parts from the PC over the USB serial (bridge)
    "watchdog": ((bool,), True),  # false while debugging at the REPL
    "storage_dir": ((str,), "data"),  # relative to the flash root (ESP32 "/", STM32 "/flash")
    "max_current_a": ((int, float), 16),  # what this hardware is built for (cable, contactor)
    "phases": ((int,), 3),
    "ventilation": ((bool,), False),
    "serial": ((str,), ""),  # empty: from machine.unique_id()
    "trace": ((str,), "log"),  # on the serial console: "log" lines only, or "all" events
    "pins": ((dict,), None),  # role -> pin, overriding the board file's PINS
    "config": ((dict,), None),  # firmware configuration overrides (firmware/config.py keys)
}


def check_settings(raw):
    """The settings with defaults filled in; ValueError naming every problem."""
    if not isinstance(raw, dict):
        raise ValueError("settings must be a JSON object, not %s" % type(raw).__name__)
    problems = []
    settings = {}
    for name in SETTINGS:
        types, default = SETTINGS[name]
        value = raw.get(name, default)
        if value is not None and type(value) not in types:
            problems.append("%s must be %s, not %r" % (name, " or ".join([t.__name__ for t in types]), value))
        settings[name] = {} if value is None and types == (dict,) else value
    for name in raw:
        if name not in SETTINGS:
            problems.append("unknown setting %r (known: %s)" % (name, ", ".join(sorted(SETTINGS))))
    if not problems:
        if not 6 <= settings["max_current_a"] <= 80:
            problems.append("max_current_a must be within 6..80 A (IEC 61851-1 PWM range)")
        if settings["phases"] not in (1, 3):
            problems.append("phases must be 1 or 3")
        if settings["trace"] not in ("log", "all"):
            problems.append("trace must be \"log\" or \"all\", not %r" % settings["trace"])
        url = settings["csms_url"]
        if url and not (url.startswith("ws://") or url.startswith("wss://")):
            problems.append("csms_url must start with ws:// or wss://, not %r" % url)
    if problems:
        raise ValueError("settings: " + "; ".join(problems))
    return settings


def load_settings(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        raise ValueError("no settings file %s: copy board/settings.example.json there and edit it" % path)
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ValueError("%s is not valid JSON: %s" % (path, exc))
    return check_settings(raw)


def pin_map(pins, overrides):
    """The board's PINS with the settings' overrides; an unknown role is an error, not a new pin."""
    merged = dict(pins)
    for role in overrides:
        if role not in pins:
            raise ValueError("unknown pin role %r in settings (known: %s)" % (role, ", ".join(sorted(pins))))
        merged[role] = overrides[role]
    return merged


def _serial(machine, settings):
    if settings["serial"]:
        return settings["serial"]
    uid = machine.unique_id()
    return "".join(["%02X" % b for b in uid])


def own_parts(spec, machine, settings, network, time_module=None):
    """The parts a board keeps in every mode: clock, storage, network, watchdog, reset cause, info."""
    clock = MachineClock(time_module, machine.RTC(), spec.RTC_WEEKDAY_BASE)
    watchdog = MachineWatchdog(machine, spec.WDT_TIMEOUT_MS) if settings["watchdog"] else None
    info = {"vendor": VENDOR, "model": spec.MODEL, "serial": _serial(machine, settings),
            "firmware": FIRMWARE_VERSION, "max_current_a": settings["max_current_a"],
            "phases": settings["phases"], "ventilation": settings["ventilation"]}
    main = {"clock": clock, "storage": FileStorage(settings["storage_dir"]), "network": network,
            "safety_link": None, "watchdog": watchdog, "reset_cause": reset_cause(machine), "info": info}
    # The safety node shares the MCU, so the main controller's feeding keeps both alive.
    safety = {"clock": clock, "link": None, "watchdog": None, "reset_cause": main["reset_cause"],
              "info": {"ventilation": settings["ventilation"]}}
    return main, safety


def meter_uart(spec, machine, pins, time_module=None):
    meter = spec.METER_UART
    return MachineUart(machine, meter["id"], meter["baud"], pins.get("meter_tx"), pins.get("meter_rx"),
                       pins.get("meter_de"), time_module=time_module)


def build_boards(spec, machine, settings, pins, pilot_out, sampler, network, time_module=None, schedule=None):
    """(main_board, safety_board) on the board's own pins. spec is the board module (PINS, ACTIVE_LOW,
    PULL_UP, METER_UART, TEMPERATURES, PT1000, ADC, WDT_TIMEOUT_MS, MODEL, RTC_WEEKDAY_BASE)."""
    main, safety = own_parts(spec, machine, settings, network, time_module)
    clock = main["clock"]

    def out(role):
        return PinOut(machine, pins[role], role in spec.ACTIVE_LOW, role)

    def inp(role):
        return PinIn(machine, pins[role], role in spec.ACTIVE_LOW, "up" if role in spec.PULL_UP else None,
                     schedule, role)

    feedback = inp("contactor_feedback")
    main["pilot_out"] = pilot_out
    main["pilot_in"] = SampledPilotIn(sampler, clock)
    main["contactor"] = out("contactor")
    main["contactor_feedback"] = feedback
    main["meter_uart"] = meter_uart(spec, machine, pins, time_module)
    temperatures = {}
    for place in spec.TEMPERATURES:
        role = spec.TEMPERATURES[place]
        adc = AdcIn(machine, pins[role], role, spec.ADC["use_uv"], spec.ADC["full_scale_mv"], spec.ADC["atten"])
        temperatures[place] = Pt1000In(adc, spec.PT1000["top_ohms"], spec.PT1000["vref_mv"])
    safety.update({
        "pilot_in": SampledPilotIn(sampler, clock), "relay": out("relay"),
        "contactor_feedback": feedback.view(),
        "rcd_ac": inp("rcd_ac"), "rcd_dc": inp("rcd_dc"), "rcd_test": out("rcd_test"), "estop": inp("estop"),
        "pe_fault": inp("pe_fault"), "temperatures": temperatures,
    })
    return Board(**main), Board(**safety)


async def desk_boards(spec, machine, settings, stream_in, stream_out, time_module=None, hello_ms=10000):
    """Desk mode: (main_board, safety_board, bridge_client), once the plant said hello. The plant-facing
    parts come from the PC's simulated plant over the bridge (hal/bridge.py); clock, storage, network,
    watchdog and the meter's UART (the PC's simulated meter behind a USB RS-485 adapter, or a real
    meter) stay the board's own. No other pin is touched."""
    from hal.bridge import BridgeClient

    network = uplink(spec.NETWORK, settings, log=lambda text: None)
    main, safety = own_parts(spec, machine, settings, network, time_module)
    client = BridgeClient(asyncio.StreamReader(stream_in), asyncio.StreamWriter(stream_out, {}), main["clock"])
    for coro in client.tasks():
        asyncio.create_task(coro)
    if not await client.wait_hello(hello_ms):
        raise OSError("desk mode: no hello from the plant within %d ms (is `evse bridge` serving this port?)"
                      % hello_ms)
    if client.plant_epoch_s:  # the PC's wall clock, until NTP (if reachable) sets it again
        main["clock"].set_epoch_s(client.plant_epoch_s)
    pins = pin_map(spec.PINS, settings["pins"])
    main["meter_uart"] = meter_uart(spec, machine, pins, time_module)
    main.update(client.main_parts())
    safety.update(client.safety_parts())
    return Board(**main), Board(**safety), client


def safe_boot_pressed(spec, machine, settings):
    """True while the board's safe-boot button is held: main.py then leaves the REPL free."""
    pins = pin_map(spec.PINS, settings["pins"])
    active_low = "safe_boot" in spec.ACTIVE_LOW
    pull = machine.Pin.PULL_UP if active_low else machine.Pin.PULL_DOWN  # the button's own pull, doubled
    level = make_pin(machine, pins["safe_boot"], "safe_boot", machine.Pin.IN, pull).value()
    return level == (0 if active_low else 1)


def force_safe(spec, machine, settings):
    """After a crash: both switches and the RCD test off, the pilot pin parked at the level that
    makes the generator output -12 V (state F: EVSE not available). New Pin objects, so it works
    whatever state the crashed objects were left in."""
    pins = pin_map(spec.PINS, settings["pins"])
    for role in ("contactor", "relay", "rcd_test"):
        make_pin(machine, pins[role], role, machine.Pin.OUT, value=1 if role in spec.ACTIVE_LOW else 0)
    make_pin(machine, pins["cp_pwm"], "cp_pwm", machine.Pin.OUT, value=1 if spec.PILOT_INVERTED else 0)
