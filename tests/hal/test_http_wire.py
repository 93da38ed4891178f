# portable
# hal/http_wire.py without sockets: URLs, request heads, and the response parser fed byte by byte.
from hal import http_wire as wire
from hal.http_wire import HttpError
from tests.portable import raises


def events(raw, method="GET", piece=1, max_head_bytes=wire.MAX_HEAD_BYTES):
    """(response, body, pieces) after feeding raw in pieces of `piece` bytes and then the end of the stream."""
    parser = wire.ResponseParser(method, max_head_bytes)
    response, body, pieces = None, b"", 0
    at = 0
    while True:
        event = parser.next_event()
        if event is None:
            parser.receive_data(raw[at:at + piece])
            at += piece
        elif event == wire.END:
            return response, body, pieces
        elif isinstance(event, wire.Response):
            response = event
        else:
            body += event.data
            pieces += 1
            assert len(event.data) <= piece


def test_parse_url_splits_scheme_host_port_target_and_credentials():
    assert wire.parse_url("http://example.com") == (False, "example.com", 80, "/", None)
    assert wire.parse_url("https://u:p@10.0.0.2:8443/fw/a.bin?x=1#top") == \
        (True, "10.0.0.2", 8443, "/fw/a.bin?x=1", "u:p")
    assert wire.parse_url("http://[::1]:81/") == (False, "::1", 81, "/", None)
    for bad in ("ftp://host/fw.bin", "http://host:99999/", "http://:80/", "http://host/a b", "http://host:x/"):
        raises(ValueError, wire.parse_url, bad)


def test_resolve_follows_absolute_and_relative_locations():
    base = "http://h:1/a/b/c.bin?q=1"
    assert wire.resolve(base, "https://other/x") == "https://other/x"
    assert wire.resolve(base, "//other/x") == "http://other/x"
    assert wire.resolve(base, "/x.bin") == "http://h:1/x.bin"
    assert wire.resolve(base, "d.bin") == "http://h:1/a/b/d.bin"
    assert wire.resolve("http://h", "d.bin") == "http://h/d.bin"


def test_request_head_names_the_host_and_refuses_header_injection():
    head = wire.request_head("PUT", "h", 8080, "/up", False, [("Content-Length", "3")])
    assert head == b"PUT /up HTTP/1.1\r\nHost: h:8080\r\nConnection: close\r\nContent-Length: 3\r\n\r\n"
    assert b"Host: h\r\n" in wire.request_head("GET", "h", 443, "/", True)
    raises(ValueError, wire.request_head, "GET", "h", 80, "/", False, [("X", "a\r\nEvil: 1")])
    assert wire.basic_auth("cp:secret") == "Basic Y3A6c2VjcmV0"


def test_chunk_frames_a_request_body_piece_and_the_last_chunk():
    assert wire.chunk(b"x" * 26) == b"1a\r\n" + b"x" * 26 + b"\r\n"
    assert wire.chunk(b"") == b"0\r\n\r\n"


def test_sized_body_arrives_in_pieces_no_bigger_than_what_was_fed():
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-A: 1\r\nx-a: 2\r\n\r\n0123456789"
    response, body, pieces = events(raw, piece=3)
    assert (response.status, response.reason, body) == (200, "OK", b"0123456789")
    assert response.headers["x-a"] == "1, 2" and pieces >= 4


def test_chunked_body_with_extensions_and_trailers():
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 99\r\n\r\n"
           b"4;name=v\r\nabcd\r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n")
    for piece in (1, 7, 1000):
        response, body, _ = events(raw, piece=piece)
        assert body == b"abcd0123456789"


def test_body_until_close_and_bodies_that_have_none():
    assert events(b"HTTP/1.0 200 OK\r\n\r\nall of it", piece=4)[1] == b"all of it"
    assert events(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", method="HEAD")[1] == b""
    assert events(b"HTTP/1.1 204 No Content\r\n\r\n")[0].status == 204


def test_interim_100_continue_is_skipped():
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    response, body, _ = events(raw, piece=5)
    assert (response.status, body) == (201, b"ok")


def failure(raw, max_head_bytes=wire.MAX_HEAD_BYTES):
    return str(raises(HttpError, events, raw, "GET", 64, max_head_bytes))


def test_malformed_answers_raise_http_error_with_the_reason():
    assert failure(b"HTTP/1.1 2OO OK\r\n\r\n").startswith("bad status line")
    assert failure(b"SSH-2.0-OpenSSH\r\n\r\n").startswith("bad status line")
    assert failure(b"HTTP/1.1 200 OK\r\n folded\r\n\r\n").startswith("bad header line")
    assert failure(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 300 + b"\r\n\r\n", 200) == "response head over 200 bytes"
    assert failure(b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n").startswith("bad Content-Length")
    assert failure(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n").startswith("transfer coding")
    assert failure(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").startswith("bad chunk size")
    assert failure(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n") == \
        "chunk longer than its size line says"
    assert failure(b"HTTP/1.1 101 Switching\r\n\r\n").startswith("server switched protocols")
    assert failure(b"") == "connection closed before a response"
    assert failure(b"HTTP/1.1 200") == "connection closed in the response head"


def test_truncated_bodies_are_errors_never_a_short_success():
    assert failure(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123") == "body truncated: 4 of 10 bytes"
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert failure(chunked + b"a\r\n0123").startswith("body truncated")
    assert failure(chunked + b"2\r\nab\r\n").startswith("body truncated")
    assert failure(chunked + b"2\r\nab\r\n0\r\n").startswith("body truncated")
