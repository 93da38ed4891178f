# portable
# OCPP 1.6 local authorization (section 3.5): Authorization Cache, Local Authorization List, decide().
import json

from firmware.ocpp.auth import (
    AuthCache, AuthError, decide, learn, CACHE_KEY, LIST_KEY,
)
from firmware.ocpp.local_list import LocalList
from hal.memory import MemoryStorage
from tests.portable import raises

T0 = 1700000000  # 2023-11-14T22:13:20Z
ACCEPTED = {"status": "Accepted"}
BLOCKED = {"status": "Blocked"}
ALL_ON = {
    "LocalAuthListEnabled": True, "AuthorizationCacheEnabled": True, "LocalPreAuthorize": True,
    "LocalAuthorizeOffline": True, "AllowOfflineTxForUnknownId": False,
}


def config(**changes):
    values = dict(ALL_ON)
    for name in changes:
        values[name] = changes[name]
    return values


def listed(entries, version=1, max_length=10):
    local = LocalList(MemoryStorage(), max_length)
    data = []
    for id_tag in entries:
        data.append({"idTag": id_tag, "idTagInfo": entries[id_tag]})
    assert local.apply("Full", version, data) == "Accepted"
    return local


class FailingStorage(MemoryStorage):
    def write(self, key, data):
        raise OSError(28)  # ENOSPC


# Authorization Cache (3.5.1) --------------------------------------------------------------------------

def test_cache_remembers_id_tag_info_case_insensitively():
    cache = AuthCache(MemoryStorage(), 4)
    cache.update("ABC123", {"status": "Accepted", "parentIdTag": "FLEET"}, T0)
    assert cache.lookup("abc123", T0) == {"status": "Accepted", "parentIdTag": "FLEET"}
    assert cache.lookup("other", T0) is None


def test_cache_is_updated_by_every_new_id_tag_info():
    cache = AuthCache(MemoryStorage(), 4)
    cache.update("tag", ACCEPTED, T0)
    cache.update("TAG", BLOCKED, T0 + 1)
    assert cache.lookup("tag", T0 + 2)["status"] == "Blocked"
    assert len(cache.entries) == 1


def test_cache_entry_reads_expired_after_expiry_date_and_is_changed_in_the_cache():
    storage = MemoryStorage()
    cache = AuthCache(storage, 4)
    cache.update("tag", {"status": "Accepted", "expiryDate": "2023-11-14T22:13:30Z"}, T0)
    assert cache.lookup("tag", T0 + 9)["status"] == "Accepted"
    assert cache.lookup("tag", T0 + 10) == {"status": "Expired", "expiryDate": "2023-11-14T22:13:30Z"}
    assert AuthCache(storage, 4).lookup("tag", T0)["status"] == "Expired"  # stays Expired


def test_expiry_date_is_read_with_its_utc_offset():
    cache = AuthCache(MemoryStorage(), 4)
    cache.update("tag", {"status": "Accepted", "expiryDate": "2023-11-15T00:13:30.5+02:00"}, T0)
    assert cache.lookup("tag", T0 + 9)["status"] == "Accepted"
    assert cache.lookup("tag", T0 + 10)["status"] == "Expired"


def test_clear_cache_forgets_everything_also_after_reboot():
    storage = MemoryStorage()
    cache = AuthCache(storage, 4)
    cache.update("a", ACCEPTED, T0)
    cache.clear()
    assert cache.lookup("a", T0) is None
    assert AuthCache(storage, 4).lookup("a", T0) is None


def test_full_cache_drops_a_not_valid_entry_before_any_valid_one():
    cache = AuthCache(MemoryStorage(), 3)
    cache.update("old-valid", ACCEPTED, T0)
    cache.update("blocked", BLOCKED, T0)
    cache.update("new-valid", ACCEPTED, T0)
    cache.update("newest", ACCEPTED, T0)
    assert cache.lookup("blocked", T0) is None
    assert cache.lookup("old-valid", T0) is not None


def test_full_cache_counts_an_entry_expired_by_time_as_not_valid():
    cache = AuthCache(MemoryStorage(), 2)
    cache.update("valid", ACCEPTED, T0)
    cache.update("expiring", {"status": "Accepted", "expiryDate": "2023-11-14T22:13:25Z"}, T0)
    cache.update("third", ACCEPTED, T0 + 10)
    assert cache.lookup("expiring", T0 + 10) is None
    assert cache.lookup("valid", T0 + 10) is not None


def test_full_cache_of_valid_entries_drops_the_least_recently_used():
    cache = AuthCache(MemoryStorage(), 2)
    cache.update("first", ACCEPTED, T0)
    cache.update("second", ACCEPTED, T0)
    cache.lookup("first", T0)  # used again: now "second" is the oldest
    cache.update("third", ACCEPTED, T0)
    assert cache.lookup("second", T0) is None
    assert cache.lookup("first", T0) is not None and cache.lookup("third", T0) is not None


def test_cache_survives_a_reboot_with_its_use_order():
    storage = MemoryStorage()
    cache = AuthCache(storage, 2)
    cache.update("first", ACCEPTED, T0)
    cache.update("second", ACCEPTED, T0)
    cache.lookup("first", T0)
    again = AuthCache(storage, 2)
    again.update("third", ACCEPTED, T0)
    assert again.lookup("second", T0) is None
    assert again.lookup("first", T0) == ACCEPTED


def test_cache_refuses_bad_id_tag_info_without_changing():
    cache = AuthCache(MemoryStorage(), 2)
    bad = ({"status": "Maybe"}, {"status": "Accepted", "expiryDate": "tomorrow"}, None,
           {"status": "Accepted", "expiryDate": "2023-11-14T22:13:30"},  # no zone: unknown local time
           {"status": "Accepted", "parentIdTag": "x" * 21})
    for info in bad:
        raises(AuthError, cache.update, "tag", info, T0)
    raises(AuthError, cache.update, "x" * 21, ACCEPTED, T0)
    raises(AuthError, cache.update, "caf\u00e9", ACCEPTED, T0)
    assert cache.entries == {}


def test_corrupt_cache_record_gives_an_empty_cache_and_a_problem():
    records = (b"{not json", b"\xff\xfe", b"[]", b'{"version": 99, "entries": {}}',
               b'{"version": 1, "entries": {"tag": [{"status": "Maybe"}, 1]}}',
               b'{"version": 1, "entries": {"TAG": [{"status": "Accepted"}, 1]}}',
               b'{"version": 1, "entries": {"tag": [{"status": "Accepted"}, -1]}}',
               b'{"version": 1, "entries": {"tag": {"status": "Accepted"}}}')
    for raw in records:
        cache = AuthCache(MemoryStorage({CACHE_KEY: raw}), 4)
        assert cache.entries == {}, raw
        assert len(cache.problems) == 1 and "unreadable" in cache.problems[0], raw
        cache.update("tag", ACCEPTED, T0)  # and it works on
        assert cache.lookup("tag", T0) == ACCEPTED


def test_corrupt_packed_cache_entries_give_an_empty_cache_and_a_problem():
    # Version 2 keeps an entry as "<use tick><TAB>status<TAB>expiryDate<TAB>parentIdTag" (auth.pack()).
    for entry in ("1\tMaybe\t\t", "x\tAccepted\t\t", "-1\tAccepted\t\t", "1\tAccepted\t\t\t", "1\tAccepted",
                  "1\tAccepted\ttomorrow\t", "1\tAccepted\t\t" + "p" * 21, 7, ["1", "Accepted"]):
        raw = json.dumps({"version": 2, "entries": {"tag": entry}}).encode()
        cache = AuthCache(MemoryStorage({CACHE_KEY: raw}), 4)
        assert cache.entries == {} and "unreadable" in cache.problems[0], entry


def test_records_of_the_older_layout_are_read_and_written_again_in_the_new():
    # Version 1 (an object per entry) is what a charger updated from an older firmware has in flash.
    storage = MemoryStorage({
        CACHE_KEY: b'{"version": 1, "entries": {"tag": [{"status": "Accepted", "parentIdTag": "P"}, 3]}}',
        LIST_KEY: b'{"version": 1, "listVersion": 4, "entries": {"a": {"status": "Blocked"}}}'})
    cache, local = AuthCache(storage, 4), LocalList(storage, 10)
    assert cache.problems == [] and local.problems == [] and local.version() == 4
    assert local.lookup("A", T0) == BLOCKED
    assert cache.lookup("TAG", T0) == {"status": "Accepted", "parentIdTag": "P"}
    assert json.loads(storage.read(CACHE_KEY)) == {"version": 2, "entries": {"tag": "4\tAccepted\t\tP"}}


def test_stored_cache_longer_than_the_limit_keeps_the_most_recently_used():
    storage = MemoryStorage()
    big = AuthCache(storage, 3)
    for id_tag in ("a", "b", "c"):
        big.update(id_tag, ACCEPTED, T0)
    small = AuthCache(storage, 2)
    assert sorted(small.entries) == ["b", "c"] and len(small.problems) == 1


def test_cache_write_failure_is_reported_and_the_cache_works_on():
    cache = AuthCache(FailingStorage(), 2)
    cache.update("tag", ACCEPTED, T0)
    assert cache.lookup("tag", T0) == ACCEPTED
    assert "writing auth_cache failed" in cache.problems[0]


# Local Authorization List (3.5.2, 5.15, 5.10) --------------------------------------------------------

def test_full_update_replaces_the_list_and_sets_the_version():
    local = listed({"a": ACCEPTED, "b": BLOCKED}, version=3)
    assert local.apply("Full", 4, [{"idTag": "c", "idTagInfo": ACCEPTED}]) == "Accepted"
    assert local.version() == 4
    assert local.lookup("a", T0) is None and local.lookup("C", T0) == ACCEPTED


def test_full_update_may_go_back_to_an_older_version():
    local = listed({"a": ACCEPTED}, version=7)
    assert local.apply("Full", 2, [{"idTag": "a", "idTagInfo": BLOCKED}]) == "Accepted"
    assert local.version() == 2


def test_differential_update_adds_updates_and_deletes():
    local = listed({"a": ACCEPTED, "b": ACCEPTED}, version=1)
    status = local.apply("Differential", 2, [
        {"idTag": "A", "idTagInfo": BLOCKED},  # update
        {"idTag": "b"},  # no idTagInfo: delete (7.1)
        {"idTag": "c", "idTagInfo": ACCEPTED},  # add
        {"idTag": "never-listed"},  # deleting what is not there changes nothing
    ])
    assert status == "Accepted" and local.version() == 2
    assert local.lookup("a", T0) == BLOCKED and local.lookup("b", T0) is None
    assert local.lookup("c", T0) == ACCEPTED and len(local.entries) == 2


def test_differential_update_not_newer_than_the_list_is_a_version_mismatch():
    local = listed({"a": ACCEPTED}, version=5)
    add = [{"idTag": "b", "idTagInfo": ACCEPTED}]
    assert local.apply("Differential", 5, add) == "VersionMismatch"
    assert local.apply("Differential", 4, add) == "VersionMismatch"
    assert local.lookup("b", T0) is None and local.version() == 5
    empty = LocalList(MemoryStorage(), 10)
    assert empty.apply("Differential", 0, add) == "VersionMismatch"
    assert empty.apply("Differential", -1, add) == "VersionMismatch"


def test_update_that_would_overfill_the_list_fails_and_changes_nothing():
    local = listed({"a": ACCEPTED, "b": ACCEPTED}, version=1, max_length=3)
    more = [{"idTag": "c", "idTagInfo": ACCEPTED}, {"idTag": "d", "idTagInfo": ACCEPTED}]
    assert local.apply("Differential", 2, more) == "Failed"
    assert local.version() == 1 and sorted(local.entries) == ["a", "b"]
    # Replacing an entry does not grow the list.
    assert local.apply("Differential", 2, [{"idTag": "a", "idTagInfo": BLOCKED}, more[0]]) == "Accepted"


def test_update_longer_than_send_local_list_max_length_fails():
    local = LocalList(MemoryStorage(), 10, send_max_length=2)
    three = [{"idTag": t, "idTagInfo": ACCEPTED} for t in ("a", "b", "c")]
    assert local.apply("Full", 1, three) == "Failed"
    assert local.apply("Full", 1, three[:2]) == "Accepted"


def test_malformed_updates_fail_and_change_nothing():
    local = listed({"a": ACCEPTED}, version=1)
    bad = (
        ("Full", 2, [{"idTag": "b"}]),  # idTagInfo required in a Full update (7.1)
        ("Full", 2, [{"idTag": "b", "idTagInfo": ACCEPTED}, {"idTag": "B", "idTagInfo": BLOCKED}]),
        ("Full", 2, [{"idTag": "x" * 21, "idTagInfo": ACCEPTED}]),
        ("Full", 2, [{"idTag": "b", "idTagInfo": {"status": "Accepted", "expiryDate": "soon"}}]),
        ("Full", 2, ["b"]),
        ("Full", 2, {"idTag": "b"}),
        ("Sometimes", 2, []),
        ("Full", "2", []),
        ("Full", True, []),
        ("Full", -1, []),  # -1 means "no list support" (5.10)
        ("Full", 0, [{"idTag": "b", "idTagInfo": ACCEPTED}]),  # 0 means "empty" (5.10)
        ("Differential", 2, [{"idTag": "b"}, {"idTag": "b", "idTagInfo": ACCEPTED}]),
    )
    for update_type, version, entries in bad:
        assert local.apply(update_type, version, entries) == "Failed", (update_type, version, entries)
    assert local.version() == 1 and local.lookup("a", T0) == ACCEPTED and len(local.entries) == 1


def test_an_empty_list_reports_version_0():
    local = listed({"a": ACCEPTED}, version=4)
    assert local.apply("Full", 9, []) == "Accepted"
    assert local.version() == 0
    local = listed({"a": ACCEPTED}, version=4)
    assert local.apply("Differential", 5, [{"idTag": "a"}]) == "Accepted"
    assert local.version() == 0
    assert local.apply("Full", 0, None) == "Accepted"  # localAuthorizationList is optional
    assert LocalList(MemoryStorage(), 10).version() == 0


def test_a_disabled_list_reports_minus_1_and_refuses_updates_as_not_supported():
    local = listed({"a": ACCEPTED}, version=4)
    assert local.version(enabled=False) == -1
    assert local.apply("Full", 5, [], enabled=False) == "NotSupported"
    assert local.version() == 4


def test_listed_entry_past_expiry_reads_expired_but_the_list_is_not_changed():
    local = listed({"a": {"status": "Accepted", "expiryDate": "2023-11-14T22:13:30Z"}})
    assert local.lookup("a", T0 + 30)["status"] == "Expired"
    assert local.lookup("a", T0)["status"] == "Accepted"  # 3.5.2: only SendLocalList changes it


def test_list_survives_a_reboot():
    storage = MemoryStorage()
    local = LocalList(storage, 10)
    local.apply("Full", 3, [{"idTag": "a", "idTagInfo": {"status": "Accepted", "parentIdTag": "P"}}])
    again = LocalList(storage, 10)
    assert again.version() == 3 and again.lookup("A", T0) == {"status": "Accepted", "parentIdTag": "P"}


def test_corrupt_list_record_gives_an_empty_list_version_0_and_a_problem():
    records = (b"{", b'{"version": 1, "listVersion": 2}',
               b'{"version": 1, "listVersion": 0, "entries": {"a": {"status": "Accepted"}}}',
               b'{"version": 1, "listVersion": 2, "entries": {}}',
               b'{"version": 1, "listVersion": "2", "entries": {"a": {"status": "Accepted"}}}',
               b'{"version": 1, "listVersion": 2, "entries": {"a": {"status": "Fine"}}}')
    for raw in records:
        local = LocalList(MemoryStorage({LIST_KEY: raw}), 10)
        assert local.version() == 0 and local.entries == {}, raw
        assert len(local.problems) == 1, raw


def test_list_update_that_cannot_be_stored_fails_and_changes_nothing():
    local = LocalList(FailingStorage(), 10)
    assert local.apply("Full", 1, [{"idTag": "a", "idTagInfo": ACCEPTED}]) == "Failed"
    assert local.version() == 0 and local.lookup("a", T0) is None
    assert "writing local_list failed" in local.problems[-1]


def test_conflict_when_the_csms_disagrees_with_the_list():
    local = listed({"a": ACCEPTED, "b": {"status": "Accepted", "parentIdTag": "P"}})
    assert not local.conflict("a", ACCEPTED, T0)
    assert not local.conflict("a", {"status": "ConcurrentTx"}, T0)
    assert local.conflict("a", BLOCKED, T0)
    assert local.conflict("b", ACCEPTED, T0)  # parentIdTag differs
    assert not local.conflict("b", {"status": "Accepted", "parentIdTag": "p"}, T0)
    assert not local.conflict("unlisted", BLOCKED, T0)


# learn(): every IdTagInfo from the CSMS ----------------------------------------------------------------

def test_learn_puts_id_tag_info_in_the_cache():
    cache = AuthCache(MemoryStorage(), 4)
    assert learn("tag", BLOCKED, T0, config(), cache, listed({})) is False
    assert cache.lookup("tag", T0) == BLOCKED


def test_learn_keeps_listed_id_tags_out_of_the_cache_and_reports_conflicts():
    cache = AuthCache(MemoryStorage(), 4)
    local = listed({"a": ACCEPTED})
    assert learn("A", ACCEPTED, T0, config(), cache, local) is False
    assert learn("a", BLOCKED, T0, config(), cache, local) is True  # LocalListConflict
    assert cache.entries == {}  # 3.5.3
    assert local.lookup("a", T0) == ACCEPTED  # and the list is not changed


def test_learn_with_the_cache_disabled_or_absent_stores_nothing():
    cache = AuthCache(MemoryStorage(), 4)
    learn("tag", ACCEPTED, T0, config(AuthorizationCacheEnabled=False), cache, None)
    learn("tag", ACCEPTED, T0, {}, cache, None)
    assert cache.entries == {}
    assert learn("tag", None, T0, config(), cache, None) is False  # a reply without idTagInfo
    raises(AuthError, learn, "tag", {"status": "Nope"}, T0, config(), cache, None)
    raises(AuthError, learn, "", ACCEPTED, T0, config(), cache, None)


# decide(): every branch of 3.5 ----------------------------------------------------------------------------

def cached(entries):
    cache = AuthCache(MemoryStorage(), 10)
    for id_tag in entries:
        cache.update(id_tag, entries[id_tag], T0)
    return cache


def test_decide_rejects_an_id_tag_no_csms_could_accept():
    assert decide("x" * 21, T0, True, config(), cached({}), listed({})) == ("reject", None)


def test_decide_online_asks_the_csms_about_an_unknown_id_tag():
    assert decide("tag", T0, True, config(), cached({}), listed({})) == ("ask", None)


def test_decide_online_with_local_pre_authorize_accepts_a_listed_or_cached_id_tag_at_once():
    assert decide("a", T0, True, config(), cached({}), listed({"a": ACCEPTED})) == ("accept", ACCEPTED)
    assert decide("c", T0, True, config(), cached({"c": ACCEPTED}), listed({})) == ("accept", ACCEPTED)


def test_decide_online_without_local_pre_authorize_asks():
    cfg = config(LocalPreAuthorize=False)
    assert decide("a", T0, True, cfg, cached({"a": ACCEPTED}), listed({"a": ACCEPTED})) == ("ask", None)


def test_decide_online_asks_about_a_not_valid_entry():
    assert decide("b", T0, True, config(), cached({"b": BLOCKED}), listed({})) == ("ask", None)
    assert decide("b", T0, True, config(), cached({}), listed({"b": BLOCKED})) == ("ask", None)
    expiring = {"status": "Accepted", "expiryDate": "2023-11-14T22:13:30Z"}
    assert decide("e", T0 + 60, True, config(), cached({"e": expiring}), listed({})) == ("ask", None)


def test_decide_offline_accepts_a_listed_or_cached_id_tag_with_local_authorize_offline():
    assert decide("a", T0, False, config(), cached({}), listed({"a": ACCEPTED})) == ("accept", ACCEPTED)
    assert decide("c", T0, False, config(), cached({"c": ACCEPTED}), listed({})) == ("accept", ACCEPTED)


def test_decide_offline_without_local_authorize_offline_treats_a_valid_id_tag_as_unknown():
    cfg = config(LocalAuthorizeOffline=False)
    assert decide("a", T0, False, cfg, cached({}), listed({"a": ACCEPTED})) == ("reject", None)
    cfg["AllowOfflineTxForUnknownId"] = True
    assert decide("a", T0, False, cfg, cached({}), listed({"a": ACCEPTED})) == ("accept", None)


def test_decide_offline_rejects_a_not_accepted_entry_even_for_unknown_ids_allowed():
    cfg = config(AllowOfflineTxForUnknownId=True)
    for status in ("Blocked", "Invalid", "Expired", "ConcurrentTx"):
        info = {"status": status}
        assert decide("b", T0, False, cfg, cached({}), listed({"b": info})) == ("reject", info)
        assert decide("b", T0, False, cfg, cached({"b": info}), listed({})) == ("reject", info)


def test_decide_offline_rejects_an_id_tag_expired_by_time():
    expiring = {"status": "Accepted", "expiryDate": "2023-11-14T22:13:30Z"}
    verdict, info = decide("e", T0 + 60, False, config(AllowOfflineTxForUnknownId=True),
                           cached({}), listed({"e": expiring}))
    assert verdict == "reject" and info["status"] == "Expired"
    verdict, info = decide("e", T0 + 60, False, config(), cached({"e": expiring}), listed({}))
    assert verdict == "reject" and info["status"] == "Expired"


def test_decide_offline_unknown_id_tag_follows_allow_offline_tx_for_unknown_id():
    cfg = config(AllowOfflineTxForUnknownId=True)
    assert decide("new", T0, False, cfg, cached({}), listed({})) == ("accept", None)
    assert decide("new", T0, False, config(), cached({}), listed({})) == ("reject", None)


def test_decide_the_list_takes_precedence_over_the_cache():
    cache = cached({"a": ACCEPTED, "b": BLOCKED})
    local = listed({"a": BLOCKED, "b": ACCEPTED})
    assert decide("a", T0, False, config(), cache, local) == ("reject", BLOCKED)
    assert decide("b", T0, False, config(), cache, local) == ("accept", ACCEPTED)


def test_decide_ignores_a_disabled_or_absent_list_and_cache():
    cache = cached({"c": ACCEPTED})
    local = listed({"a": ACCEPTED})
    off = config(LocalAuthListEnabled=False, AuthorizationCacheEnabled=False)
    assert decide("a", T0, False, off, cache, local) == ("reject", None)
    assert decide("c", T0, False, off, cache, local) == ("reject", None)
    absent = {"LocalPreAuthorize": True, "LocalAuthorizeOffline": True}  # optional keys missing
    assert decide("c", T0, True, absent, cache, local) == ("ask", None)
    assert decide("c", T0, False, config(), None, None) == ("reject", None)
