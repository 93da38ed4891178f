# Storage in files (portable: MicroPython's os on littlefs, and CPython on POSIX). One file per key.
#
# A write never touches the live file: the framed bytes go to <key>.tmp, are flushed (and fsync'd where
# the runtime can), then renamed over <key>.rec. rename() replaces the target atomically on littlefs and
# POSIX, so a power cut leaves the old or the new record, never a mix. Every file carries a header with
# the payload length and its CRC-32, so a record damaged some other way (flash wear, a FAT volume whose
# rename is remove-then-rename, a bug) is detected on read, counted, and kept aside as <key>.bad.
import binascii
import os
import struct


MAGIC = b"EVR1"  # layout version 1 of the record file
HEADER = "<4sII"  # magic, payload length in bytes, CRC-32 of the payload
HEADER_BYTES = 12
RECORD = ".rec"
TEMP = ".tmp"
BAD = ".bad"
KEY_MAX = 40  # well inside littlefs's 255-byte names, with room for the directory and suffix
ENOENT = 2  # POSIX errno, also MicroPython's MP_ENOENT
_KEY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."


def check_key(key):
    """Raise ValueError unless key is a safe file name: 1..40 of [A-Za-z0-9_.-], not starting with '.'."""
    if not isinstance(key, str) or not 0 < len(key) <= KEY_MAX or key[0] == ".":
        raise ValueError("bad storage key %r: 1..%d characters, not starting with '.'" % (key, KEY_MAX))
    for c in key:
        if c not in _KEY_CHARS:
            raise ValueError("bad storage key %r: only letters, digits, '_', '-' and '.'" % (key,))


def frame(data):
    """The bytes of a record file holding data."""
    return struct.pack(HEADER, MAGIC, len(data), binascii.crc32(data) & 0xFFFFFFFF) + data


def unframe(raw):
    """The payload of a record file, or None when it is torn or corrupt."""
    if len(raw) < HEADER_BYTES:
        return None
    magic, length, crc = struct.unpack(HEADER, raw[:HEADER_BYTES])
    data = raw[HEADER_BYTES:]
    if magic != MAGIC or length != len(data) or crc != binascii.crc32(data) & 0xFFFFFFFF:
        return None
    return data


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _remove(path):
    try:
        os.remove(path)
    except OSError as exc:
        if exc.args[0] != ENOENT:
            raise


def _read_file(path):
    """The file's bytes, or None when it does not exist."""
    try:
        f = open(path, "rb")
    except OSError as exc:
        if exc.args[0] == ENOENT:
            return None
        raise
    try:
        return f.read()
    finally:
        f.close()


def _replace(src, dst):
    try:
        os.rename(src, dst)
    except OSError:
        # FAT (VfsFat) refuses to rename onto an existing file. Removing first opens a window where only
        # the complete .tmp exists; recover() finishes such a write at the next start.
        if not _exists(dst):
            raise
        os.remove(dst)
        os.rename(src, dst)


class FileStorage:  # hal.interfaces.Storage
    def __init__(self, directory, sync=True):
        """Keep records in directory (created if missing). sync=False skips fsync: for simulations
        that cut power through sim/flash.py rather than for real, where speed matters more."""
        self.directory = directory.rstrip("/") or "/"
        self.sync = sync
        self.corrupt = 0  # records found torn or damaged on read (each kept as <key>.bad)
        self.writes = 0
        self.deletes = 0
        if not _exists(self.directory):
            os.mkdir(self.directory)
        self.recover()

    def path(self, key, suffix=RECORD):
        check_key(key)
        return self.directory + "/" + key + suffix

    def temp_path(self, key):
        return self.path(key, TEMP)

    def recover(self):
        """Tidy what a power cut left: finish or drop each unfinished write (<key>.tmp)."""
        for name in os.listdir(self.directory):
            if not name.endswith(TEMP):
                continue
            key = name[:-len(TEMP)]
            temp = self.directory + "/" + name
            target = self.directory + "/" + key + RECORD
            raw = _read_file(temp)
            if not _exists(target) and raw is not None and unframe(raw) is not None:
                # Only a complete write on FAT gets here (see _replace): finishing it is "the new value".
                os.rename(temp, target)
            else:
                _remove(temp)

    def read(self, key):
        path = self.path(key)
        raw = _read_file(path)
        if raw is None:
            return None
        data = unframe(raw)
        if data is None:
            self.corrupt += 1
            bad = self.path(key, BAD)
            _remove(bad)  # keep the latest bad copy only; FAT cannot rename onto it
            os.rename(path, bad)
        return data

    def write(self, key, data):
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError("storage records are bytes, not %s" % type(data).__name__)
        temp = self.temp_path(key)
        f = open(temp, "wb")
        try:
            f.write(frame(bytes(data)))
            f.flush()
            if self.sync:
                _fsync(f)
        finally:
            f.close()
        _replace(temp, self.path(key))
        if self.sync:
            _fsync_dir(self.directory)
        self.writes += 1

    def delete(self, key):
        _remove(self.path(key))
        if self.sync:
            _fsync_dir(self.directory)
        self.deletes += 1

    def keys(self, prefix=""):
        found = []
        for name in os.listdir(self.directory):
            if name.endswith(RECORD) and name.startswith(prefix):
                found.append(name[:-len(RECORD)])
        found.sort()
        return found


def _fsync(f):
    # CPython: push the file to the disk. MicroPython has no fsync; a board's os.sync() (where present)
    # flushes the block device, and littlefs commits on flush/close anyway.
    if hasattr(os, "fsync"):
        os.fsync(f.fileno())
    elif hasattr(os, "sync"):
        os.sync()


def _fsync_dir(directory):
    # POSIX makes a rename or unlink durable only once the directory itself is synced. CPython only.
    if hasattr(os, "fsync") and hasattr(os, "O_RDONLY"):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
