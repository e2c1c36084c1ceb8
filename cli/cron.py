"""``connectord cron next``: the next fire times of a cron expression, computed as the job
scheduler computes them (:mod:`connectord.runtime.jobs.schedules`)."""

from __future__ import annotations

import argparse
import sys
import time

from connectord.cli.exits import OK, CliError
from connectord.runtime.jobs.schedules import (
    CronSchedule,
    ScheduleError,
    iso,
    next_fires,
    parse_instant,
    parse_schedule,
)

DEFAULT_COUNT = 10
MAX_COUNT = 1000

EPILOG = """\
EXPR has 5 fields (Unix: minute hour day-of-month month day-of-week, 0 or 7 = Sunday) or 6-7
fields (Quartz: second minute hour day-of-month month day-of-week [year], 1 = Sunday; ?, L,
L-n, nW, LW, nL, n#k). Quote it. A local time skipped by a DST change fires at the end of the
gap; a repeated one fires once, at its first occurrence.

examples:
  connectord cron next '*/15 9-17 * * MON-FRI' --tz Europe/Berlin -n 5
  connectord cron next '0 15 10 ? * 6#3' --from 2026-11-01T00:00:00 -n 3
  connectord cron next '0 30 2 * * ?' --tz Europe/Berlin --from 2026-03-28T12:00:00 -n 2

exit codes: 0 printed (fewer lines than N when the expression stops firing), 2 bad input
"""


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "cron", help="cron expressions: print the next fire times", description="Work with cron expressions."
    )
    sub = parser.add_subparsers(dest="cron_command", metavar="COMMAND", required=True)
    upcoming = sub.add_parser(
        "next",
        help="print the next fire times of a cron expression",
        description="Print the next fire times of a cron expression, one per line, ISO 8601 with "
        "the offset in force in the time zone.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    upcoming.add_argument("expression", metavar="EXPR", help="a Unix or Quartz cron expression")
    upcoming.add_argument("--tz", default="UTC", metavar="TZ", help="IANA time zone (default UTC)")
    upcoming.add_argument(
        "--from",
        dest="start",
        metavar="ISO",
        help="start after this date-time (default now); without an offset it is local time in --tz",
    )
    upcoming.add_argument(
        "-n",
        dest="count",
        type=int,
        default=DEFAULT_COUNT,
        metavar="N",
        help=f"how many fire times (1-{MAX_COUNT}, default {DEFAULT_COUNT})",
    )
    upcoming.set_defaults(run=run_next)


def run_next(args: argparse.Namespace) -> int:
    if not 1 <= args.count <= MAX_COUNT:
        raise CliError(f"-n must be 1 to {MAX_COUNT}, got {args.count}")
    try:
        schedule = parse_schedule({"cron": args.expression, "timezone": args.tz}, "schedule")
        start = time.time() if args.start is None else parse_instant(args.start, args.tz, "--from")
    except ScheduleError as exc:
        message = exc.message
        if exc.field == "schedule.timezone":
            message = message.replace("schedule.timezone", "--tz", 1)
        raise CliError(message) from None
    assert isinstance(schedule, CronSchedule)  # what a "cron" parses as
    fires = next_fires(schedule, start, args.count)
    for instant in fires:
        print(iso(instant, args.tz))
    if len(fires) < args.count:
        more = f"fires only {len(fires)} more time(s)" if fires else "never fires"
        print(f"connectord: '{schedule.expression}' {more} after {iso(start, args.tz)}", file=sys.stderr)
    return OK
