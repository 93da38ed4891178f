# portable
# FileStorage on a real directory under /tmp (CPython and the micropython binary), and on littlefs in
# RAM where the runtime has it (MicroPython's os.VfsLfs2), the file system of the ESP32/STM32 boards.
import binascii
import os

from hal.file_storage import HEADER_BYTES, FileStorage, frame
from tests.portable import raises


def fresh_dir(base="/tmp"):
    path = base + "/evse_fs_" + binascii.hexlify(os.urandom(6)).decode()
    os.mkdir(path)
    return path


def remove_dir(path):
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    os.rmdir(path)


def put_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def get_file(path):
    with open(path, "rb") as f:
        return f.read()


def test_written_records_read_back_after_reopening():
    d = fresh_dir()
    try:
        s = FileStorage(d)
        s.write("config", b'{"a": 1}')
        s.write("tx.1", b"")
        s.write("config", b'{"a": 2}')
        again = FileStorage(d)
        assert again.read("config") == b'{"a": 2}'
        assert again.read("tx.1") == b""
        assert again.read("missing") is None
        assert again.corrupt == 0
        assert s.writes == 3
    finally:
        remove_dir(d)


def test_directory_is_created_when_missing():
    d = fresh_dir()
    try:
        s = FileStorage(d + "/store")
        s.write("k", bytearray(b"xy"))
        assert FileStorage(d + "/store").read("k") == b"xy"
        remove_dir(d + "/store")
    finally:
        remove_dir(d)


def test_delete_and_keys():
    d = fresh_dir()
    try:
        s = FileStorage(d)
        for key in ("q.2", "q.10", "q.1", "config"):
            s.write(key, b"x")
        assert s.keys("q.") == ["q.1", "q.10", "q.2"]
        assert s.keys() == ["config", "q.1", "q.10", "q.2"]
        s.delete("q.10")
        s.delete("q.10")  # absent: no error
        assert s.keys("q.") == ["q.1", "q.2"]
        assert s.read("q.10") is None
    finally:
        remove_dir(d)


def test_unsafe_keys_are_refused():
    d = fresh_dir()
    try:
        s = FileStorage(d)
        for key in ("", ".hidden", "../escape", "a/b", "a b", "x" * 41, "caf\u00e9", None, 7):
            raises(ValueError, s.write, key, b"x")
            raises(ValueError, s.read, key)
        assert os.listdir(d) == []
    finally:
        remove_dir(d)


def test_only_bytes_are_written():
    d = fresh_dir()
    try:
        raises(TypeError, FileStorage(d).write, "k", "text")
    finally:
        remove_dir(d)


def test_a_damaged_record_reads_as_none_is_counted_and_kept_aside():
    d = fresh_dir()
    try:
        s = FileStorage(d)
        s.write("tx.1", b"0123456789")
        raw = bytearray(get_file(d + "/tx.1.rec"))
        raw[HEADER_BYTES + 3] ^= 0x01  # one flipped bit in the payload
        put_file(d + "/tx.1.rec", raw)
        assert s.read("tx.1") is None
        assert s.corrupt == 1
        assert get_file(d + "/tx.1.bad") == bytes(raw)
        assert s.keys() == []
        assert s.read("tx.1") is None  # now simply absent
        assert s.corrupt == 1
    finally:
        remove_dir(d)


def test_truncated_or_foreign_files_are_detected():
    d = fresh_dir()
    try:
        s = FileStorage(d)
        full = frame(b"hello world")
        for n, damaged in enumerate((full[:5], full[:-1], full + b"!", b"not a record at all", b"")):
            put_file(d + "/k%d.rec" % n, damaged)
            assert s.read("k%d" % n) is None
        assert s.corrupt == 5
    finally:
        remove_dir(d)


def test_start_drops_a_torn_temp_file_and_keeps_the_old_value():
    d = fresh_dir()
    try:
        FileStorage(d).write("config", b"old")
        new = frame(b"new")
        put_file(d + "/config.tmp", new[:len(new) // 2])
        s = FileStorage(d)
        assert s.read("config") == b"old"
        assert os.listdir(d) == ["config.rec"]
    finally:
        remove_dir(d)


def test_start_drops_a_complete_temp_file_when_the_rename_never_happened():
    d = fresh_dir()
    try:
        FileStorage(d).write("config", b"old")
        put_file(d + "/config.tmp", frame(b"new"))
        assert FileStorage(d).read("config") == b"old"
        assert os.listdir(d) == ["config.rec"]
    finally:
        remove_dir(d)


def test_start_finishes_a_complete_write_whose_old_file_was_already_removed():
    # FAT renames by remove-then-rename: a cut in between leaves only the complete temporary file.
    d = fresh_dir()
    try:
        put_file(d + "/config.tmp", frame(b"new"))
        assert FileStorage(d).read("config") == b"new"
        assert os.listdir(d) == ["config.rec"]
    finally:
        remove_dir(d)


class RamBlockDevice:
    """A block device in RAM for os.VfsLfs2 (the block protocol of MicroPython's os.AbstractBlockDev)."""

    def __init__(self, block_size, blocks):
        self.block_size = block_size
        self.data = bytearray(block_size * blocks)

    def readblocks(self, block, buf, offset=0):
        start = block * self.block_size + offset
        buf[:] = self.data[start:start + len(buf)]

    def writeblocks(self, block, buf, offset=0):
        start = block * self.block_size + (offset or 0)
        self.data[start:start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return len(self.data) // self.block_size
        if op == 5:  # block size
            return self.block_size
        if op == 6:  # erase
            return 0
        return None


def test_on_littlefs_records_survive_a_remount():
    if not hasattr(os, "VfsLfs2"):
        return  # CPython: no littlefs driver
    device = RamBlockDevice(512, 128)
    os.VfsLfs2.mkfs(device)
    mount = "/evse_lfs_" + binascii.hexlify(os.urandom(4)).decode()
    os.mount(os.VfsLfs2(device), mount)
    try:
        s = FileStorage(mount + "/store")
        s.write("config", b"one")
        s.write("config", b"two")
        s.write("tx.1", b"x" * 700)  # above littlefs's inline size: a block of its own
        s.delete("missing")
        put_file(mount + "/store/tx.2.tmp", b"torn")
    finally:
        os.umount(mount)
    os.mount(os.VfsLfs2(device), mount)
    try:
        s = FileStorage(mount + "/store")
        assert s.read("config") == b"two"
        assert s.read("tx.1") == b"x" * 700
        assert s.keys() == ["config", "tx.1"]
        assert sorted(os.listdir(mount + "/store")) == ["config.rec", "tx.1.rec"]
    finally:
        os.umount(mount)
