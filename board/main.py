# What a board runs at boot (`evse deploy` copies this file to the board as /main.py; a frozen build
# freezes it as `main`). It reads settings.json, picks the board module by sys.platform (or the
# "board" setting), builds the main controller's and the safety node's hal Boards on the one MCU and
# starts both through board/runner.py. In desk mode the plant is on the PC, over the USB serial.
#
# Held at reset, the safe-boot button (ESP32: BOOT; NUCLEO: USER) keeps the firmware from starting,
# so the REPL stays free for mpremote. After a crash the outputs go safe; with the watchdog enabled
# the board then resets, without it the REPL shows the error.
import sys

SETTINGS_PATH = "settings.json"  # relative to the flash root: "/" on ESP32, "/flash" on STM32
BOARDS = ("esp32", "stm32")
PLATFORMS = {"esp32": "esp32", "pyboard": "stm32", "stm32": "stm32"}  # sys.platform -> board
RESET_AFTER_CRASH_MS = 5000  # time to read the traceback on the serial console first


def board_name(settings, platform=None):
    """The board to build: the "board" setting, else the one for sys.platform."""
    name = settings.get("board") or PLATFORMS.get(platform or sys.platform)
    if name not in BOARDS:
        raise ValueError("unknown board %r (platform %r); known boards: %s; set \"board\" in %s"
                         % (name, platform or sys.platform, ", ".join(BOARDS), SETTINGS_PATH))
    return name


def board_module(name):
    if name == "esp32":
        from board import esp32

        return esp32
    if name == "stm32":
        from board import stm32

        return stm32
    raise ValueError("unknown board %r; known boards: %s" % (name, ", ".join(BOARDS)))


def check_ready(settings):
    """What the firmware cannot start without; ValueError names it."""
    missing = [name for name in ("csms_url", "cp_id") if not settings[name]]
    if missing:
        raise ValueError("%s needs %s" % (SETTINGS_PATH, " and ".join(missing)))


def trace_line(now_ms, kind, fields):
    """One trace event as a console line: "<ms> <kind> topic=... name=value ..." (topic first)."""
    names = sorted(fields)
    if "topic" in fields:
        names.remove("topic")
        names.insert(0, "topic")
    return " ".join(["%d %s" % (now_ms, kind)] + ["%s=%s" % (name, fields[name]) for name in names])


def console_trace(clock, everything):
    """The firmware's trace on the serial console (what `evse monitor` shows): log events, or all."""

    def trace(kind, **fields):
        if everything or kind == "log":
            print(trace_line(clock.ms(), kind, fields))

    return trace


def restarter(module, settings, machine):
    """What the charge point calls to restart the board: OCPP Reset (Hard or Soft: both reset the MCU, the
    firmware has no lighter restart) and the restart into a new firmware slot. Outputs go safe first
    (both switches open, the pilot at F): the reset drops them too, but not at once on every board."""

    async def restart(cause):
        from hal import machine_board

        machine_board.force_safe(module, machine, settings)
        machine.reset()

    return restart


async def start(module, settings, machine):
    import asyncio

    from board import runner
    from hal import machine_board

    client = None
    if settings["desk_mode"]:
        import micropython

        micropython.kbd_intr(-1)  # the bridge's bytes may contain 0x03; Ctrl-C must not stop us
        stdin = getattr(sys.stdin, "buffer", sys.stdin)
        stdout = getattr(sys.stdout, "buffer", sys.stdout)
        main_board, safety_board, client = await machine_board.desk_boards(module, machine, settings, stdin,
                                                                          stdout)
        trace = None  # the USB serial carries the bridge: printing would cut into its frames
    else:
        main_board, safety_board = module.build(machine, settings)
        trace = console_trace(main_board.clock, settings["trace"] == "all")

    fw, _node, _tasks = runner.start(main_board, safety_board, settings["csms_url"], settings["cp_id"],
                                     settings["config"] or None, trace)
    fw.cp.restart = restarter(module, settings, machine)
    if client is not None:
        client.on_tag = lambda id_tag: asyncio.create_task(fw.present_token(id_tag))
    while True:
        await asyncio.sleep(3600)


def run(settings_path=SETTINGS_PATH):
    import asyncio

    import machine
    import micropython

    from hal import machine_board

    micropython.alloc_emergency_exception_buf(128)  # tracebacks from IRQ handlers (pilot sampler)
    settings = machine_board.load_settings(settings_path)
    module = board_module(board_name(settings))
    if machine_board.safe_boot_pressed(module, machine, settings):
        print("safe boot: firmware not started")
        return
    check_ready(settings)
    try:
        asyncio.run(start(module, settings, machine))
    except KeyboardInterrupt:
        machine_board.force_safe(module, machine, settings)
        print("stopped: outputs safe, pilot at F")
    except Exception as exc:
        machine_board.force_safe(module, machine, settings)
        sys.print_exception(exc)
        if settings["watchdog"]:
            import time

            print("reset in %d ms" % RESET_AFTER_CRASH_MS)
            time.sleep_ms(RESET_AFTER_CRASH_MS)
            machine.reset()


if __name__ == "__main__":
    run()
