# portable
# Charge point configuration: defaults, ChangeConfiguration / GetConfiguration semantics, persistence and
# what a corrupt stored record does. Runs under pytest and under the micropython binary (tests/mpy/run.py).
import json

from firmware import config as cfg
from firmware.config import Config, ConfigError, parse
from hal.memory import MemoryStorage
from tests.portable import raises


def stored(values, version=cfg.VERSION):
    return MemoryStorage({cfg.STORE_KEY: json.dumps({"version": version, "values": values}).encode()})


def record(storage):
    return json.loads(storage.records[cfg.STORE_KEY])


# -- defaults ---------------------------------------------------------------------------------------


def test_defaults_without_storage():
    c = Config()
    assert c["HeartbeatInterval"] == 86400
    assert c["MeterValueSampleInterval"] == 60
    assert c["AuthorizeRemoteTxRequests"] is False
    assert c["LocalAuthorizeOffline"] is True
    assert c["NumberOfConnectors"] == 1
    assert c["SupportedFeatureProfiles"].split(",")[0] == "Core"
    assert c["StopTxnSampledData"] == "Energy.Active.Import.Register"
    assert c.problems == []


def test_every_default_passes_its_own_validation():
    for name in cfg.KEYS:
        kind, default, _access, _limits = cfg.KEYS[name]
        assert parse(name, cfg.render(default)) == default, name


def test_empty_storage_gives_defaults_and_no_problems():
    c = Config(MemoryStorage())
    assert c["HeartbeatInterval"] == 86400 and c.problems == []


def test_overrides_replace_defaults():
    c = Config(None, {"MeterValueSampleInterval": 10})
    assert c["MeterValueSampleInterval"] == 10


# -- ChangeConfiguration ----------------------------------------------------------------------------


def test_set_rw_key_is_accepted_and_typed():
    c = Config()
    assert c.set("HeartbeatInterval", "300") == "Accepted"
    assert c["HeartbeatInterval"] == 300


def test_set_read_only_key_is_rejected_and_unchanged():
    c = Config()
    assert c.set("NumberOfConnectors", "2") == "Rejected"
    assert c.set("SupportedFeatureProfiles", "Core,SmartCharging") == "Rejected"
    assert c["NumberOfConnectors"] == 1
    assert c["SupportedFeatureProfiles"] == cfg.KEYS["SupportedFeatureProfiles"][1]


def test_set_unknown_key_is_not_supported():
    c = Config()
    assert c.set("NoSuchKey", "1") == "NotSupported"
    assert c.set("", "1") == "NotSupported"


def test_int_ranges_are_inclusive():
    c = Config()
    assert c.set("HeartbeatInterval", "1") == "Accepted"
    assert c.set("HeartbeatInterval", "604800") == "Accepted"
    assert c.set("HeartbeatInterval", "0") == "Rejected"
    assert c.set("HeartbeatInterval", "604801") == "Rejected"
    assert c["HeartbeatInterval"] == 604800
    assert c.set("MaxCurrent", "5") == "Rejected"
    assert c.set("MaxCurrent", "6") == "RebootRequired"
    assert c.set("MaxCurrent", "81") == "Rejected"


def test_negative_websocket_ping_interval_is_rejected():
    c = Config()  # fact sheet 4.2: a negative WebSocketPingInterval is rejected, 0 disables
    assert c.set("WebSocketPingInterval", "-1") == "Rejected"
    assert c.set("WebSocketPingInterval", "0") == "Accepted"


def test_int_must_be_plain_decimal_digits():
    c = Config()
    for text in ("", " ", "abc", "1.5", "60.0", "1e3", "0x10", "1_000", " 60", "60 ", "--1", "+", "6 0"):
        assert c.set("MeterValueSampleInterval", text) == "Rejected", text
    assert c["MeterValueSampleInterval"] == 60
    assert c.set("MeterValueSampleInterval", "+30") == "Accepted"
    assert c["MeterValueSampleInterval"] == 30
    assert c.set("MeterValueSampleInterval", "007") == "Accepted"
    assert c["MeterValueSampleInterval"] == 7


def test_huge_integer_text_is_rejected_not_crashing():
    c = Config()
    assert c.set("HeartbeatInterval", "9" * 5000) == "Rejected"


def test_bool_parsing_is_case_insensitive_true_false_only():
    c = Config()
    assert c.set("AuthorizeRemoteTxRequests", "TRUE") == "Accepted"
    assert c["AuthorizeRemoteTxRequests"] is True
    assert c.set("AuthorizeRemoteTxRequests", "False") == "Accepted"
    assert c["AuthorizeRemoteTxRequests"] is False
    for text in ("1", "0", "yes", "", " true", "on"):
        assert c.set("AuthorizeRemoteTxRequests", text) == "Rejected", text
    assert c["AuthorizeRemoteTxRequests"] is False


def test_csl_measurands_are_validated_and_normalised():
    c = Config()
    assert c.set("MeterValuesSampledData", " Energy.Active.Import.Register , Voltage ,") == "Accepted"
    assert c["MeterValuesSampledData"] == "Energy.Active.Import.Register,Voltage"
    assert c.set("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus") == "Rejected"
    assert c.set("StopTxnSampledData", "energy.active.import.register") == "Rejected"  # enum is exact
    assert c["MeterValuesSampledData"] == "Energy.Active.Import.Register,Voltage"
    assert c.set("MeterValuesAlignedData", "") == "Accepted"  # nothing aligned: allowed
    assert c["MeterValuesAlignedData"] == ""


def test_csl_rejects_measurands_the_meter_cannot_report():
    # Valid 1.6 measurands the metering does not produce: accepting them would promise data never sent.
    c = Config()
    for measurand in ("Frequency", "Temperature", "Current.Offered", "Energy.Active.Export.Register"):
        assert c.set("MeterValuesSampledData", measurand) == "Rejected", measurand


def test_parse_raises_config_error_with_the_key_name():
    exc = raises(ConfigError, parse, "ResetRetries", "11")
    assert "ResetRetries" in str(exc)


# -- persistence ------------------------------------------------------------------------------------


def test_accepted_change_survives_a_restart():
    storage = MemoryStorage()
    c = Config(storage)
    assert c.set("MeterValueSampleInterval", "15") == "Accepted"
    assert c.set("LocalPreAuthorize", "true") == "Accepted"
    assert c.set("StopTxnSampledData", "Energy.Active.Import.Register,Voltage") == "Accepted"
    again = Config(storage)
    assert again["MeterValueSampleInterval"] == 15
    assert again["LocalPreAuthorize"] is True
    assert again["StopTxnSampledData"] == "Energy.Active.Import.Register,Voltage"
    assert again.problems == []


def test_record_has_version_and_typed_values():
    storage = MemoryStorage()
    Config(storage).set("HeartbeatInterval", "120")
    rec = record(storage)
    assert rec["version"] == cfg.VERSION
    assert rec["values"]["HeartbeatInterval"] == 120
    Config(storage).set("LocalAuthorizeOffline", "false")
    assert record(storage)["values"] == {"HeartbeatInterval": 120, "LocalAuthorizeOffline": False}


def test_the_record_holds_only_what_was_set_so_unset_keys_follow_the_firmware_default():
    storage = MemoryStorage()
    storage.write(cfg.STORE_KEY, b'{"version": 1, "values": {"HeartbeatInterval": 120}}')
    c = Config(storage)
    assert c["HeartbeatInterval"] == 120
    assert c["MeterValueSampleInterval"] == cfg.spec("MeterValueSampleInterval")[1]
    assert c["AuthorizationKey"] is None  # a secret never set
    c.set("ClockAlignedDataInterval", "900")
    assert sorted(record(storage)["values"]) == ["ClockAlignedDataInterval", "HeartbeatInterval"]
    raises(KeyError, c.__getitem__, "NoSuchKey")


def test_rejected_or_unsupported_change_writes_nothing():
    storage = MemoryStorage()
    c = Config(storage)
    c.set("HeartbeatInterval", "0")
    c.set("NumberOfConnectors", "2")
    c.set("NoSuchKey", "1")
    assert storage.writes == 0


def test_read_only_keys_are_not_persisted():
    storage = MemoryStorage()
    everything = {name: cfg.KEYS[name][1] for name in cfg.KEYS}  # given at build, read-only ones too
    Config(storage, everything).set("HeartbeatInterval", "120")
    values = record(storage)["values"]
    for name in cfg.KEYS:
        assert (name in values) == (cfg.KEYS[name][2] == cfg.RW), name


def test_stored_read_only_value_does_not_hide_the_firmware_value():
    # A record written by an older firmware: the newer firmware's read-only facts win.
    c = Config(stored({"SupportedFeatureProfiles": "Old", "NumberOfConnectors": 4, "HeartbeatInterval": 99}))
    assert c["SupportedFeatureProfiles"] == cfg.KEYS["SupportedFeatureProfiles"][1]
    assert c["NumberOfConnectors"] == 1
    assert c["HeartbeatInterval"] == 99


# -- corrupt stored records -------------------------------------------------------------------------


def defaults_with_problem(storage, word):
    c = Config(storage)
    for name in cfg.KEYS:
        assert c[name] == cfg.KEYS[name][1], name
    assert len(c.problems) >= 1
    assert any(word in p for p in c.problems), c.problems
    return c


def test_bad_json_keeps_defaults_and_says_so():
    for raw in (b"{not json", b"", b"\xff\xfe", b"null", b"[1, 2]", b'"text"', b"42"):
        defaults_with_problem(MemoryStorage({cfg.STORE_KEY: raw}), "unreadable")


def test_deeply_nested_json_keeps_defaults():
    defaults_with_problem(MemoryStorage({cfg.STORE_KEY: b"[" * 100000}), "unreadable")


def test_wrong_version_keeps_defaults():
    c = defaults_with_problem(stored({"HeartbeatInterval": 5}, version=99), "version")
    assert c["HeartbeatInterval"] == 86400
    defaults_with_problem(stored({"HeartbeatInterval": 5}, version="1"), "version")
    defaults_with_problem(MemoryStorage({cfg.STORE_KEY: b'{"values": {}}'}), "version")


def test_missing_or_non_object_values_keep_defaults():
    defaults_with_problem(MemoryStorage({cfg.STORE_KEY: b'{"version": 1}'}), "unreadable")
    for values in ([["HeartbeatInterval", 5]], "HeartbeatInterval", 5, None, [{}]):
        defaults_with_problem(stored(values), "unreadable")


def test_wrong_types_keep_the_default_key_by_key():
    c = Config(stored({
        "HeartbeatInterval": "300",  # string for an int
        "MeterValueSampleInterval": 30,  # fine
        "ConnectionTimeOut": True,  # bool for an int
        "ResetRetries": 2.5,  # float for an int
        "LocalPreAuthorize": "true",  # string for a bool
        "LocalAuthorizeOffline": 0,  # number for a bool
        "StopTxnSampledData": ["Voltage"],  # list for a CSL
        "MeterValuesAlignedData": None,
        "MaxCurrent": {"a": 1},
    }))
    assert c["MeterValueSampleInterval"] == 30
    for name in ("HeartbeatInterval", "ConnectionTimeOut", "ResetRetries", "LocalPreAuthorize",
                 "LocalAuthorizeOffline", "StopTxnSampledData", "MeterValuesAlignedData", "MaxCurrent"):
        assert c[name] == cfg.KEYS[name][1], name
        assert any(name in p for p in c.problems), (name, c.problems)
    assert len(c.problems) == 8


def test_out_of_range_or_invalid_stored_values_keep_the_default():
    c = Config(stored({"HeartbeatInterval": 0, "MaxCurrent": 500, "MeterValuesSampledData": "Bogus",
                       "AuthorizeRemoteTxRequests": True}))
    assert c["HeartbeatInterval"] == 86400
    assert c["MaxCurrent"] == 32
    assert c["MeterValuesSampledData"] == cfg.KEYS["MeterValuesSampledData"][1]
    assert c["AuthorizeRemoteTxRequests"] is True
    assert len(c.problems) == 3
    assert any("HeartbeatInterval" in p for p in c.problems)


def test_unknown_stored_keys_are_ignored_and_reported():
    c = Config(stored({"Bogus": 1, "HeartbeatInterval": 77}))
    assert c["HeartbeatInterval"] == 77
    assert len(c.problems) == 1 and "Bogus" in c.problems[0]


def test_a_corrupt_record_is_replaced_on_the_next_accepted_change():
    storage = MemoryStorage({cfg.STORE_KEY: b"garbage"})
    c = Config(storage)
    assert c.set("HeartbeatInterval", "600") == "Accepted"
    again = Config(storage)
    assert again["HeartbeatInterval"] == 600 and again.problems == []


# -- GetConfiguration -------------------------------------------------------------------------------


def test_entries_without_names_lists_every_key_sorted():
    known, unknown = Config().entries()
    assert [e["key"] for e in known] == sorted(cfg.KEYS)
    assert unknown == []
    for entry in known:
        assert sorted(entry) == ["key", "readonly", "value"]
        assert isinstance(entry["value"], str) and len(entry["value"]) <= 500
        assert len(entry["key"]) <= 50
        assert entry["readonly"] is (cfg.KEYS[entry["key"]][2] != cfg.RW)


def test_empty_name_list_means_every_key():
    known, unknown = Config().entries([])
    assert len(known) == len(cfg.KEYS) and unknown == []


def test_entries_render_values_as_ocpp_text():
    c = Config()
    c.set("LocalPreAuthorize", "TRUE")
    known, _ = c.entries(["LocalPreAuthorize", "HeartbeatInterval", "NumberOfConnectors"])
    assert known == [
        {"key": "LocalPreAuthorize", "readonly": False, "value": "true"},
        {"key": "HeartbeatInterval", "readonly": False, "value": "86400"},
        {"key": "NumberOfConnectors", "readonly": True, "value": "1"},
    ]


def test_entries_report_unknown_names_in_request_order():
    known, unknown = Config().entries(["Nope", "HeartbeatInterval", "AlsoNope"])
    assert [e["key"] for e in known] == ["HeartbeatInterval"]
    assert unknown == ["Nope", "AlsoNope"]


def test_keys_are_case_insensitive_as_cistring50_says():
    c = Config(MemoryStorage())
    assert c.set("meterValueSampleInterval", "15") == "Accepted"
    assert c["MeterValueSampleInterval"] == 15
    known, unknown = c.entries(["HEARTBEATINTERVAL", "NoSuchKey"])
    assert [e["key"] for e in known] == ["HeartbeatInterval"]
    assert unknown == ["NoSuchKey"]


# -- write-only, reboot-required and the newer key types ----------------------------------------------

KEY_HEX = "00112233445566778899AABBCCDDEEFF0011"  # 18 bytes


def test_write_only_key_is_stored_but_never_listed():
    storage = MemoryStorage()
    c = Config(storage)
    assert c.set("authorizationkey", KEY_HEX) == "Accepted"
    assert c["AuthorizationKey"] == KEY_HEX
    known, unknown = c.entries()
    assert "AuthorizationKey" not in [e["key"] for e in known]
    known, unknown = c.entries(["AuthorizationKey", "HeartbeatInterval"])
    assert [e["key"] for e in known] == ["HeartbeatInterval"] and unknown == []
    assert Config(storage)["AuthorizationKey"] == KEY_HEX


def test_write_only_key_takes_16_to_20_bytes_of_hex():
    c = Config()
    for bad in ("", "00" * 15, "00" * 21, "0" * 33, "zz" * 16, "00" * 15 + " 0"):
        assert c.set("AuthorizationKey", bad) == "Rejected", bad
    assert c.set("AuthorizationKey", "ab" * 16) == "Accepted"
    assert c.set("AuthorizationKey", "AB" * 20) == "Accepted"


def test_a_bad_stored_secret_is_reported_without_its_value():
    c = Config(stored({"AuthorizationKey": "SECRETSECRETSECRET"}))
    assert c["AuthorizationKey"] is None
    assert len(c.problems) == 1 and "SECRET" not in c.problems[0]


def test_reboot_required_keys_are_stored_and_say_so():
    storage = MemoryStorage()
    c = Config(storage)
    for name in cfg.REBOOT_REQUIRED:
        low, _high = cfg.KEYS[name][3]
        assert c.set(name, str(low)) == "RebootRequired", name
        assert Config(storage)[name] == low
    assert c.set("ConnectionTimeOut", "0") == "Rejected"


def test_a_bool_the_charger_cannot_honour_is_rejected():
    c = Config()
    assert c.set("StopTransactionOnEVSideDisconnect", "false") == "Rejected"
    assert c.set("StopTransactionOnEVSideDisconnect", "TRUE") == "Accepted"
    assert c["StopTransactionOnEVSideDisconnect"] is True


def test_csl_items_are_unique_and_at_most_max_length():
    c = Config()
    assert c.set("MeterValuesSampledData", "Voltage,Voltage") == "Rejected"
    assert c.set("MeterValuesSampledData", ",".join(cfg.MEASURANDS)) == "Accepted"
    assert c["MeterValuesSampledDataMaxLength"] == len(cfg.MEASURANDS)


def test_connector_phase_rotation_is_one_rotation_per_known_connector():
    c = Config()
    for good in ("0.RST,1.RST", "1.TSR", "0.NotApplicable", "1.Unknown", ""):
        assert c.set("ConnectorPhaseRotation", good) == "Accepted", good
    for bad in ("2.RST", "1.RST,1.RTS", "RST", "1.rst", "1.", ".RST", "0.RST,1.RST,0.RST"):
        assert c.set("ConnectorPhaseRotation", bad) == "Rejected", bad


def test_supported_feature_profiles_name_known_profiles_core_local_list_and_trigger_among_them():
    profiles = Config()["SupportedFeatureProfiles"].split(",")
    assert {"Core", "LocalAuthListManagement", "RemoteTrigger"} <= set(profiles)
    assert set(profiles) <= {"Core", "FirmwareManagement", "LocalAuthListManagement", "Reservation", "SmartCharging",
                             "RemoteTrigger"}  # OCPP 1.6 section 3.3


def test_the_key_table_rows_are_aligned_typed_and_agree_with_the_named_figures():
    from firmware.ocpp import keys16

    for name in keys16.names():
        kind, default, access, limits = keys16.spec(name)
        assert kind in ("bool", "int", "csl", "phases", "hex", "str"), name
        assert access in (cfg.R, cfg.RW, cfg.W), name
        if access != cfg.W and kind != "csl":
            assert parse(name, cfg.render(default)) == default, name  # a default its own rules accept
    assert keys16.spec("SupportedFeatureProfiles")[1] == ",".join(keys16.PROFILES)
    assert keys16.spec("MeterValuesSampledData")[1] == ",".join(keys16.MEASURANDS)
    for name in ("MeterValuesAlignedData", "MeterValuesSampledData", "StopTxnAlignedData", "StopTxnSampledData"):
        assert keys16.spec(name)[3] == (keys16.MEASURANDS, keys16.CSL_MAX_ITEMS), name
        assert keys16.spec(name + "MaxLength")[1] == keys16.CSL_MAX_ITEMS, name
    assert keys16.spec("LocalAuthListMaxLength")[1] == keys16.LOCAL_LIST_MAX
    assert keys16.spec("SendLocalListMaxLength")[1] == keys16.SEND_LIST_MAX
    assert keys16.spec("AuthorizationKey") == ("hex", None, cfg.W, (32, 40))
    assert keys16.spec("StopTransactionOnEVSideDisconnect")[3] == (True,)


def test_key_names_are_matched_whole_and_case_insensitively_never_across_columns_or_comments():
    from firmware.ocpp import keys16

    assert keys16.canonical("heartbeatinterval") == "HeartbeatInterval"
    assert keys16.canonical("HEARTBEATINTERVAL") == "HeartbeatInterval"
    for bad in ("Heartbeat", "HeartbeatIntervalX", "", None, 7, "# Core", "#", "HeartbeatInterval int",
                "heartbeatinterval     ", "name", "\nHeartbeatInterval", "AllowOfflineTxForUnknownId bool"):
        assert keys16.canonical(bad) is None, bad
        raises(KeyError, keys16.spec, bad)
