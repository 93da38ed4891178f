# The charge point's optional parts, each imported and built on first use: smart charging, reservations,
# firmware management (UpdateFirmware, GetDiagnostics, GetLog), the security profiles and certificates.
# A part is built by the first CSMS command for it, or at boot when storage holds what it left (charging
# profiles, a reservation, a firmware job or slot record) or the configuration needs it (SecurityProfile
# 1 to 3). Most chargers never get a charging profile or a reservation; on MicroPython's unix port the
# bytecode of a part takes heap from the moment it is imported (issue #4's footprint).
#
# Always there, because they must not miss anything from boot on: the logbook that GetDiagnostics and
# GetLog upload (every line the charge point logs), and the security event store (firmware/ocpp/
# secevents.py: each boot raises StartupOfTheDevice). A mixin of ChargePoint.
import asyncio

from firmware.logbook import Logbook
from firmware.ocpp.secevents import SecurityEvents

# The storage records a part leaves (smart_charging.KEY, reservation.KEY, fwmgmt.FW_KEYS): one present
# at boot means that part is built at once. Read here without importing the parts.
SMART_KEY = "profiles"
RESERVATION_KEY = "reservation"
FW_KEYS = ("fw_job", "fw_slots")
# What GetDiagnostics uploads: 64 lines of at most 120 chars bound it to ~10 KB of a board's heap (the
# Logbook default of 200 x 160 could take ~40 KB).
LOG_LINES = 64
LOG_LINE_CHARS = 120
TECH_INFO_MAX = 255  # SecurityEventNotification.req techInfo: CiString255Type
STARTUP = "StartupOfTheDevice"  # security event types raised at boot (whitepaper Appendix 1)
FIRMWARE_UPDATED = "FirmwareUpdated"


class Parts:
    def _build_parts(self):
        """At boot (ChargePoint.__init__): the logbook, then the parts storage or configuration asks for."""
        self.logbook = Logbook(self.clock, capacity_lines=LOG_LINES, line_max_chars=LOG_LINE_CHARS)
        log = self.log

        def tee(topic, text):
            self.logbook.add(topic, text)
            log(topic, text)

        self.log = tee
        self._smart = None
        self._reservations = None
        self._fwmgmt = None
        self._security = None
        self._events = None
        self._certsign = None  # a SignCertificate retry schedule under way (firmware/ocpp/certsign16.py)
        self.late_tasks = None  # the tasks of parts built after tasks() ran; Firmware.stop cancels them
        self.spawned = []  # short tasks (spawn()); Firmware.stop cancels them too
        storage = self.storage
        if storage is not None:
            if storage.read(SMART_KEY):
                self.smart  # noqa: B018 (built now, from its record)
            if storage.read(RESERVATION_KEY):
                self.reservations  # noqa: B018
            if any(storage.read(key) is not None for key in FW_KEYS):
                self.fwmgmt  # noqa: B018 (a job to resume, or a committed slot to start and report)
        self.log("boot", "running firmware %s" % self.info.get("firmware"))
        if self.config["SecurityProfile"] > 0:
            self.security  # noqa: B018 (the connection needs it)
        self.security_event(STARTUP, "firmware %s" % self.info.get("firmware"))
        if self._fwmgmt is not None and self._fwmgmt.updated_to:
            self.security_event(FIRMWARE_UPDATED, "now running %s" % self._fwmgmt.updated_to)

    def part_tasks(self):
        """The tasks of the parts built so far; the ones built later start their own (_started)."""
        self.late_tasks = []
        parts = (self._smart, self._reservations, self._fwmgmt, self._events)
        return [part.run() for part in parts if part is not None]

    def spawn(self, coro):
        """Run coro as a short task of the charge point (an answer's follow-up, a meter read, a restart
        when idle). Kept until done, so that Firmware.stop cancels it with the rest: after a simulated
        reset nothing of the old firmware may go on running."""
        task = asyncio.create_task(coro)
        self.spawned = [t for t in self.spawned if not t.done()]
        self.spawned.append(task)
        return task

    def _started(self, part):
        if self.late_tasks is not None:
            self.late_tasks.append(asyncio.create_task(part.run()))
        return part

    @property
    def smart(self):
        """firmware/ocpp/smart_charging.py: charging profiles -> the charger's limit."""
        if self._smart is None:
            from firmware.ocpp.smart_charging import SmartCharging

            self._smart = self._started(SmartCharging(self))
        return self._smart

    @property
    def reservations(self):
        """firmware/ocpp/reservation.py: ReserveNow, CancelReservation, the Reserved status."""
        if self._reservations is None:
            from firmware.ocpp.reservation import Reservations

            self._reservations = self._started(Reservations(self))
        return self._reservations

    @property
    def fwmgmt(self):
        """firmware/ocpp/fwmgmt.py: UpdateFirmware, SignedUpdateFirmware, GetDiagnostics, GetLog."""
        if self._fwmgmt is None:
            from firmware.ocpp.fwmgmt import FirmwareManagement

            self._fwmgmt = self._started(FirmwareManagement(self))
        return self._fwmgmt

    @property
    def security(self):
        """firmware/ocpp/security16.py: security profiles 1-3 on the connection, the certificate stores."""
        if self._security is None:
            from firmware.ocpp.security16 import Security

            self._security = Security(self)
        return self._security

    # Security events --------------------------------------------------------------------------------

    def security_event(self, kind, tech_info=None):
        """SecurityEventNotification.req at every SecurityProfile (the whitepaper sets no profile for it),
        kept in flash until the CSMS has it and as the SecurityLog (firmware/ocpp/secevents.py). Without
        storage (a bare test charge point) it waits in the RAM outbox."""
        self.log("security", "%s %s" % (kind, tech_info or ""))
        payload = {"type": kind, "timestamp": self.clock.utc()}
        if tech_info:
            payload["techInfo"] = tech_info[:TECH_INFO_MAX]
        if self.storage is None:
            self._send("SecurityEventNotification", payload)
        else:
            self.security_events().add(payload)

    def security_events(self):
        """The persistent security event store, built with the first event; its task delivers them."""
        if self._events is None:
            self._events = self._started(SecurityEvents(self))
        return self._events
