"""sim/file_server.py seen by the standard library's http.client: files, uploads, redirects, faults."""

import hashlib
import http.client
import ssl

import pytest
import trustme

from sim.file_server import FileServer

IMAGE = bytes(range(256)) * 300  # 76.8 kB, several chunks


def fetch(server, method, path, body=None, headers=None, context=None):
    """(status, headers, body) of one request; the connection closes after it."""
    if context is None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=context)
    try:
        conn.request(method, path, body=body, headers=headers or {},
                     encode_chunked=headers is not None and "Transfer-Encoding" in headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def server():
    with FileServer(files={"/fw.bin": IMAGE}) as s:
        yield s


def test_get_serves_a_file_with_its_length_and_404_for_anything_else(server):
    status, headers, body = fetch(server, "GET", "/fw.bin?token=1")
    assert status == 200 and body == IMAGE and headers["Content-Length"] == str(len(IMAGE))
    assert fetch(server, "GET", "/other.bin")[0] == 404
    status, headers, body = fetch(server, "HEAD", "/fw.bin")
    assert status == 200 and body == b"" and headers["Content-Length"] == str(len(IMAGE))
    assert [r[:2] for r in server.requests] == [("GET", "/fw.bin"), ("GET", "/other.bin"), ("HEAD", "/fw.bin")]


def test_chunked_mode_serves_the_same_bytes_chunked(server):
    server.chunked = True
    status, headers, body = fetch(server, "GET", "/fw.bin")
    assert status == 200 and body == IMAGE and headers["Transfer-Encoding"] == "chunked"


def test_files_come_from_a_directory_but_never_from_outside_it(tmp_path):
    (tmp_path / "pub").mkdir()
    (tmp_path / "pub" / "a.bin").write_bytes(b"abc")
    (tmp_path / "secret").write_bytes(b"no")
    with FileServer(directory=str(tmp_path / "pub")) as s:
        assert fetch(s, "GET", "/a.bin")[2] == b"abc"
        assert fetch(s, "GET", "/../secret")[0] == 404


def test_put_and_post_store_uploads_sized_or_chunked(server):
    assert fetch(server, "PUT", "/diag/a.log", body=b"line 1\n")[0] == 201
    chunked = fetch(server, "POST", "/diag/b.log", body=iter([b"part 1,", b"part 2"]),
                    headers={"Transfer-Encoding": "chunked"})
    assert chunked[0] == 201
    assert server.uploads == {"/diag/a.log": b"line 1\n", "/diag/b.log": b"part 1,part 2"}
    assert fetch(server, "DELETE", "/fw.bin")[0] == 405


def test_upload_over_the_limit_is_refused(server):
    server.max_upload_bytes = 10
    assert fetch(server, "PUT", "/big", body=b"x" * 11)[0] == 400
    assert server.uploads == {}


def test_redirects_answer_with_their_location(server):
    server.redirects["/old"] = (302, "/fw.bin")
    status, headers, _ = fetch(server, "GET", "/old")
    assert status == 302 and headers["Location"] == "/fw.bin"


@pytest.mark.parametrize("fault", ["500", "404"])
def test_fail_next_spoils_exactly_that_many_requests_with_a_status(server, fault):
    server.fail_next(2, fault)
    assert [fetch(server, "GET", "/fw.bin")[0] for _ in range(3)] == [int(fault), int(fault), 200]


def test_drop_closes_without_an_answer(server):
    server.fail_next(1, "drop")
    with pytest.raises(http.client.RemoteDisconnected):
        fetch(server, "GET", "/fw.bin")
    assert fetch(server, "GET", "/fw.bin")[2] == IMAGE


def test_truncate_sends_half_of_the_announced_body(server):
    server.fail_next(1, "truncate")
    with pytest.raises(http.client.IncompleteRead) as info:
        fetch(server, "GET", "/fw.bin")
    assert len(info.value.partial) == len(IMAGE) // 2


def test_stall_sends_half_then_nothing_until_the_client_gives_up(server):
    server.fail_next(1, "stall")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=0.3)
    conn.request("GET", "/fw.bin")
    response = conn.getresponse()
    assert response.read(len(IMAGE) // 2) == IMAGE[:len(IMAGE) // 2]
    with pytest.raises(TimeoutError):
        response.read(1)
    conn.close()


def test_unknown_fault_is_refused(server):
    with pytest.raises(ValueError):
        server.fail_next(1, "explode")


def test_https_with_a_trustme_certificate(tmp_path):
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    with FileServer(files={"/x": b"secret image"}, ssl_context=server_context) as s:
        assert s.url("/x").startswith("https://127.0.0.1:")
        status, _, body = fetch(s, "GET", "/x", context=client_context)
        assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(b"secret image").digest()


def test_stop_releases_the_port_and_is_idempotent():
    s = FileServer().start()
    port = s.port
    s.stop()
    s.stop()
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect()
