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
# Retries: one SignCertificate.req per trigger. CertSigningWaitMinimum / CertSigningRepeatTimes (the
# whitepaper's resend rule) are not implemented: a CSMS that got no request, or whose answer never came,
# triggers again; each trigger makes a fresh key pair and the older pending key is forgotten (A02.FR.02).
# Loaded only when one of these arrives (core16.py / log16.py import it inside the handler).
import asyncio

from firmware.ocpp.link import CallFailed
from firmware.ocpp.security16 import INVALID_CP_CERT

TOPIC = "security"


def common_name(cp):
    """The CN of the charge point's certificate: its serial number (A00.FR.511), else its id."""
    serial = cp.info.get("serial") if cp.info else None  # what BootNotification sends as chargePointSerialNumber
    return serial or cp.link.url.rstrip("/").split("/")[-1]


def trigger(cp):
    """ExtendedTriggerMessage(SignChargePointCertificate) -> Accepted (a SignCertificate.req follows the
    answer) or Rejected (no CpoName, a subject a CSR cannot carry, or nowhere to keep the key)."""
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
    asyncio.create_task(_sign(cp, cn, cpo_name))
    return "Accepted"


async def _sign(cp, cn, cpo_name):
    await asyncio.sleep(0)  # the ExtendedTriggerMessage.conf goes first (F06: the response, then the message)
    from firmware.security import csr

    try:
        text = csr.new_request(cp.storage, cn, cpo_name)
    except (ValueError, OSError) as exc:  # no random source, a storage error
        cp.log(TOPIC, "SignCertificate not sent: %s" % exc)
        return
    if len(text) > csr.CSR_CHARS_MAX:  # cannot happen with P-256 and 64-byte names; never send it broken
        cp.log(TOPIC, "SignCertificate not sent: CSR of %d characters" % len(text))
        return
    try:
        result = await cp.link.call("SignCertificate", {"csr": text})
    except CallFailed as exc:
        cp.log(TOPIC, "SignCertificate not delivered (%s); the CSMS may trigger again" % exc)
        return
    cp.log(TOPIC, "SignCertificate %s by the CSMS" % result.get("status"))


def certificate_signed(cp, p):
    """CertificateSigned.req -> {"status": Accepted | Rejected} (A02.FR.06-10)."""
    security = cp.security
    config = cp.config
    status, reason = security.cp_certificate().certificate_signed(
        p["certificateChain"], security.now_s(), common_name(cp), config["CpoName"],
        config["CertificateSignedMaxChainSize"])
    if status == "Accepted":
        cp.log(TOPIC, "charge point certificate installed; used from the next connection")
    else:
        security.event(INVALID_CP_CERT, "CertificateSigned rejected: %s" % reason)
    return {"status": status}
