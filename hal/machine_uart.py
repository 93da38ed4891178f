# hal Uart over machine.UART, with an RS-485 driver-enable pin if the board has one. Portable subset;
# the machine module comes in as a parameter (see hal/machine_hal.py).
import asyncio

from hal.machine_hal import PinOut, default_time


class MachineUart:  # hal.interfaces.Uart
    """machine.UART with async read(timeout_ms), and an RS-485 driver-enable pin if the board has one.

    read() polls uart.any() every poll_ms instead of wrapping the UART in asyncio.StreamReader: a
    stream read has no timeout of its own, so each Modbus chunk would cost an asyncio.wait_for (a task
    and a cancellation) per call; polling costs one any() call per poll_ms, only while a read is
    pending (the meter is asked about once a second), adds at most poll_ms to a reply that takes
    tens of ms on the wire at 9600 baud, and works the same over the fake UART in the tests."""

    def __init__(self, machine, uart_id, baud, tx=None, rx=None, de_pin=None, bits=8, parity=None, stop=1,
                 rxbuf=512, poll_ms=2, time_module=None):
        options = {"baudrate": baud, "bits": bits, "parity": parity, "stop": stop, "rxbuf": rxbuf, "timeout": 0}
        if tx is not None:  # ESP32 routes any pin; STM32 UARTs have fixed pins and take no tx=/rx=
            options["tx"] = tx
        if rx is not None:
            options["rx"] = rx
        try:
            self.uart = machine.UART(uart_id, **options)
        except (ValueError, TypeError, OSError) as exc:
            raise ValueError("UART %r (tx=%r, rx=%r, %d baud): %s" % (uart_id, tx, rx, baud, exc))
        self.de = PinOut(machine, de_pin, role="meter_de") if de_pin is not None else None
        self.poll_ms = poll_ms
        self._time = time_module
        # One character on the wire: start + data + parity + stop bits.
        self.char_us = (1 + bits + (0 if parity is None else 1) + stop) * 1000000 // baud

    def write(self, data):
        if self.de is None:
            self.uart.write(data)
            return
        self.de.set(True)
        try:
            self.uart.write(data)
            self._drain(len(data))
        finally:
            self.de.set(False)  # release the bus for the meter's reply

    def _drain(self, count):
        # The driver must stay enabled until the last stop bit has left the shift register.
        uart = self.uart
        if hasattr(uart, "flush"):
            uart.flush()
        if hasattr(uart, "txdone"):
            while not uart.txdone():
                pass
            return
        t = self._time or default_time()
        t.sleep_us((count + 1) * self.char_us)

    async def read(self, timeout_ms):
        waited_ms = 0
        while True:
            count = self.uart.any()
            if count:
                return self.uart.read(count) or b""
            if waited_ms >= timeout_ms:
                return b""
            step_ms = min(self.poll_ms, timeout_ms - waited_ms)
            await asyncio.sleep(step_ms / 1000)
            waited_ms += step_ms

    def reset_input(self):
        count = self.uart.any()
        while count:
            self.uart.read(count)
            count = self.uart.any()
