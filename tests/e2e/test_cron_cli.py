"""``connectord cron next``: the next fire times of an expression, as the scheduler computes
them, from the installed command."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from subprocess import CompletedProcess

import pytest

Run = Callable[..., CompletedProcess[str]]


def test_quartz_across_spring_forward_in_berlin(run_cli: Run) -> None:
    result = run_cli(
        "cron", "next", "0 30 2 * * ?", "--tz", "Europe/Berlin", "--from", "2026-03-28T12:00:00", "-n", "3"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    assert result.stderr == ""


def test_unix_and_a_from_with_an_offset(run_cli: Run) -> None:
    result = run_cli(
        "cron", "next", "0 9 * * MON-FRI", "--tz", "America/New_York", "--from", "2026-01-01T15:00:00Z"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 10  # the default count
    assert lines[:3] == [
        "2026-01-02T09:00:00-05:00",
        "2026-01-05T09:00:00-05:00",
        "2026-01-06T09:00:00-05:00",
    ]


def test_third_friday_with_a_two_letter_name(run_cli: Run) -> None:
    result = run_cli("cron", "next", "0 15 10 ? * FR#3", "--from", "2026-11-01T00:00:00", "-n", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["2026-11-20T10:15:00+00:00", "2026-12-18T10:15:00+00:00"]


def test_from_defaults_to_now(run_cli: Run) -> None:
    before = time.time()
    result = run_cli("cron", "next", "*/5 * * * *", "-n", "2")
    assert result.returncode == 0, result.stderr
    first, second = (datetime.fromisoformat(line).timestamp() for line in result.stdout.splitlines())
    assert before < first <= before + 300 + 5
    assert second - first == 300


def test_an_expression_that_has_stopped_firing(run_cli: Run) -> None:
    result = run_cli("cron", "next", "0 0 0 1 1 ? 2020", "--from", "2026-01-01T00:00:00Z")
    assert result.returncode == 0
    assert result.stdout == ""
    assert "'0 0 0 1 1 ? 2020' never fires after 2026-01-01T00:00:00+00:00" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("0 0 12 ? * 8",), "day-of-week value 8 out of range 1-7 in '0 0 12 ? * 8'"),
        (("0 0 12 1 * MON",), "use '?' in one of them"),
        (("0 0 30 2 *",), "never fires"),
        (("* * *",), "a cron expression has 5 fields"),
        (("0 0 12 * * ?", "--tz", "Mars/Base"), "--tz: unknown time zone 'Mars/Base'"),
        (("0 0 12 * * ?", "--from", "yesterday"), "--from 'yesterday' is not an ISO 8601 date-time"),
        (("0 0 12 * * ?", "--tz", "Europe/Berlin", "--from", "2026-03-29T02:30:00"), "does not exist"),
        (("0 0 12 * * ?", "-n", "0"), "-n must be 1 to 1000, got 0"),
        (("0 0 12 * * ?", "-n", "1001"), "-n must be 1 to 1000, got 1001"),
        (("0 0 12 * * ?", "-n", "x"), "invalid int value: 'x'"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(run_cli: Run, args: tuple[str, ...], message: str) -> None:
    result = run_cli("cron", "next", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
