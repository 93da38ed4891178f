# Storage kept in RAM (portable): for simulation, tests, and boards without a filesystem yet.
# Atomic by construction; nothing survives a reset. hal/file_storage.py is the persistent store.


class MemoryStorage:  # hal.interfaces.Storage
    def __init__(self, records=None):
        self.records = dict(records or {})
        self.writes = 0
        self.deletes = 0

    def read(self, key):
        return self.records.get(key)

    def write(self, key, data):
        self.records[key] = bytes(data)
        self.writes += 1

    def delete(self, key):
        if key in self.records:
            del self.records[key]
        self.deletes += 1

    def keys(self, prefix=""):
        return sorted(k for k in self.records if k.startswith(prefix))
