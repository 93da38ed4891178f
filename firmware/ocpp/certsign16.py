# OCPP 1.6 security whitepaper (ed. 2/3), use cases A02 / A03 "update charge point certificate":
#   ExtendedTriggerMessage(SignChargePointCertificate) -> Accepted, then SignCertificate.req {csr} (CP -> CSMS)
#   CertificateSigned.req {certificateChain} -> Accepted | Rejected (CSMS -> CP)
# The key pair and CSR come from firmware/security/csr.py, the checks and the store of the signed chain
# from firmware/security/cpcert.py (read certificate_signed there for what A02.FR.06-07 checks). A
# Rejected chain raises the InvalidChargePointCertificate security event (whitepaper Appendix 1).
# The accepted certificate is used from the next connection on (security16.connect_options asks cpcert
# for the newest valid one at every connect); the open connection is not dropped for it.
#
# Subject: CN = the charge point serial number (the BootNotification's chargePointSerialNumber; the
# charge point id from the URL when the board has none), O = CpoName (A02.FR.13). An empty CpoName
# means no CPO is known yet: the trigger is Rejected and nothing is generated.
#
# Resends (the whitepaper's CertSigningWaitMinimum / CertSigningRepeatTimes, worded as 2.0.1 A02.FR.17-19):
# when no accepted CertificateSigned.req has come CertSigningWaitMinimum s after a SignCertificate.req,
# another one goes out, the wait doubling each time (W, 2W, 4W, ...), at most CertSigningRepeatTimes
# times. Each resend makes a fresh key pair and CSR (A02.FR.02: a new key with every SignCertificate.req)
# and the older pending key is forgotten, so a chain the CSMS signs late for an earlier CSR is Rejected:
# it must sign the last one. An undelivered request (offline, no answer) counts as sent and the schedule
# goes on; a Rejected SignCertificate.conf, a CSR that cannot be made or the last resend end it. An
# accepted CertificateSigned.req ends it (a Rejected chain does not); a new trigger starts it again.
# Each trigger's schedule is one _Signing object and its task (Firmware.stop cancels it with the other
# late tasks); it lives in RAM only: a reboot forgets it, the CSMS triggers again.
# Loaded only when one of these arrives (core16.py / log16.py import it inside the handler).
import asyncio

from firmware.ocpp.link import CallFailed
from firmware.ocpp.security16 import INVALID_CP_CERT
from firmware.waiting import event_or_timeout

TOPIC = "security"
# The longest single wait: MicroPython's asyncio keeps deadlines in ticks_ms, which wrap after 2**29 ms
# (~6 days); CertSigningWaitMinimum up to 86400 s doubled 10 times is far beyond that.
WAIT_CHUNK_MS = 86400 * 1000


def common_name(cp):
    """The CN of the charge point's certificate: its serial number (A00.FR.511), else its id."""
    serial = cp.info.get("serial") if cp.info else None  # what BootNotification sends as chargePointSerialNumber
    return serial or cp.link.url.rstrip("/").split("/")[-1]


def trigger(cp):
    """ExtendedTriggerMessage(SignChargePointCertificate) -> Accepted (a SignCertificate.req follows the
    answer, resent while no CertificateSigned comes) or Rejected (no CpoName, a subject a CSR cannot
    carry, or nowhere to keep the key)."""
    from firmware.security import csr

    cn, cpo_name = common_name(cp), cp.config["CpoName"]
    if cp.storage is None:
        cp.log(TOPIC, "SignCertificate refused: no storage for the private key")
        return "Rejected"
    try:
        csr.encode_subject(cn, cpo_name)
    except ValueError as exc:  # an empty CpoName lands here too
        cp.log(TOPIC, "SignCertificate refused: %s" % exc)
        return "Rejected"
    old = signing(cp)
    if old is not None:
        old.end()  # its schedule stops at its next step; this trigger's starts from the first request
    new = _Signing(cp, cn, cpo_name)
    cp._certsign = new
    new.task = cp.spawn(new.run())  # Firmware.stop cancels it (firmware/ocpp/parts.py)
    return "Accepted"


def signing(cp):
    """The running _Signing of the last trigger, or None."""
    return getattr(cp, "_certsign", None)


async def _ended_within(event, wait_ms):
    """True if event is set within wait_ms, waited in chunks of at most WAIT_CHUNK_MS."""
    while wait_ms > 0:
        chunk_ms = min(wait_ms, WAIT_CHUNK_MS)
        if await event_or_timeout(event, chunk_ms):
            return True
        wait_ms -= chunk_ms
    return event.is_set()


class _Signing:
    """One trigger's SignCertificate.req and its resends."""

    def __init__(self, cp, cn, cpo_name):
        self.cp = cp
        self.cn = cn
        self.cpo_name = cpo_name
        self.ended = asyncio.Event()  # an accepted CertificateSigned, or a newer trigger
        self.task = None
        self.sent = 0  # SignCertificate.req sent for this trigger

    def end(self):
        self.ended.set()

    async def run(self):
        await asyncio.sleep(0)  # the ExtendedTriggerMessage.conf goes first (F06: the response, then the message)
        cp = self.cp
        try:
            while True:
                if not await self._send():
                    return
                resends = self.sent - 1
                if resends >= cp.config["CertSigningRepeatTimes"]:
                    return  # a CertificateSigned may still come for the last CSR
                wait_ms = cp.config["CertSigningWaitMinimum"] * 1000 * (1 << resends)
                if await _ended_within(self.ended, wait_ms):
                    return
                cp.log(TOPIC, "no CertificateSigned within %d s: SignCertificate again" % (wait_ms // 1000))
        finally:
            if getattr(cp, "_certsign", None) is self:
                cp._certsign = None

    async def _send(self):
        """One SignCertificate.req with a fresh key; False when the schedule ends here."""
        from firmware.security import csr

        cp = self.cp
        try:
            text = csr.new_request(cp.storage, self.cn, self.cpo_name)
        except (ValueError, OSError) as exc:  # no random source, a storage error
            cp.log(TOPIC, "SignCertificate not sent: %s" % exc)
            return False
        if len(text) > csr.CSR_CHARS_MAX:  # cannot happen with P-256 and 64-byte names; never send it broken
            cp.log(TOPIC, "SignCertificate not sent: CSR of %d characters" % len(text))
            return False
        self.sent += 1
        try:
            result = await cp.link.call("SignCertificate", {"csr": text})
        except CallFailed as exc:
            cp.log(TOPIC, "SignCertificate not delivered (%s)" % exc)
            return True  # counts as sent: the next one follows the schedule
        status = result.get("status")
        cp.log(TOPIC, "SignCertificate %s by the CSMS" % status)
        return status == "Accepted"


def certificate_signed(cp, p):
    """CertificateSigned.req -> {"status": Accepted | Rejected} (A02.FR.06-10). Accepted ends the resends."""
    security = cp.security
    config = cp.config
    status, reason = security.cp_certificate().certificate_signed(
        p["certificateChain"], security.now_s(), common_name(cp), config["CpoName"],
        config["CertificateSignedMaxChainSize"])
    if status == "Accepted":
        cp.log(TOPIC, "charge point certificate installed; used from the next connection")
        running = signing(cp)
        if running is not None:
            running.end()
    else:
        security.event(INVALID_CP_CERT, "CertificateSigned rejected: %s" % reason)
    return {"status": status}
