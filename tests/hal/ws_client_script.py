# One WebSocket client scenario on hal/ws_micro.py, for tests/hal/test_ws_micro.py. It runs under the
# micropython binary (as a script: results printed one per line) and in-process under CPython (main()).
#
# usage: ws_client_script.py URL [--subprotocol P] [--ca FILE] [--cert FILE] [--key FILE] [--no-verify]
#        [--auth USER:PASSWORD] [--max BYTES] [--timeout-ms MS] [--send TEXT]... [--echo N] [--size BYTES]
#        [--ping] [--close CODE] [--close-timeout-ms MS] [--listen] [--mem]
# Output: OPEN <subprotocol> | CONNECT-ERROR <why>; then per step ECHO, GOT, PING, CLOSE, CLOSED, MEM.
import asyncio
import gc
import sys

from hal import websocket, ws_micro
from hal.interfaces import ConnectionClosed

FLAGS = ("--no-verify", "--ping", "--listen", "--mem")


def parse(argv):
    opts = {"url": argv[0], "subprotocol": "ocpp1.6", "send": [], "echo": 0, "size": 300}
    i = 1
    while i < len(argv):
        name = argv[i]
        if name in FLAGS:
            opts[name[2:]] = True
            i += 1
        elif name == "--send":
            opts["send"].append(argv[i + 1])
            i += 2
        else:
            value = argv[i + 1]
            if name in ("--echo", "--size", "--max", "--timeout-ms", "--close-timeout-ms", "--close"):
                value = int(value)
            opts[name[2:]] = value
            i += 2
    return opts


def shown(text):
    """text as the same ASCII line on both runtimes (their repr() of non-ASCII differs)."""
    if len(text) > 80:
        return "%d chars, %d distinct" % (len(text), len(set(text)))
    return "".join(c if 32 <= ord(c) < 127 else "\\u%04x" % ord(c) for c in text)


def network(opts):
    return ws_micro.WsNetwork(ca_file=opts.get("ca"), cert_file=opts.get("cert"), key_file=opts.get("key"),
                              verify_server=not opts.get("no-verify"), timeout_ms=opts.get("timeout-ms", 5000),
                              close_timeout_ms=opts.get("close-timeout-ms", 2000),
                              max_message_bytes=opts.get("max", websocket.DEFAULT_MAX_MESSAGE_BYTES))


async def scenario(opts, out):
    headers = None
    if "auth" in opts:
        user, password = opts["auth"].split(":", 1)
        headers = {"Authorization": websocket.basic_auth(user, password)}
    if opts.get("mem"):
        gc.collect()
        base = gc.mem_alloc()
    try:
        conn = await network(opts).connect(opts["url"], opts["subprotocol"], headers)
    except OSError as exc:
        out("CONNECT-ERROR %s" % exc)
        return
    out("OPEN %s" % conn.subprotocol)
    try:
        await steps(conn, opts, out)
    except ConnectionClosed:
        out("CLOSED %s %s" % (conn.close_code, conn.close_reason))
    if opts.get("mem"):
        gc.collect()
        out("MEM connected+echoed %d" % (gc.mem_alloc() - base))
        del conn
        gc.collect()
        out("MEM after-close %d" % (gc.mem_alloc() - base))


async def steps(conn, opts, out):
    if opts.get("mem"):
        gc.collect()
    for text in opts["send"]:
        await conn.send(text)
        out("GOT " + shown(await conn.recv()))
    text = ("0123456789" * (opts["size"] // 10 + 1))[:opts["size"]]
    good = 0
    for i in range(opts["echo"]):
        message = "%04d" % i + text[4:]
        await conn.send(message)
        good += await conn.recv() == message
    if opts["echo"]:
        out("ECHO %d/%d" % (good, opts["echo"]))
    if opts.get("ping"):
        reader = asyncio.create_task(conn.recv())  # someone must read the pong
        out("PING %s" % await conn.ping(2000))
        await conn.send("after ping")
        out("GOT " + shown(await reader))
    listener = asyncio.create_task(listen(conn, out)) if opts.get("listen") else None
    if "close" in opts:
        await conn.close(opts["close"], "bye")
        out("CLOSE %s %s" % (conn.close_code, conn.close_reason))
    if listener is not None:
        await listener
    await conn.close()


async def listen(conn, out):
    try:
        while True:
            out("GOT " + shown(await conn.recv()))
    except ConnectionClosed:
        out("CLOSED %s %s" % (conn.close_code, conn.close_reason))


def main(argv, out=print):
    asyncio.run(scenario(parse(argv), out))


if __name__ == "__main__":
    main(sys.argv[1:])
