"""Properties of the local authorization stores (firmware/ocpp/auth.py) for every sequence of inputs."""
from hypothesis import given, strategies as st

from firmware.ocpp.auth import AuthCache, unpack
from firmware.ocpp.local_list import LocalList
from hal.memory import MemoryStorage

T0 = 1700000000
MAX_LENGTH = 5
SEND_MAX_LENGTH = 4

# Few distinct idTags in both cases, so updates, deletes and case-folded duplicates happen often.
id_tags = st.sampled_from(["a", "A", "b", "B", "c", "d", "e", "f", "04A2B3C4D5E6F7"])
infos = st.fixed_dictionaries(
    {"status": st.sampled_from(["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"])},
    optional={"expiryDate": st.sampled_from(["2023-11-14T22:13:30Z", "2030-01-01T00:00:00+01:00"]),
              "parentIdTag": st.sampled_from(["P", "fleet"])})
authorization_data = st.fixed_dictionaries({"idTag": id_tags}, optional={"idTagInfo": infos})
send_local_lists = st.tuples(
    st.sampled_from(["Full", "Differential"]),
    st.integers(min_value=-2, max_value=12),
    st.lists(authorization_data, max_size=SEND_MAX_LENGTH + 1))


class ListModel:
    """What SendLocalList does, written as plainly as possible: a dict of lower-cased idTag -> info."""

    def __init__(self):
        self.version = 0
        self.entries = {}

    def apply(self, update_type, version, data):
        if update_type == "Differential" and version <= self.version:
            return "VersionMismatch"
        keys = [item["idTag"].lower() for item in data]
        if len(data) > SEND_MAX_LENGTH or len(set(keys)) != len(keys):
            return "Failed"
        if update_type == "Full" and any("idTagInfo" not in item for item in data):
            return "Failed"
        new = {} if update_type == "Full" else dict(self.entries)
        for key, item in zip(keys, data):
            if "idTagInfo" in item:
                new[key] = item["idTagInfo"]
            else:
                new.pop(key, None)
        if len(new) > MAX_LENGTH or version < 0 or (version == 0 and new):
            return "Failed"
        self.version = version if new else 0
        self.entries = new
        return "Accepted"


def listed_infos(local):
    return {key: unpack(local.entries[key])[0] for key in local.entries}


@given(st.lists(send_local_lists, max_size=25))
def test_send_local_list_behaves_like_a_dict_and_survives_a_reboot(operations):
    storage = MemoryStorage()
    local = LocalList(storage, MAX_LENGTH, SEND_MAX_LENGTH)
    model = ListModel()
    for update_type, version, data in operations:
        assert local.apply(update_type, version, data) == model.apply(update_type, version, data)
        assert local.version() == model.version
        assert listed_infos(local) == model.entries
        assert len(local.entries) <= MAX_LENGTH
        for key in model.entries:  # every listed idTag is found, in any case
            assert local.lookup(key.upper(), T0) == model.entries[key]
        rebooted = LocalList(storage, MAX_LENGTH, SEND_MAX_LENGTH)
        assert rebooted.problems == []
        assert rebooted.version() == local.version()
        assert rebooted.entries == local.entries


cache_operations = st.one_of(
    st.tuples(st.just("update"), id_tags, infos, st.integers(min_value=0, max_value=60)),
    st.tuples(st.just("lookup"), id_tags, st.none(), st.integers(min_value=0, max_value=60)),
    st.tuples(st.just("clear"), st.none(), st.none(), st.just(0)),
)


@given(st.integers(min_value=1, max_value=4), st.lists(cache_operations, max_size=30))
def test_cache_never_overfills_keeps_the_newest_answer_and_survives_a_reboot(max_entries, operations):
    storage = MemoryStorage()
    cache = AuthCache(storage, max_entries)
    for kind, id_tag, info, dt_s in operations:
        if kind == "update":
            cache.update(id_tag, info, T0 + dt_s)
            # The entry just stored is never the one evicted, and reads back as given (or Expired).
            got = cache.lookup(id_tag, T0 + dt_s)
            assert got is not None
            assert got["status"] == info["status"] or got["status"] == "Expired"
        elif kind == "lookup":
            cache.lookup(id_tag, T0 + dt_s)
        else:
            cache.clear()
        assert len(cache.entries) <= max_entries
        rebooted = AuthCache(storage, max_entries)
        assert rebooted.problems == []
        assert rebooted.entries == cache.entries
