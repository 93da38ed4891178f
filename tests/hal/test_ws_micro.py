"""hal/ws_micro.py against real servers on 127.0.0.1: the `websockets` server (plain, TLS, mutual TLS,
Basic auth) and a raw TCP server that answers the handshake and then sends crafted bytes. Every case
runs the same client scenario (tests/hal/ws_client_script.py) twice: in-process under CPython and in a
subprocess of the micropython binary."""

import asyncio
import base64
import hashlib
import itertools
import os
import pathlib
import ssl
import struct
import subprocess
import sys
import threading
from http import HTTPStatus

import pytest
import trustme
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from tests.hal import ws_client_script

ROOT = pathlib.Path(__file__).resolve().parents[2]
MICROPYTHON = pathlib.Path(sys.executable).parent / "micropython"
CP_ID, PASSWORD = "CP1", "0123456789abcdef0123"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RUNTIMES = ("cpython", "micropython")
_ids = itertools.count()


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def head_101(key, subprotocol="ocpp1.6", accept=None, extra=""):
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Accept: " + (accept or accept_for(key))]
    if subprotocol:
        lines.append("Sec-WebSocket-Protocol: " + subprotocol)
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


def frame(opcode, payload=b"", fin=True, rsv=0, length=None, mask=None):
    """A server frame, written out by hand (not by hal/websocket.py) so each field can be wrong."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | rsv | opcode
    b1 = 0x80 if mask else 0
    if n < 126 and length is None:
        head = struct.pack("!BB", b0, b1 | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, b1 | 126, n)
    else:
        head = struct.pack("!BBQ", b0, b1 | 127, n)
    if mask:
        payload = mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def close_frame(code, reason=b""):
    return frame(0x8, struct.pack("!H", code) + reason)


def client_frames(data):
    """(opcode, payload) of each frame the client sent; every one must be masked (RFC 6455 §5.3)."""
    frames = []
    while data:
        b0, b1 = data[0], data[1]
        assert b1 & 0x80, "client frame not masked"
        n, at = b1 & 0x7F, 2
        if n == 126:
            n, at = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            n, at = struct.unpack("!Q", data[2:10])[0], 10
        key, body = data[at:at + 4], data[at + 4:at + 4 + n]
        frames.append((b0 & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(body))))
        data = data[at + 4 + n:]
    return frames


# Raw scenarios: what the server sends after the client's request (key -> bytes).
RAW = {
    "bad-opcode": lambda k: head_101(k) + frame(0x3, b"x"),
    "reserved-bits": lambda k: head_101(k) + frame(0x1, b"hi", rsv=0x40),
    "masked": lambda k: head_101(k) + frame(0x1, b"hi", mask=b"\x01\x02\x03\x04"),
    "oversize": lambda k: head_101(k) + frame(0x1, length=1 << 40),
    "too-big-fragments": lambda k: head_101(k) + frame(0x1, b"a" * 600, fin=False) + frame(0x0, b"b" * 600),
    "long-control": lambda k: head_101(k) + frame(0x9, b"p" * 126),
    "fragmented-control": lambda k: head_101(k) + frame(0x9, b"p", fin=False),
    "bad-utf8": lambda k: head_101(k) + frame(0x1, b"\xc3\x28"),
    "surrogate-utf8": lambda k: head_101(k) + frame(0x1, b"\xed\xa0\x80"),  # MicroPython's decoder takes it
    "overlong-utf8": lambda k: head_101(k) + frame(0x1, b"\xc0\xaf"),
    "continuation-first": lambda k: head_101(k) + frame(0x0, b"hi"),
    "interleaved": lambda k: head_101(k) + frame(0x1, b"ab", fin=False) + frame(0x1, b"cd"),
    "non-minimal-length": lambda k: head_101(k) + frame(0x1, b"hello", length=5) + b"hello",
    "bad-close-code": lambda k: head_101(k) + close_frame(999),
    "close-1-byte": lambda k: head_101(k) + frame(0x8, b"\x03"),
    "truncated": lambda k: head_101(k) + frame(0x1, b"hello")[:4],
    "no-close-frame": lambda k: head_101(k) + frame(0x1, b"last"),
    "fragments-and-ping": lambda k: (head_101(k) + frame(0x1, b"ab", fin=False) + frame(0x9, b"hi")
                                     + frame(0x0, "c€".encode()) + frame(0x2, b"bin") + close_frame(4000, b"done")),
    "wrong-accept": lambda k: head_101(k, accept=accept_for("x" + k)),
    "no-subprotocol": lambda k: head_101(k, subprotocol=None),
    "other-subprotocol": lambda k: head_101(k, subprotocol="ocpp2.0.1"),
    "extension": lambda k: head_101(k, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n"),
    "http-200": lambda k: b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "hangup": lambda k: b"",
    "silent": None,  # answers nothing
    "no-close-reply": lambda k: head_101(k),  # then never answers the client's close
}
HANG_UP_AFTER_SENDING = ("truncated", "no-close-frame", "hangup")


class Servers:
    """The servers of this module, on one event loop in a background thread."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.records = {}  # path -> what the server saw
        self.events = {}
        self.raw_tasks = set()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._make_certificates()
        self._run(self._start())

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def _make_certificates(self):
        ca = trustme.CA()
        self.ca_file = str(self.tmp / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        self.other_ca_file = str(self.tmp / "other_ca.pem")
        trustme.CA().cert_pem.write_to_path(self.other_ca_file)
        client = ca.issue_cert(CP_ID)
        self.cert_file, self.key_file = str(self.tmp / "cp.pem"), str(self.tmp / "cp.key")
        client.cert_chain_pems[0].write_to_path(self.cert_file)
        client.private_key_pem.write_to_path(self.key_file)
        self.tls, self.mtls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_cert = ca.issue_cert("127.0.0.1")
        for context in (self.tls, self.mtls):
            server_cert.configure_cert(context)
        ca.configure_trust(self.mtls)
        self.mtls.verify_mode = ssl.CERT_REQUIRED

    async def _start(self):
        options = dict(subprotocols=["ocpp1.6"], process_request=self._process_request)
        self.ws_server = await serve(self._echo, "127.0.0.1", 0, **options).__aenter__()
        self.wss_server = await serve(self._echo, "127.0.0.1", 0, ssl=self.tls, **options).__aenter__()
        self.mtls_server = await serve(self._echo, "127.0.0.1", 0, ssl=self.mtls, **options).__aenter__()
        self.raw_server = await asyncio.start_server(self._raw, "127.0.0.1", 0)
        self.ports = {name: getattr(self, name + "_server").sockets[0].getsockname()[1]
                      for name in ("ws", "wss", "mtls", "raw")}

    def stop(self):
        async def _stop():
            for server in (self.ws_server, self.wss_server, self.mtls_server, self.raw_server):
                server.close()
            for task in self.raw_tasks:  # raw handlers still waiting for the client's bytes
                task.cancel()
            for server in (self.ws_server, self.wss_server, self.mtls_server, self.raw_server):
                await server.wait_closed()

        self._run(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def _record(self, path, value):
        self.records[path] = value
        self.events.setdefault(path, threading.Event()).set()

    def record(self, path):
        assert self.events.setdefault(path, threading.Event()).wait(10), "server saw nothing on " + path
        return self.records[path]

    def _process_request(self, connection, request):
        if request.path.startswith("/missing"):
            return connection.respond(HTTPStatus.NOT_FOUND, "no such charge point\n")
        if request.path.startswith("/auth/"):
            expected = "Basic " + base64.b64encode(("%s:%s" % (CP_ID, PASSWORD)).encode()).decode()
            if request.headers.get("Authorization") != expected:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    async def _echo(self, ws):
        try:
            async for message in ws:
                if message == "frag":
                    await ws.send(["ab", "cd", "€f"])  # one message in three frames
                elif message == "ping-me":
                    await (await ws.ping(b"srv"))  # the client must answer with a pong
                    await ws.send("pong seen")
                elif message.startswith("big:"):
                    await ws.send("x" * int(message[4:]))
                elif message.startswith("close:"):
                    await ws.close(int(message[6:]), "server says bye")
                else:
                    await ws.send(message)
        except ConnectionClosed:
            pass
        rcvd = ws.protocol.close_rcvd
        self._record(ws.request.path, rcvd.code if rcvd is not None else None)

    async def _raw(self, reader, writer):
        self.raw_tasks.add(asyncio.current_task())
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        lines = head.decode().split("\r\n")
        path = lines[0].split(" ")[1]
        headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
        name = path.split("/")[1]
        if RAW[name] is not None:
            writer.write(RAW[name](headers["Sec-WebSocket-Key"]))
            await writer.drain()
            if name in HANG_UP_AFTER_SENDING:
                writer.write_eof()  # half-close: the client sees the end, we still read what it sends
        received = b""
        try:
            while True:
                chunk = await asyncio.wait_for(reader.read(4096), 5)
                if not chunk:
                    break
                received += chunk
        except (asyncio.TimeoutError, ConnectionError):
            pass
        writer.close()
        self._record(path, received)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    s = Servers(tmp_path_factory.mktemp("ws"))
    yield s
    s.stop()


def run_client(runtime, args):
    """The scenario's output lines under one runtime."""
    if runtime == "cpython":
        lines = []
        ws_client_script.main(args, lines.append)
        return lines
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(ROOT))
    proc = subprocess.run([str(MICROPYTHON), "tests/hal/ws_client_script.py"] + args, cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def url(servers, kind, path):
    scheme = "ws" if kind in ("ws", "raw") else "wss"
    return "%s://127.0.0.1:%d/%s/%d" % (scheme, servers.ports[kind], path, next(_ids))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_echo_fragments_large_messages_and_a_clean_close(servers, runtime):
    address = url(servers, "ws", "plain")
    lines = run_client(runtime, [address, "--send", "hello €", "--send", "frag", "--send", "big:300",
                                 "--send", "big:70000", "--max", "70000", "--echo", "3", "--close", "1000"])
    assert lines == ["OPEN ocpp1.6", "GOT hello \\u20ac", "GOT abcd\\u20acf",
                     "GOT 300 chars, 1 distinct",  # a 16-bit length
                     "GOT 70000 chars, 1 distinct",  # a 64-bit length
                     "ECHO 3/3", "CLOSE 1000 bye"]
    assert servers.record(address[address.index("/", 6):]) == 1000


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_client_answers_pings_and_sees_its_own_pong(servers, runtime):
    lines = run_client(runtime, [url(servers, "ws", "ping"), "--send", "ping-me", "--ping"])
    assert lines == ["OPEN ocpp1.6", "GOT pong seen", "PING True", "GOT after ping"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_server_close_code_and_reason_reach_the_client(servers, runtime):
    lines = run_client(runtime, [url(servers, "ws", "bye"), "--send", "close:4001"])
    assert lines == ["OPEN ocpp1.6", "CLOSED 4001 server says bye"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_message_over_the_limit_closes_with_1009(servers, runtime):
    address = url(servers, "ws", "limit")
    lines = run_client(runtime, [address, "--max", "1000", "--send", "big:1001"])
    assert lines == ["OPEN ocpp1.6", "CLOSED 1009 frame of 1001 bytes over the 1000-byte limit"]
    assert servers.record(address[address.index("/", 6):]) == 1009


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_basic_auth_opens_and_a_wrong_password_gets_401(servers, runtime):
    good = run_client(runtime, [url(servers, "ws", "auth"), "--auth", CP_ID + ":" + PASSWORD, "--echo", "1"])
    assert good == ["OPEN ocpp1.6", "ECHO 1/1"]
    bad = run_client(runtime, [url(servers, "ws", "auth"), "--auth", CP_ID + ":wrong"])
    assert len(bad) == 1 and bad[0].startswith("CONNECT-ERROR") and "server answered 401 Unauthorized" in bad[0]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_unknown_path_gets_404(servers, runtime):
    lines = run_client(runtime, [url(servers, "ws", "missing")])
    assert len(lines) == 1 and "server answered 404 Not Found" in lines[0]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_tls_with_the_right_ca_opens_and_a_foreign_ca_is_refused(servers, runtime):
    good = run_client(runtime, [url(servers, "wss", "tls"), "--ca", servers.ca_file, "--echo", "2", "--ping"])
    assert good == ["OPEN ocpp1.6", "ECHO 2/2", "PING True", "GOT after ping"]
    bad = run_client(runtime, [url(servers, "wss", "tls"), "--ca", servers.other_ca_file])
    assert len(bad) == 1 and bad[0].startswith("CONNECT-ERROR")
    unchecked = run_client(runtime, [url(servers, "wss", "tls"), "--no-verify", "--echo", "1"])
    assert unchecked == ["OPEN ocpp1.6", "ECHO 1/1"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_mutual_tls_needs_the_client_certificate(servers, runtime):
    good = run_client(runtime, [url(servers, "mtls", "mtls"), "--ca", servers.ca_file, "--cert", servers.cert_file,
                                "--key", servers.key_file, "--echo", "1"])
    assert good == ["OPEN ocpp1.6", "ECHO 1/1"]
    bad = run_client(runtime, [url(servers, "mtls", "mtls"), "--ca", servers.ca_file, "--echo", "1"])
    assert len(bad) == 1 and bad[0].startswith("CONNECT-ERROR")


def test_micropython_has_no_system_ca_store_so_wss_needs_a_ca_file(servers):
    lines = run_client("micropython", [url(servers, "wss", "tls")])
    assert len(lines) == 1 and "needs ca_file" in lines[0]


# scenario -> (extra client arguments, expected output after OPEN, close code the client must send)
FRAME_FAULTS = {
    "bad-opcode": ([], "CLOSED 1002 unknown opcode 3", 1002),
    "reserved-bits": ([], "CLOSED 1002 reserved bits set, but no extension was negotiated", 1002),
    "masked": ([], "CLOSED 1002 masked frame from the server", 1002),
    "oversize": ([], "CLOSED 1009 frame of 1099511627776 bytes over the 32768-byte limit", 1009),
    "too-big-fragments": (["--max", "1000"], "CLOSED 1009 message over the 1000-byte limit", 1009),
    "long-control": ([], "CLOSED 1002 control frame fragmented or over 125 bytes", 1002),
    "fragmented-control": ([], "CLOSED 1002 control frame fragmented or over 125 bytes", 1002),
    "bad-utf8": ([], "CLOSED 1007 text is not valid UTF-8", 1007),
    "surrogate-utf8": ([], "CLOSED 1007 text is not valid UTF-8", 1007),
    "overlong-utf8": ([], "CLOSED 1007 text is not valid UTF-8", 1007),
    "continuation-first": ([], "CLOSED 1002 continuation frame with no message to continue", 1002),
    "interleaved": ([], "CLOSED 1002 new message before the fragmented one ended", 1002),
    "non-minimal-length": ([], "CLOSED 1002 length 5 not in its shortest form (RFC 6455 5.2)", 1002),
    "bad-close-code": ([], "CLOSED 1002 invalid close code 999", 1002),
    "close-1-byte": ([], "CLOSED 1002 close frame with a 1-byte payload", 1002),
    "truncated": ([], "CLOSED 1006 connection closed in the middle of a frame", None),
}


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("scenario", sorted(FRAME_FAULTS))
def test_malformed_server_frames_fail_the_connection_with_the_right_code(servers, runtime, scenario):
    args, expected, code = FRAME_FAULTS[scenario]
    address = url(servers, "raw", scenario)
    lines = run_client(runtime, [address, "--listen"] + args)
    assert lines == ["OPEN ocpp1.6", expected]
    sent = client_frames(servers.record(address[address.index("/", 6):]))
    assert sent == ([(0x8, struct.pack("!H", code))] if code else [])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_fragments_interleaved_ping_binary_and_server_close(servers, runtime):
    address = url(servers, "raw", "fragments-and-ping")
    lines = run_client(runtime, [address, "--listen"])
    assert lines == ["OPEN ocpp1.6", "GOT abc\\u20ac", "GOT bin", "CLOSED 4000 done"]
    sent = client_frames(servers.record(address[address.index("/", 6):]))
    assert sent == [(0xA, b"hi"), (0x8, struct.pack("!H", 4000))]  # the pong, then the echo of the close


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_tcp_closed_without_a_close_frame_is_1006(servers, runtime):
    lines = run_client(runtime, [url(servers, "raw", "no-close-frame"), "--listen"])
    assert lines == ["OPEN ocpp1.6", "GOT last", "CLOSED 1006 connection closed without a close frame"]


HANDSHAKE_FAULTS = {
    "wrong-accept": "wrong Sec-WebSocket-Accept",
    "no-subprotocol": "server chose subprotocol None, not 'ocpp1.6'",
    "other-subprotocol": "server chose subprotocol 'ocpp2.0.1', not 'ocpp1.6'",
    "extension": "server chose an extension the client did not offer",
    "http-200": "server answered 200 OK",
    "hangup": "connection closed during the handshake",
    "silent": "no answer within 300 ms",
}


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("scenario", sorted(HANDSHAKE_FAULTS))
def test_bad_handshakes_raise_oserror_with_the_reason(servers, runtime, scenario):
    lines = run_client(runtime, [url(servers, "raw", scenario), "--timeout-ms", "300"])
    assert len(lines) == 1 and lines[0].startswith("CONNECT-ERROR cannot open ws://127.0.0.1:")
    assert lines[0].endswith(HANDSHAKE_FAULTS[scenario])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_close_gives_up_on_a_silent_server_and_ends_a_pending_recv(servers, runtime):
    address = url(servers, "raw", "no-close-reply")
    lines = run_client(runtime, [address, "--listen", "--close", "1001", "--close-timeout-ms", "200"])
    assert lines[0] == "OPEN ocpp1.6"
    assert sorted(lines[1:]) == ["CLOSE 1001 bye", "CLOSED 1001 bye"]  # close() returned; recv() ended
    assert client_frames(servers.record(address[address.index("/", 6):])) == [(0x8, b"\x03\xe9bye")]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_refused_connection_is_an_oserror(runtime):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines = run_client(runtime, ["ws://127.0.0.1:%d/CP1" % port])
    assert len(lines) == 1 and lines[0].startswith("CONNECT-ERROR cannot open")


def test_heap_for_connect_and_100_echoes_of_300_bytes_under_micropython(servers):
    lines = run_client("micropython", [url(servers, "ws", "heap"), "--echo", "100", "--size", "300", "--mem"])
    assert lines[:2] == ["OPEN ocpp1.6", "ECHO 100/100"]
    print("\n".join(lines))
    held = int(lines[2].split()[-1])  # after gc.collect(), connection still open
    assert 0 < held < 16384
