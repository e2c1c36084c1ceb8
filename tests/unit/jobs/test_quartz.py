"""Quartz cron expressions (6 or 7 fields, seconds first) mean exactly what Quartz means.

Expected fire times come from the calendar (2026: Jan 1 is a Thursday, Feb 1 and Mar 1 are
Sundays, Aug 1 is a Saturday, May has five Fridays; 2036-02-29 is a Friday).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from connectord.runtime.jobs.schedules import (
    CronSchedule,
    ScheduleError,
    iso,
    next_fire,
    next_fires,
    parse_schedule,
)


def fires(expression: str, start: str, n: int, timezone: str = "UTC") -> list[str]:
    schedule = parse_schedule({"cron": expression, "timezone": timezone})
    return [iso(t, timezone) for t in next_fires(schedule, datetime.fromisoformat(start).timestamp(), n)]


CASES = [
    # every day at noon; a start exactly on a fire time is not itself returned
    ("0 0 12 * * ?", "2026-01-01T12:00:00Z", ["2026-01-02T12:00:00+00:00", "2026-01-03T12:00:00+00:00"]),
    # 6L: the last Friday of the month
    (
        "0 15 10 ? * 6L",
        "2026-01-01T00:00:00Z",
        ["2026-01-30T10:15:00+00:00", "2026-02-27T10:15:00+00:00", "2026-03-27T10:15:00+00:00"],
    ),
    # 6#3: the third Friday (Quartz 6 = Friday, not Saturday)
    (
        "0 15 10 ? * 6#3",
        "2026-11-01T00:00:00Z",
        ["2026-11-20T10:15:00+00:00", "2026-12-18T10:15:00+00:00", "2027-01-15T10:15:00+00:00"],
    ),
    # 6#5: the fifth Friday, only in months that have one (Jan, May, Jul 2026)
    (
        "0 0 0 ? * 6#5",
        "2026-01-01T00:00:00Z",
        ["2026-01-30T00:00:00+00:00", "2026-05-29T00:00:00+00:00", "2026-07-31T00:00:00+00:00"],
    ),
    # the fifth Friday of February: only when Feb 29 is a Friday
    ("0 0 0 ? 2 6#5", "2009-01-01T00:00:00Z", ["2036-02-29T00:00:00+00:00", "2064-02-29T00:00:00+00:00"]),
    # names with # and case-insensitive: the first Monday
    (
        "0 0 9 ? * mon#1",
        "2026-01-01T00:00:00Z",
        ["2026-01-05T09:00:00+00:00", "2026-02-02T09:00:00+00:00", "2026-03-02T09:00:00+00:00"],
    ),
    # L: the last day of the month, leap February included
    (
        "0 0 0 L * ?",
        "2028-01-01T00:00:00Z",
        ["2028-01-31T00:00:00+00:00", "2028-02-29T00:00:00+00:00", "2028-03-31T00:00:00+00:00"],
    ),
    # L-3: three days before the last
    (
        "0 0 0 L-3 * ?",
        "2026-01-01T00:00:00Z",
        ["2026-01-28T00:00:00+00:00", "2026-02-25T00:00:00+00:00", "2026-03-28T00:00:00+00:00"],
    ),
    ("0 0 0 L-3 2 ?", "2028-01-01T00:00:00Z", ["2028-02-26T00:00:00+00:00"]),
    # LW: the last weekday (Jan 31 and Feb 28 are Saturdays, May 31 a Sunday)
    (
        "0 0 0 LW * ?",
        "2026-01-01T00:00:00Z",
        [
            "2026-01-30T00:00:00+00:00",
            "2026-02-27T00:00:00+00:00",
            "2026-03-31T00:00:00+00:00",
            "2026-04-30T00:00:00+00:00",
            "2026-05-29T00:00:00+00:00",
        ],
    ),
    # 15W: Feb 15 and Mar 15 are Sundays (→ Monday 16th), Apr 15 a Wednesday
    (
        "0 0 0 15W * ?",
        "2026-02-01T00:00:00Z",
        ["2026-02-16T00:00:00+00:00", "2026-03-16T00:00:00+00:00", "2026-04-15T00:00:00+00:00"],
    ),
    # 15W: Aug 15 2026 is a Saturday (→ Friday 14th)
    ("0 0 0 15W * ?", "2026-08-01T00:00:00Z", ["2026-08-14T00:00:00+00:00", "2026-09-15T00:00:00+00:00"]),
    # 1W: Aug 1 is a Saturday → Monday the 3rd (not Friday Jul 31: W does not leave the month)
    (
        "0 0 0 1W * ?",
        "2026-07-15T00:00:00Z",
        ["2026-08-03T00:00:00+00:00", "2026-09-01T00:00:00+00:00", "2026-10-01T00:00:00+00:00"],
    ),
    # 1W: Feb 1 is a Sunday → Monday the 2nd
    ("0 0 0 1W * ?", "2026-01-15T00:00:00Z", ["2026-02-02T00:00:00+00:00"]),
    # 31W: May 31 is a Sunday and the last day → Friday the 29th; June has no 31st
    ("0 0 0 31W * ?", "2026-05-01T00:00:00Z", ["2026-05-29T00:00:00+00:00", "2026-07-31T00:00:00+00:00"]),
    # a bare L in day-of-week is 7: Saturday
    (
        "0 0 0 ? * L",
        "2026-01-01T00:00:00Z",
        ["2026-01-03T00:00:00+00:00", "2026-01-10T00:00:00+00:00", "2026-01-17T00:00:00+00:00"],
    ),
    # 1 = Sunday, 7 = Saturday
    ("0 0 12 ? * 1", "2026-01-01T00:00:00Z", ["2026-01-04T12:00:00+00:00", "2026-01-11T12:00:00+00:00"]),
    ("0 0 12 ? * 7", "2026-01-01T00:00:00Z", ["2026-01-03T12:00:00+00:00", "2026-01-10T12:00:00+00:00"]),
    # 0/15 in minutes
    (
        "0 0/15 * * * ?",
        "2026-01-01T00:07:30Z",
        [
            "2026-01-01T00:15:00+00:00",
            "2026-01-01T00:30:00+00:00",
            "2026-01-01T00:45:00+00:00",
            "2026-01-01T01:00:00+00:00",
        ],
    ),
    # 5/10 and */20 in seconds
    (
        "5/10 * * * * ?",
        "2026-01-01T00:00:55Z",
        ["2026-01-01T00:01:05+00:00", "2026-01-01T00:01:15+00:00", "2026-01-01T00:01:25+00:00"],
    ),
    (
        "*/20 * * * * ?",
        "2026-01-01T00:00:00Z",
        ["2026-01-01T00:00:20+00:00", "2026-01-01T00:00:40+00:00", "2026-01-01T00:01:00+00:00"],
    ),
    # MON-FRI and 2-6 are the same days (Jan 1 2026 is a Thursday)
    (
        "0 0 12 ? * MON-FRI",
        "2026-01-01T12:00:00Z",
        ["2026-01-02T12:00:00+00:00", "2026-01-05T12:00:00+00:00", "2026-01-06T12:00:00+00:00"],
    ),
    (
        "0 0 12 ? * 2-6",
        "2026-01-01T12:00:00Z",
        ["2026-01-02T12:00:00+00:00", "2026-01-05T12:00:00+00:00", "2026-01-06T12:00:00+00:00"],
    ),
    # two-letter day names (a real client sends FR)
    (
        "0 6 6 ? * FR",
        "2026-01-01T00:00:00Z",
        ["2026-01-02T06:06:00+00:00", "2026-01-09T06:06:00+00:00", "2026-01-16T06:06:00+00:00"],
    ),
    (
        "0 0 12 ? * SA,su",
        "2026-01-01T00:00:00Z",
        ["2026-01-03T12:00:00+00:00", "2026-01-04T12:00:00+00:00", "2026-01-10T12:00:00+00:00"],
    ),
    # a day-of-week range that wraps: Friday to Monday
    (
        "0 0 12 ? * FRI-MON",
        "2026-01-01T00:00:00Z",
        [
            "2026-01-02T12:00:00+00:00",
            "2026-01-03T12:00:00+00:00",
            "2026-01-04T12:00:00+00:00",
            "2026-01-05T12:00:00+00:00",
            "2026-01-09T12:00:00+00:00",
        ],
    ),
    # an hour range that wraps past midnight, and lists
    (
        "0 0 22-1 * * ?",
        "2026-01-01T12:00:00Z",
        [
            "2026-01-01T22:00:00+00:00",
            "2026-01-01T23:00:00+00:00",
            "2026-01-02T00:00:00+00:00",
            "2026-01-02T01:00:00+00:00",
            "2026-01-02T22:00:00+00:00",
        ],
    ),
    (
        "0 30 8-9,14 * * ?",
        "2026-01-01T00:00:00Z",
        ["2026-01-01T08:30:00+00:00", "2026-01-01T09:30:00+00:00", "2026-01-01T14:30:00+00:00"],
    ),
    # month names and a month range
    (
        "0 0 9 1 JAN-MAR ?",
        "2026-01-01T09:00:00Z",
        ["2026-02-01T09:00:00+00:00", "2026-03-01T09:00:00+00:00", "2027-01-01T09:00:00+00:00"],
    ),
    # '*' in one day field while the other is restricted reads as '?'
    ("0 0 12 * * MON", "2026-01-01T00:00:00Z", ["2026-01-05T12:00:00+00:00", "2026-01-12T12:00:00+00:00"]),
    ("0 0 12 1 * *", "2026-01-01T12:00:00Z", ["2026-02-01T12:00:00+00:00", "2026-03-01T12:00:00+00:00"]),
    # both '*': every day
    ("0 0 12 * * *", "2026-01-01T12:00:00Z", ["2026-01-02T12:00:00+00:00"]),
    # a list mixing L with a plain day (extension: their union)
    (
        "0 0 0 1,L * ?",
        "2026-01-15T00:00:00Z",
        ["2026-01-31T00:00:00+00:00", "2026-02-01T00:00:00+00:00", "2026-02-28T00:00:00+00:00"],
    ),
    # leap day
    ("0 0 0 29 2 ?", "2026-01-01T00:00:00Z", ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]),
    # the year field: list, range, step; it ends
    (
        "0 0 0 1 1 ? 2027,2030",
        "2026-01-01T00:00:00Z",
        ["2027-01-01T00:00:00+00:00", "2030-01-01T00:00:00+00:00"],
    ),
    (
        "0 0 0 1 1 ? 2026/2",
        "2026-06-01T00:00:00Z",
        ["2028-01-01T00:00:00+00:00", "2030-01-01T00:00:00+00:00", "2032-01-01T00:00:00+00:00"],
    ),
    (
        "0 0 0 1 JAN ? 2030-2031",
        "2026-06-01T00:00:00Z",
        ["2030-01-01T00:00:00+00:00", "2031-01-01T00:00:00+00:00"],
    ),
    ("0 0 0 1 1 ? *", "2026-06-01T00:00:00Z", ["2027-01-01T00:00:00+00:00"]),
    # a zone: the wall clock is Berlin's
    (
        "0 0 9 ? * MON",
        "2026-01-01T00:00:00Z",
        ["2026-01-05T09:00:00+01:00", "2026-01-12T09:00:00+01:00"],
        "Europe/Berlin",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]} from {c[1]}" for c in CASES])
def test_next_fire_times(case: tuple) -> None:
    expression, start, expected, *zone = case
    timezone = zone[0] if zone else "UTC"
    assert fires(expression, start, len(expected), timezone) == expected


def test_a_schedule_whose_years_are_over_is_valid_but_never_fires_again() -> None:
    schedule = parse_schedule({"cron": "0 0 0 1 1 ? 2020"})
    assert next_fire(schedule, datetime.fromisoformat("2026-01-01T00:00:00Z").timestamp()) is None
    assert fires("0 0 0 1 1 ? 2027,2030", "2026-01-01T00:00:00Z", 5) == [
        "2027-01-01T00:00:00+00:00",
        "2030-01-01T00:00:00+00:00",
    ]
    assert fires("0 0 0 1 1 ? 2099", "2099-01-01T00:00:00Z", 1) == []


def test_dialect_follows_the_field_count() -> None:
    assert CronSchedule("0 0 12 ? * 6").dialect == "quartz"
    assert CronSchedule("0 0 12 ? * 6 2030").dialect == "quartz"
    assert CronSchedule("0 12 * * 6").dialect == "unix"
    # the same digit means Friday in Quartz, Saturday in Unix
    start = datetime.fromisoformat("2026-01-01T00:00:00Z").timestamp()
    assert (
        iso(next_fire(parse_schedule({"cron": "0 0 12 ? * 6"}), start) or 0, "UTC")
        == "2026-01-02T12:00:00+00:00"
    )
    assert (
        iso(next_fire(parse_schedule({"cron": "0 12 * * 6"}), start) or 0, "UTC")
        == "2026-01-03T12:00:00+00:00"
    )


def test_fractional_start_instants() -> None:
    schedule = parse_schedule({"cron": "0/15 * * * * ?"})
    base = datetime.fromisoformat("2026-01-01T00:00:00Z").timestamp()
    assert next_fire(schedule, base - 0.5) == base
    assert next_fire(schedule, base + 0.5) == base + 15
    assert next_fire(schedule, base) == base + 15


def test_whitespace_is_normalized() -> None:
    assert parse_schedule({"cron": "  0  0 12 * *\t? "}) == CronSchedule("0 0 12 * * ?", "UTC")


ERRORS = [
    ("0 0 12 ? * 8", "day-of-week value 8 out of range 1-7 in '0 0 12 ? * 8'"),
    ("0 0 12 ? * 0", "day-of-week value 0 out of range 1-7"),
    ("60 * * * * ?", "second value 60 out of range 0-59"),
    ("0 60 * * * ?", "minute value 60 out of range 0-59"),
    ("0 0 24 * * ?", "hour value 24 out of range 0-23"),
    ("0 0 0 32 * ?", "day-of-month value 32 out of range 1-31"),
    ("0 0 0 0 * ?", "day-of-month value 0 out of range 1-31"),
    ("0 0 0 1 13 ?", "month value 13 out of range 1-12"),
    ("0 0 0 1 1 ? 1969", "year value 1969 out of range 1970-2099"),
    ("0 0 0 1 1 ? 2100", "year value 2100 out of range 1970-2099"),
    ("0 0 0 1 1 ? 1960-1965", "year value 1960 out of range 1970-2099"),
    ("0 0 0 1 1 ? 2030-2020", "year range '2030-2020' runs backwards"),
    ("0 0 12 1 * MON", "cannot restrict both day-of-month ('1') and day-of-week ('MON'): use '?' in one"),
    ("0 0 12 L * 6L", "cannot restrict both day-of-month ('L') and day-of-week ('6L')"),
    ("0 0 ? * * *", "'?' is only allowed alone in day-of-month or day-of-week, not in hour"),
    ("0 0 0 ?,1 * ?", "'?' must stand alone in day-of-month"),
    ("0 0 0 ? * 1#6", "day-of-week occurrence 6 in '1#6' out of range 1-5"),
    ("0 0 0 ? * 1#0", "day-of-week occurrence 0 in '1#0' out of range 1-5"),
    ("0 0 0 ? * 8#1", "day-of-week value 8 out of range 1-7"),
    ("0 0 0 ? * 8L", "day-of-week value 8 out of range 1-7"),
    ("0 0 0 ? * 1-5L", "# and L take one day"),
    ("0 0 0 L-31 * ?", "day-of-month offset 31 in 'L-31' out of range 1-30"),
    ("0 0 0 32W * ?", "day-of-month value 32 out of range 1-31"),
    ("0 0 0 1-5W * ?", "L and W take one day"),
    ("0 0/0 * * * ?", "minute step 0 in '0/0' must be 1 to 59"),
    ("0 0/60 * * * ?", "minute step 60 in '0/60' must be 1 to 59"),
    ("0 0 0 ? * */8", "day-of-week step 8 in '*/8' must be 1 to 7"),
    ("0 0 12 ? JANX *", "month value 'JANX' is not a number or a name"),
    ("0 0 12 ? * FRIDAY", "day-of-week value 'FRIDAY' is not a number or a name"),
    ("0 0 x * * ?", "hour value 'x' is not a number in"),
    ("0 0 12 1,,2 * ?", "day-of-month has an empty list item"),
    ("0 0 12 ? * MON-", "day-of-week value 'MON-' is not a number, name, range or step"),
    ("0 0 12 ? * *-2", "day-of-week value '*-2' is not a valid range"),
    ("0 0 0 30 2 ?", "'0 0 0 30 2 ?' never fires"),
    ("0 0 0 31 4,6,9,11 ?", "never fires"),
    ("0 0 0 29 2 ? 2027", "never fires: no date in the years it allows"),
    ("0 0 0 ? 2 6#5 2030-2035", "never fires"),
    ("* * *", "got 3 in '* * *'"),
    ("0 0 0 1 1 ? 2030 0", "got 8"),
    ("", "a cron expression has 5 fields (Unix"),
]


@pytest.mark.parametrize(("expression", "reason"), ERRORS, ids=[e for e, _ in ERRORS])
def test_invalid_expressions_say_why(expression: str, reason: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule({"cron": expression, "timezone": "UTC"})
    assert caught.value.field == "schedule.cron"
    assert reason in str(caught.value)


def test_errors_name_the_callers_field() -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule({"cron": "0 0 12 ? * 8"}, "jobs[3].schedule")
    assert caught.value.field == "jobs[3].schedule.cron"
    with pytest.raises(ScheduleError) as caught:
        parse_schedule({"cron": 5})
    assert caught.value.field == "schedule.cron" and "must be a string" in caught.value.message


def test_an_invalid_schedule_built_directly_is_refused_when_used() -> None:
    with pytest.raises(ScheduleError) as caught:
        next_fire(CronSchedule("0 0 12 ? * 8"), 0)
    assert caught.value.field == "schedule.cron"
    with pytest.raises(ScheduleError) as caught:
        next_fire(CronSchedule("0 0 12 * * ?", "Mars/Base"), 0)
    assert caught.value.field == "schedule.timezone"
