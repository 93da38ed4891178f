# OCPP 1.6 security whitepaper certificate management (ed. 3, use cases M03-M05), CSMS -> CP:
# InstallCertificate, DeleteCertificate and GetInstalledCertificateIds, answered from the charge point's
# trust store (firmware/security/certstore.py, built on first use by firmware/ocpp/security16.py).
# Loaded only when one of these CALLs arrives (core16.py imports it inside the handler): the store and
# its X.509 parser stay out of the heap of a charger whose CSMS never manages certificates.
CENTRAL_SYSTEM_ROOT = "CentralSystemRootCertificate"


def install(cp, p):
    """InstallCertificate.req -> .conf payload: Accepted | Rejected | Failed (M05)."""
    security = cp.security
    status = security.store().install(p["certificateType"], p["certificate"], security.now_s())
    if status == "Accepted":
        cp.log("security", "%s installed" % p["certificateType"])
    return {"status": status}


def delete(cp, p):
    """DeleteCertificate.req -> .conf payload: Accepted | Failed | NotFound (M04)."""
    status = cp.security.store().delete(p["certificateHashData"], roots_in_use(cp))
    if status == "Accepted":
        cp.log("security", "certificate %s deleted" % p["certificateHashData"].get("serialNumber"))
    return {"status": status}


def installed_ids(cp, p):
    """GetInstalledCertificateIds.req -> .conf payload: Accepted with the hash data, or NotFound (M03)."""
    status, found = cp.security.store().installed_ids(p["certificateType"])
    result = {"status": status}
    if found:  # certificateHashData is optional and, when present, has at least one entry (minItems 1)
        result["certificateHashData"] = found
    return result


def roots_in_use(cp):
    """DER of the roots the open connection was checked against, which M04.FR.06 says must not be deleted.
    The TLS layer does not say which root verified the server, so only the sure case counts: a secure
    profile (2, 3) with a single CentralSystemRootCertificate installed; otherwise none."""
    security = cp.security
    if security.profile_in_use() < 2:
        return []
    roots = security.store().roots(CENTRAL_SYSTEM_ROOT)
    return [roots[0].der] if len(roots) == 1 else []
