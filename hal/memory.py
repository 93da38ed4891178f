# Storage kept in RAM (portable): for simulation, tests, and boards without a filesystem yet.
# Atomic by construction; nothing survives a reset. The file-backed store comes with issue #5.
from hal.interfaces import Storage


class MemoryStorage(Storage):
    def __init__(self, records=None):
        self.records = dict(records or {})
        self.writes = 0

    def read(self, key):
        return self.records.get(key)

    def write(self, key, data):
        self.records[key] = bytes(data)
        self.writes += 1
