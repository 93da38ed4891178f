# OCPP dateTime <-> integer UTC epoch seconds, without the datetime module (MicroPython has none).
#
# OCPP 1.6 JSON carries dateTime as RFC 3339 text ("2024-03-10T23:55:00Z", "...:00.123+01:00").
# Dates are turned into day numbers with the days-from-civil arithmetic of the proleptic Gregorian
# calendar (eras of 400 years = 146097 days), so every step is exact integer maths on both runtimes.
# Fractional seconds are dropped (floor): the OCPP cores all work in whole seconds.

DAY_S = 86400
_MIN_YEAR = 1
_MAX_YEAR = 9999  # four digits, as RFC 3339 writes a year
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year, month):
    if month == 2 and _leap(year):
        return 29
    return _MONTH_DAYS[month - 1]


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (negative before 1970)."""
    y = year - 1 if month <= 2 else year  # the year counted from March, so Feb 29 is the last day
    era = y // 400
    yoe = y - era * 400  # 0..399
    mp = (month + 9) % 12  # March = 0 .. February = 11
    doy = (153 * mp + 2) // 5 + day - 1  # 0..365
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy  # 0..146096
    return era * 146097 + doe - 719468  # 719468: days from 0000-03-01 to 1970-01-01


def civil_from_days(days):
    """(year, month, day) of a day number from days_from_civil."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def weekday(epoch_s):
    """ISO weekday index of an instant in UTC: 0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday)."""
    return (epoch_s // DAY_S + 3) % 7


def _digits(text, start, count, what):
    part = text[start:start + count]
    if len(part) != count or not all("0" <= c <= "9" for c in part):
        raise ValueError("dateTime %r: %s is not %d digits" % (text, what, count))
    return int(part)


def _expect(text, pos, chars, what):
    if pos >= len(text) or text[pos] not in chars:
        raise ValueError("dateTime %r: expected %s at position %d" % (text, what, pos))


def parse(text):
    """RFC 3339 dateTime text -> integer UTC epoch seconds. Raises ValueError on anything else.

    Accepts YYYY-MM-DDThh:mm:ss, an optional fraction (.d+), then Z or +hh:mm / -hh:mm. A time
    without an offset is refused: it would be local time of an unknown zone."""
    if not isinstance(text, str):
        raise ValueError("dateTime must be a string, not %r" % (text,))
    year = _digits(text, 0, 4, "year")
    _expect(text, 4, "-", "'-'")
    month = _digits(text, 5, 2, "month")
    _expect(text, 7, "-", "'-'")
    day = _digits(text, 8, 2, "day")
    _expect(text, 10, "Tt", "'T'")
    hour = _digits(text, 11, 2, "hour")
    _expect(text, 13, ":", "':'")
    minute = _digits(text, 14, 2, "minute")
    _expect(text, 16, ":", "':'")
    second = _digits(text, 17, 2, "second")
    pos = 19
    if text[pos:pos + 1] == ".":
        pos += 1
        begin = pos
        while pos < len(text) and "0" <= text[pos] <= "9":
            pos += 1
        if pos == begin:
            raise ValueError("dateTime %r: empty fraction of a second" % text)
    if year < _MIN_YEAR or not 1 <= month <= 12 or not 1 <= day <= days_in_month(year, month):
        raise ValueError("dateTime %r: no such date" % text)
    if hour > 23 or minute > 59 or second > 60:  # 60: a leap second (RFC 3339 section 5.6)
        raise ValueError("dateTime %r: no such time of day" % text)
    zone = text[pos:]
    if zone in ("Z", "z"):
        offset_s = 0
    elif len(zone) == 6 and zone[0] in "+-" and zone[3] == ":":
        off_h = _digits(zone, 1, 2, "offset hours")
        off_m = _digits(zone, 4, 2, "offset minutes")
        if off_h > 23 or off_m > 59:
            raise ValueError("dateTime %r: no such offset" % text)
        offset_s = (off_h * 3600 + off_m * 60) * (1 if zone[0] == "+" else -1)
    else:
        raise ValueError("dateTime %r: needs Z or a +hh:mm offset at the end" % text)
    local_s = days_from_civil(year, month, day) * DAY_S + hour * 3600 + minute * 60 + second
    return local_s - offset_s


def format_utc(epoch_s):
    """Integer epoch seconds -> "YYYY-MM-DDThh:mm:ssZ" (a float is floored to the second)."""
    if isinstance(epoch_s, float) and -1e12 < epoch_s < 1e12:  # also refuses NaN and infinities
        epoch_s = int(epoch_s // 1)
    if isinstance(epoch_s, bool) or not isinstance(epoch_s, int):
        raise ValueError("epoch seconds must be an integer, not %r" % (epoch_s,))
    days = epoch_s // DAY_S
    rest = epoch_s - days * DAY_S
    year, month, day = civil_from_days(days)
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        raise ValueError("epoch seconds %d are outside years 1..9999" % epoch_s)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (
        year, month, day, rest // 3600, rest // 60 % 60, rest % 60)
