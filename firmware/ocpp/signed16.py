# SignedUpdateFirmware of the OCPP 1.6 security whitepaper (ed. 2 use case "Secure firmware update", ed. 3
# L01), on the UpdateFirmware machinery (firmware/ocpp/firmware_update.py: download with retries into the
# inactive A/B slot, image check, commit, reboot). What this module adds:
#   - on the request: the signing certificate must chain to an installed ManufacturerRootCertificate
#     (firmware/security/signature.py), else .conf InvalidCertificate and a SecurityEventNotification
#     InvalidFirmwareSigningCertificate; a signature that is not base64 of at most 800 characters is
#     Rejected at once (nothing could ever verify it). A request while a job runs cancels that job:
#     AcceptedCanceled.
#   - the job record carries requestId, certificate and signature, so a job cut by a power cut still
#     verifies; its statuses go out as SignedFirmwareStatusNotification {status, requestId}
#     (firmware/ocpp/fwmgmt.py), including DownloadScheduled / InstallScheduled while it waits.
#   - after the download, check_image() hashes the stored slot record by record (SHA-256, never the whole
#     image in RAM) and checks the signature: SignatureVerified, then the install; or InvalidSignature,
#     a SecurityEventNotification InvalidFirmwareSignature, the slot erased and nothing installed.
# The signature covers the file exactly as downloaded (image header included).
# Loaded only when a SignedUpdateFirmware arrives or a signed job runs (core16.py, fwmgmt.py).
from firmware import timefmt
from firmware.ocpp.rpc import TYPE_CONSTRAINT_VIOLATION, RpcError

MANUFACTURER_ROOT = "ManufacturerRootCertificate"  # CertificateUseEnumType


def _roots(cp):
    return cp.security.store().roots(MANUFACTURER_ROOT)


def request(cp, p):
    """SignedUpdateFirmware.req (schema-checked) -> .conf payload: Accepted | AcceptedCanceled |
    Rejected | InvalidCertificate. Raises RpcError for a bad dateTime or a negative number."""
    from firmware.security import signature

    firmware = p["firmware"]
    request_id = p["requestId"]
    security = cp.security
    try:
        signature.decode_signature(firmware["signature"])
    except signature.FirmwareSignatureError as exc:
        cp.log("firmware", "SignedUpdateFirmware %d rejected: %s" % (request_id, exc))
        return {"status": "Rejected"}
    try:
        signature.check_signing_certificate(firmware["signingCertificate"], _roots(cp), security.now_s())
    except signature.FirmwareSignatureError as exc:
        cp.log("firmware", "SignedUpdateFirmware %d: %s" % (request_id, exc))
        security.event(exc.security_event, str(exc))
        return {"status": exc.ocpp_status}
    signed = {"request_id": request_id, "cert": firmware["signingCertificate"], "signature": firmware["signature"]}
    if "installDateTime" in firmware:
        try:
            signed["install_s"] = timefmt.parse(firmware["installDateTime"])
        except ValueError as exc:
            raise RpcError(TYPE_CONSTRAINT_VIOLATION, "installDateTime: %s" % exc)
    plain = {"location": firmware["location"], "retrieveDate": firmware["retrieveDateTime"]}
    for name in ("retries", "retryInterval"):
        if name in p:
            plain[name] = p[name]
    update = cp.fwmgmt._firmware()
    busy = update.job is not None  # L01.FR.24 (ed. 3): the running update is cancelled
    update.request(plain, signed)
    if busy:
        cp.log("firmware", "SignedUpdateFirmware %d cancels the update under way" % request_id)
    return {"status": "AcceptedCanceled" if busy else "Accepted"}


async def check_image(cp, update, job):
    """True when the image in job's slot carries a good signature from a certificate that still chains
    to an installed ManufacturerRootCertificate; else False, logged, and the security event raised."""
    from firmware.security import signature

    signed = job["signed"]
    security = cp.security
    try:
        cert = signature.check_signing_certificate(signed["cert"], _roots(cp), security.now_s())
        verifier = signature.FirmwareVerifier(cert, signed["signature"])
        for chunk in update.images.chunks(job["slot"]):
            verifier.update(chunk)
            await update.sleep_ms(0)  # hashing a whole slot must not starve the charger's other tasks
        verifier.finish()
    except signature.FirmwareSignatureError as exc:
        cp.log("firmware", "SignedUpdateFirmware %d: %s" % (signed["request_id"], exc))
        security.event(signature.EVENT_FOR[signature.INVALID_SIGNATURE], str(exc))
        return False
    cp.log("firmware", "SignedUpdateFirmware %d: signature verified" % signed["request_id"])
    return True


def extended_trigger(cp, p):
    """ExtendedTriggerMessage(FirmwareStatusNotification) -> .conf status, or None to let the plain
    TriggerMessage path answer (no signed job runs, or another connector)."""
    fwmgmt = cp.fwmgmt
    job = fwmgmt.update.job if fwmgmt.update is not None else None
    if job is None or "signed" not in job or p.get("connectorId") not in (None, 0, 1):
        return None
    import asyncio

    async def send():
        await asyncio.sleep(0)  # after the answer (F06: the response first)
        cp._send_triggered(*fwmgmt.triggered("FirmwareStatusNotification"))

    cp.spawn(send())
    return "Accepted"
