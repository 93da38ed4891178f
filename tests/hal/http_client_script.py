# One HTTP request with hal/http_client.py, for tests/hal/test_http_client.py. It runs under the
# micropython binary (as a script: results printed one per line) and in-process under CPython (main()).
#
# usage: http_client_script.py METHOD URL [--ca FILE] [--no-verify] [--timeout-ms MS] [--size BYTES]
#        [--chunked] [--redirects N] [--read-bytes N] [--mem]
# Output: OK <status> <body bytes> <sha256 of the body> <largest piece> (GET) | OK <status> (PUT, POST)
#         | ERROR <status or None> <message>; with --mem, then MEM <most bytes held after a collection>.
import asyncio
import binascii
import gc
import hashlib
import sys

from hal.http_client import HttpClient, HttpError

FLAGS = ("--no-verify", "--chunked", "--mem")
NUMBERS = ("--timeout-ms", "--size", "--redirects", "--read-bytes")


def parse(argv):
    opts = {"method": argv[0], "url": argv[1]}
    i = 2
    while i < len(argv):
        name = argv[i]
        if name in FLAGS:
            opts[name[2:]] = True
            i += 1
        else:
            opts[name[2:]] = int(argv[i + 1]) if name in NUMBERS else argv[i + 1]
            i += 2
    return opts


def upload_chunks(size):
    """size bytes of a known pattern, in pieces of up to 1000 (a fresh iterator per call)."""
    def chunks():
        for at in range(0, size, 1000):
            yield bytes((at + i) % 251 for i in range(min(1000, size - at)))
    return chunks


class Sink:
    def __init__(self, mem):
        self.digest = hashlib.sha256()
        self.largest = 0
        self.pieces = 0
        self.mem = mem
        self.held = 0
        self.base = 0

    def __call__(self, data):
        self.digest.update(data)
        self.largest = max(self.largest, len(data))
        self.pieces += 1
        if self.mem and self.pieces % 50 == 0:  # what the download holds, without the garbage
            gc.collect()
            self.held = max(self.held, gc.mem_alloc() - self.base)


async def scenario(opts, out):
    client = HttpClient(ca_file=opts.get("ca"), verify_server=not opts.get("no-verify"),
                        timeout_ms=opts.get("timeout-ms", 5000), max_redirects=opts.get("redirects", 3),
                        read_bytes=opts.get("read-bytes", 1024))
    sink = Sink(opts.get("mem"))
    if sink.mem:  # MicroPython only: CPython's gc has no mem_alloc
        gc.collect()
        sink.base = gc.mem_alloc()
    try:
        if opts["method"] == "GET":
            result = await client.get(opts["url"], sink)
            out("OK %d %d %s %d" % (result.status, result.body_bytes,
                                    binascii.hexlify(sink.digest.digest()).decode(), sink.largest))
        else:
            size = opts.get("size", 0)
            length = None if opts.get("chunked") else size
            result = await client.request(opts["method"], opts["url"], body=upload_chunks(size), length=length)
            out("OK %d" % result.status)
    except HttpError as exc:
        out("ERROR %s %s" % (exc.status, " ".join(str(exc).split())))
    if opts.get("mem"):
        out("MEM %d" % sink.held)


def main(argv, out=print):
    asyncio.run(scenario(parse(argv), out))


if __name__ == "__main__":
    main(sys.argv[1:])
