# Who may charge: an idTag presented at the charger (or by RemoteStartTransaction with
# AuthorizeRemoteTxRequests) is decided from the Local Authorization List and the Authorization Cache
# (firmware/ocpp/auth.py, OCPP 1.6 section 3.5) or asked of the CSMS with Authorize.req; offline, the
# local knowledge and AllowOfflineTxForUnknownId decide. Every IdTagInfo the CSMS gives (Authorize,
# StartTransaction and StopTransaction .conf) is learnt here.
from firmware import timefmt
from firmware.ocpp import auth
from firmware.ocpp.link import CallFailed

CONNECTOR = 1
CACHE_ENTRIES = 50  # idTags the Authorization Cache holds; about 100 bytes each in one storage record


class Authorizer:
    def __init__(self, cp):
        self.cp = cp  # the ChargePoint: config, storage, clock, link, adapter, log, tx, charger, ...
        self.cache = auth.AuthCache(cp.storage, CACHE_ENTRIES)
        for problem in self.cache.problems:
            cp.log("auth", problem)
        # The Local Authorization List exists once the CSMS sent one (or one is stored): until then it is
        # None, an empty list, and its module is not loaded (firmware/ocpp/local_list.py).
        self.local_list = None
        if cp.storage is not None and cp.storage.read(auth.LIST_KEY) is not None:
            self._list()

    def _list(self):
        if self.local_list is None:
            from firmware.ocpp.local_list import LocalList

            config = self.cp.config
            self.local_list = LocalList(self.cp.storage, config["LocalAuthListMaxLength"],
                                        config["SendLocalListMaxLength"])
            for problem in self.local_list.problems:
                self.cp.log("auth", problem)
        return self.local_list

    async def present(self, id_tag):
        """An idTag at the reader: start charging if it may (section 3.5), or stop the running
        transaction if it started it (same idTag, or same parentIdTag). True if the tag was accepted."""
        cp = self.cp
        if cp.tx is not None:
            return await self._during_tx(cp.tx, id_tag)
        if not cp.availability.operative(CONNECTOR):
            cp.log("authorize", "refused: the connector is Unavailable")
            return False
        accepted, info = await self.authorize(id_tag)
        if accepted and (cp.tx is not None or not cp.availability.operative(CONNECTOR)):
            return False  # things changed while the CSMS was asked
        if accepted:
            cp.pending_id_tag = id_tag
            cp.pending_parent = info.get("parentIdTag") if info else None
            cp.charger.authorize()
        return accepted

    async def _during_tx(self, tx, id_tag):
        cp = self.cp
        if _same(id_tag, tx.id_tag):
            cp.charger.stop("Local")  # the driver's own tag ends it, no CSMS needed
            return True
        if tx.parent_id_tag is None:
            return False
        info = self.lookup(id_tag)
        if info is None and self.online():
            try:
                info = await self.ask(id_tag)
            except CallFailed as exc:
                cp.log("authorize", str(exc))
        if info is not None and _same(info.get("parentIdTag"), tx.parent_id_tag) and cp.tx is tx:
            cp.charger.stop("Local")  # the same group (section 3.5.2: parentIdTag)
            return True
        return False

    def now_s(self):
        return timefmt.parse(self.cp.clock.utc())

    def online(self):
        return self.cp.booted and self.cp.link.online.is_set()

    def lookup(self, id_tag):
        """What the list (first) or the cache says of id_tag (an IdTagInfo), or None (section 3.5.3)."""
        now_s = self.now_s()
        config = self.cp.config
        info = None
        if self.local_list is not None and config["LocalAuthListEnabled"]:
            info = self.local_list.lookup(id_tag, now_s)
        if info is None and config["AuthorizationCacheEnabled"]:
            info = self.cache.lookup(id_tag, now_s)
        return info

    async def authorize(self, id_tag):
        """(accepted, IdTagInfo or None) for an idTag that wants to start charging (section 3.5)."""
        online = self.online()
        if not online and self.cp.link.online.is_set():
            # Connected but BootNotification not Accepted: no request but BootNotification (section
            # 4.2.1), and not offline either, so no local decision.
            self.cp.log("authorize", "refused: BootNotification not accepted yet")
            return False, None
        verdict, info = auth.decide(id_tag, self.now_s(), online, self.cp.config, self.cache, self.local_list)
        if verdict == "ask":
            try:
                info = await self.ask(id_tag)
                verdict = "accept" if info["status"] == "Accepted" else "reject"
            except CallFailed as exc:
                self.cp.log("authorize", str(exc))
                if exc.code is not None:
                    return False, None  # the CSMS answered with a CALLERROR: no local override
                # No answer (offline, timeout): decide as offline (section 3.5.4).
                verdict, info = auth.decide(id_tag, self.now_s(), False, self.cp.config, self.cache,
                                            self.local_list)
        self.cp.log("authorize", "%s: %s" % (id_tag, verdict))
        return verdict == "accept", info

    async def ask(self, id_tag):
        """Authorize.req; learns and returns the IdTagInfo. Raises CallFailed."""
        action, payload = self.cp.adapter.authorize(id_tag)
        info = self.cp.adapter.id_tag_info(await self.cp.link.call(action, payload))
        try:
            auth.check_info(info)
        except auth.AuthError as exc:  # a CSMS that breaks the schema: its answer counts as a refusal
            raise CallFailed(action, "malformed idTagInfo: %s" % exc, "FormationViolation")
        self.learn(id_tag, info)
        return info

    def learn(self, id_tag, info):
        """An IdTagInfo from the CSMS: into the cache; a disagreement with the list is reported."""
        if info is None:
            return
        try:
            if auth.learn(id_tag, info, self.now_s(), self.cp.config, self.cache, self.local_list):
                self.cp.conflict(id_tag)
        except auth.AuthError as exc:
            self.cp.log("auth", "IdTagInfo for %s not learnt: %s" % (id_tag, exc))

    def clear_cache(self):
        """ClearCache.req (section 5.4): Accepted, or Rejected when the empty cache cannot be stored."""
        last = _last(self.cache.problems)
        self.cache.clear()
        return "Accepted" if _last(self.cache.problems) is last else "Rejected"

    def list_version(self):
        """GetLocalListVersion (5.10): -1 when the list is not enabled, 0 while there is none."""
        enabled = self.cp.config["LocalAuthListEnabled"]
        if self.local_list is None:
            return 0 if enabled else -1
        return self.local_list.version(enabled)

    def send_local_list(self, update_type, version, entries):
        local_list = self._list()
        last = _last(local_list.problems)
        status = local_list.apply(update_type, version, entries, self.cp.config["LocalAuthListEnabled"])
        if _last(local_list.problems) is not last:
            self.cp.log("auth", local_list.problems[-1])
        return status


def _last(problems):
    return problems[-1] if problems else None


def _same(a, b):
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()  # CiString: case-insensitive
