# A serial line on a Unix tty (MicroPython's unix port): the meter's RS-485 adapter, or a pty standing
# in for a board's UART in CI. hal Uart.
#
# The tty goes raw with VMIN = VTIME = 0, so a read returns what has arrived instead of blocking for a
# full buffer; asyncio's StreamReader waits for the first byte through poll. MicroPython's termios has
# no VMIN/VTIME names: 6 and 5 are their indexes in c_cc on Linux (<asm-generic/termbits.h>).
import asyncio
import termios

_VTIME = 5
_VMIN = 6
CHUNK = 256


class TtyUart:
    def __init__(self, path):
        self.path = path
        self.file = open(path, "r+b")
        fd = self.file.fileno()
        termios.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[6][_VMIN] = 0
        attrs[6][_VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        self.reader = asyncio.StreamReader(self.file)

    def write(self, data):
        self.file.write(data)

    async def read(self, timeout_ms):
        try:
            return await asyncio.wait_for_ms(self.reader.read(CHUNK), timeout_ms)
        except asyncio.TimeoutError:
            return b""

    def reset_input(self):
        while self.file.read(CHUNK):
            pass

    def close(self):
        self.file.close()
