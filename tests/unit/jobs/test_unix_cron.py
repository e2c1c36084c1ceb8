"""Unix cron expressions (5 fields) keep croniter's meaning: 0 and 7 are Sunday, names,
ranges, steps, and a day matches day-of-month or day-of-week when both are restricted.

Calendar: Jan 1 2026 is a Thursday; in April 2026 the 13th is a Monday and the Fridays are
the 3rd, 10th, 17th and 24th.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from croniter import croniter

from connectord.runtime.jobs.schedules import ScheduleError, iso, next_fires, parse_schedule


def fires(expression: str, start: str, n: int, timezone: str = "UTC") -> list[str]:
    schedule = parse_schedule({"cron": expression, "timezone": timezone})
    return [iso(t, timezone) for t in next_fires(schedule, datetime.fromisoformat(start).timestamp(), n)]


CASES = [
    (
        "*/15 * * * *",
        "2026-01-01T00:07:00Z",
        ["2026-01-01T00:15:00+00:00", "2026-01-01T00:30:00+00:00", "2026-01-01T00:45:00+00:00"],
    ),
    # strictly after: a start on a fire time is skipped
    ("30 9 * * *", "2026-01-01T09:30:00Z", ["2026-01-02T09:30:00+00:00", "2026-01-03T09:30:00+00:00"]),
    # 1-5 is Monday to Friday in Unix
    (
        "0 9 * * 1-5",
        "2026-01-01T10:00:00Z",
        ["2026-01-02T09:00:00+00:00", "2026-01-05T09:00:00+00:00", "2026-01-06T09:00:00+00:00"],
    ),
    # 0 and 7 are both Sunday, and so is SUN
    ("0 9 * * 0", "2026-01-01T00:00:00Z", ["2026-01-04T09:00:00+00:00", "2026-01-11T09:00:00+00:00"]),
    ("0 9 * * 7", "2026-01-01T00:00:00Z", ["2026-01-04T09:00:00+00:00", "2026-01-11T09:00:00+00:00"]),
    ("0 9 * * SUN", "2026-01-01T00:00:00Z", ["2026-01-04T09:00:00+00:00", "2026-01-11T09:00:00+00:00"]),
    # 6 is Saturday in Unix (Friday in Quartz)
    ("0 9 * * 6", "2026-01-01T00:00:00Z", ["2026-01-03T09:00:00+00:00"]),
    # names, case-insensitive, in lists
    (
        "0 9 * * sat,Sun",
        "2026-01-01T00:00:00Z",
        ["2026-01-03T09:00:00+00:00", "2026-01-04T09:00:00+00:00", "2026-01-10T09:00:00+00:00"],
    ),
    ("0 0 1 JAN,jul *", "2026-01-01T00:00:00Z", ["2026-07-01T00:00:00+00:00", "2027-01-01T00:00:00+00:00"]),
    (
        "0 0 1 mar-may *",
        "2026-01-01T00:00:00Z",
        ["2026-03-01T00:00:00+00:00", "2026-04-01T00:00:00+00:00", "2026-05-01T00:00:00+00:00"],
    ),
    # a range that wraps (croniter): Friday to Monday
    (
        "0 0 * * FRI-MON",
        "2026-01-01T00:00:00Z",
        [
            "2026-01-02T00:00:00+00:00",
            "2026-01-03T00:00:00+00:00",
            "2026-01-04T00:00:00+00:00",
            "2026-01-05T00:00:00+00:00",
            "2026-01-09T00:00:00+00:00",
        ],
    ),
    # steps from a start, and in a range
    (
        "5/20 8 * * *",
        "2026-01-01T00:00:00Z",
        ["2026-01-01T08:05:00+00:00", "2026-01-01T08:25:00+00:00", "2026-01-01T08:45:00+00:00"],
    ),
    (
        "0 10-16/3 * * *",
        "2026-01-01T00:00:00Z",
        ["2026-01-01T10:00:00+00:00", "2026-01-01T13:00:00+00:00", "2026-01-01T16:00:00+00:00"],
    ),
    # day-of-month and day-of-week both restricted: either matches (the 13th or a Friday)
    (
        "0 0 13 * 5",
        "2026-04-01T00:00:00Z",
        [
            "2026-04-03T00:00:00+00:00",
            "2026-04-10T00:00:00+00:00",
            "2026-04-13T00:00:00+00:00",
            "2026-04-17T00:00:00+00:00",
            "2026-04-24T00:00:00+00:00",
        ],
    ),
    # only one restricted: that one alone
    ("0 0 13 * *", "2026-04-01T00:00:00Z", ["2026-04-13T00:00:00+00:00", "2026-05-13T00:00:00+00:00"]),
    ("0 0 ? * 5", "2026-04-01T00:00:00Z", ["2026-04-03T00:00:00+00:00", "2026-04-10T00:00:00+00:00"]),
    # the 31st only in months that have one; leap day
    ("0 0 31 * *", "2026-03-31T12:00:00Z", ["2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00"]),
    ("0 0 29 2 *", "2026-01-01T00:00:00Z", ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]),
    # local time in a zone
    ("0 9 * * 1", "2026-01-01T00:00:00Z", ["2026-01-05T09:00:00-05:00"], "America/New_York"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]} from {c[1]}" for c in CASES])
def test_next_fire_times(case: tuple) -> None:
    expression, start, expected, *zone = case
    assert fires(expression, start, len(expected), zone[0] if zone else "UTC") == expected


def _random_field(rng: random.Random, low: int, high: int) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return "*"
    if kind == 1:
        return str(rng.randint(low, high))
    if kind == 2:
        first, last = sorted(rng.sample(range(low, high + 1), 2))
        return f"{first}-{last}"
    if kind == 3:
        return f"*/{rng.randint(1, high)}"
    if kind == 4:
        return ",".join(str(rng.randint(low, high)) for _ in range(3))
    return f"{rng.randint(low, high)}/{rng.randint(1, min(10, high))}"


def test_same_fire_times_as_croniter_in_utc() -> None:
    """croniter defines Unix semantics here; without DST (UTC) our engine must agree with it."""
    rng = random.Random(20260329)
    compared = 0
    while compared < 300:
        fields = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
        expression = " ".join(_random_field(rng, low, high) for low, high in fields)
        try:
            schedule = parse_schedule({"cron": expression})
        except ScheduleError as exc:
            assert "never fires" in exc.message, exc.message  # e.g. 30-31 in February only
            continue
        start = float(rng.randrange(0, 2_000_000_000))
        expected_iter = croniter(expression, datetime.fromtimestamp(start, UTC))
        expected = [expected_iter.get_next(float) for _ in range(5)]
        assert next_fires(schedule, start, 5) == expected, (expression, start)
        compared += 1


ERRORS = [
    ("60 * * * *", "minute value 60 out of range 0-59 in '60 * * * *'"),
    ("0 24 * * *", "hour value 24 out of range 0-23"),
    ("0 0 0 * *", "day-of-month value 0 out of range 1-31"),
    ("0 0 32 * *", "day-of-month value 32 out of range 1-31"),
    ("0 0 * 13 *", "month value 13 out of range 1-12"),
    ("0 0 * * 8", "day-of-week value 8 out of range 0-7"),
    ("0 0 * * FOO", "day-of-week value 'FOO' is not a number or a name"),
    ("0 0 * * FR", "day-of-week value 'FR' is not a number or a name"),  # two-letter names: Quartz only
    ("*/0 * * * *", "minute step 0 in '*/0' must be 1 to 59"),
    ("*/90 * * * *", "minute step 90 in '*/90' must be 1 to 59"),
    ("5-5 * * * *", "minute range '5-5' in '5-5 * * * *' starts and ends at one value: write '5'"),
    ("0 0 * * MON-MON", "starts and ends at one value"),
    ("0 0 L * *", "L, W and # are Quartz features"),
    ("0 0 15W * *", "L, W and # are Quartz features"),
    ("0 0 * * 5#3", "L, W and # are Quartz features"),
    ("0 0 * * 5L", "L, W and # are Quartz features"),
    ("0 0 * ? *", "'?' is only allowed alone in day-of-month or day-of-week, not in month"),
    ("0 0 30 2 *", "'0 0 30 2 *' never fires"),
    ("0 0 31 4,6,9,11 *", "never fires"),
    ("@daily", "a cron expression has 5 fields"),
]


@pytest.mark.parametrize(("expression", "reason"), ERRORS, ids=[e for e, _ in ERRORS])
def test_invalid_expressions_say_why(expression: str, reason: str) -> None:
    with pytest.raises(ScheduleError) as caught:
        parse_schedule({"cron": expression})
    assert caught.value.field == "schedule.cron"
    assert reason in caught.value.message
