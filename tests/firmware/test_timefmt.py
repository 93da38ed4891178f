# portable
# OCPP dateTime text <-> UTC epoch seconds without the datetime module.
from firmware.timefmt import civil_from_days, days_from_civil, format_utc, parse, weekday
from tests.portable import raises


def test_known_instants_parse_to_their_epoch_seconds():
    assert parse("1970-01-01T00:00:00Z") == 0
    assert parse("2024-03-10T23:55:00Z") == 1710114900
    assert parse("2000-02-29T12:00:00Z") == 951825600
    assert parse("1969-12-31T23:59:59Z") == -1
    assert parse("2100-03-01T00:00:00Z") == 4107542400  # 2100 is not a leap year


def test_offsets_move_the_instant_to_utc():
    assert parse("2024-03-11T00:55:00+01:00") == parse("2024-03-10T23:55:00Z")
    assert parse("2024-03-10T18:25:00-05:30") == parse("2024-03-10T23:55:00Z")
    assert parse("2024-03-10T23:55:00+00:00") == parse("2024-03-10T23:55:00Z")


def test_fractions_of_a_second_are_dropped_and_lowercase_separators_accepted():
    assert parse("2024-03-10T23:55:00.999Z") == 1710114900
    assert parse("2024-03-10T23:55:00.1234567+00:00") == 1710114900
    assert parse("2024-03-10t23:55:00z") == 1710114900


def test_a_leap_second_counts_as_the_next_minute():
    assert parse("2016-12-31T23:59:60Z") == parse("2017-01-01T00:00:00Z")


def test_bad_datetimes_are_refused_with_a_value_error():
    bad = (
        "2024-03-10T23:55:00",  # no offset: local time of an unknown zone
        "2024-03-10", "", "2024-3-10T23:55:00Z", "2024-03-10 23:55:00Z", "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z", "2024-03-10T24:00:00Z",
        "2024-03-10T23:60:00Z", "2024-03-10T23:55:61Z", "2024-03-10T23:55:00.Z", "2024-03-10T23:55:00+0100",
        "2024-03-10T23:55:00+24:00", "2024-03-10T23:55:00Zjunk", "0000-01-01T00:00:00Z", "２０24-03-10T23:55:00Z",
    )
    for text in bad:
        err = raises(ValueError, parse, text)
        assert "dateTime" in str(err), text
    assert "string" in str(raises(ValueError, parse, 1710114900))
    raises(ValueError, parse, None)


def test_format_writes_utc_with_z():
    assert format_utc(0) == "1970-01-01T00:00:00Z"
    assert format_utc(1710114900) == "2024-03-10T23:55:00Z"
    assert format_utc(-1) == "1969-12-31T23:59:59Z"
    assert format_utc(951825600.75) == "2000-02-29T12:00:00Z"  # a float is floored to its second


def test_format_refuses_what_is_not_an_instant_in_years_1_to_9999():
    for value in ("0", None, True, float("nan"), float("inf"), 253402300800, days_from_civil(1, 1, 1) * 86400 - 1):
        raises(ValueError, format_utc, value)
    assert format_utc(253402300799) == "9999-12-31T23:59:59Z"


def test_days_round_trip_through_the_civil_calendar():
    for days in (-719468, -1, 0, 59, 60, 11016, 47482, 2932896):
        assert days_from_civil(*civil_from_days(days)) == days
    assert civil_from_days(days_from_civil(2000, 2, 29)) == (2000, 2, 29)


def test_weekday_is_monday_0_to_sunday_6():
    assert weekday(0) == 3  # 1970-01-01 was a Thursday
    assert weekday(parse("2024-03-10T23:59:59Z")) == 6  # Sunday
    assert weekday(parse("2024-03-11T00:00:00Z")) == 0  # Monday
    assert weekday(-1) == 2  # 1969-12-31, a Wednesday
