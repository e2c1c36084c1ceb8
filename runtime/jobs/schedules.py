"""When a job fires: cron expressions (Unix and Quartz) and calendar intervals, as UTC instants.

Two schedule shapes, read from the API's JSON by :func:`parse_schedule`:

``{"cron": EXPR, "timezone": TZ}``
    The dialect follows from the number of fields. **Unix**, 5 fields (minute hour
    day-of-month month day-of-week; 0 and 7 are Sunday, names JAN-DEC and SUN-SAT): croniter
    expands the fields and its meaning holds, including that a day matches day-of-month
    *or* day-of-week when both are restricted. ``L``, ``W`` and ``#`` are Quartz features and
    need a Quartz expression; a range that starts and ends at one value (``5-5``) is refused,
    since croniter reads it as the whole field. **Quartz**, 6 or 7 fields (second first,
    optional year 1970-2099 last), means exactly what Quartz means: day-of-week 1 = Sunday …
    7 = Saturday (``2-6`` is Monday to Friday, ``6#3`` the third Friday), ``?``, and
    ``L`` / ``L-n`` / ``nW`` / ``LW`` in day-of-month, ``nL`` / bare ``L`` (Saturday) /
    ``n#k`` in day-of-week. Quartz refuses an expression that restricts both day-of-month and
    day-of-week, and so do we. Extensions: two-letter day names SU MO TU WE TH FR SA; a ``*``
    in one day field while the other is restricted reads as ``?`` (both ``*`` or ``?``: every
    day); a day field's list may mix ``L``/``W``/``#`` items with plain values (their union).

``{"every": N, "unit": U, "anchor": ISO | null, "timezone": TZ}``
    A calendar interval (N = 1..1000): fires at anchor + k·N units, k = 0, 1, 2, …
    ``minute`` and ``hour`` are elapsed time (UTC arithmetic); ``day``, ``week`` and ``month``
    are wall-clock time in the zone: the anchor's local time of day every N days (7·N for
    weeks); a month keeps the anchor's day of month, clamped to the month's last day and
    counted from the anchor each time (Jan 31 → Feb 28 → Mar 31). Without an anchor:
    the Unix epoch for minute and hour, 2000-01-01 00:00 local time (a Saturday) for day, week
    and month. An anchor without an offset is local time in the zone; one that the zone's
    clocks skip is refused. Anchors have seconds precision (a fraction is dropped).

The time zone (default ``UTC``) must be an IANA name that zoneinfo knows.

**DST rule.** Each schedule's own zone governs wall-clock times. A local time that
spring-forward skips fires at the first instant after it, the end of the gap (02:30 on
Europe/Berlin's spring-forward day fires at 03:00 CEST); a local time that fall-back repeats
fires once, at its first occurrence (02:30 CEST, not again at 02:30 CET). So no local slot
fires twice and no day is dropped; the skipped slots of an every-15-minutes expression fire
once, together, at 03:00, and its slots in the repeated hour fire only in the first pass.
Internally everything is UTC epoch seconds: a local time becomes an instant through the zone's
two readings of it (PEP 495 ``fold``), never by adding a timedelta to an aware datetime.

**Cost.** A cron expression is compiled once per (expression, time zone) — an LRU cache of
4,096 — into sorted tuples of allowed values and a day filter that memoizes each month's
matching days. :func:`next_fire` then steps years, months, days, hours, minutes and seconds
with ``bisect``: a few microseconds. Unix expressions are expanded by croniter; Quartz ones
are parsed here, since croniter numbers days of week the Unix way and lacks ``LW``, ``L-n``,
``nL``, a bare ``L`` in day-of-week and the two-letter names.
"""

from __future__ import annotations

import bisect
import calendar
import functools
import math
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal, NamedTuple
from zoneinfo import ZoneInfo, available_timezones

import msgspec
from croniter import CroniterError, croniter

from connectord.plugins.server_errors import Invalid

Unit = Literal["minute", "hour", "day", "week", "month"]
UNITS: Final = ("minute", "hour", "day", "week", "month")
MAX_EVERY: Final = 1000
CACHE_SIZE: Final = 4096
#: Instants before this (1900-01-01T00:00Z) are read as this one; at or after MAX_AFTER
#: (9000-01-01T00:00Z) nothing fires any more.
MIN_AFTER: Final = -2_208_988_800
MAX_AFTER: Final = 221_845_392_000

_CRON_KEYS: Final = ("cron", "timezone")
_INTERVAL_KEYS: Final = ("every", "unit", "anchor", "timezone")
#: Names zoneinfo lists that are not IANA zone names (files of the system's tz directory).
_NOT_ZONES: Final = frozenset({"localtime", "Factory", "posixrules"})
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_EPOCH_NAIVE: Final = datetime(1970, 1, 1)
_SECOND: Final = timedelta(seconds=1)
#: Any valid expression without a year field fires within this many years of any instant
#: (the Gregorian calendar repeats every 400 years).
_SEARCH_YEARS: Final = 400
_LAST_YEAR: Final = 9999
#: The 28 years 2000-2027 hold every month shape (length, weekday of the 1st, leap February).
_SAMPLE_YEARS: Final = range(2000, 2028)


class ScheduleError(Invalid, ValueError):
    """An invalid schedule: the message says exactly why, ``field`` names the offending field
    (``schedule.cron``, ``schedule.timezone``, ``schedule.every``, ``schedule.anchor``, …)."""

    field: str

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field)
        self.message = message


class CronSchedule(msgspec.Struct, frozen=True):
    """A cron expression (5 fields: Unix; 6 or 7: Quartz) in a time zone."""

    expression: str
    timezone: str = "UTC"

    @property
    def dialect(self) -> Literal["unix", "quartz"]:
        return "quartz" if len(self.expression.split()) in (6, 7) else "unix"


class IntervalSchedule(msgspec.Struct, frozen=True):
    """Fires at anchor + k·every units; ``anchor`` is UTC epoch seconds (None: the default)."""

    every: int
    unit: Unit
    anchor: float | None = None
    timezone: str = "UTC"


Schedule = CronSchedule | IntervalSchedule


# --------------------------------------------------------------------------- public API


def parse_schedule(raw: object, field: str = "schedule") -> Schedule:
    """Check a schedule given as JSON data and return it; raise ScheduleError naming the
    offending field (``{field}.cron``, ``{field}.timezone``, …)."""
    if not isinstance(raw, dict):
        raise ScheduleError(
            f'{field} must be an object, {{"cron": ...}} or {{"every": ..., "unit": ...}}, got {_kind(raw)}',
            field,
        )
    if "cron" in raw and "every" in raw:
        raise ScheduleError(f"{field} takes 'cron' or 'every', not both", field)
    if "cron" not in raw and "every" not in raw:
        raise ScheduleError(
            f"{field} needs 'cron' (a cron expression) or 'every' and 'unit' (an interval)", field
        )
    allowed = _CRON_KEYS if "cron" in raw else _INTERVAL_KEYS
    for key in raw:
        if key not in allowed:
            shape = "a cron" if "cron" in raw else "an interval"
            raise ScheduleError(
                f"unknown field {key!r} in {shape} schedule (its fields: {', '.join(allowed)})",
                f"{field}.{key}",
            )
    timezone = raw.get("timezone")
    if timezone is None:
        timezone = "UTC"
    zone = _zone(timezone, f"{field}.timezone")
    if "cron" in raw:
        expression = raw["cron"]
        if not isinstance(expression, str):
            raise ScheduleError(f"{field}.cron must be a string, got {_kind(expression)}", f"{field}.cron")
        expression = " ".join(expression.split())
        try:
            _compiled_cron(expression, timezone)
        except _ExpressionError as exc:
            raise ScheduleError(str(exc), f"{field}.cron") from None
        return CronSchedule(expression, timezone)

    every = raw["every"]
    if type(every) is float and every.is_integer():  # JSON Schema's integers include 3.0
        every = int(every)
    if type(every) is not int:
        raise ScheduleError(f"{field}.every must be an integer, got {_kind(every)}", f"{field}.every")
    if not 1 <= every <= MAX_EVERY:
        raise ScheduleError(f"{field}.every must be 1 to {MAX_EVERY}, got {every}", f"{field}.every")
    if "unit" not in raw:
        raise ScheduleError(f"{field}.unit is missing: one of {', '.join(UNITS)}", f"{field}.unit")
    unit = raw["unit"]
    if unit not in UNITS:
        raise ScheduleError(f"{field}.unit must be one of {', '.join(UNITS)}, got {unit!r}", f"{field}.unit")
    anchor = raw.get("anchor")
    if anchor is not None and not isinstance(anchor, str):
        raise ScheduleError(
            f"{field}.anchor must be an ISO 8601 date-time string or null, got {_kind(anchor)}",
            f"{field}.anchor",
        )
    instant = None if anchor is None else _parse_iso(anchor, zone, timezone, f"{field}.anchor")
    if instant is not None and not _year_in_range(instant, zone):
        raise ScheduleError(
            f"{field}.anchor {anchor!r} must fall in the years 1900 to 9998", f"{field}.anchor"
        )
    return IntervalSchedule(every, unit, instant, timezone)


def next_fire(schedule: Schedule, after: float) -> float | None:
    """The first fire time strictly after ``after`` (UTC epoch seconds), or None if the
    schedule never fires again."""
    if math.isnan(after):
        raise ValueError("after must be a number, not NaN")
    if after >= MAX_AFTER:
        return None
    after = max(after, MIN_AFTER)
    if isinstance(schedule, CronSchedule):
        return _cron_of(schedule).next_after(after)
    return _compiled_interval(schedule).next_after(after)


def next_fires(schedule: Schedule, after: float, n: int) -> list[float]:
    """The next ``n`` fire times after ``after``, fewer if the schedule ends."""
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    fires: list[float] = []
    while len(fires) < n:
        found = next_fire(schedule, fires[-1] if fires else after)
        if found is None:
            break
        fires.append(found)
    return fires


def to_json(schedule: Schedule) -> dict[str, Any]:
    """The schedule in the API's shape (an anchor as ISO 8601 with its offset in the zone)."""
    if isinstance(schedule, CronSchedule):
        return {"cron": schedule.expression, "timezone": schedule.timezone}
    return {
        "every": schedule.every,
        "unit": schedule.unit,
        "anchor": None if schedule.anchor is None else iso(schedule.anchor, schedule.timezone),
        "timezone": schedule.timezone,
    }


def iso(instant: float, timezone: str) -> str:
    """ISO 8601 with the offset in force in ``timezone``, seconds precision, e.g.
    ``2026-03-29T03:00:00+02:00``."""
    return datetime.fromtimestamp(math.floor(instant), ZoneInfo(timezone)).isoformat(timespec="seconds")


def _year_in_range(instant: float, zone: ZoneInfo) -> bool:
    """Whether the local date of ``instant`` leaves room for the year arithmetic of intervals."""
    try:
        return 1900 <= datetime.fromtimestamp(instant, zone).year < _LAST_YEAR
    except (ValueError, OverflowError, OSError):
        return False


def parse_instant(text: str, timezone: str, field: str) -> float:
    """An ISO 8601 date-time as UTC epoch seconds (a fraction is dropped). Without an offset it
    is local time in ``timezone``: a repeated local time is its first occurrence, a skipped one
    is refused. Raise ScheduleError naming ``field``."""
    return float(_parse_iso(text, _zone(timezone, field), timezone, field))


# --------------------------------------------------------------------------- helpers


class _ExpressionError(Invalid):
    """Why an expression is invalid; the caller names the field."""


_KINDS: dict[type[object], str] = {dict: "an object", list: "an array"}


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return _KINDS.get(type(value), type(value).__name__)


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_ZONES


def _zone(name: object, field: str) -> ZoneInfo:
    if not isinstance(name, str):
        raise ScheduleError(f"{field} must be a string (an IANA time zone), got {_kind(name)}", field)
    if name not in _known_zones():
        raise ScheduleError(
            f"{field}: unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin' or 'UTC'",
            field,
        )
    return ZoneInfo(name)


def _parse_iso(text: str, zone: ZoneInfo, timezone: str, field: str) -> int:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ScheduleError(
            f"{field} {text!r} is not an ISO 8601 date-time (e.g. 2026-03-29T02:30:00+01:00, or "
            f"2026-03-29T02:30:00 for local time in {timezone})",
            field,
        ) from None
    if moment.tzinfo is None:
        local = moment.replace(tzinfo=zone)
        if local.utcoffset() < local.replace(fold=1).utcoffset():  # type: ignore[operator]
            raise ScheduleError(
                f"{field} {text!r} does not exist in {timezone}: the clocks skip it (DST change)", field
            )
        moment = local  # fold=0: the first of two occurrences
    try:
        return math.floor(moment.timestamp())
    except (OverflowError, ValueError, OSError):
        raise ScheduleError(f"{field} {text!r} is out of range", field) from None


def _offset_seconds(delta: timedelta | None) -> int:
    assert delta is not None
    return delta.days * 86400 + delta.seconds


def _offset_at(zone: ZoneInfo, instant: int) -> timedelta | None:
    return datetime.fromtimestamp(instant, zone).utcoffset()


def _first_with_offset(zone: ZoneInfo, low: int, high: int, offset: timedelta | None) -> int:
    """The first instant in (low, high] whose UTC offset is ``offset``: the offset at ``low``
    differs and the one at ``high`` is it (a transition lies between)."""
    while high - low > 1:
        middle = (low + high) // 2
        if _offset_at(zone, middle) == offset:
            high = middle
        else:
            low = middle
    return high


def _instant(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """The instant a local wall-clock time fires at: its only reading, the first of two
    (fall-back), or the end of the gap it lies in (spring-forward)."""
    local = datetime(year, month, day, hour, minute, second, tzinfo=zone)
    first = local.utcoffset()
    second_reading = local.replace(fold=1).utcoffset()
    wall = (date(year, month, day).toordinal() - _EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60 + second
    if first >= second_reading:  # type: ignore[operator]
        return wall - _offset_seconds(first)
    # Skipped: fold=0 reads the time with the offset before the gap, fold=1 with the one
    # after; the transition lies between the two readings.
    return _first_with_offset(
        zone, wall - _offset_seconds(second_reading), wall - _offset_seconds(first), second_reading
    )


def _wall_after(zone: ZoneInfo, instant: int) -> datetime:
    """The first local wall-clock time whose slot fires after ``instant``: the next second,
    or, inside the second pass of a repeated hour, the end of that hour (its local times
    fired in the first pass)."""
    local = datetime.fromtimestamp(instant, zone)
    start = local.replace(tzinfo=None) + _SECOND
    if local.fold:
        offset = local.utcoffset()
        before = local.replace(fold=0).utcoffset()
        repeated = _offset_seconds(before) - _offset_seconds(offset)
        transition = _first_with_offset(zone, instant - repeated, instant, offset)
        end = _EPOCH_NAIVE + timedelta(seconds=transition + _offset_seconds(before))
        start = max(start, end)
    return start


# --------------------------------------------------------------------------- cron: fields


class _Field(NamedTuple):
    name: str
    low: int
    high: int
    names: Mapping[str, int]
    max_step: int


_MONTH_NAMES: Final = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_DAYS3: Final = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_QUARTZ_DAY_NAMES: Final = {
    **{name: number for number, name in enumerate(_DAYS3, 1)},
    **{name[:2]: number for number, name in enumerate(_DAYS3, 1)},
}
_UNIX_DAY_NAMES: Final = {name: number for number, name in enumerate(_DAYS3)}
_NO_NAMES: Final[Mapping[str, int]] = {}

_Q_SECOND = _Field("second", 0, 59, _NO_NAMES, 59)
_Q_MINUTE = _Field("minute", 0, 59, _NO_NAMES, 59)
_Q_HOUR = _Field("hour", 0, 23, _NO_NAMES, 23)
_Q_DOM = _Field("day-of-month", 1, 31, _NO_NAMES, 31)
_Q_MONTH = _Field("month", 1, 12, _MONTH_NAMES, 12)
_Q_DOW = _Field("day-of-week", 1, 7, _QUARTZ_DAY_NAMES, 7)
_Q_YEAR = _Field("year", 1970, 2099, _NO_NAMES, 129)
_QUARTZ_FIELDS: Final = (_Q_SECOND, _Q_MINUTE, _Q_HOUR, _Q_DOM, _Q_MONTH, _Q_DOW, _Q_YEAR)

#: A step may not exceed the field's largest value (croniter would read ``*/90`` minutes as 0).
_UNIX_FIELDS: Final = (
    _Field("minute", 0, 59, _NO_NAMES, 59),
    _Field("hour", 0, 23, _NO_NAMES, 23),
    _Field("day-of-month", 1, 31, _NO_NAMES, 31),
    _Field("month", 1, 12, _MONTH_NAMES, 12),
    _Field("day-of-week", 0, 7, _UNIX_DAY_NAMES, 7),
)

_ITEM: Final = re.compile(r"(\*|[0-9a-z]+)(?:-([0-9a-z]+))?(?:/([0-9]+))?", re.IGNORECASE | re.ASCII)
_LAST_OFFSET: Final = re.compile(r"l-([0-9]+)", re.IGNORECASE | re.ASCII)
_NEAREST: Final = re.compile(r"([0-9]+)w", re.IGNORECASE | re.ASCII)
_NTH: Final = re.compile(r"([0-9a-z]+)#([0-9]+)", re.IGNORECASE | re.ASCII)
_UNIX_QUARTZ_ONLY: Final = re.compile(
    r"l(-[0-9]+)?w?|[0-9]+w|w[0-9]+|l[0-9]+|[0-9a-z]+l|.*#.*", re.IGNORECASE | re.ASCII
)


def _value(field: _Field, token: str, expression: str) -> int:
    if token.isdigit():
        value = int(token)
        if not field.low <= value <= field.high:
            raise _ExpressionError(
                f"{field.name} value {value} out of range {field.low}-{field.high} in '{expression}'"
            )
        return value
    value_of_name = field.names.get(token.lower())
    if value_of_name is None:
        allowed = "a number" if not field.names else "a number or a name"
        raise _ExpressionError(f"{field.name} value '{token}' is not {allowed} in '{expression}'")
    return value_of_name


def _parse_item(field: _Field, item: str, expression: str) -> tuple[int, int, int, bool]:
    """(first, last, step, is_range) of a ``*``, ``v``, ``v-w``, ``v/s``, ``*/s`` or ``v-w/s``."""
    if not item:
        raise _ExpressionError(f"{field.name} has an empty list item in '{expression}'")
    match = _ITEM.fullmatch(item)
    if match is None:
        raise _ExpressionError(
            f"{field.name} value '{item}' is not a number, name, range or step in '{expression}'"
        )
    start, end, step_text = match.groups()
    step = 1
    if step_text is not None:
        step = int(step_text)
        if not 1 <= step <= field.max_step:
            raise _ExpressionError(
                f"{field.name} step {step} in '{item}' must be 1 to {field.max_step} in '{expression}'"
            )
    if start == "*":
        if end is not None:
            raise _ExpressionError(f"{field.name} value '{item}' is not a valid range in '{expression}'")
        return field.low, field.high, step, True
    first = _value(field, start, expression)
    if end is None:
        return first, (field.high if step_text is not None else first), step, step_text is not None
    return first, _value(field, end, expression), step, True


def _expand(field: _Field, item: str, expression: str) -> list[int]:
    """The values of a plain Quartz item; a range whose end is below its start wraps around
    (``22-2`` hours, ``FRI-MON``), except in the year."""
    first, last, step, _ = _parse_item(field, item, expression)
    if first <= last:
        return list(range(first, last + 1, step))
    if field is _Q_YEAR:
        raise _ExpressionError(f"year range '{item}' runs backwards in '{expression}'")
    span = field.high - field.low + 1
    length = (last - first) % span
    return [(first - field.low + i) % span + field.low for i in range(0, length + 1, step)]


def _misplaced_question_mark(field: _Field, text: str, expression: str) -> _ExpressionError:
    return _ExpressionError(
        f"'?' is only allowed alone in day-of-month or day-of-week, not in {field.name} "
        f"'{text}' of '{expression}'"
    )


def _plain_values(field: _Field, text: str, expression: str) -> tuple[int, ...]:
    if "?" in text:
        raise _misplaced_question_mark(field, text, expression)
    values: set[int] = set()
    for item in text.split(","):
        values.update(_expand(field, item, expression))
    return tuple(sorted(values))


# --------------------------------------------------------------------------- cron: days


def _nearest_weekday(first_weekday: int, length: int, day: int) -> int:
    """Quartz ``W``: the weekday (Mon-Fri) nearest ``day`` without leaving the month."""
    weekday = (first_weekday + day - 1) % 7
    if weekday == 5:  # Saturday: the Friday before, or Monday the 3rd when it is the 1st
        return day + 2 if day == 1 else day - 1
    if weekday == 6:  # Sunday: the Monday after, or the Friday before when it is the last day
        return day - 2 if day == length else day + 1
    return day


class _Days(NamedTuple):
    """Which days of a month fire. Weekdays are Python's: Monday = 0 … Sunday = 6."""

    dom_any: bool = True
    dom_values: frozenset[int] = frozenset()
    dom_from_last: frozenset[int] = frozenset()  # L (0) and L-n (n)
    dom_nearest: frozenset[int] = frozenset()  # nW; none in a month without an nth (31W in April)
    dom_last_weekday: bool = False  # LW
    dow_any: bool = True
    dow_values: frozenset[int] = frozenset()
    dow_nth: frozenset[tuple[int, int]] = frozenset()  # (weekday, k): n#k
    dow_last: frozenset[int] = frozenset()  # nL
    either: bool = False  # Unix with both restricted: day-of-month OR day-of-week

    def of_month(self, year: int, month: int) -> tuple[int, ...]:
        first, length = calendar.monthrange(year, month)
        if self.dom_any and self.dow_any:
            return tuple(range(1, length + 1))
        if self.dow_any:
            return tuple(sorted(self._dom(first, length)))
        if self.dom_any:
            return tuple(sorted(self._dow(first, length)))
        if self.either:
            return tuple(sorted(self._dom(first, length) | self._dow(first, length)))
        return tuple(sorted(self._dom(first, length) & self._dow(first, length)))

    def _dom(self, first: int, length: int) -> set[int]:
        days = {day for day in self.dom_values if day <= length}
        days.update(length - back for back in self.dom_from_last if length - back >= 1)
        days.update(_nearest_weekday(first, length, day) for day in self.dom_nearest if day <= length)
        if self.dom_last_weekday:
            days.add(_nearest_weekday(first, length, length))
        return days

    def _dow(self, first: int, length: int) -> set[int]:
        days = {day for day in range(1, length + 1) if (first + day - 1) % 7 in self.dow_values}
        for weekday, k in self.dow_nth:
            day = 1 + (weekday - first) % 7 + 7 * (k - 1)
            if day <= length:
                days.add(day)
        for weekday in self.dow_last:
            days.add(length - (first + length - 1 - weekday) % 7)
        return days


def _quartz_weekday(value: int) -> int:
    """Quartz 1 = Sunday … 7 = Saturday → Python 0 = Monday … 6 = Sunday."""
    return (value + 5) % 7


def _quartz_days(dom_text: str, dow_text: str, expression: str) -> _Days:
    dom_open, dow_open = dom_text in ("*", "?"), dow_text in ("*", "?")
    if not dom_open and not dow_open:
        raise _ExpressionError(
            f"a Quartz expression cannot restrict both day-of-month ('{dom_text}') and day-of-week "
            f"('{dow_text}'): use '?' in one of them, in '{expression}'"
        )
    if not dom_open:
        return _quartz_dom(dom_text, expression)
    if not dow_open:
        return _quartz_dow(dow_text, expression)
    return _Days()


def _quartz_dom(text: str, expression: str) -> _Days:
    values: set[int] = set()
    from_last: set[int] = set()
    nearest: set[int] = set()
    last_weekday = False
    for item in text.split(","):
        lower = item.lower()
        if lower == "l":
            from_last.add(0)
        elif lower == "lw":
            last_weekday = True
        elif (match := _LAST_OFFSET.fullmatch(item)) is not None:
            back = int(match.group(1))
            if not 1 <= back <= 30:
                raise _ExpressionError(
                    f"day-of-month offset {back} in '{item}' out of range 1-30 in '{expression}'"
                )
            from_last.add(back)
        elif (match := _NEAREST.fullmatch(item)) is not None:
            nearest.add(_value(_Q_DOM, match.group(1), expression))
        elif "?" in item:
            raise _ExpressionError(f"'?' must stand alone in day-of-month, in '{expression}'")
        elif "l" in lower or "w" in lower:
            raise _ExpressionError(
                f"day-of-month '{item}' is not valid in '{expression}': L and W take one day "
                "(L, L-3, LW, 15W), not a range or step"
            )
        else:
            values.update(_expand(_Q_DOM, item, expression))
    return _Days(
        dom_any=False,
        dom_values=frozenset(values),
        dom_from_last=frozenset(from_last),
        dom_nearest=frozenset(nearest),
        dom_last_weekday=last_weekday,
    )


def _quartz_dow(text: str, expression: str) -> _Days:
    values: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for item in text.split(","):
        lower = item.lower()
        if lower == "l":
            values.add(7)  # a bare L in day-of-week is 7, Saturday
        elif (match := _NTH.fullmatch(item)) is not None:
            day = _value(_Q_DOW, match.group(1), expression)
            k = int(match.group(2))
            if not 1 <= k <= 5:
                raise _ExpressionError(
                    f"day-of-week occurrence {k} in '{item}' out of range 1-5 in '{expression}'"
                )
            nth.add((_quartz_weekday(day), k))
        elif "?" in item:
            raise _ExpressionError(f"'?' must stand alone in day-of-week, in '{expression}'")
        elif lower.endswith("l") and _ITEM.fullmatch(item[:-1]) and "-" not in item and "/" not in item:
            last.add(_quartz_weekday(_value(_Q_DOW, item[:-1], expression)))
        elif "#" in item or lower.endswith("l"):
            raise _ExpressionError(
                f"day-of-week '{item}' is not valid in '{expression}': # and L take one day "
                "(6#3, 6L, FRIL), not a range or step"
            )
        else:
            values.update(_expand(_Q_DOW, item, expression))
    return _Days(
        dow_any=False,
        dow_values=frozenset(_quartz_weekday(value) for value in values),
        dow_nth=frozenset(nth),
        dow_last=frozenset(last),
    )


# --------------------------------------------------------------------------- cron: compiled


class _Cron:
    """A compiled cron expression in a zone: sorted allowed values per field, a day filter."""

    __slots__ = ("_memo", "days", "hours", "minutes", "months", "seconds", "years", "zone")

    def __init__(
        self,
        zone: ZoneInfo,
        seconds: tuple[int, ...],
        minutes: tuple[int, ...],
        hours: tuple[int, ...],
        months: tuple[int, ...],
        years: tuple[int, ...] | None,
        days: _Days,
    ) -> None:
        self.zone = zone
        self.seconds = seconds
        self.minutes = minutes
        self.hours = hours
        self.months = months
        self.years = years
        self.days = days
        self._memo: dict[int, tuple[int, ...]] = {}

    def days_of(self, year: int, month: int) -> tuple[int, ...]:
        key = year * 16 + month
        days = self._memo.get(key)
        if days is None:
            if len(self._memo) >= 256:
                self._memo.clear()
            days = self._memo[key] = self.days.of_month(year, month)
        return days

    def fires_ever(self) -> bool:
        years: Iterable[int] = _SAMPLE_YEARS if self.years is None else self.years
        return any(self.days.of_month(year, month) for year in years for month in self.months)

    def next_after(self, after: float) -> float | None:
        start = _wall_after(self.zone, math.floor(after))
        slot = self._next_slot(start.year, start.month, start.day, start.hour, start.minute, start.second)
        return None if slot is None else float(_instant(self.zone, *slot))

    def _next_slot(
        self, year: int, month: int, day: int, hour: int, minute: int, second: int
    ) -> tuple[int, int, int, int, int, int] | None:
        """The first local wall-clock time the expression names at or after the given one."""
        seconds, minutes, hours = self.seconds, self.minutes, self.hours
        months, years = self.months, self.years
        limit = min(_LAST_YEAR, year + _SEARCH_YEARS) if years is None else years[-1]
        while year <= limit:
            if years is not None:
                i = bisect.bisect_left(years, year)
                if i == len(years):
                    return None
                if years[i] != year:
                    year, month, day, hour, minute, second = years[i], 1, 1, 0, 0, 0
            i = bisect.bisect_left(months, month)
            if i == len(months):
                year, month, day, hour, minute, second = year + 1, 1, 1, 0, 0, 0
                continue
            if months[i] != month:
                month, day, hour, minute, second = months[i], 1, 0, 0, 0
            days = self.days_of(year, month)
            i = bisect.bisect_left(days, day)
            if i == len(days):
                month, day, hour, minute, second = month + 1, 1, 0, 0, 0
                continue
            if days[i] != day:
                day, hour, minute, second = days[i], 0, 0, 0
            i = bisect.bisect_left(hours, hour)
            if i == len(hours):
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if hours[i] != hour:
                hour, minute, second = hours[i], 0, 0
            i = bisect.bisect_left(minutes, minute)
            if i == len(minutes):
                hour, minute, second = hour + 1, 0, 0
                continue
            if minutes[i] != minute:
                minute, second = minutes[i], 0
            i = bisect.bisect_left(seconds, second)
            if i == len(seconds):
                minute, second = minute + 1, 0
                continue
            return year, month, day, hour, minute, seconds[i]
        return None


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compiled_cron(expression: str, timezone: str) -> _Cron:
    fields = expression.split()
    if len(fields) == 5:
        parts = _compile_unix(expression, fields)
    elif len(fields) in (6, 7):
        parts = _compile_quartz(expression, fields)
    else:
        shown = f" in '{expression}'" if expression else ""
        raise _ExpressionError(
            "a cron expression has 5 fields (Unix: minute hour day-of-month month day-of-week) or "
            "6-7 (Quartz: second minute hour day-of-month month day-of-week [year]), "
            f"got {len(fields)}{shown}"
        )
    cron = _Cron(_zone(timezone, "schedule.timezone"), *parts)
    if not cron.fires_ever():
        where = "" if cron.years is None else " in the years it allows"
        raise _ExpressionError(
            f"'{expression}' never fires: no date{where} matches its day-of-month, month and day-of-week"
        )
    return cron


_Values = tuple[int, ...]
_Parts = tuple[_Values, _Values, _Values, _Values, _Values | None, _Days]


def _compile_quartz(expression: str, fields: list[str]) -> _Parts:
    seconds = _plain_values(_Q_SECOND, fields[0], expression)
    minutes = _plain_values(_Q_MINUTE, fields[1], expression)
    hours = _plain_values(_Q_HOUR, fields[2], expression)
    months = _plain_values(_Q_MONTH, fields[4], expression)
    days = _quartz_days(fields[3], fields[5], expression)
    years = None
    if len(fields) == 7 and fields[6] != "*":
        years = _plain_values(_Q_YEAR, fields[6], expression)
    return seconds, minutes, hours, months, years, days


def _compile_unix(expression: str, fields: list[str]) -> _Parts:
    for field, text in zip(_UNIX_FIELDS, fields, strict=True):
        if text == "?" and field.name in ("day-of-month", "day-of-week"):
            continue  # croniter reads it as '*'
        if "?" in text:
            raise _misplaced_question_mark(field, text, expression)
        for item in text.split(","):
            if field.name in ("day-of-month", "day-of-week") and _UNIX_QUARTZ_ONLY.fullmatch(item):
                raise _ExpressionError(
                    f"{field.name} '{item}' in '{expression}': L, W and # are Quartz features; "
                    "write a Quartz expression (6 or 7 fields, seconds first, day-of-week 1 = Sunday)"
                )
            first, last, _, is_range = _parse_item(field, item, expression)
            if is_range and "-" in item and first == last:
                raise _ExpressionError(
                    f"{field.name} range '{item}' in '{expression}' starts and ends at one value: "
                    f"write '{item.split('-')[0]}' (croniter would read it as the whole field)"
                )
    try:
        expanded, nth = croniter.expand(expression)
    except CroniterError as exc:  # pragma: no cover - the checks above should catch it first
        raise _ExpressionError(f"invalid cron expression '{expression}': {exc}") from None
    if nth:  # pragma: no cover - '#' is refused above
        raise _ExpressionError(f"'#' needs a Quartz expression, in '{expression}'")

    def values(index: int, low: int, high: int) -> tuple[int, ...]:
        field = expanded[index]
        return tuple(range(low, high + 1)) if field == ["*"] else tuple(sorted(int(v) for v in field))

    dom, dow = expanded[2], expanded[4]
    days = _Days(
        dom_any=dom == ["*"],
        dom_values=frozenset(int(v) for v in dom if v != "*"),
        dow_any=dow == ["*"],
        dow_values=frozenset((int(v) + 6) % 7 for v in dow if v != "*"),
        # croniter: both restricted (neither expanded to '*') → a day matches either.
        either=dom != ["*"] and dow != ["*"],
    )
    return (0,), values(0, 0, 59), values(1, 0, 23), values(3, 1, 12), None, days


def _cron_of(schedule: CronSchedule) -> _Cron:
    try:
        return _compiled_cron(schedule.expression, schedule.timezone)
    except _ExpressionError as exc:
        raise ScheduleError(str(exc), "schedule.cron") from None


# --------------------------------------------------------------------------- intervals


class _Interval:
    """A compiled calendar interval: elapsed seconds (minute, hour) or local wall-clock
    steps (day, week, month)."""

    __slots__ = ("anchor", "every", "step", "unit", "wall", "zone")

    def __init__(self, schedule: IntervalSchedule) -> None:
        if type(schedule.every) is not int or not 1 <= schedule.every <= MAX_EVERY:
            raise ScheduleError(f"every must be 1 to {MAX_EVERY}, got {schedule.every!r}", "schedule.every")
        if schedule.unit not in UNITS:
            raise ScheduleError(
                f"unit must be one of {', '.join(UNITS)}, got {schedule.unit!r}", "schedule.unit"
            )
        self.zone = _zone(schedule.timezone, "schedule.timezone")
        self.every = schedule.every
        self.unit = schedule.unit
        self.step = {"minute": 60, "hour": 3600, "day": 1, "week": 7, "month": 1}[schedule.unit] * self.every
        self.anchor = 0 if schedule.anchor is None else math.floor(schedule.anchor)
        if schedule.anchor is None:
            self.wall = datetime(2000, 1, 1)
        else:
            self.wall = datetime.fromtimestamp(self.anchor, self.zone).replace(tzinfo=None, fold=0)

    def fire(self, k: int) -> int | None:
        """The k-th fire (k ≥ 0) of a day, week or month interval."""
        wall = self.wall
        if self.unit == "month":
            year, month0 = divmod(wall.year * 12 + wall.month - 1 + k * self.every, 12)
            if year > _LAST_YEAR:
                return None
            day = min(wall.day, calendar.monthrange(year, month0 + 1)[1])
            return _instant(self.zone, year, month0 + 1, day, wall.hour, wall.minute, wall.second)
        ordinal = wall.toordinal() + k * self.step
        if ordinal > date.max.toordinal():
            return None
        moment = date.fromordinal(ordinal)
        return _instant(self.zone, moment.year, moment.month, moment.day, wall.hour, wall.minute, wall.second)

    def next_after(self, after: float) -> float | None:
        instant = math.floor(after)
        if self.unit in ("minute", "hour"):
            if instant < self.anchor:
                return float(self.anchor)
            return float(self.anchor + ((instant - self.anchor) // self.step + 1) * self.step)
        local = datetime.fromtimestamp(instant, self.zone)
        wall = self.wall
        if self.unit == "month":
            k = ((local.year - wall.year) * 12 + local.month - wall.month) // self.every
        else:
            k = (local.toordinal() - wall.toordinal()) // self.step
        k = max(k, 0)
        while k > 0 and (earlier := self.fire(k - 1)) is not None and earlier > after:
            k -= 1
        while True:
            fire = self.fire(k)
            if fire is None:
                return None
            if fire > after:
                return float(fire)
            k += 1


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compiled_interval(schedule: IntervalSchedule) -> _Interval:
    return _Interval(schedule)
