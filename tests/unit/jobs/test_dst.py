"""The DST rule: wall-clock times are in the schedule's zone; a local time skipped by
spring-forward fires at the end of the gap, one repeated by fall-back fires once, at its first
occurrence. Never two fires for one local slot, never a dropped day.

2026 transitions: Europe/Berlin skips 02:00-03:00 on Mar 29 (at 01:00 UTC) and repeats
02:00-03:00 on Oct 25 (CEST 02:xx, then CET 02:xx); America/New_York skips 02:00-03:00 on
Mar 8 (at 07:00 UTC) and repeats 01:00-02:00 on Nov 1 (EDT 01:xx, then EST 01:xx).
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectord.runtime.jobs.schedules import Schedule, iso, next_fire, next_fires, parse_schedule

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"
SANTIAGO = "America/Santiago"  # 2026: skips 00:00-01:00 on Sep 6, repeats 23:00-24:00 on Apr 4
LORD_HOWE = "Australia/Lord_Howe"  # 2026: skips 02:00-02:30 on Oct 4, repeats 01:30-02:00 on Apr 5


def at(text: str) -> float:
    """An explicit instant: ISO 8601 with its offset."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None
    return moment.timestamp()


def fires(raw: dict, start: str, n: int) -> list[str]:
    schedule = parse_schedule(raw)
    return [iso(t, schedule.timezone) for t in next_fires(schedule, at(start), n)]


# ------------------------------------------------------------------ cron, daily


@pytest.mark.parametrize("expression", ["0 30 2 * * ?", "30 2 * * *"])
def test_berlin_daily_at_a_skipped_time_fires_at_the_end_of_the_gap(expression: str) -> None:
    assert fires({"cron": expression, "timezone": BERLIN}, "2026-03-27T12:00:00+01:00", 4) == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


@pytest.mark.parametrize("expression", ["0 30 2 * * ?", "30 2 * * *"])
def test_berlin_daily_at_a_repeated_time_fires_once_at_its_first_occurrence(expression: str) -> None:
    assert fires({"cron": expression, "timezone": BERLIN}, "2026-10-24T12:00:00+02:00", 3) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]


def test_berlin_no_second_fire_from_inside_the_repeated_hour() -> None:
    daily = {"cron": "0 30 2 * * ?", "timezone": BERLIN}
    # just after the first 02:30 (CEST), during the second pass (CET) before and after 02:30
    for start in ("2026-10-25T02:30:00+02:00", "2026-10-25T02:10:00+01:00", "2026-10-25T02:40:00+01:00"):
        assert fires(daily, start, 1) == ["2026-10-26T02:30:00+01:00"], start


def test_berlin_the_gap_slot_fires_even_when_asked_from_just_before_the_gap() -> None:
    daily = {"cron": "0 30 2 * * ?", "timezone": BERLIN}
    assert fires(daily, "2026-03-29T01:59:59+01:00", 1) == ["2026-03-29T03:00:00+02:00"]
    schedule = parse_schedule(daily)
    assert next_fire(schedule, at("2026-03-29T03:00:00+02:00") - 0.5) == at("2026-03-29T03:00:00+02:00")
    # once it has fired, the next is the following day
    assert fires(daily, "2026-03-29T03:00:00+02:00", 1) == ["2026-03-30T02:30:00+02:00"]


def test_new_york_daily_at_a_skipped_time() -> None:
    assert fires({"cron": "30 2 * * *", "timezone": NEW_YORK}, "2026-03-07T12:00:00-05:00", 3) == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
        "2026-03-10T02:30:00-04:00",
    ]


def test_new_york_daily_at_a_repeated_time() -> None:
    assert fires({"cron": "0 30 1 * * ?", "timezone": NEW_YORK}, "2026-10-31T12:00:00-04:00", 3) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
        "2026-11-03T01:30:00-05:00",
    ]
    assert fires({"cron": "30 1 * * *", "timezone": NEW_YORK}, "2026-11-01T01:10:00-05:00", 1) == [
        "2026-11-02T01:30:00-05:00"
    ]


def test_a_skipped_midnight_and_a_half_hour_shift() -> None:
    assert fires({"cron": "0 0 0 * * ?", "timezone": SANTIAGO}, "2026-09-05T12:00:00-04:00", 2) == [
        "2026-09-06T01:00:00-03:00",
        "2026-09-07T00:00:00-03:00",
    ]
    assert fires({"cron": "30 23 * * *", "timezone": SANTIAGO}, "2026-04-04T12:00:00-03:00", 2) == [
        "2026-04-04T23:30:00-03:00",
        "2026-04-05T23:30:00-04:00",
    ]
    assert fires({"cron": "0 15 2 * * ?", "timezone": LORD_HOWE}, "2026-10-03T12:00:00+10:30", 2) == [
        "2026-10-04T02:30:00+11:00",
        "2026-10-05T02:15:00+11:00",
    ]
    assert fires({"cron": "45 1 * * *", "timezone": LORD_HOWE}, "2026-04-04T12:00:00+11:00", 2) == [
        "2026-04-05T01:45:00+11:00",
        "2026-04-06T01:45:00+10:30",
    ]


# ------------------------------------------------------------------ cron, every 15 minutes


def test_berlin_every_15_minutes_across_spring_forward() -> None:
    assert fires({"cron": "0 */15 * * * ?", "timezone": BERLIN}, "2026-03-29T01:30:00+01:00", 4) == [
        "2026-03-29T01:45:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:00, 02:15, 02:30, 02:45 and 03:00: one fire
        "2026-03-29T03:15:00+02:00",
        "2026-03-29T03:30:00+02:00",
    ]


def test_berlin_every_15_minutes_across_fall_back() -> None:
    assert fires({"cron": "0 */15 * * * ?", "timezone": BERLIN}, "2026-10-25T02:15:00+02:00", 4) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:45:00+02:00",
        "2026-10-25T03:00:00+01:00",  # 02:00-02:45 CET were fired as CEST
        "2026-10-25T03:15:00+01:00",
    ]


def test_new_york_every_15_minutes_across_both_transitions() -> None:
    every = {"cron": "*/15 * * * *", "timezone": NEW_YORK}
    assert fires(every, "2026-03-08T01:30:00-05:00", 3) == [
        "2026-03-08T01:45:00-05:00",
        "2026-03-08T03:00:00-04:00",
        "2026-03-08T03:15:00-04:00",
    ]
    assert fires(every, "2026-11-01T01:30:00-04:00", 3) == [
        "2026-11-01T01:45:00-04:00",
        "2026-11-01T02:00:00-05:00",
        "2026-11-01T02:15:00-05:00",
    ]


# ------------------------------------------------------------------ a whole year


def _year_of_fires(schedule: Schedule, zone: str) -> list[float]:
    start, end = at("2026-01-01T00:00:00+00:00") - 86400, at("2027-01-01T00:00:00+00:00") + 86400
    times: list[float] = []
    instant = next_fire(schedule, start)
    while instant is not None and instant < end:
        times.append(instant)
        instant = next_fire(schedule, instant)
    return times


def _dates_2026() -> list[date]:
    return [date(2026, 1, 1) + timedelta(days=i) for i in range(365)]


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK, SANTIAGO, LORD_HOWE])
@pytest.mark.parametrize(
    "raw",
    [
        {"cron": "0 30 2 * * ?"},  # skipped in spring (Berlin, New York)
        {"cron": "30 1 * * *"},  # repeated in New York
        {"cron": "0 30 2 ? * *"},  # repeated in Berlin
        {"cron": "0 0 0 * * ?"},  # skipped in Santiago
        {"cron": "30 23 * * *"},  # repeated in Santiago
        {"cron": "0 15 2 * * ?"},  # skipped on Lord Howe (a 30-minute shift)
        {"cron": "45 1 * * *"},  # repeated on Lord Howe
        {"every": 1, "unit": "day", "anchor": "2025-12-01T02:30:00"},
        {"every": 1, "unit": "day", "anchor": "2025-12-01T01:30:00"},
        {"every": 1, "unit": "day", "anchor": "2025-12-01T00:00:00"},
    ],
)
def test_daily_fires_once_on_every_local_day(zone: str, raw: dict) -> None:
    schedule = parse_schedule({**raw, "timezone": zone})
    times = _year_of_fires(schedule, zone)
    assert times == sorted(set(times)), "fire times repeat or go backwards"
    days = Counter(datetime.fromtimestamp(t, ZoneInfo(zone)).date() for t in times)
    for day in _dates_2026():
        assert days[day] == 1, (day, days[day])


@pytest.mark.parametrize(
    ("zone", "spring", "fall"),
    [(BERLIN, date(2026, 3, 29), date(2026, 10, 25)), (NEW_YORK, date(2026, 3, 8), date(2026, 11, 1))],
)
def test_every_15_minutes_never_fires_one_local_slot_twice(zone: str, spring: date, fall: date) -> None:
    schedule = parse_schedule({"cron": "0 */15 * * * ?", "timezone": zone})
    times = _year_of_fires(schedule, zone)
    assert times == sorted(set(times))
    walls = [datetime.fromtimestamp(t, ZoneInfo(zone)).replace(tzinfo=None, fold=0) for t in times]
    assert len(walls) == len(set(walls)), "a local slot fired twice"
    per_day = Counter(wall.date() for wall in walls)
    for day in _dates_2026():
        # 96 slots a day; on spring-forward day 02:00-02:45 fire together with 03:00
        assert per_day[day] == (92 if day == spring else 96), day
    # on fall-back day each slot fired once, in the first pass
    assert per_day[fall] == 96


# ------------------------------------------------------------------ intervals


def test_interval_day_across_berlin_transitions() -> None:
    spring = {"every": 1, "unit": "day", "anchor": "2026-03-27T02:30:00", "timezone": BERLIN}
    assert fires(spring, "2026-03-26T00:00:00+01:00", 4) == [
        "2026-03-27T02:30:00+01:00",
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    fall = {"every": 1, "unit": "day", "anchor": "2026-10-24T02:30:00", "timezone": BERLIN}
    assert fires(fall, "2026-10-24T02:30:00+02:00", 2) == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]
    assert fires(fall, "2026-10-25T02:30:00+01:00", 1) == ["2026-10-26T02:30:00+01:00"]


def test_interval_week_across_berlin_spring_forward() -> None:
    weekly = {"every": 1, "unit": "week", "anchor": "2026-03-01T02:30:00", "timezone": BERLIN}
    assert fires(weekly, "2026-03-20T00:00:00+01:00", 3) == [
        "2026-03-22T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-04-05T02:30:00+02:00",
    ]


def test_interval_month_across_berlin_spring_forward_with_clamping() -> None:
    monthly = {"every": 1, "unit": "month", "anchor": "2026-01-29T02:30:00", "timezone": BERLIN}
    assert fires(monthly, "2026-01-01T00:00:00+01:00", 4) == [
        "2026-01-29T02:30:00+01:00",
        "2026-02-28T02:30:00+01:00",  # clamped to February's last day
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that day
        "2026-04-29T02:30:00+02:00",
    ]


def test_interval_day_and_week_across_new_york_fall_back() -> None:
    daily = {"every": 1, "unit": "day", "anchor": "2026-10-30T01:30:00", "timezone": NEW_YORK}
    assert fires(daily, "2026-10-31T12:00:00-04:00", 2) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]
    weekly = {"every": 1, "unit": "week", "anchor": "2026-10-25T01:30:00-04:00", "timezone": NEW_YORK}
    assert fires(weekly, "2026-10-25T01:30:00-04:00", 2) == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-08T01:30:00-05:00",
    ]


def test_interval_hours_are_elapsed_time_across_fall_back() -> None:
    hourly = {"every": 1, "unit": "hour", "anchor": "2026-10-25T00:00:00+02:00", "timezone": BERLIN}
    assert fires(hourly, "2026-10-25T00:30:00+02:00", 4) == [
        "2026-10-25T01:00:00+02:00",
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:00:00+01:00",  # an hour later, on the clock the same
        "2026-10-25T03:00:00+01:00",
    ]
    half_hourly = {"every": 30, "unit": "minute", "anchor": None, "timezone": NEW_YORK}
    assert fires(half_hourly, "2026-03-08T01:00:00-05:00", 2) == [
        "2026-03-08T01:30:00-05:00",
        "2026-03-08T03:00:00-04:00",
    ]
