# The hardware abstraction layer: every door from firmware to hardware, described once.
#
# The firmware only ever calls the methods below. A board (hal/machine_hal.py, later), the simulated
# plant (hal/sim.py) and the bridge implement them. Portable subset: no abc, no typing at run time.
#
# Units are in the names. Times are integer milliseconds from Clock.ms(), which never wraps (a board
# implementation extends time.ticks_ms() itself). Async methods are awaited from the firmware's asyncio
# tasks; they return as soon as something happened, so a simulated plant can skip idle time.
#
# The portable implementations (hal/bridge.py, hal/machine_*.py, hal/ws_micro.py, ...) follow these
# contracts without inheriting them (the stubs would cost a MicroPython heap ~5 KB); the simulated parts
# (hal/sim.py) inherit them. Board and ConnectionClosed live in hal/parts.py.


class Clock:
    def ms(self):
        """Monotonic milliseconds as an int. Never wraps, never goes back."""
        raise NotImplementedError

    def utc(self):
        """Wall-clock UTC as an ISO 8601 string with a Z suffix, for OCPP timestamps."""
        raise NotImplementedError


class PilotOut:
    """The control pilot generator behind R1 (1 kOhm). IEC 61851-1 Annex A."""

    def x1(self):
        """Constant +12 V (state X1: no PWM, "duty 100 %")."""
        raise NotImplementedError

    def pwm(self, duty_permille):
        """1 kHz +/-12 V PWM (state X2) with a duty in 1/1000 of the period, 1..999."""
        raise NotImplementedError

    def f(self):
        """Constant -12 V (state F: EVSE not available / fault)."""
        raise NotImplementedError


class PilotIn:
    """The CP voltage sampler: the positive (PWM high phase) and negative plateau, in millivolts."""

    def read(self):
        """The latest (high_mv, low_mv) pair."""
        raise NotImplementedError

    async def wait(self, timeout_ms):
        """Return (high_mv, low_mv) after a change of the CP voltage or after timeout_ms, whichever first.

        A board polls its ADC (about every 10 ms) and returns when the reading moved; a simulated plant
        returns the moment the EV changed its resistance, so idle stretches cost nothing."""
        raise NotImplementedError


class DigitalOut:
    def set(self, on):
        raise NotImplementedError


class DigitalIn:
    def value(self):
        """True when the input is active (relay closed, RCD tripped, ...)."""
        raise NotImplementedError

    def on_change(self, callback):
        """Call callback(value) from the event loop whenever the input changes (a board uses
        Pin.irq and micropython.schedule; the simulated plant calls it directly). One callback."""
        raise NotImplementedError


class Uart:
    """A byte stream (meter RS-485, RFID reader). Bytes written go out at once."""

    def write(self, data):
        raise NotImplementedError

    async def read(self, timeout_ms):
        """Bytes received so far, waiting up to timeout_ms for the first one; b"" on timeout."""
        raise NotImplementedError

    def reset_input(self):
        """Drop whatever is in the receive buffer (stale bytes before a new request)."""
        raise NotImplementedError


class Storage:
    """Small persistent records by key. A write is atomic: after a power cut, the old or the new value."""

    def read(self, key):
        """The bytes last written under key, or None."""
        raise NotImplementedError

    def write(self, key, data):
        raise NotImplementedError

    def delete(self, key):
        """Forget key (atomic: after a power cut the record is there or gone). No error if absent."""
        raise NotImplementedError

    def keys(self, prefix=""):
        """The keys holding a record that start with prefix, sorted."""
        raise NotImplementedError


class Connection:
    """One open text-message channel to the CSMS (a WebSocket, or an in-memory pipe in simulation)."""

    async def send(self, text):
        raise NotImplementedError

    async def recv(self):
        """The next text message. Raises ConnectionClosed when the peer is gone."""
        raise NotImplementedError

    async def close(self):
        raise NotImplementedError


class Network:
    async def connect(self, url, subprotocol, headers=None):
        """Open a Connection to url (the charge point id already appended) with one OCPP subprotocol."""
        raise NotImplementedError


class TemperatureIn:
    """A temperature sensor: a PT1000 (IEC 60751) seen through the board's divider and ADC."""

    def read_ohms(self):
        """The sensor's resistance in ohms (the board scales ADC counts). An open sensor reads very
        high, a shorted one near 0; firmware/temperature.py judges both."""
        raise NotImplementedError


class Watchdog:
    """The hardware watchdog (machine.WDT on a board). Once started it resets the MCU unless fed."""

    def feed(self):
        raise NotImplementedError


# Board: what one node's firmware is given, a bundle of the parts above, by name.
#
# Main controller: clock, pilot_out, pilot_in, contactor (DigitalOut: the main controller's switch in
# the coil circuit), contactor_feedback (DigitalIn), meter_uart (Uart), storage (Storage), network
# (Network), safety_link (Uart to the safety node), watchdog (Watchdog or None), reset_cause ("power",
# "watchdog", "soft" or "hard"), and info: a dict with vendor, model, serial, firmware version and the
# board's ratings (max_current_a, phases, ventilation).
#
# Safety node: clock, pilot_in (its own view of the CP), relay (DigitalOut: the safety node's switch,
# in series with the main controller's), contactor_feedback, rcd_ac and rcd_dc (DigitalIn: the residual
# current monitor's trip outputs), rcd_test (DigitalOut: its TEST input), estop (DigitalIn, True =
# pressed), pe_fault (DigitalIn, True = protective earth missing), temperatures (dict name ->
# TemperatureIn), link (Uart to the main controller), watchdog, reset_cause, info (ventilation).
from hal.parts import Board, ConnectionClosed  # noqa: E402,F401


def missing(part, interface):
    """The methods of interface (a class above) that part lacks: [] when it follows the contract.
    Tests check the portable implementations with it, since they do not inherit."""
    names = [name for name in dir(interface) if not name.startswith("_")]
    return [name for name in names if not callable(getattr(part, name, None))]
