# OCPP 1.6 security whitepaper (ed. 2/3) wired into the charge point: security profiles 1-3 on the
# connection (section 2), SecurityEventNotification (section 5 / 4.x "Security events"), and the
# SecurityProfile key's rules. The certificate stores (firmware/security/) are imported only when a
# profile or a message needs them: profile 0 and 1 cost this module and nothing more.
#
# Profiles (whitepaper section 2, fact sheet 4.1):
#   0  no security configured: the connection as the board's network makes it.
#   1  ws:// with HTTP Basic auth: "Authorization: Basic base64(<ChargePointId>:<AuthorizationKey>)".
#   2  wss:// with Basic auth; the server certificate must chain to an installed
#      CentralSystemRootCertificate (no system CA store: only what the CSMS installed is trusted).
#   3  wss:// with the charge point's certificate (mutual TLS), server checked as in 2.
# SecurityProfile only goes up (ChangeConfiguration of a lower value is Rejected) and a change needs
# what the new profile uses (an AuthorizationKey for 1/2, a CentralSystemRootCertificate for 2/3, a
# charge point certificate for 3); an accepted change reconnects at once with the new profile.
import binascii

from firmware import timefmt

# SecurityEvent types this firmware raises (whitepaper Appendix 1); the rest it cannot detect.
# (StartupOfTheDevice and FirmwareUpdated are raised at boot by firmware/ocpp/parts.py.)
FAILED_AUTH = "FailedToAuthenticateAtCentralSystem"
INVALID_CS_CERT = "InvalidCentralSystemCertificate"
INVALID_CP_CERT = "InvalidChargePointCertificate"
RECONFIGURED = "ReconfigurationOfSecurityParameters"
SSL_FAILURES = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "MBEDTLS_ERR_X509")


class Security:
    def __init__(self, cp, tls_factory=None):
        """tls_factory(ca_ders, key_der, chain_pem) -> an ssl context for the board's network; None: the
        portable one below (MicroPython and CPython ssl)."""
        self.cp = cp
        self.tls_factory = tls_factory or tls_context
        self._store = None
        self._cpcert = None
        self._failure = None  # the security event of the last failed connect, raised once per kind
        self._new_root_only = False  # this connect trusts the new CentralSystemRoot alone (_roots)
        self._new_root_failed = False
        # Built at boot for SecurityProfile 1-3, else with the first command that needs it (parts.py):
        # from then on every connect goes through the profile in force.
        cp.link.network = _SecureNetwork(self, cp.link.network)

    # Stores, built on first use --------------------------------------------------------------------

    def store(self):
        if self._store is None:
            from firmware.security.certstore import CertStore

            config = self.cp.config  # whitepaper section 7 keys: the store's limit and the root rollover rule
            self._store = CertStore(self.cp.storage, config["CertificateStoreMaxLength"],
                                    config["AdditionalRootCertificateCheck"])
            for problem in self._store.problems:
                self.cp.log("security", problem)
        return self._store

    def cp_certificate(self):
        if self._cpcert is None:
            from firmware.security.cpcert import ChargePointCertificate

            self._cpcert = ChargePointCertificate(self.cp.storage, self.store())
        return self._cpcert

    def now_s(self):
        return timefmt.parse(self.cp.clock.utc())

    # Events ---------------------------------------------------------------------------------------

    def event(self, kind, tech_info=None):
        """A SecurityEventNotification (firmware/ocpp/parts.py: kept in flash until the CSMS has it)."""
        self.cp.security_event(kind, tech_info)

    def events(self):
        """The persistent event store (firmware/ocpp/secevents.py)."""
        return self.cp.security_events()

    # SecurityProfile ------------------------------------------------------------------------------

    def change_profile(self, text):
        """ChangeConfiguration(SecurityProfile): Accepted (and reconnect) or Rejected."""
        cp = self.cp
        try:
            wanted = int(text)
        except ValueError:
            return "Rejected"
        if not 0 <= wanted <= 3 or wanted < cp.config["SecurityProfile"] or not self.ready_for(wanted):
            return "Rejected"
        status = cp.config.set("SecurityProfile", str(wanted))
        if status == "Accepted" and wanted != self.profile_in_use():
            self.event(RECONFIGURED, "SecurityProfile %d" % wanted)
            cp.spawn(cp.link.stop_connection())
        return status

    def profile_in_use(self):
        return getattr(self.cp.link.network, "profile", 0)

    def ready_for(self, profile):
        cp = self.cp
        if profile in (1, 2) and not cp.config["AuthorizationKey"]:
            return False
        if profile >= 2 and not self.store().roots("CentralSystemRootCertificate"):
            return False
        if profile == 3 and self.cp_certificate().credentials(self.now_s()) is None:
            return False
        return True

    # What a connection gets -----------------------------------------------------------------------

    def connect_options(self, url, headers):
        """(url, headers, tls context or None) for profile in force; raises OSError when it cannot be
        met (e.g. wss:// needed but the URL is ws://)."""
        profile = self.cp.config["SecurityProfile"]
        headers = dict(headers or {})
        secure = url.startswith("wss://")
        if profile == 0:
            return url, headers, None
        if profile in (1, 2):
            cp_id = url.rstrip("/").split("/")[-1]
            pair = ("%s:%s" % (cp_id, self.cp.config["AuthorizationKey"])).encode()
            headers["Authorization"] = "Basic " + binascii.b2a_base64(pair).decode().strip()
        if profile == 1:
            return url, headers, None
        if not secure:
            raise OSError("SecurityProfile %d needs a wss:// URL, not %s" % (profile, url))
        roots = self._roots()
        if not roots:
            raise OSError("SecurityProfile %d: no CentralSystemRootCertificate installed" % profile)
        key_der = chain_pem = None
        if profile == 3:
            credentials = self.cp_certificate().credentials(self.now_s())
            if credentials is None:
                self.failed(INVALID_CP_CERT, "no valid charge point certificate for SecurityProfile 3")
                raise OSError("SecurityProfile 3: no valid charge point certificate")
            key_der, chain_pem = credentials.key_der, credentials.chain_pem
        return url, headers, self.tls_factory(roots, key_der, chain_pem)

    def _roots(self):
        """DER of the CentralSystemRoots to trust now. After a root rollover (AdditionalRootCertificateCheck,
        M05.FR.11-12) the new root is tried alone: the TLS stack does not say which root verified the
        server, so only that tells whether the old one (kept as a fallback) can go; once the new one
        failed, every root is trusted until the next boot."""
        entries = [e for e in self.store().entries if e.kind == "CentralSystemRootCertificate"]
        fresh = [e.cert.der for e in entries if not e.fallback]
        self._new_root_only = 0 < len(fresh) < len(entries) and not self._new_root_failed
        return fresh if self._new_root_only else [e.cert.der for e in entries]

    def failed(self, kind, why):
        if self._failure != kind:  # once per kind of failure, not at every reconnect attempt
            self._failure = kind
            self.event(kind, why)

    def connected(self):
        self._failure = None
        if self._new_root_only:  # M05.FR.12: the new root verified the server, the fallback goes
            self._new_root_only = False
            self.store().drop_fallback_roots()
            self.cp.log("security", "new CentralSystemRootCertificate in use: fallback root deleted")

    def classify(self, exc):
        """The security event a failed connect means, or None (a plain network failure)."""
        text = str(exc)
        for marker in SSL_FAILURES:
            if marker in text:
                return INVALID_CS_CERT
        if " 401" in text or "HTTP 401" in text:
            return FAILED_AUTH
        return None


class _SecureNetwork:
    """The board's network seen through the security profile in force at each connect."""

    def __init__(self, security, inner):
        self.security = security
        self.inner = inner
        self.profile = 0  # of the connection open now

    async def connect(self, url, subprotocol, headers=None):
        security = self.security
        url, headers, context = security.connect_options(url, headers)
        _use_tls(self.inner, context)
        try:
            conn = await self.inner.connect(url, subprotocol, headers or None)
        except OSError as exc:
            kind = security.classify(exc)
            if kind == INVALID_CS_CERT and security._new_root_only:
                security._new_root_failed = True  # M05.FR.11: the next connect falls back to the old root
            if kind is not None:
                security.failed(kind, str(exc))
            raise
        security.connected()
        self.profile = security.cp.config["SecurityProfile"]
        return conn


def _use_tls(network, context):
    # hal/ws_micro.py takes a factory, hal/ws_cpython.py an ssl context; None leaves the board's own.
    if context is None:
        return
    if hasattr(network, "ssl_context_factory"):
        network.ssl_context_factory = lambda: context
    else:
        network.ssl = context


def tls_context(ca_ders, key_der=None, chain_pem=None):
    """A TLS client context trusting only ca_ders, presenting key_der + chain_pem when given."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.verify_mode = ssl.CERT_REQUIRED
    for ca in ca_ders:
        context.load_verify_locations(cadata=ca)
    if hasattr(ssl, "VERIFY_X509_PARTIAL_CHAIN"):  # CPython/OpenSSL: an installed root that is not
        # self-signed (the new root of a rollover, signed by the old one, M05.FR.09) anchors on its own
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if key_der is not None:
        if hasattr(ssl, "SSLObject"):  # CPython: load_cert_chain reads files only
            _cert_chain_from_files(context, key_der, chain_pem)
        else:  # MicroPython: load_cert_chain takes the contents (DER key, PEM or DER certificate)
            context.load_cert_chain(chain_pem.encode(), key_der)
    return context


def _cert_chain_from_files(context, key_der, chain_pem):
    import os
    import tempfile

    from firmware.security import pem

    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(pem.encode(key_der, "PRIVATE KEY") + chain_pem)
        context.load_cert_chain(path)
    finally:
        os.remove(path)
