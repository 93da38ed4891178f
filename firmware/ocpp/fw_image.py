# Firmware images for the A/B update (firmware/ocpp/firmware_update.py): their format, and slots kept as
# Storage records.
#
# Image format (1.6 UpdateFirmware has no checksum field, so the image carries its own): a 64-byte
# header, then the payload. Header (little-endian, HEADER): magic "EVFW", format 1, header bytes 64,
# payload bytes, SHA-256 of the payload, version (16 bytes ASCII, NUL-padded), CRC-32 of the 60 bytes
# before it. make_image() builds one. Checked twice: the header as soon as it arrives (a file that is
# not an image, or too big for a slot, stops the download: DownloadFailed, no retries, since fetching
# it again cannot help), and the whole stored slot before the commit (a wrong SHA-256 or length, e.g.
# a damaged file or flash: InstallationFailed).
import binascii
import hashlib
import struct

MAGIC = b"EVFW"
FORMAT = 1
HEADER = "<4sHHI32s16s"  # then "<I": CRC-32 of these 60 bytes
HEADER_BYTES = 64
VERSION_MAX_BYTES = 16
RECORD_BYTES = 4096  # one image record: a littlefs block
CAPACITY_BYTES = 1 << 20  # one slot


class ImageError(ValueError):
    """The file is not an image this charger can install."""


def make_image(payload, version):
    """An installable image of payload bytes, labelled with version (up to 16 ASCII bytes)."""
    label = version.encode()
    if len(label) > VERSION_MAX_BYTES:
        raise ValueError("version %r over %d bytes" % (version, VERSION_MAX_BYTES))
    head = struct.pack(HEADER, MAGIC, FORMAT, HEADER_BYTES, len(payload), hashlib.sha256(payload).digest(), label)
    return head + struct.pack("<I", binascii.crc32(head) & 0xFFFFFFFF) + payload


def read_header(raw):
    """(payload bytes, SHA-256, version) of an image's first 64 bytes. Raises ImageError."""
    if len(raw) < HEADER_BYTES:
        raise ImageError("image of %d bytes is shorter than its header" % len(raw))
    magic, fmt, head_bytes, size, digest, label = struct.unpack(HEADER, raw[:60])
    if magic != MAGIC:
        raise ImageError("not a firmware image (magic %r)" % (bytes(magic),))
    if struct.unpack("<I", raw[60:64])[0] != binascii.crc32(raw[:60]) & 0xFFFFFFFF:
        raise ImageError("image header damaged (CRC-32)")
    if fmt != FORMAT or head_bytes != HEADER_BYTES:
        raise ImageError("image format %d with a %d-byte header is not supported" % (fmt, head_bytes))
    return size, digest, label.split(b"\0")[0].decode()


class StorageImages:
    """Slot images as numbered Storage records "fwimg.<slot>.<n>" (simulation, and boards without an OTA
    partition). A board with one passes an object with the same erase/writer/chunks and capacity_bytes."""

    def __init__(self, storage, record_bytes=RECORD_BYTES, capacity_bytes=CAPACITY_BYTES):
        self.storage = storage
        self.record_bytes = record_bytes
        self.capacity_bytes = capacity_bytes

    def _prefix(self, slot):
        return "fwimg.%s." % slot

    def erase(self, slot):
        for key in self.storage.keys(self._prefix(slot)):
            self.storage.delete(key)

    def writer(self, slot):
        return _RecordWriter(self.storage, self._prefix(slot), self.record_bytes)

    def chunks(self, slot):
        n = 0
        while True:
            data = self.storage.read(self._prefix(slot) + str(n))
            if data is None:
                return
            yield data
            n += 1


class _RecordWriter:
    # One record-sized buffer, filled in place: no growing bytes objects to fragment a small heap.
    def __init__(self, storage, prefix, record_bytes):
        self.storage, self.prefix = storage, prefix
        self.buf = bytearray(record_bytes)
        self.fill = 0
        self.n = 0

    def write(self, data):
        view, at = memoryview(data), 0
        while at < len(data):
            n = min(len(self.buf) - self.fill, len(data) - at)
            self.buf[self.fill:self.fill + n] = view[at:at + n]
            self.fill += n
            at += n
            if self.fill == len(self.buf):
                self._put(self.buf)

    def close(self):
        if self.fill:
            self._put(self.buf[:self.fill])

    def _put(self, data):
        self.storage.write(self.prefix + str(self.n), data)
        self.n += 1
        self.fill = 0


class ImageSink:
    """Takes the download piece by piece: checks the header once it is in, bounds the size, stores."""

    def __init__(self, writer, capacity_bytes, check):
        self.writer, self.capacity_bytes, self.check = writer, capacity_bytes, check
        self.head = b""
        self.expected = None  # header + payload bytes, once the header is known
        self.total = 0

    def __call__(self, data):
        self.check()  # a newer request stops this download
        if self.expected is None:
            self.head += data[:HEADER_BYTES - len(self.head)]
            if len(self.head) == HEADER_BYTES:
                self.expected = HEADER_BYTES + read_header(self.head)[0]
                if self.expected > self.capacity_bytes:
                    raise ImageError("image of %d bytes over the %d-byte slot" % (self.expected, self.capacity_bytes))
        self.total += len(data)
        if self.expected is not None and self.total > self.expected:
            raise ImageError("image longer than its header says")
        self.writer.write(data)

    def finish(self):
        self.writer.close()
        if self.expected is None or self.total < self.expected:
            raise ValueError("image ended after %d of %s bytes" % (self.total, self.expected or HEADER_BYTES))
