"""Desk mode (tools/desk.py): the plant served over a serial port (here pyserial's socket:// URL to a
loopback TCP port standing in for the board's USB serial), the firmware side a BridgeClient."""

import argparse
import asyncio

from hal.bridge import BridgeClient
from sim.vloop import RealClock
from tools import desk


def test_the_plant_is_served_over_a_serial_url_and_the_driver_plays_a_session():
    async def main():
        clock = RealClock()
        board = {}
        connected = asyncio.Event()

        async def on_board(reader, writer):  # the "board": the firmware end of the serial line
            client = BridgeClient(reader, writer, clock)
            board["client"] = client
            board["tasks"] = [asyncio.create_task(c) for c in client.tasks()]
            board["tags"] = []
            client.on_tag = board["tags"].append
            connected.set()

        server = await asyncio.start_server(on_board, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        said = []
        args = argparse.Namespace(port="socket://127.0.0.1:%d" % port, baud=115200, meter_port=None,
                                  token="TAG9", plug_after=0.1, charge_seconds=0.1, once=True,
                                  current_timeout=0.5)
        serving = asyncio.create_task(desk.serve(args, say=said.append))
        await asyncio.wait_for(connected.wait(), 10)
        client = board["client"]
        assert await client.wait_hello(5000)
        parts = client.main_parts()
        levels = []
        for _ in range(100):  # the EV plugs in: the CP drops from 12 V to 9 V
            levels.append(await parts["pilot_in"].wait(100))
            if levels[-1][0] < 10000:
                break
        assert levels[-1][0] < 10000
        assert await asyncio.wait_for(serving, 60) == 0
        assert board["tags"] == ["TAG9"]
        assert "EV plugged in" in said and any(line.startswith("EV unplugged") for line in said)
        for task in board["tasks"]:
            task.cancel()
        server.close()
        await server.wait_closed()

    asyncio.run(main())
