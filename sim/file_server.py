"""An HTTP/1.1 file server on 127.0.0.1 for tests and simulations (CPython, stdlib asyncio streams).

It serves firmware images (from a dict or a directory) and takes diagnostics uploads (PUT or POST, with
Content-Length or chunked) into a dict. It runs on its own event loop in a background thread, so a
client under test may run in the main thread, in a virtual loop, or in a micropython subprocess.

Fault knobs: fail_next(n, fault) spoils the next n requests ("500", "404", "drop": close without an
answer, "truncate": announce the whole body and send half, "stall": send half, then go silent);
delay_ms holds every answer back ("slow"); chunked=True serves bodies chunked instead of sized;
redirects maps a path to (status, location).

    with FileServer(files={"/fw.bin": image}) as server:
        url = server.url("/fw.bin")
"""

import asyncio
import os
import threading

FAULTS = ("500", "404", "drop", "truncate", "stall")
REASONS = {200: "OK", 201: "Created", 301: "Moved Permanently", 302: "Found", 303: "See Other",
           307: "Temporary Redirect", 308: "Permanent Redirect", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 500: "Internal Server Error"}
MAX_HEAD_BYTES = 16384


class BadRequest(Exception):
    pass


class FileServer:
    def __init__(self, files=None, directory=None, ssl_context=None, chunked=False, delay_ms=0,
                 chunk_bytes=4096, max_upload_bytes=64 << 20):
        self.files = dict(files or {})  # path -> bytes served by GET and HEAD
        self.directory = directory  # files not in self.files are looked up here (read at each request)
        self.ssl_context = ssl_context
        self.chunked = chunked
        self.delay_ms = delay_ms
        self.chunk_bytes = chunk_bytes
        self.max_upload_bytes = max_upload_bytes
        self.uploads = {}  # path -> bytes of the last PUT or POST there
        self.redirects = {}  # path -> (status, location)
        self.requests = []  # (method, path, headers) of every request read, in order
        self.port = None
        self._faults = []
        self._lock = threading.Lock()
        self._tasks = set()
        self._loop = self._thread = self._server = None

    # --- control, from the test's thread -------------------------------------------------------

    def start(self):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="file-server", daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context,
                                                       limit=MAX_HEAD_BYTES))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self):
        if self._loop is None:
            return

        async def _stop():
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

        self._call(_stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    def url(self, path="/"):
        return "%s://127.0.0.1:%d%s" % ("https" if self.ssl_context else "http", self.port, path)

    def fail_next(self, count=1, fault="500"):
        """Spoil the next count requests with fault (one of FAULTS)."""
        if fault not in FAULTS:
            raise ValueError("unknown fault %r; one of %s" % (fault, ", ".join(FAULTS)))
        with self._lock:
            self._faults.extend([fault] * count)

    def reset(self):
        """Forget pending faults, uploads, redirects and the request log (between tests)."""
        with self._lock:
            self._faults.clear()
        self.uploads.clear()
        self.redirects.clear()
        self.requests.clear()

    def _next_fault(self):
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    # --- serving, on the server's loop ---------------------------------------------------------

    async def _serve(self, reader, writer):
        self._tasks.add(asyncio.current_task())
        try:
            try:
                await self._answer(reader, writer)
            except BadRequest as exc:
                await self._respond(writer, 400, str(exc).encode())
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass  # the client went away, or sent garbage we cannot frame
        except asyncio.CancelledError:
            pass  # stop(): end quietly (Python 3.11's stream callback logs a cancelled handler as an error)
        finally:
            self._tasks.discard(asyncio.current_task())
            writer.close()

    async def _answer(self, reader, writer):
        method, path, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
        body = await self._read_body(reader, headers) if method in ("PUT", "POST") else None
        self.requests.append((method, path, headers))
        fault = self._next_fault()
        if self.delay_ms:
            await asyncio.sleep(self.delay_ms / 1000)
        if fault == "drop":
            return
        if fault in ("500", "404"):
            return await self._respond(writer, int(fault), b"fault injected\n")
        if fault == "stall" and body is not None:
            return await reader.read()  # no answer, ever; the client gives up and closes
        if path in self.redirects:
            status, location = self.redirects[path]
            return await self._respond(writer, status, b"", [("Location", location)])
        if body is not None:
            self.uploads[path] = body
            return await self._respond(writer, 201, b"")
        if method not in ("GET", "HEAD"):
            return await self._respond(writer, 405, b"GET, HEAD, PUT or POST\n", [("Allow", "GET, HEAD, PUT, POST")])
        content = self._lookup(path)
        if content is None:
            return await self._respond(writer, 404, b"no such file\n")
        await self._send_file(reader, writer, method, content, fault)

    async def _read_body(self, reader, headers):
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts, total = [], 0
            while True:
                line = await reader.readuntil(b"\r\n")
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BadRequest("bad chunk size line")
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailer lines, dropped
                        pass
                    return b"".join(parts)
                total += size
                if total > self.max_upload_bytes:
                    raise BadRequest("upload over %d bytes" % self.max_upload_bytes)
                parts.append(await reader.readexactly(size))
                if await reader.readexactly(2) != b"\r\n":
                    raise BadRequest("chunk longer than its size")
        length = headers.get("content-length")
        if length is None or not length.isdigit():
            raise BadRequest("an upload needs Content-Length or chunked")
        if int(length) > self.max_upload_bytes:
            raise BadRequest("upload over %d bytes" % self.max_upload_bytes)
        return await reader.readexactly(int(length))

    def _lookup(self, path):
        if path in self.files:
            return self.files[path]
        if self.directory is None:
            return None
        name = os.path.normpath(os.path.join(self.directory, path.lstrip("/")))
        if not name.startswith(os.path.normpath(self.directory) + os.sep) or not os.path.isfile(name):
            return None  # outside the directory ("/../"), or missing
        with open(name, "rb") as f:
            return f.read()

    async def _send_file(self, reader, writer, method, content, fault):
        if self.chunked:
            fields = [("Transfer-Encoding", "chunked")]
        else:
            fields = [("Content-Length", str(len(content)))]
        writer.write(head(200, fields + [("Content-Type", "application/octet-stream")]))
        if method == "HEAD":
            return await writer.drain()
        end = len(content) // 2 if fault in ("truncate", "stall") else len(content)
        for at in range(0, end, self.chunk_bytes):
            piece = content[at:min(at + self.chunk_bytes, end)]
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if self.chunked else piece)
            await writer.drain()
        if fault == "stall":
            await reader.read()  # silent until the client gives up and closes
        elif fault is None and self.chunked:
            writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _respond(self, writer, status, body, fields=()):
        writer.write(head(status, list(fields) + [("Content-Length", str(len(body)))]) + body)
        await writer.drain()


def head(status, fields):
    lines = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status")), "Connection: close"]
    lines += ["%s: %s" % field for field in fields]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_head(raw):
    """(method, path without the query, headers with lower-case names) of a request head."""
    try:
        lines = raw.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError:
        raise BadRequest("bad request line")
    if not version.startswith("HTTP/1."):
        raise BadRequest("not HTTP/1.x")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, target.split("?")[0], headers
