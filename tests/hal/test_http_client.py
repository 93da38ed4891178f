"""hal/http_client.py against real servers on 127.0.0.1: sim/file_server.py (plain and TLS, with its fault
knobs) and a raw TCP server that answers with crafted bytes. Every case runs the same client scenario
(tests/hal/http_client_script.py) twice: in-process under CPython and in a micropython subprocess."""

import hashlib
import os
import pathlib
import socket
import socketserver
import ssl
import subprocess
import sys
import threading

import pytest
import trustme

from sim.file_server import FileServer
from tests.hal import http_client_script

ROOT = pathlib.Path(__file__).resolve().parents[2]
MICROPYTHON = pathlib.Path(sys.executable).parent / "micropython"
RUNTIMES = ("cpython", "micropython")
IMAGE = hashlib.sha256(b"seed").digest() * 6000  # 192 kB
DIGEST = hashlib.sha256(IMAGE).hexdigest()

# Raw scenarios: path -> the bytes the server answers with, then it closes.
RAW = {
    "/until-close": b"HTTP/1.0 200 OK\r\n\r\n" + IMAGE[:5000],
    "/interim": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    "/bad-status": b"HTTP/1.1 2OO OK\r\n\r\n",
    "/long-head": b"HTTP/1.1 200 OK\r\nX-Pad: " + b"a" * 9000 + b"\r\n\r\n",
    "/bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "/gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    "/no-location": b"HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n",
}


class RawHandler(socketserver.BaseRequestHandler):
    def handle(self):
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.request.recv(4096)
            if not data:
                return
            head += data
        self.request.sendall(RAW[head.split(b" ")[1].decode()])


class Servers:
    def __init__(self, tmp):
        ca = trustme.CA()
        self.ca_file, self.other_ca_file = str(tmp / "ca.pem"), str(tmp / "other.pem")
        ca.cert_pem.write_to_path(self.ca_file)
        trustme.CA().cert_pem.write_to_path(self.other_ca_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self.plain = FileServer(files={"/fw.bin": IMAGE}).start()
        self.tls = FileServer(files={"/fw.bin": IMAGE}, ssl_context=context).start()
        self.raw = socketserver.ThreadingTCPServer(("127.0.0.1", 0), RawHandler)
        self.raw.daemon_threads = True
        threading.Thread(target=self.raw.serve_forever, daemon=True).start()

    def raw_url(self, path):
        return "http://127.0.0.1:%d%s" % (self.raw.server_address[1], path)

    def stop(self):
        self.plain.stop()
        self.tls.stop()
        self.raw.shutdown()
        self.raw.server_close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    s = Servers(tmp_path_factory.mktemp("http"))
    yield s
    s.stop()


@pytest.fixture
def plain(servers):
    """The plain file server, with its knobs back at rest after the test."""
    yield servers.plain
    servers.plain.chunked, servers.plain.delay_ms = False, 0
    servers.plain.reset()


def run(runtime, args, heap="2M"):
    """The scenario's output lines under one runtime."""
    if runtime == "cpython":
        lines = []
        http_client_script.main(args, lines.append)
        return lines
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(ROOT))
    proc = subprocess.run([str(MICROPYTHON), "-X", "heapsize=" + heap, "tests/hal/http_client_script.py"] + args,
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr, proc.stdout + proc.stderr
    return proc.stdout.splitlines()


def pattern(size):
    return b"".join(http_client_script.upload_chunks(size)())


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("chunked", [False, True])
def test_download_streams_sized_and_chunked_bodies_in_small_pieces(plain, runtime, chunked):
    plain.chunked = chunked
    assert run(runtime, ["GET", plain.url("/fw.bin"), "--read-bytes", "700"]) == \
        ["OK 200 %d %s 700" % (len(IMAGE), DIGEST)]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_body_until_close_and_an_interim_answer(servers, runtime):
    assert run(runtime, ["GET", servers.raw_url("/until-close")]) == \
        ["OK 200 5000 %s 1024" % hashlib.sha256(IMAGE[:5000]).hexdigest()]
    assert run(runtime, ["GET", servers.raw_url("/interim")])[0].startswith("OK 200 2 ")


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("method,chunked", [("PUT", False), ("POST", True)])
def test_upload_sized_or_chunked_reaches_the_server_intact(plain, runtime, method, chunked):
    args = [method, plain.url("/diag/%s.log" % runtime), "--size", "4321"] + (["--chunked"] if chunked else [])
    assert run(runtime, args) == ["OK 201"]
    assert plain.uploads["/diag/%s.log" % runtime] == pattern(4321)
    method_seen, _, headers = plain.requests[-1]
    assert method_seen == method and ("transfer-encoding" in headers) == chunked


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_three_redirects_are_followed_and_a_fourth_is_an_error(plain, runtime):
    plain.redirects.update({"/r1": (301, "/r2"), "/r2": (302, plain.url("/r3")), "/r3": (307, "fw.bin"),
                            "/r4": (308, "/r1")})
    assert run(runtime, ["GET", plain.url("/r1")]) == ["OK 200 %d %s 1024" % (len(IMAGE), DIGEST)]
    lines = run(runtime, ["GET", plain.url("/r4")])
    assert lines[0].startswith("ERROR 307 more than 3 redirects")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_an_upload_follows_307_but_not_a_redirect_that_drops_its_body(plain, runtime):
    plain.redirects.update({"/up-old": (307, "/up-new"), "/up-303": (303, "/up-new")})
    assert run(runtime, ["PUT", plain.url("/up-old"), "--size", "10"]) == ["OK 201"]
    assert plain.uploads == {"/up-new": pattern(10)}
    assert run(runtime, ["PUT", plain.url("/up-303"), "--size", "10"])[0].startswith(
        "ERROR 303 PUT %s redirected with 303, which drops the body" % plain.url("/up-303"))


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("fault,expected", [
    ("404", "ERROR 404 GET {url} answered 404 Not Found"),
    ("500", "ERROR 500 GET {url} answered 500 Internal Server Error"),
    ("drop", "ERROR None connection closed before a response"),
    ("truncate", "ERROR None body truncated: %d of %d bytes" % (len(IMAGE) // 2, len(IMAGE))),
])
def test_server_faults_become_http_errors(plain, runtime, fault, expected):
    plain.fail_next(1, fault)
    assert run(runtime, ["GET", plain.url("/fw.bin")]) == [expected.format(url=plain.url("/fw.bin"))]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_truncated_chunked_body_is_an_error(plain, runtime):
    plain.chunked = True
    plain.fail_next(1, "truncate")
    assert run(runtime, ["GET", plain.url("/fw.bin")]) == \
        ["ERROR None body truncated: connection closed in the chunk size line"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_slow_or_stalled_server_times_out(plain, runtime):
    plain.delay_ms = 3000
    assert run(runtime, ["GET", plain.url("/fw.bin"), "--timeout-ms", "300"]) == \
        ["ERROR None no answer within 300 ms (receive)"]
    plain.delay_ms = 0
    plain.fail_next(1, "stall")
    assert run(runtime, ["GET", plain.url("/fw.bin"), "--timeout-ms", "300"]) == \
        ["ERROR None no answer within 300 ms (receive)"]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("path,expected", [
    ("/bad-status", "ERROR None bad status line 'HTTP/1.1 2OO OK'"),
    ("/long-head", "ERROR None response head over 8192 bytes"),
    ("/bad-chunk", "ERROR None bad chunk size b'zz'"),
    ("/gzip", "ERROR None transfer coding 'gzip' not supported"),
    ("/no-location", "ERROR 302 GET {url} answered 302 without a Location"),
])
def test_malformed_answers_are_clear_errors(servers, runtime, path, expected):
    url = servers.raw_url(path)
    assert run(runtime, ["GET", url]) == [expected.format(url=url)]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_https_with_the_right_ca_and_a_foreign_one(servers, runtime):
    url = servers.tls.url("/fw.bin")
    assert run(runtime, ["GET", url, "--ca", servers.ca_file]) == ["OK 200 %d %s 1024" % (len(IMAGE), DIGEST)]
    assert run(runtime, ["GET", url, "--no-verify"])[0].startswith("OK 200")
    bad = run(runtime, ["GET", url, "--ca", servers.other_ca_file])
    assert len(bad) == 1 and bad[0].startswith("ERROR None ")


def test_micropython_has_no_system_ca_store_so_https_needs_a_ca_file(servers):
    assert run("micropython", ["GET", servers.tls.url("/fw.bin")]) == \
        ["ERROR None https:// needs ca_file here (no system CA store), or verify_server=False"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_refused_connection_ftp_and_credentials_in_the_url(plain, runtime):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = run(runtime, ["GET", "http://127.0.0.1:%d/fw.bin" % port])
    assert refused[0].startswith("ERROR None 127.0.0.1:%d " % port) and "111" in refused[0]  # ECONNREFUSED
    assert run(runtime, ["GET", "ftp://127.0.0.1/fw.bin"]) == \
        ["ERROR None not an http:// or https:// URL: 'ftp://127.0.0.1/fw.bin'"]
    assert run(runtime, ["GET", plain.url("/fw.bin").replace("//", "//cp1:s3cret@")])[0].startswith("OK 200")
    assert plain.requests[-1][2]["authorization"] == "Basic Y3AxOnMzY3JldA=="


def test_a_one_megabyte_download_fits_a_64_kb_heap_under_micropython(plain):
    plain.files["/big.bin"] = IMAGE * 5 + IMAGE[:88576]  # 1 MiB
    plain.chunked = True
    lines = run("micropython", ["GET", plain.url("/big.bin"), "--mem"], heap="64K")
    assert lines[0] == "OK 200 1048576 %s 1024" % hashlib.sha256(plain.files["/big.bin"]).hexdigest()
    print("\n".join(lines))
    held = int(lines[1].split()[-1])  # after gc.collect(), mid-transfer: client, parser, one piece
    assert 0 < held < 16384
    del plain.files["/big.bin"]
