"""The scheduler against a real SQLite store, driven by an explicit clock (no sleeping):
exactly one ledger row per slot, restarts, misfires, end dates, run-once and DST."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from connectord.runtime.jobs.definitions import encode_spec, parse_spec
from connectord.runtime.jobs.planning import retry_at
from connectord.runtime.jobs.scheduler import Scheduler
from connectord.runtime.store.records import DefinitionRecord, JobRecord
from connectord.runtime.store.runner import StoreRunner
from connectord.runtime.store.sqlite import SQLiteStore


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def utc(instant: float | None) -> str:
    assert instant is not None
    return dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class Bench:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = SQLiteStore(path)
        self.run = StoreRunner()
        user = self.store.add_user("a@example.com", "acme", "hash", 0.0)
        principal = self.store.principal("hash")
        assert principal is not None and user
        self.tenant = principal.tenant_id

    def define(self, now: float, code: str = "d", **fields: Any) -> DefinitionRecord:
        # 'allow': nothing runs the jobs here, so 'skip' would skip every slot after the first
        raw = {"jobDefinitionCode": code, "jobType": "echo", "overlap": "allow", **fields}
        definition = parse_spec(raw)
        record = DefinitionRecord(
            id=f"id-{code}",
            tenant_id=self.tenant,
            code=code,
            job_type="echo",
            state="STARTED",
            document=encode_spec(definition.spec),
            sealed_params=b"{}",
            next_fire_at=definition.first_fire(now),
            version=1,
            history_count=100,
            history_seconds=86400.0,
            created_at=now,
            updated_at=now,
        )
        self.store.add_definition(record)
        return record

    async def scheduler(self) -> Scheduler:
        scheduler = Scheduler(self.store, self.run, clock=lambda: 0.0)
        await scheduler.load()
        return scheduler

    def ledger(self) -> list[tuple[str, str]]:
        jobs = self.store.jobs(self.tenant, 10_000, 0)
        return sorted((utc(j.scheduled_for), j.status) for j in jobs if j.scheduled_for is not None)

    def definition(self, code: str = "d") -> DefinitionRecord:
        found = self.store.definition(self.tenant, code)
        assert found is not None
        return found


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    bench = Bench(tmp_path / "s.sqlite3")
    yield bench
    bench.run.close()
    bench.store.close()


EVERY_MINUTE = {"cron": "* * * * *"}
T0 = at("2026-11-23T10:00:30+00:00")


async def test_each_slot_fires_once(bench: Bench) -> None:
    bench.define(T0, schedule=EVERY_MINUTE)
    scheduler = await bench.scheduler()
    assert await scheduler.tick(at("2026-11-23T10:00:59+00:00")) == []
    fired = await scheduler.tick(at("2026-11-23T10:01:00.2+00:00"))
    assert [(utc(j.scheduled_for), j.status) for j in fired] == [("2026-11-23 10:01:00", "WAITING")]
    assert await scheduler.tick(at("2026-11-23T10:01:00.5+00:00")) == []
    await scheduler.tick(at("2026-11-23T10:02:00.1+00:00"))
    assert bench.ledger() == [("2026-11-23 10:01:00", "WAITING"), ("2026-11-23 10:02:00", "WAITING")]
    assert utc(bench.definition().next_fire_at) == "2026-11-23 10:03:00"


async def test_two_schedulers_or_a_restart_never_fire_a_slot_twice(bench: Bench) -> None:
    record = bench.define(T0, schedule=EVERY_MINUTE)
    first, second = await bench.scheduler(), await bench.scheduler()
    now = at("2026-11-23T10:01:00.1+00:00")
    stale = first._plan(record, now)  # computed, then "crashed" before it was stored
    assert stale is not None
    assert len(await second.tick(now)) == 1
    assert bench.store.fire([stale], now) == []  # the late decision changes nothing
    restarted = await bench.scheduler()
    assert await restarted.tick(now + 1) == []
    assert len(await restarted.tick(at("2026-11-23T10:02:00+00:00"))) == 1
    assert [s for s, _ in bench.ledger()] == ["2026-11-23 10:01:00", "2026-11-23 10:02:00"]


async def test_missed_slots_are_recorded_and_the_latest_runs_once(bench: Bench) -> None:
    bench.define(T0, schedule=EVERY_MINUTE)
    scheduler = await bench.scheduler()
    await scheduler.tick(at("2026-11-23T10:10:30+00:00"))  # down from 10:00:30 to 10:10:30
    ledger = bench.ledger()
    assert len(ledger) == 10
    assert ledger[:-1] == [(f"2026-11-23 10:0{m}:00", "MISSED") for m in range(1, 10)]
    assert ledger[-1] == ("2026-11-23 10:10:00", "WAITING")
    assert utc(bench.definition().next_fire_at) == "2026-11-23 10:11:00"


async def test_fire_all_runs_every_missed_slot_within_the_window(bench: Bench) -> None:
    bench.define(T0, schedule=EVERY_MINUTE, misfirePolicy="fireAll", misfireWindowSeconds=300)
    scheduler = await bench.scheduler()
    await scheduler.tick(at("2026-11-23T10:10:30+00:00"))
    statuses = [status for _, status in bench.ledger()]
    assert statuses == ["MISSED"] * 5 + ["WAITING"] * 5


async def test_fire_all_catches_up_even_when_overlap_is_skip(bench: Bench) -> None:
    bench.define(T0, schedule=EVERY_MINUTE, misfirePolicy="fireAll", misfireWindowSeconds=300, overlap="skip")
    scheduler = await bench.scheduler()
    await scheduler.tick(at("2026-11-23T10:10:30+00:00"))
    statuses = [status for _, status in bench.ledger()]
    assert statuses == ["MISSED"] * 5 + ["WAITING"] * 5  # none SKIPPED by its siblings
    await scheduler.tick(at("2026-11-23T10:11:00+00:00"))  # the catch-up runs are unfinished
    assert bench.ledger()[-1] == ("2026-11-23 10:11:00", "SKIPPED")


async def test_slots_older_than_the_window_are_missed_not_run(bench: Bench) -> None:
    bench.define(T0, schedule=EVERY_MINUTE, misfireWindowSeconds=10)
    scheduler = await bench.scheduler()
    await scheduler.tick(at("2026-11-23T12:00:30+00:00"))
    ledger = bench.ledger()
    assert len(ledger) == 120 and {status for _, status in ledger} == {"MISSED"}


async def test_a_long_outage_of_an_every_second_schedule_is_bounded(bench: Bench) -> None:
    bench.define(T0, schedule={"cron": "* * * * * ?"}, misfireWindowSeconds=5)
    scheduler = await bench.scheduler()
    await scheduler.tick(T0 + 86400)  # a day of one-second slots
    ledger = bench.ledger()
    assert len(ledger) <= 1000 + 10
    assert ledger[-1] == (utc(T0 + 86400), "WAITING")


async def test_run_once_fires_once_and_completes(bench: Bench) -> None:
    bench.define(T0, schedule=EVERY_MINUTE, runOnce=True)
    scheduler = await bench.scheduler()
    await scheduler.tick(at("2026-11-23T10:01:00+00:00"))
    await scheduler.tick(at("2026-11-23T10:05:00+00:00"))
    assert bench.ledger() == [("2026-11-23 10:01:00", "WAITING")]
    assert bench.definition().state == "COMPLETED" and bench.definition().next_fire_at is None


async def test_a_definition_starts_at_its_start_date_and_completes_at_its_end_date(bench: Bench) -> None:
    bench.define(
        T0,
        schedule=EVERY_MINUTE,
        startDate="2026-11-23T10:05:00+00:00",
        endDate="2026-11-23 10:06:30",  # no offset: local time of the schedule's zone (UTC)
    )
    assert utc(bench.definition().next_fire_at) == "2026-11-23 10:05:00"
    scheduler = await bench.scheduler()
    await scheduler.tick(at("2026-11-23T10:10:00+00:00"))
    assert [s for s, _ in bench.ledger()] == ["2026-11-23 10:05:00", "2026-11-23 10:06:00"]
    assert bench.definition().state == "COMPLETED"
    assert await scheduler.tick(at("2026-11-23T11:00:00+00:00")) == []


async def test_a_stopped_or_changed_definition_does_not_fire_its_old_slot(bench: Bench) -> None:
    record = bench.define(T0, schedule=EVERY_MINUTE)
    scheduler = await bench.scheduler()
    stopped = msgspec.structs.replace(record, state="STOPPED", next_fire_at=None, version=2)
    assert bench.store.replace_definition(stopped, 1)
    assert await scheduler.tick(at("2026-11-23T10:01:00+00:00")) == []
    assert bench.ledger() == []


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # spring forward: 02:30 does not exist that night; it fires at 03:00 local
        ("Europe/Berlin", "2026-03-28T12:00:00+00:00", ["2026-03-29 01:00:00", "2026-03-30 00:30:00"]),
        ("America/New_York", "2026-03-07T12:00:00+00:00", ["2026-03-08 07:00:00", "2026-03-09 06:30:00"]),
        # fall back: 02:30 (or 01:30) happens twice that night; it fires once, the first time
        ("Europe/Berlin", "2026-10-24T12:00:00+00:00", ["2026-10-25 00:30:00", "2026-10-26 01:30:00"]),
    ],
)
async def test_daylight_saving_time_neither_doubles_nor_drops_a_day(
    bench: Bench, zone: str, start: str, expected: list[str]
) -> None:
    local = "30 2 * * *" if zone == "Europe/Berlin" or "03-0" in start else "30 1 * * *"
    bench.define(at(start), schedule={"cron": local, "timezone": zone})
    scheduler = await bench.scheduler()
    for hour in range(1, 49):  # tick every hour for two days
        await scheduler.tick(at(start) + hour * 3600)
    assert [s for s, _ in bench.ledger()] == expected


async def test_new_york_fall_back_fires_a_repeated_local_time_once(bench: Bench) -> None:
    start = at("2026-10-31T12:00:00+00:00")
    bench.define(start, schedule={"cron": "30 1 * * *", "timezone": "America/New_York"})
    scheduler = await bench.scheduler()
    for minute in range(1, 48 * 4):  # every 15 minutes for two days
        await scheduler.tick(start + minute * 900)
    # 01:30 EDT (05:30Z) on Nov 1, not again at 01:30 EST (06:30Z); then 01:30 EST on Nov 2
    assert [s for s, _ in bench.ledger()] == ["2026-11-01 05:30:00", "2026-11-02 06:30:00"]


def job_record(**fields: Any) -> JobRecord:
    base: dict[str, Any] = dict(
        id="j", tenant_id="t", definition_id="d", definition_code="d", job_type="echo", account_id=None,
        trigger="schedule", scheduled_for=0.0, status="STARTED", overlap="skip", attempt=1, max_retries=3,
        backoff=10.0, timeout=None, run_at=0.0, retry_until=None, attempts=b"[]", result=None, logs=None,
        created_at=0.0, started_at=0.0, finished_at=None,
    )  # fmt: skip
    base.update(fields)
    return JobRecord(**base)


def test_retries_back_off_with_jitter_and_never_run_into_the_next_slot() -> None:
    rng = random.Random(7)
    delays = [retry_at(job_record(attempt=n), 100.0, rng) for n in (1, 2, 3)]
    assert all(d is not None for d in delays)
    waits = [d - 100.0 for d in delays if d is not None]
    assert 5.0 <= waits[0] < 10.0 and 10.0 <= waits[1] < 20.0 and 20.0 <= waits[2] < 40.0
    assert retry_at(job_record(attempt=4), 100.0, rng) is None  # 3 retries spent
    assert retry_at(job_record(attempt=1, retry_until=104.0), 100.0, rng) is None  # next slot first
    assert retry_at(job_record(attempt=1, backoff=100_000.0), 0.0, rng) <= 3600.0  # type: ignore[operator]


async def test_a_fired_job_is_bound_to_its_definitions_connector(bench: Bench) -> None:
    record = bench.define(T0, schedule=EVERY_MINUTE)
    bound = msgspec.structs.replace(record, version=2, connector="jobber")
    assert bench.store.replace_definition(bound, expected_version=1)
    scheduler = await bench.scheduler()
    fired = await scheduler.tick(at("2026-11-23T10:01:00.2+00:00"))
    assert [j.connector for j in fired] == ["jobber"]
    assert [j.connector for j in bench.store.jobs(bench.tenant, 10, 0)] == ["jobber"]
