"""A null-modem cable to a new pseudo-terminal (CPython): another process opens `path` and talks to
whatever is behind `far_fd` (e.g. the master side of the pty pymodbus's serial server listens on).

Two pty pairs joined by this relay stand in for the UART between a board and a device: each end is
a real tty, opened and configured by its user as a serial port would be."""

import asyncio
import os
import tty


class PtyRelay:
    def __init__(self, far_fd):
        self.far_fd = far_fd
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # the user reconfigures it; raw is the sane default for binary data
        self.path = os.ttyname(self._slave)
        self.bytes_in = self.bytes_out = 0  # towards the far end / towards the process on path
        for fd in (self.master, far_fd):
            os.set_blocking(fd, False)
        loop = asyncio.get_running_loop()
        loop.add_reader(self.master, self._copy, self.master, far_fd, "bytes_in")
        loop.add_reader(far_fd, self._copy, far_fd, self.master, "bytes_out")
        self._loop = loop

    def _copy(self, src, dst, counter):
        try:
            data = os.read(src, 4096)
        except (BlockingIOError, OSError):
            return  # EIO: nobody has the other side open right now
        if data:
            os.write(dst, data)
            setattr(self, counter, getattr(self, counter) + len(data))

    def close(self):
        for fd in (self.master, self.far_fd):
            self._loop.remove_reader(fd)
        os.close(self.master)
        os.close(self._slave)
