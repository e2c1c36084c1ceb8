"""Calendar intervals ({"every": N, "unit": ..., "anchor": ..., "timezone": ...}): fires at
anchor + k·N units (k ≥ 0); minute and hour are elapsed time, day, week and month wall-clock
time in the zone. Also: the checks every schedule shape goes through, and the JSON round trip.

Calendar: 2000-01-01 was a Saturday; Jan 3 2026 is a Saturday, Jan 5 2026 a Monday.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from connectord.runtime.jobs.schedules import (
    CronSchedule,
    IntervalSchedule,
    ScheduleError,
    iso,
    next_fire,
    next_fires,
    parse_instant,
    parse_schedule,
    to_json,
)


def at(text: str) -> float:
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment.timestamp()


def fires(raw: dict, start: str, n: int) -> list[str]:
    schedule = parse_schedule(raw)
    return [iso(t, schedule.timezone) for t in next_fires(schedule, at(start), n)]


def test_minutes_from_the_epoch_by_default() -> None:
    assert fires({"every": 15, "unit": "minute"}, "2026-01-01T00:07:00Z", 3) == [
        "2026-01-01T00:15:00+00:00",
        "2026-01-01T00:30:00+00:00",
        "2026-01-01T00:45:00+00:00",
    ]


def test_hours_from_the_epoch_by_default() -> None:
    # 2026-01-01T00:00Z is hour 490,896 since the epoch, 1 past a multiple of 5
    assert fires({"every": 5, "unit": "hour", "anchor": None}, "2026-01-01T00:00:00Z", 2) == [
        "2026-01-01T04:00:00+00:00",
        "2026-01-01T09:00:00+00:00",
    ]


def test_the_anchor_is_the_first_fire() -> None:
    every_7 = {"every": 7, "unit": "minute", "anchor": "2026-01-01T00:03:00Z"}
    assert fires(every_7, "2025-12-31T00:00:00Z", 3) == [
        "2026-01-01T00:03:00+00:00",
        "2026-01-01T00:10:00+00:00",
        "2026-01-01T00:17:00+00:00",
    ]
    # strictly after: from the anchor itself, the next one
    assert fires(every_7, "2026-01-01T00:03:00Z", 1) == ["2026-01-01T00:10:00+00:00"]
    assert fires(every_7, "2026-01-01T00:09:59.5Z", 1) == ["2026-01-01T00:10:00+00:00"]


def test_an_anchor_without_offset_is_local_time_in_the_zone() -> None:
    every_2_days = {"every": 2, "unit": "day", "anchor": "2026-01-01T09:00:00", "timezone": "Europe/Berlin"}
    assert fires(every_2_days, "2026-01-02T00:00:00+01:00", 2) == [
        "2026-01-03T09:00:00+01:00",
        "2026-01-05T09:00:00+01:00",
    ]
    # an anchor with another offset gives the zone's local time of that instant: 09:30 in Berlin
    daily = {"every": 1, "unit": "day", "anchor": "2026-01-15T08:30:00Z", "timezone": "Europe/Berlin"}
    assert fires(daily, "2026-07-01T00:00:00+02:00", 1) == ["2026-07-01T09:30:00+02:00"]


def test_days_keep_the_local_time_across_a_summer() -> None:
    daily = {"every": 1, "unit": "day", "anchor": "2026-01-15T09:30:00", "timezone": "America/New_York"}
    assert fires(daily, "2026-07-04T12:00:00Z", 2) == [  # 08:00 EDT
        "2026-07-04T09:30:00-04:00",
        "2026-07-05T09:30:00-04:00",
    ]


def test_default_anchor_for_days_weeks_months_is_local_midnight_2000_01_01() -> None:
    assert fires({"every": 1, "unit": "day", "timezone": "Asia/Tokyo"}, "2026-05-05T12:00:00+09:00", 1) == [
        "2026-05-06T00:00:00+09:00"
    ]
    # weeks: Saturdays
    assert fires({"every": 1, "unit": "week"}, "2026-01-01T00:00:00Z", 2) == [
        "2026-01-03T00:00:00+00:00",
        "2026-01-10T00:00:00+00:00",
    ]
    # months: the 1st
    assert fires({"every": 1, "unit": "month", "timezone": "Europe/Berlin"}, "2026-01-15T00:00:00Z", 2) == [
        "2026-02-01T00:00:00+01:00",
        "2026-03-01T00:00:00+01:00",
    ]
    # every 3 days counts from 2000-01-01: 9497 days to 2026-01-01, 9497 % 3 == 2
    assert fires({"every": 3, "unit": "day"}, "2025-12-31T12:00:00Z", 2) == [
        "2026-01-02T00:00:00+00:00",
        "2026-01-05T00:00:00+00:00",
    ]


def test_every_two_weeks_from_a_monday() -> None:
    biweekly = {"every": 2, "unit": "week", "anchor": "2026-01-05T08:00:00Z"}
    assert fires(biweekly, "2026-01-06T00:00:00Z", 3) == [
        "2026-01-19T08:00:00+00:00",
        "2026-02-02T08:00:00+00:00",
        "2026-02-16T08:00:00+00:00",
    ]


def test_months_keep_the_day_clamped_and_counted_from_the_anchor() -> None:
    monthly = {"every": 1, "unit": "month", "anchor": "2026-01-31T10:00:00Z"}
    assert fires(monthly, "2026-01-31T10:00:00Z", 4) == [
        "2026-02-28T10:00:00+00:00",
        "2026-03-31T10:00:00+00:00",  # not the 28th: counted from the anchor, not the last fire
        "2026-04-30T10:00:00+00:00",
        "2026-05-31T10:00:00+00:00",
    ]
    assert fires(monthly, "2028-02-01T00:00:00Z", 1) == ["2028-02-29T10:00:00+00:00"]
    quarterly = {"every": 3, "unit": "month", "anchor": "2025-11-30T00:00:00Z"}
    assert fires(quarterly, "2026-01-01T00:00:00Z", 3) == [
        "2026-02-28T00:00:00+00:00",
        "2026-05-30T00:00:00+00:00",
        "2026-08-30T00:00:00+00:00",
    ]


def test_far_from_the_anchor() -> None:
    every_1000_minutes = {"every": 1000, "unit": "minute", "anchor": "2000-01-01T00:00:00Z"}
    start = at("2026-01-01T00:00:00Z")
    fire = next_fire(parse_schedule(every_1000_minutes), start)
    assert fire is not None and start < fire <= start + 60_000
    assert (fire - at("2000-01-01T00:00:00Z")) % 60_000 == 0


def test_fractional_anchor_seconds_are_dropped() -> None:
    schedule = parse_schedule({"every": 1, "unit": "hour", "anchor": "2026-01-01T00:30:00.750Z"})
    assert schedule == IntervalSchedule(1, "hour", at("2026-01-01T00:30:00Z"), "UTC")


def test_to_json_round_trips() -> None:
    interval = parse_schedule(
        {"every": 1, "unit": "day", "anchor": "2026-01-15T09:30:00", "timezone": "Europe/Berlin"}
    )
    assert to_json(interval) == {
        "every": 1,
        "unit": "day",
        "anchor": "2026-01-15T09:30:00+01:00",
        "timezone": "Europe/Berlin",
    }
    assert parse_schedule(to_json(interval)) == interval
    default = parse_schedule({"every": 2, "unit": "week"})
    assert to_json(default) == {"every": 2, "unit": "week", "anchor": None, "timezone": "UTC"}
    cron = parse_schedule({"cron": "0 0 12 ? * FR", "timezone": "Asia/Tokyo"})
    assert cron == CronSchedule("0 0 12 ? * FR", "Asia/Tokyo")
    assert to_json(cron) == {"cron": "0 0 12 ? * FR", "timezone": "Asia/Tokyo"}
    assert parse_schedule(to_json(cron)) == cron


def test_iso_and_parse_instant() -> None:
    assert iso(at("2026-03-29T01:00:00Z"), "Europe/Berlin") == "2026-03-29T03:00:00+02:00"
    assert iso(at("2026-03-29T01:00:00Z") + 0.9, "UTC") == "2026-03-29T01:00:00+00:00"
    assert parse_instant("2026-10-25T02:30:00", "Europe/Berlin", "from") == at("2026-10-25T02:30:00+02:00")
    assert parse_instant("2026-10-25 02:30:00+01:00", "Europe/Berlin", "from") == at("2026-10-25T01:30:00Z")
    with pytest.raises(ScheduleError) as caught:
        parse_instant("2026-03-29T02:30:00", "Europe/Berlin", "from")
    assert caught.value.field == "from" and "does not exist in Europe/Berlin" in caught.value.message


def test_next_fires_counts() -> None:
    schedule = parse_schedule({"every": 1, "unit": "minute"})
    assert next_fires(schedule, 0, 0) == []
    assert next_fires(schedule, 0, 3) == [60.0, 120.0, 180.0]
    with pytest.raises(ValueError):
        next_fires(schedule, 0, -1)
    with pytest.raises(ValueError):
        next_fire(schedule, float("nan"))
    assert next_fire(schedule, float("inf")) is None


ERRORS = [
    ("not an object", "schedule", "schedule must be an object"),
    ({}, "schedule", "needs 'cron' (a cron expression) or 'every' and 'unit'"),
    ({"cron": "* * * * *", "every": 1, "unit": "day"}, "schedule", "takes 'cron' or 'every', not both"),
    ({"cron": "* * * * *", "tz": "UTC"}, "schedule.tz", "unknown field 'tz' in a cron schedule"),
    ({"every": 1, "unit": "day", "cron_": 1}, "schedule.cron_", "unknown field 'cron_' in an interval"),
    ({"cron": None}, "schedule.cron", "must be a string, got null"),
    ({"cron": "* * * * *", "timezone": "Mars/Base"}, "schedule.timezone", "unknown time zone 'Mars/Base'"),
    ({"cron": "* * * * *", "timezone": "europe/berlin"}, "schedule.timezone", "unknown time zone"),
    ({"cron": "* * * * *", "timezone": "localtime"}, "schedule.timezone", "unknown time zone 'localtime'"),
    ({"cron": "* * * * *", "timezone": "../etc/passwd"}, "schedule.timezone", "unknown time zone"),
    ({"cron": "* * * * *", "timezone": 1}, "schedule.timezone", "must be a string (an IANA time zone)"),
    ({"every": 0, "unit": "day"}, "schedule.every", "must be 1 to 1000, got 0"),
    ({"every": 1001, "unit": "day"}, "schedule.every", "must be 1 to 1000, got 1001"),
    ({"every": 1.5, "unit": "day"}, "schedule.every", "must be an integer, got the number 1.5"),
    ({"every": "5", "unit": "day"}, "schedule.every", "must be an integer, got the string '5'"),
    ({"every": True, "unit": "day"}, "schedule.every", "must be an integer, got a boolean"),
    ({"every": 1}, "schedule.unit", "schedule.unit is missing"),
    (
        {"every": 1, "unit": "year"},
        "schedule.unit",
        "must be one of minute, hour, day, week, month, got 'year'",
    ),
    ({"every": 1, "unit": "day", "anchor": "tomorrow"}, "schedule.anchor", "is not an ISO 8601 date-time"),
    ({"every": 1, "unit": "day", "anchor": 1767225600}, "schedule.anchor", "must be an ISO 8601 date-time"),
    (
        {"every": 1, "unit": "day", "anchor": "2026-03-29T02:30:00", "timezone": "Europe/Berlin"},
        "schedule.anchor",
        "'2026-03-29T02:30:00' does not exist in Europe/Berlin",
    ),
]


@pytest.mark.parametrize(("raw", "field", "reason"), ERRORS, ids=[r for _, _, r in ERRORS])
def test_invalid_schedules_name_the_field(raw: object, field: str, reason: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(raw)
    assert caught.value.field == field
    assert reason in caught.value.message


def test_timezone_defaults_to_utc() -> None:
    assert parse_schedule({"every": 1, "unit": "day"}).timezone == "UTC"
    assert parse_schedule({"cron": "* * * * *", "timezone": None}).timezone == "UTC"
