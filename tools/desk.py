"""`evse bridge`: desk mode. The plant runs here, the firmware on a dev board that reaches it over USB
serial (its settings say desk mode: board/main.py builds the plant-facing parts from hal/bridge.py).

    evse bridge --port /dev/ttyACM0 [--meter-port /dev/ttyUSB0] [--charge-seconds 60]

The board keeps its own network and CSMS. This side serves the simulated EV, contactor and safety
sensors, optionally the SDM630 (pymodbus) on a USB-RS485 adapter wired to the board's meter UART, and
plays the driver: plug in, hold the card to the reader, charge, unplug. Ctrl-C ends it."""

import asyncio
import time

from sim.bridge_server import BridgeServer
from sim.ev import Ev
from sim.meter import MeterModel, SimSdm630
from sim.plant import Plant
from sim.serial_stream import open_serial_stream
from sim.vloop import RealClock


def add_commands(sub):
    p = sub.add_parser("bridge", help="desk mode: serve the simulated plant to a board over USB serial")
    p.add_argument("--port", required=True, help="the board's serial port, or a pyserial URL (socket://...)")
    p.add_argument("--baud", type=int, default=115200, help="serial speed (default 115200)")
    p.add_argument("--meter-port", help="also serve the SDM630 (Modbus RTU, 9600 8N1) on this port")
    p.add_argument("--token", default="TAG1", help="the card held to the reader (default TAG1)")
    p.add_argument("--plug-after", type=float, default=10.0, help="s after the board connects (default 10)")
    p.add_argument("--charge-seconds", type=float, default=60.0, help="how long the EV charges (default 60)")
    p.add_argument("--current-timeout", type=float, default=30.0, help="s to wait for current (default 30)")
    p.add_argument("--once", action="store_true", help="one session, then exit (default: repeat)")
    p.set_defaults(func=main)


def main(args):
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0


async def serve(args, say=print):
    clock = RealClock()
    meter_model = MeterModel(clock.ms)
    plant = Plant(clock, Ev(), meter_model)
    bridge = BridgeServer(plant, clock, log=say)
    reader, writer, close = await open_serial_stream(args.port, args.baud)
    meter_server = None
    if args.meter_port:
        from pymodbus.framer import FramerType
        from pymodbus.server import ModbusSerialServer

        meter_server = ModbusSerialServer(SimSdm630(meter_model).device, framer=FramerType.RTU,
                                          port=args.meter_port, baudrate=9600)
        await meter_server.serve_forever(background=True)
    session = asyncio.create_task(bridge.serve_stream(reader, writer))
    say("serving the plant on %s; waiting for the board" % args.port)
    try:
        while True:
            await _wait(lambda: bridge.firmware_alive, None)
            await drive(bridge, plant, meter_model, args, say)
            if args.once:
                return 0
    finally:
        session.cancel()
        await asyncio.gather(session, return_exceptions=True)
        close()
        if meter_server is not None:
            await meter_server.shutdown()


async def _wait(predicate, timeout_s):
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while not predicate():
        if deadline is not None and time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def drive(bridge, plant, meter_model, args, say):
    """One session as a driver does it, narrated."""
    await asyncio.sleep(args.plug_after)
    start_wh = meter_model.energy_wh
    plant.plug()
    say("EV plugged in")
    await asyncio.sleep(1.0)
    bridge.present_tag(args.token)
    say("card %s held to the reader" % args.token)
    if await _wait(lambda: plant.current_a > 0, args.current_timeout):
        say("charging at %.1f A" % plant.current_a)
        await asyncio.sleep(args.charge_seconds)
    else:
        say("no current after %.0f s: check the board's log (evse monitor)" % args.current_timeout)
    plant.unplug()
    say("EV unplugged; the meter counted %.1f Wh" % (meter_model.energy_wh - start_wh))
