# The two names of hal/interfaces.py that the firmware needs at run time. The interface classes there
# document the contracts (and CPython's simulated parts inherit them); the portable implementations
# only follow them, without inheriting: on MicroPython's unix port the stubs took ~5 KB of heap (issue #4).


class ConnectionClosed(Exception):
    """The CSMS connection is gone (Connection.recv / send)."""


class Board:
    """What one node's firmware is given: a bundle of parts, by name (hal/interfaces.py lists them)."""

    def __init__(self, **parts):
        for name in parts:
            setattr(self, name, parts[name])
