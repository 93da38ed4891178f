# Freezes the firmware into a MicroPython build (MicroPython's manifest syntax; relative paths are
# relative to this file, so ".." is the repository root):
#
#   ESP32:  make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=/path/to/repo/board/manifest.py
#   STM32:  make -C ports/stm32 BOARD=NUCLEO_F429ZI FROZEN_MANIFEST=/path/to/repo/board/manifest.py
#
# Frozen bytecode runs from flash, so the heap keeps only the firmware's data. The port's own
# manifest comes first (asyncio and the port's modules). NTP: the ESP32 build has `ntptime` already;
# on STM32 add require("ntptime") if the board's manifest lacks it (without it, time comes from the RTC
# only). tests/board/test_manifest.py checks that this freezes exactly what `evse deploy` copies: the
# CPython-only files (hal/sim.py, hal/ws_cpython.py) and the unix port's (board/unix.py,
# hal/tty_uart.py) stay out, and a new hal/ or board/ file must be named here.

include("$(PORT_DIR)/boards/manifest.py")

metadata(description="EV charger firmware (OCPP 1.6J, IEC 61851-1)", version="0.1.0")

# All of firmware/ runs on a board (the project's rule), so the whole package, subpackages included.
package("firmware", base_path="..")

# hal/ and board/ also hold CPython and unix-port files: these lists name what a board gets.
package(
    "hal",
    files=(
        "__init__.py",
        "bridge.py",
        "bridge_wire.py",
        "file_storage.py",
        "http_client.py",
        "http_wire.py",
        "interfaces.py",
        "loopback.py",
        "machine_adc.py",
        "machine_board.py",
        "machine_hal.py",
        "machine_net.py",
        "machine_pilot.py",
        "machine_uart.py",
        "memory.py",
        "parts.py",
        "tls.py",
        "urls.py",
        "websocket.py",
        "ws_micro.py",
    ),
    base_path="..",
)

package("board", files=("__init__.py", "esp32.py", "stm32.py", "runner.py"), base_path="..")

# The boot script: a frozen main.py runs at reset like one on the file system (settings.json stays there).
module("main.py")
