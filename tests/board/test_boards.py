# portable
# board/esp32.py and board/stm32.py build both nodes' Boards on the fake machine; settings and the
# entry point's board choice; bad pins, settings and board names give clear errors.
import asyncio
import binascii
import os

from board import esp32, main, runner, stm32
from firmware import pilot
from firmware.app import Firmware
from firmware.safety.node import SafetyNode
from hal import interfaces, machine_board
from tests.board.fake_pyb import make_pyb
from tests.board.fakes import cp_wave, make_machine
from tests.portable import raises, run_async

MAIN_PARTS = ("clock", "pilot_out", "pilot_in", "contactor", "contactor_feedback", "meter_uart", "storage",
              "network", "safety_link", "watchdog", "reset_cause", "info")
SAFETY_PARTS = ("clock", "pilot_in", "relay", "contactor_feedback", "rcd_ac", "rcd_dc", "rcd_test", "estop",
                "pe_fault", "temperatures", "link", "watchdog", "reset_cause", "info")
INFO_KEYS = ("vendor", "model", "serial", "firmware", "max_current_a", "phases", "ventilation")


def direct(fn, arg):
    fn(arg)


def temp_dir():
    return "/tmp/evse_board_" + binascii.hexlify(os.urandom(6)).decode()


def remove_tree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        os.remove(path + "/" + name)
    os.rmdir(path)


def settings(**extra):
    values = {"csms_url": "ws://127.0.0.1:9000/ocpp", "cp_id": "CP1", "storage_dir": temp_dir()}
    values.update(extra)
    return values


def build_esp32(**extra):
    m = make_machine(valid_pins=range(40))
    m.wire.update({21: 0, 22: 0})  # a healthy installation: e-stop contact closed, PE present
    s = settings(**extra)
    try:
        boards = esp32.build(m, s, m.time, direct)
    except Exception:
        remove_tree(s["storage_dir"])
        raise
    return m, s, boards


def build_stm32(**extra):
    m = make_machine()
    pyb = make_pyb(m)
    s = settings(**extra)
    return m, pyb, s, stm32.build(m, s, pyb, m.time, direct)


def check_parts(main_board, safety_board):
    for name in MAIN_PARTS:
        assert hasattr(main_board, name), name
    for name in SAFETY_PARTS:
        assert hasattr(safety_board, name), name
    assert interfaces.missing(main_board.clock, interfaces.Clock) == []
    assert interfaces.missing(main_board.pilot_out, interfaces.PilotOut) == []
    for board in (main_board, safety_board):
        assert interfaces.missing(board.pilot_in, interfaces.PilotIn) == []
        assert interfaces.missing(board.contactor_feedback, interfaces.DigitalIn) == []
        assert board.reset_cause in ("power", "watchdog", "soft", "hard")
    assert interfaces.missing(main_board.contactor, interfaces.DigitalOut) == []
    assert interfaces.missing(main_board.meter_uart, interfaces.Uart) == []
    assert interfaces.missing(main_board.storage, interfaces.Storage) == []
    assert interfaces.missing(main_board.network, interfaces.Network) == []
    assert interfaces.missing(main_board.watchdog, interfaces.Watchdog) == []
    assert main_board.safety_link is None and safety_board.link is None  # board/runner.py joins them
    for name in ("relay", "rcd_test"):
        assert interfaces.missing(getattr(safety_board, name), interfaces.DigitalOut) == []
    for name in ("rcd_ac", "rcd_dc", "estop", "pe_fault"):
        assert interfaces.missing(getattr(safety_board, name), interfaces.DigitalIn) == []
    assert sorted(safety_board.temperatures) == ["ambient", "connector", "power_path"]
    for sensor in safety_board.temperatures.values():
        assert interfaces.missing(sensor, interfaces.TemperatureIn) == []
    for key in INFO_KEYS:
        assert key in main_board.info, key
    assert safety_board.info == {"ventilation": False}
    assert main_board.clock is safety_board.clock  # one MCU, one clock


def test_esp32_builds_every_part_of_both_boards():
    m, s, (main_board, safety_board) = build_esp32()
    try:
        check_parts(main_board, safety_board)
        assert main_board.info["model"] == "DevKitC-ESP32" and main_board.info["serial"] == "240AC4123456"
        assert m.pwms[26].freqs == [1000] and m.pwms[26].duties[-1] == 65535  # X1 from the start
        assert m.adcs[36].atten == m.ADC.ATTN_11DB
        assert m.uarts[2].options["tx"] == 17 and m.uarts[2].options["baudrate"] == 9600
        for gpio in (25, 33, 32):  # contactor, relay, RCD test: off at boot
            assert m.pins[gpio].level == 0
    finally:
        remove_tree(s["storage_dir"])


def test_stm32_builds_every_part_of_both_boards():
    m, pyb, s, (main_board, safety_board) = build_stm32()
    try:
        check_parts(main_board, safety_board)
        assert main_board.info["model"] == "NUCLEO-F429ZI"
        timer = pyb.timers[4]
        assert timer.freq == 1000 and timer.channels[1].pin.id == "PD12"
        assert timer.channels[2].mode == timer.OC_TIMING and timer.channels[3].mode == timer.OC_TIMING
        assert "tx" not in m.uarts[2].options  # USART2's pins are fixed by the board's build
    finally:
        remove_tree(s["storage_dir"])


def test_built_boards_drive_the_pins_the_map_names():
    m, s, (main_board, safety_board) = build_esp32()
    try:
        main_board.contactor.set(True)
        safety_board.relay.set(True)
        assert m.pins[25].level == 1 and m.pins[33].level == 1
        seen = []
        safety_board.estop.on_change(seen.append)
        m.pins[21].drive(1)  # NC contact opened: pressed
        assert seen == [True] and safety_board.estop.value()
        main_seen = []
        safety_seen = []
        main_board.contactor_feedback.on_change(main_seen.append)
        safety_board.contactor_feedback.on_change(safety_seen.append)
        m.pins[13].drive(0)  # aux contact closed (active low)
        assert main_seen == [True] and safety_seen == [True]
    finally:
        remove_tree(s["storage_dir"])


def test_stm32_board_pilot_out_and_in_close_the_loop():
    m, pyb, s, (main_board, safety_board) = build_stm32()
    try:
        divider = stm32.CP_DIVIDER
        from hal.machine_adc import CpDivider

        d = CpDivider(divider["top_ohms"], divider["bias_ohms"], divider["ground_ohms"], divider["vref_mv"])
        main_board.pilot_out.pwm(pilot.duty_for_current(16))
        timer = pyb.timers[4]
        m.adcs["PA3"].wave(cp_wave(d, 6000, -12000, timer.pwm_fraction))
        timer.run(periods=8)
        for board in (main_board, safety_board):
            high, low = board.pilot_in.read()
            assert pilot.classify(high) == "C" and not pilot.diode_fault(low)
    finally:
        remove_tree(s["storage_dir"])


def test_the_firmware_and_the_safety_node_accept_the_built_boards():
    m, s, (main_board, safety_board) = build_esp32()
    try:
        Firmware(main_board, s["csms_url"], s["cp_id"])
        SafetyNode(safety_board)
        assert m.pins[33].level == 0  # the safety node opened its relay
    finally:
        remove_tree(s["storage_dir"])


def test_one_watchdog_covers_both_nodes_and_a_stopped_safety_node_loop_stops_its_feeding():
    # A single-MCU board has one watchdog, fed by the main firmware's supervisor. The safety node's loops
    # beat it too: one that stopped (an exception, a MemoryError) ends in a reset, as a main one does;
    # before, the node could die while the main firmware kept the watchdog fed.
    m, s, (main_board, safety_board) = build_esp32()

    async def story():
        fw, node, tasks = runner.start(main_board, safety_board, s["csms_url"], s["cp_id"])
        supervisor = fw.supervisor
        try:
            await asyncio.sleep(0.01)
            assert supervisor.feed()
            for task in tasks:  # the safety node's loops stop
                task.cancel()
            m.time.advance_ms(6000)
            for name in supervisor.last:  # while every loop of the main firmware came round
                if not name.startswith("safety node"):
                    supervisor.last[name] = main_board.clock.ms()
            assert not supervisor.feed() and supervisor.stalled.startswith("safety node")
        finally:
            await fw.stop()

    try:
        run_async(story())
    finally:
        remove_tree(s["storage_dir"])


def test_watchdog_can_be_switched_off_for_repl_debugging():
    m, s, (main_board, _) = build_esp32(watchdog=False)
    try:
        assert main_board.watchdog is None
    finally:
        remove_tree(s["storage_dir"])


def test_pin_overrides_from_settings():
    m, s, (main_board, _) = build_esp32(pins={"relay": 27})
    try:
        assert 27 in m.pins and m.pins[27].mode == m.Pin.OUT
    finally:
        remove_tree(s["storage_dir"])


# --- bad input -----------------------------------------------------------------------------------

def test_unknown_pin_role_names_the_known_ones():
    error = str(raises(ValueError, build_esp32, pins={"rellay": 27}))
    assert "rellay" in error and "relay" in error and "contactor" in error


def test_pin_the_chip_does_not_have_names_its_role():
    assert "relay=45" in str(raises(ValueError, build_esp32, pins={"relay": 45}))


def test_esp32_rules_input_only_and_adc2_pins():
    assert "input-only" in str(raises(ValueError, build_esp32, pins={"contactor": 36}))
    assert "ADC1" in str(raises(ValueError, build_esp32, pins={"cp_adc": 4}))


def test_bad_settings_are_named():
    error = str(raises(ValueError, machine_board.check_settings, {"wifi_ssdi": "home", "max_current_a": "16"}))
    assert "wifi_ssdi" in error and "wifi_ssid" in error and "max_current_a" in error
    assert "6..80" in str(raises(ValueError, machine_board.check_settings, {"max_current_a": 100}))
    assert "ws://" in str(raises(ValueError, machine_board.check_settings, {"csms_url": "http://x"}))
    assert "desk_mode" in str(raises(ValueError, machine_board.check_settings, {"desk_mode": 1}))
    assert "JSON object" in str(raises(ValueError, machine_board.check_settings, [1]))


def test_settings_file_missing_or_broken():
    path = temp_dir() + ".json"
    assert "settings.example.json" in str(raises(ValueError, machine_board.load_settings, path))
    with open(path, "w") as f:
        f.write("{not json")
    try:
        assert "not valid JSON" in str(raises(ValueError, machine_board.load_settings, path))
    finally:
        os.remove(path)


def test_example_settings_are_valid():
    s = machine_board.load_settings("board/settings.example.json")
    assert s["csms_url"].startswith("ws") and s["cp_id"]
    main.check_ready(s)


def test_entry_point_picks_the_board_by_platform_or_setting():
    assert main.board_name({}, "esp32") == "esp32"
    assert main.board_name({}, "pyboard") == "stm32"
    assert main.board_name({"board": "stm32"}, "esp32") == "stm32"
    assert main.board_module("esp32") is esp32 and main.board_module("stm32") is stm32


def test_unknown_board_lists_the_known_ones():
    error = str(raises(ValueError, main.board_name, {}, "rp2"))
    assert "rp2" in error and "esp32, stm32" in error
    assert "esp32, stm32" in str(raises(ValueError, main.board_module, "esp8266"))


def test_firmware_needs_a_csms_url_and_id():
    s = machine_board.check_settings({})
    assert "csms_url and cp_id" in str(raises(ValueError, main.check_ready, s))


def test_safe_boot_button():
    m = make_machine()
    s = machine_board.check_settings({})
    assert not machine_board.safe_boot_pressed(esp32, m, s)  # pulled up: not pressed
    m.wire[0] = 0  # BOOT held down at reset
    assert machine_board.safe_boot_pressed(esp32, m, s)
    assert not machine_board.safe_boot_pressed(stm32, m, s)  # USER button: pressed is high
    m.wire["PC13"] = 1
    assert machine_board.safe_boot_pressed(stm32, m, s)


def test_after_a_crash_the_outputs_go_safe_and_the_pilot_to_f():
    m, s, (main_board, safety_board) = build_esp32()
    try:
        main_board.contactor.set(True)
        safety_board.relay.set(True)
        safety_board.rcd_test.set(True)
        machine_board.force_safe(esp32, m, machine_board.check_settings(s))
        for gpio in (25, 33, 32):
            assert m.pins[gpio].level == 0
        assert m.pins[26].mode == m.Pin.OUT and m.pins[26].level == 0  # generator input low: -12 V
    finally:
        remove_tree(s["storage_dir"])


def test_reset_and_a_new_firmware_slot_restart_the_mcu_after_the_outputs_went_safe():
    m, s, (main_board, safety_board) = build_esp32()
    try:
        main_board.contactor.set(True)
        safety_board.relay.set(True)
        seen = []
        m.reset = lambda: seen.append([m.pins[gpio].level for gpio in (25, 33, 32, 26)])
        restart = main.restarter(esp32, machine_board.check_settings(s), m)
        run_async(restart("Hard"))
        run_async(restart("firmware"))
        assert seen == [[0, 0, 0, 0], [0, 0, 0, 0]]  # both switches and the RCD test off, pilot at F
    finally:
        remove_tree(s["storage_dir"])


def test_console_trace_lines_put_the_topic_first():
    line = main.trace_line(1200, "log", {"text": "watchdog reset", "topic": "boot"})
    assert line == "1200 log topic=boot text=watchdog reset"
    assert main.trace_line(5, "contactor", {"closed": True}) == "5 contactor closed=True"
