# Both nodes of a single-MCU board in one process: the main controller's firmware and the safety node,
# joined by an in-memory link that still carries the framed, CRC-checked protocol (hal/loopback.py).
# A board with a separate safety MCU gives each Board its own UART instead and runs one node each.
import asyncio

from firmware.app import Firmware
from firmware.safety.node import SafetyNode
from hal.loopback import pipe


def start(main_board, safety_board, csms_url, cp_id, config=None, trace=None, ocpp="1.6"):
    """Start both nodes on the running loop; returns (firmware, safety_node, safety_tasks)."""
    if getattr(main_board, "safety_link", None) is None and getattr(safety_board, "link", None) is None:
        main_board.safety_link, safety_board.link = pipe()
    fw = Firmware(main_board, csms_url, cp_id, ocpp, config=config, trace=trace)
    boots = main_board.storage.read("boots")  # Firmware counted this boot; the node's link epoch
    # One watchdog for both: a loop of either node that stops ends in a reset of the board.
    node = SafetyNode(safety_board, epoch=int(boots) if boots else 0, trace=trace, supervisor=fw.supervisor)
    tasks = [asyncio.create_task(coro) for coro in node.tasks()]
    fw.start()
    return fw, node, tasks
